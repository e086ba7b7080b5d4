//! W3C Trace Context (<https://www.w3.org/TR/trace-context/>): the `traceparent` value that
//! carries a trace from one service, or one delivery, to the next.

use std::cell::RefCell;
use std::fmt;

use rand::distr::{Distribution, StandardUniform};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// The header (HTTP, gRPC metadata, Kafka record header) that carries the trace.
pub const TRACEPARENT: &str = "traceparent";

/// The sampled flag: the caller may have recorded its span.
const SAMPLED: u8 = 0x01;

/// The trace of one piece of work: the trace it belongs to, its own span id, and the span
/// that caused it, when it continues a trace from elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    trace_id: u128,
    span_id: u64,
    parent_id: Option<u64>,
    flags: u8,
}

impl TraceContext {
    /// The start of a new trace.
    pub fn root() -> Self {
        TraceContext {
            trace_id: nonzero(random::<u128>),
            span_id: new_span_id(),
            parent_id: None,
            flags: SAMPLED,
        }
    }

    /// A span of the trace in `traceparent`, or a new trace when there is none or it is
    /// malformed (the spec's rule: a receiver restarts a trace it cannot parse).
    pub fn continue_from(traceparent: Option<&[u8]>) -> Self {
        let parent = traceparent
            .and_then(|value| std::str::from_utf8(value).ok())
            .and_then(parse);
        match parent {
            Some((trace_id, parent_id, flags)) => TraceContext {
                trace_id,
                span_id: new_span_id(),
                parent_id: Some(parent_id),
                flags: flags & SAMPLED,
            },
            None => TraceContext::root(),
        }
    }

    /// The `traceparent` that makes the receiver's span a child of this one.
    pub fn traceparent(&self) -> String {
        format!(
            "00-{:032x}-{:016x}-{:02x}",
            self.trace_id, self.span_id, self.flags
        )
    }

    /// The trace id, as 32 lowercase hex digits when displayed.
    pub fn trace_id(&self) -> impl fmt::Display + 'static {
        Hex32(self.trace_id)
    }

    /// This span's id, as 16 lowercase hex digits when displayed.
    pub fn span_id(&self) -> impl fmt::Display + 'static {
        Hex16(self.span_id)
    }

    /// The id of the span this one continues, if any.
    pub fn parent_id(&self) -> Option<impl fmt::Display + 'static> {
        self.parent_id.map(Hex16)
    }
}

struct Hex32(u128);
struct Hex16(u64);

impl fmt::Display for Hex32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Display for Hex16 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

fn new_span_id() -> u64 {
    nonzero(random::<u64>)
}

thread_local! {
    /// Ids must be unique, not secret, and one or two are drawn for every request and
    /// consumed record: a fast generator per thread, seeded by the OS.
    static RNG: RefCell<SmallRng> = RefCell::new(SmallRng::from_os_rng());
}

fn random<T>() -> T
where
    StandardUniform: Distribution<T>,
{
    RNG.with(|rng| rng.borrow_mut().random())
}

/// All-zero ids are invalid; drawing one is a once-in-2^64 event, but cheap to rule out.
fn nonzero<T: PartialEq + Default>(draw: impl Fn() -> T) -> T {
    loop {
        let id = draw();
        if id != T::default() {
            return id;
        }
    }
}

/// `version-traceid-parentid-flags`, as the spec reads it: version 00 is exactly 55
/// characters; a later version may append fields after a `-`; version ff is invalid; ids are
/// lowercase hex and not all zero.
fn parse(value: &str) -> Option<(u128, u64, u8)> {
    let value = value.trim();
    let bytes = value.as_bytes();
    // ASCII only, so the slices below cut at characters.
    if bytes.len() < 55 || !value.is_ascii() {
        return None;
    }
    let version = lower_hex(&value[0..2]).map(|v| v as u8)?;
    let fits = match version {
        0xff => false,
        0x00 => bytes.len() == 55,
        _ => bytes.len() == 55 || bytes[55] == b'-',
    };
    if !fits || bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
        return None;
    }
    let trace_id = lower_hex(&value[3..35])?;
    let parent_id = lower_hex(&value[36..52])? as u64;
    let flags = lower_hex(&value[53..55])? as u8;
    (trace_id != 0 && parent_id != 0).then_some((trace_id, parent_id, flags))
}

/// Lowercase hex only: the spec forbids uppercase.
fn lower_hex(digits: &str) -> Option<u128> {
    digits
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        .then(|| u128::from_str_radix(digits, 16).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC_EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn continues_a_valid_traceparent_with_a_new_span() {
        let context = TraceContext::continue_from(Some(SPEC_EXAMPLE.as_bytes()));
        assert_eq!(
            context.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(
            context.parent_id().map(|id| id.to_string()).as_deref(),
            Some("00f067aa0ba902b7")
        );
        assert_ne!(context.span_id().to_string(), "00f067aa0ba902b7");
        let onward = context.traceparent();
        assert!(onward.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert!(onward.ends_with("-01"));
        assert_eq!(
            parse(&onward).map(|(t, _, _)| t),
            parse(SPEC_EXAMPLE).map(|(t, _, _)| t)
        );
    }

    #[test]
    fn keeps_the_unsampled_flag() {
        let unsampled = SPEC_EXAMPLE.replace("-01", "-00");
        let context = TraceContext::continue_from(Some(unsampled.as_bytes()));
        assert!(context.traceparent().ends_with("-00"));
    }

    #[test]
    fn reads_the_known_fields_of_a_later_version() {
        let later = format!("cc{}-what-comes-next", &SPEC_EXAMPLE[2..]);
        assert!(parse(&later).is_some());
        assert!(parse(&format!("cc{}x", &SPEC_EXAMPLE[2..])).is_none());
    }

    #[test]
    fn restarts_the_trace_on_anything_malformed() {
        let malformed = [
            "",
            "garbage",
            &SPEC_EXAMPLE.to_uppercase(),
            &format!("{SPEC_EXAMPLE}-extra"),
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",
            "00-4bf92f3577b34da6a3ce929d0e0e473é-00f067aa0ba902b7-01",
            "00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ];
        for value in malformed {
            assert_eq!(parse(value), None, "{value:?}");
            let context = TraceContext::continue_from(Some(value.as_bytes()));
            assert!(context.parent_id().is_none(), "{value:?}");
        }
        assert!(
            TraceContext::continue_from(Some(&[0xff, 0xfe]))
                .parent_id()
                .is_none()
        );
    }

    #[test]
    fn new_traces_differ() {
        let (a, b) = (TraceContext::root(), TraceContext::root());
        assert_ne!(a.trace_id().to_string(), b.trace_id().to_string());
        assert_eq!(a.trace_id().to_string().len(), 32);
        assert_eq!(a.span_id().to_string().len(), 16);
    }
}
