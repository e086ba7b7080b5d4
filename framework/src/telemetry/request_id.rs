//! The request id a client may send (`x-request-id` on HTTP, the same key in gRPC metadata and
//! Kafka record headers): kept only when it is short and plain, since it is copied into
//! response headers, problem bodies, every log line of the work, Sentry tags and the records
//! the work publishes. Anything else is treated as absent, so a new id is generated for it.

/// The header (HTTP), metadata key (gRPC) and record header (Kafka) of the request id.
pub const REQUEST_ID_KEY: &str = "x-request-id";

/// The longest request id kept, in bytes.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// Whether a client-supplied request id is kept: 1 to [`MAX_REQUEST_ID_LEN`] characters of
/// `A-Z a-z 0-9 . _ : -` (a UUID, a W3C trace id, a ULID, `order-42:retry.1` ...). No
/// spaces, tabs, quotes or non-ASCII: the id is written unescaped in text logs.
pub fn is_valid_request_id(id: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&id.len())
        && id
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_short_plain_ids() {
        let longest = "a".repeat(MAX_REQUEST_ID_LEN);
        for id in [
            "client-chosen-42",
            "4bf92f3577b34da6a3ce929d0e0e4736",
            "01ARZ3NDEKTSV4RRFFQ69G5FAV",
            "order-42:retry.1_b",
            "7f0c3a5e-8a0c-4e54-9b7a-1d2f3e4a5b6c",
            &longest,
        ] {
            assert!(is_valid_request_id(id.as_bytes()), "{id:?}");
        }
    }

    #[test]
    fn refuses_long_empty_or_unsafe_ids() {
        let too_long = "a".repeat(MAX_REQUEST_ID_LEN + 1);
        let fault = format!("id\t{}", " x".repeat(4_000));
        for id in [
            "",
            &too_long,
            &fault,
            "has space",
            "tab\there",
            "quote\"d",
            "semi;colon",
            "new\nline",
            "é",
            "a/b",
            "a=b",
        ] {
            assert!(!is_valid_request_id(id.as_bytes()), "{id:?}");
        }
        assert!(!is_valid_request_id(&[b'a', 0xff]));
    }
}
