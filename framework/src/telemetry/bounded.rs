//! Bounded forms of client-supplied values (a request path, an HTTP method, a text that
//! quotes a request body), for where they are copied: response headers and problem details,
//! log lines and span fields, Sentry tags, metric labels, stored records. A client must not be
//! able to make any of these long, or make a metric grow a series per value it invents.

use std::borrow::Cow;

use axum::http::Method;

/// The most bytes of a client-supplied text kept in a span field or a Sentry tag: Sentry's own
/// limit for a tag value (200 characters).
pub(crate) const MAX_FIELD: usize = 200;

/// The most bytes of a message kept in a problem's `detail`, a gRPC status message, a log
/// field or a dead letter's `x-error-message`: enough for any message written for people,
/// short of a request body quoted back in full.
pub(crate) const MAX_MESSAGE: usize = 1024;

/// The most bytes of an error chain kept in a log line, a Sentry event or a dead letter's
/// `x-error-message`: longer than [`MAX_MESSAGE`], since the root cause comes last.
pub(crate) const MAX_CHAIN: usize = 4096;

/// `text` when it has at most `max` bytes; else its start, cut at a character boundary and
/// followed by a marker giving the full length, `max` bytes in all: `"/aaaa… (8019 bytes)"`.
pub(crate) fn truncated(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let marker = format!("… ({} bytes)", text.len());
    let head = &text[..text.floor_char_boundary(max.saturating_sub(marker.len()))];
    Cow::Owned(format!("{head}{marker}"))
}

/// The method as OpenTelemetry's `http.request.method` has it: one of the methods of
/// RFC 9110 and RFC 5789 (PATCH), case-sensitive, else `_OTHER`, so a client cannot add a
/// label value or a log field per method it makes up.
pub(crate) fn http_method(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::CONNECT => "CONNECT",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::PATCH => "PATCH",
        _ => OTHER,
    }
}

/// The one value of a method (HTTP or gRPC) that is not known, as OpenTelemetry's semantic
/// conventions name it.
pub(crate) const OTHER: &str = "_OTHER";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_long_text_at_a_character_and_says_how_long_it_was() {
        assert_eq!(truncated("short", 8), "short");
        assert_eq!(truncated("exactly8", 8), "exactly8");
        // The marker, "… (30 bytes)", is 14 bytes.
        let text = "abcdefghijklmnopqrstuvwxyz0123";
        assert_eq!(truncated(text, 18), "abcd… (30 bytes)");
        // 'é' is two bytes: the cut never splits it.
        assert_eq!(
            truncated("abcéfghijklmnopqrstuvwxyz01234", 18),
            "abc… (31 bytes)"
        );
        let long = "x".repeat(8_019);
        assert_eq!(truncated(&long, MAX_FIELD).len(), MAX_FIELD);
    }

    #[test]
    fn unknown_methods_are_one_value() {
        assert_eq!(http_method(&Method::GET), "GET");
        assert_eq!(http_method(&Method::PATCH), "PATCH");
        for made_up in ["ZZMETHOD1", "get", "PROPFIND", "QUERYX"] {
            let method = Method::from_bytes(made_up.as_bytes()).unwrap();
            assert_eq!(http_method(&method), OTHER, "{made_up}");
        }
    }
}
