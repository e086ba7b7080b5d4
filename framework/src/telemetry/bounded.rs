//! Bounded forms of client-supplied text (a request path, a message that quotes a request
//! body), for where it is copied: problem details, gRPC status messages, log lines and span
//! fields, Sentry tags, dead letters. A client must not be able to make any of these long.
//! (Metric labels are bounded by value sets instead: see `http::labels::http_method`.)

use std::borrow::Cow;

/// The most bytes of a client-supplied text kept in a span field or a Sentry tag: Sentry's own
/// limit for a tag value (200 characters).
pub const MAX_FIELD: usize = 200;

/// The most bytes of a message kept in a problem's `detail`, a gRPC status message, a log
/// field or a dead letter's `x-error-message`: enough for any message written for people,
/// short of a request body quoted back in full.
pub const MAX_MESSAGE: usize = 1024;

/// The most bytes of an error chain kept in a log line, a Sentry event or a dead letter's
/// `x-error-message`: longer than [`MAX_MESSAGE`], since the root cause comes last.
pub const MAX_CHAIN: usize = 4096;

/// `text` when it has at most `max` bytes; else its start, cut at a character boundary and
/// followed by a marker giving the full length, `max` bytes in all: `"/aaaa… (8019 bytes)"`.
pub fn truncated(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let marker = format!("… ({} bytes)", text.len());
    let head = &text[..text.floor_char_boundary(max.saturating_sub(marker.len()))];
    Cow::Owned(format!("{head}{marker}"))
}

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
}
