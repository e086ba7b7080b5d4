//! W3C Trace Context (<https://www.w3.org/TR/trace-context/>) and W3C Baggage
//! (<https://www.w3.org/TR/baggage/>), read and written by OpenTelemetry's standard
//! propagators (`traceparent`, `tracestate`, `baggage`): what carries a trace from one
//! service, or one delivery, to the next.
//!
//! The ids of a unit's span come from the plugin that exports spans when one does (see
//! [`SpanBridge`]), so that its logs, what it sends on and what the trace backend shows agree;
//! otherwise the unit draws its own.

use std::cell::RefCell;
use std::sync::{LazyLock, OnceLock};

use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{
    Extractor, Injector, TextMapCompositePropagator, TextMapPropagator,
};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// The header (HTTP, gRPC metadata, Kafka record header) that carries the trace and span ids.
pub const TRACEPARENT: &str = "traceparent";

/// The header that carries the vendors' trace state beside [`TRACEPARENT`], kept as received.
pub const TRACESTATE: &str = "tracestate";

/// The standard propagators, as `OTEL_PROPAGATORS`' default (`tracecontext,baggage`) has them:
/// W3C Trace Context ([`TraceContextReader`]: the SDK's propagator, with a faster reading of
/// `traceparent`) and the SDK's W3C Baggage propagator.
static PROPAGATOR: LazyLock<TextMapCompositePropagator> = LazyLock::new(|| {
    TextMapCompositePropagator::new(vec![
        Box::new(TraceContextReader(TraceContextPropagator::new())),
        Box::new(BaggagePropagator::new()),
    ])
});

/// What a carrier (headers) brings: the caller's span context and baggage; an empty context
/// when it brings none, or a malformed one (the spec's rule: the receiver restarts the trace).
pub fn extract(carrier: &dyn Extractor) -> Context {
    PROPAGATOR.extract(carrier)
}

/// The SDK's W3C Trace Context propagator, but for how it reads `traceparent`: here in one
/// pass over the bytes, as the spec draws it. Why not the SDK's reading: it accepts ids the
/// spec forbids (`00-1-+2-01`: any length, a sign), which would let clients collide on trace
/// ids, and it cost 4,200 instructions per request against 1,700 here (callgrind, the HTTP
/// bench's `traceparent` side, both header lookups included: 3% of the request
/// through the standard stack, above the 1% the standard propagator was allowed). It splits
/// the value into a `Vec`, parses the ids as numbers and reads the header twice.
/// `tracestate` is still parsed by the SDK's `TraceState`, and writing is the SDK's.
#[derive(Debug)]
struct TraceContextReader(TraceContextPropagator);

impl TextMapPropagator for TraceContextReader {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        self.0.inject_context(cx, injector);
    }

    /// The SDK's rules: unknown flags are dropped (only `sampled` is kept, as the spec asks of
    /// version 00), a `tracestate` that does not parse is dropped, the caller's span is remote.
    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let Some((trace_id, span_id, flags)) = extractor
            .get(TRACEPARENT)
            .and_then(|value| traceparent(value.trim().as_bytes()))
        else {
            return cx.clone();
        };
        let state = extractor
            .get(TRACESTATE)
            .and_then(|state| state.parse::<TraceState>().ok())
            .unwrap_or_default();
        let flags = TraceFlags::new(flags) & TraceFlags::SAMPLED;
        cx.with_remote_span_context(SpanContext::new(trace_id, span_id, flags, true, state))
    }

    fn fields(&self) -> FieldIter<'_> {
        self.0.fields()
    }
}

/// `version-traceid-parentid-flags` as the spec writes it: lowercase hex fields of 2, 32, 16
/// and 2 digits, neither id all zeros; version `ff` is invalid; version `00` ends there, a
/// later one may go on after a `-`. The ids and the flags byte, or `None`.
fn traceparent(value: &[u8]) -> Option<(TraceId, SpanId, u8)> {
    let fits = match value.get(..2)? {
        b"ff" => false,
        b"00" => value.len() == 55,
        _ => value.len() == 55 || value.get(55) == Some(&b'-'),
    };
    if !fits || [2, 35, 52].iter().any(|&at| value[at] != b'-') {
        return None;
    }
    hex::<1>(&value[..2])?;
    let trace_id = TraceId::from_bytes(hex(&value[3..35])?);
    let span_id = SpanId::from_bytes(hex(&value[36..52])?);
    let [flags] = hex(&value[53..55])?;
    (trace_id != TraceId::INVALID && span_id != SpanId::INVALID)
        .then_some((trace_id, span_id, flags))
}

/// `digits` (2·N lowercase hex digits) as N bytes.
fn hex<const N: usize>(digits: &[u8]) -> Option<[u8; N]> {
    let nibble = |digit: u8| match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    };
    let mut bytes = [0; N];
    for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(bytes)
}

/// How a plugin that exports spans (the `otel` plugin) takes part in the units' traces; the
/// core asks it, when it is installed ([`bridge_spans`]), for the ids of each unit's span and
/// for the context of the span in progress, so that what is logged, sent on and exported
/// agree.
pub trait SpanBridge: Send + Sync + 'static {
    /// Makes `span` (a unit's, just created) a child of `parent` and returns its context (the
    /// ids the plugin gave it, the parent's baggage); `None` if the plugin does not know the
    /// span (its subscriber filtered it out).
    fn start(&self, span: &tracing::Span, parent: &Context) -> Option<Context>;

    /// The context of `span`, to send on to the next service or record; `None` if the plugin
    /// does not know the span.
    fn context(&self, span: &tracing::Span) -> Option<Context>;

    /// Links `span` to `to`, a span of the work that caused it (a consumed record's
    /// producer), with `attributes`.
    fn link(&self, span: &tracing::Span, to: SpanContext, attributes: Vec<KeyValue>);
}

static BRIDGE: OnceLock<Box<dyn SpanBridge>> = OnceLock::new();

/// Installs the process's span bridge; `false` if one was installed already (the first stays,
/// as the tracing subscriber does).
pub fn bridge_spans(bridge: impl SpanBridge) -> bool {
    BRIDGE.set(Box::new(bridge)).is_ok()
}

/// The trace of one unit of work (an HTTP request, a gRPC call, a consumed record, a job run):
/// its span's context (trace id, span id, flags, trace state) and the baggage it came with.
#[derive(Debug, Clone)]
pub struct TraceContext {
    cx: Context,
}

impl TraceContext {
    /// The trace of the unit whose span is `span`, continuing `parent` (from [`extract`]; an
    /// empty context starts a new trace). Records the ids on the span's `trace_id` and
    /// `span_id` fields, which the span must declare (as `tracing::field::Empty`).
    pub fn begin(parent: Context, span: &tracing::Span) -> TraceContext {
        let bridged = BRIDGE.get().and_then(|bridge| bridge.start(span, &parent));
        let cx = bridged.unwrap_or_else(|| {
            let caller = parent.span().span_context().clone();
            let own = if caller.is_valid() {
                SpanContext::new(
                    caller.trace_id(),
                    new_span_id(),
                    caller.trace_flags(),
                    false,
                    caller.trace_state().clone(),
                )
            } else {
                SpanContext::new(
                    new_trace_id(),
                    new_span_id(),
                    TraceFlags::SAMPLED,
                    false,
                    Default::default(),
                )
            };
            parent.with_remote_span_context(own)
        });
        let trace = TraceContext { cx };
        span.record("trace_id", tracing::field::display(trace.trace_id()));
        span.record("span_id", tracing::field::display(trace.span_id()));
        trace
    }

    /// Links `span` (a unit's) to `to`, the span that caused its work, when a plugin exports
    /// spans; nothing otherwise.
    pub fn link(span: &tracing::Span, to: &Context, attributes: Vec<KeyValue>) {
        let to = to.span().span_context().clone();
        if let (Some(bridge), true) = (BRIDGE.get(), to.is_valid()) {
            bridge.link(span, to, attributes);
        }
    }

    /// The trace id; displays as 32 lowercase hex digits.
    pub fn trace_id(&self) -> TraceId {
        self.cx.span().span_context().trace_id()
    }

    /// This span's id; displays as 16 lowercase hex digits.
    pub fn span_id(&self) -> SpanId {
        self.cx.span().span_context().span_id()
    }

    /// The OpenTelemetry context: the span context and the baggage.
    pub fn context(&self) -> &Context {
        &self.cx
    }

    /// Writes `traceparent`, `tracestate` (when not empty) and `baggage` (when not empty)
    /// into `carrier`, making the receiver's span a child of this one.
    pub fn inject(&self, carrier: &mut dyn Injector) {
        PROPAGATOR.inject_context(&self.cx, carrier);
    }
}

/// The headers (name, value) that carry the trace of `span` on to the next service or record
/// (`traceparent`, and `tracestate` and `baggage` when not empty): `span`'s context when a
/// plugin exports spans and knows it (a producer's own span, say), else the current unit's
/// ([`WorkContext`](super::WorkContext)); none outside any unit.
pub fn trace_headers(span: &tracing::Span) -> Vec<(String, String)> {
    let mut headers = Headers(Vec::with_capacity(3));
    let bridged = BRIDGE
        .get()
        .and_then(|bridge| bridge.context(span))
        .filter(|cx| cx.span().span_context().is_valid());
    match bridged {
        Some(cx) => PROPAGATOR.inject_context(&cx, &mut headers),
        None => {
            if let Some(work) = super::WorkContext::current() {
                work.trace.inject(&mut headers);
            }
        }
    }
    headers.0
}

/// Headers as (name, value) pairs (an outbox event's), as OpenTelemetry's propagators read
/// them: the **last** value of a name, the name matched exactly (the propagators ask for and
/// write lowercase names).
///
/// That is a Kafka record's rule (`kafka::Message::header`, and most Kafka clients'): the
/// pairs an outbox event carries become its record's headers, so the relay that links its send
/// to the event's creation and the consumer that continues the creation read the same
/// `traceparent` when a name repeats.
pub struct HeaderPairs<'a>(pub &'a [(String, String)]);

impl Extractor for HeaderPairs<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        let mut pairs = self.0.iter().rev();
        pairs
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| name.as_str()).collect()
    }
}

struct Headers(Vec<(String, String)>);

impl Injector for Headers {
    /// An empty value (no trace state, no baggage) is not sent.
    fn set(&mut self, key: &str, value: String) {
        if !value.is_empty() {
            self.0.push((key.to_owned(), value));
        }
    }
}

thread_local! {
    /// Ids must be unique, not secret, and one or two are drawn for every request and
    /// consumed record: a fast generator per thread, seeded by the OS.
    static RNG: RefCell<SmallRng> = RefCell::new(SmallRng::from_os_rng());
}

/// All-zero ids are invalid; drawing one is a once-in-2^64 event, but cheap to rule out.
fn new_trace_id() -> TraceId {
    RNG.with(|rng| TraceId::from(rng.borrow_mut().random_range(1..=u128::MAX)))
}

fn new_span_id() -> SpanId {
    RNG.with(|rng| SpanId::from(rng.borrow_mut().random_range(1..=u64::MAX)))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const SPEC_EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn carrier(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn begin(pairs: &[(&str, &str)]) -> TraceContext {
        TraceContext::begin(extract(&carrier(pairs)), &tracing::Span::none())
    }

    /// What `trace` sends on, as `trace_headers` does (empty values left out).
    fn sent(trace: &TraceContext) -> HashMap<String, String> {
        let mut out = Headers(Vec::new());
        trace.inject(&mut out);
        out.0.into_iter().collect()
    }

    #[test]
    fn continues_a_valid_traceparent_with_a_new_span() {
        let trace = begin(&[(TRACEPARENT, SPEC_EXAMPLE)]);
        assert_eq!(
            trace.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_ne!(trace.span_id().to_string(), "00f067aa0ba902b7");
        let onward = &sent(&trace)[TRACEPARENT];
        assert_eq!(
            onward,
            &format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{}-01", trace.span_id())
        );
    }

    #[test]
    fn keeps_the_unsampled_flag_the_trace_state_and_the_baggage() {
        let unsampled = SPEC_EXAMPLE.replace("-01", "-00");
        let trace = begin(&[
            (TRACEPARENT, &unsampled),
            (TRACESTATE, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"),
            ("baggage", "tenant=acme"),
        ]);
        let onward = sent(&trace);
        assert!(onward[TRACEPARENT].ends_with("-00"));
        assert_eq!(
            onward[TRACESTATE],
            "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
        );
        assert_eq!(onward["baggage"], "tenant=acme");
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
            "00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-+0f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-+1",
            "00-4bf92-00f067aa0ba902b7-01",
            "00-1-1-01",
            "0é-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ];
        for value in malformed {
            let trace = begin(&[(TRACEPARENT, value), (TRACESTATE, "congo=t61rcWkgMzE")]);
            assert_ne!(
                trace.trace_id().to_string(),
                "4bf92f3577b34da6a3ce929d0e0e4736",
                "{value:?}"
            );
            assert!(!sent(&trace).contains_key(TRACESTATE), "{value:?}");
        }
    }

    /// Every one-byte change of the spec's example: where the reader takes the value, the
    /// SDK's propagator reads the same ids and flags; where it refuses one the SDK takes, the
    /// value breaks the spec's shape (the SDK takes signs, uppercase digits, version `ff`, fields
    /// a digit short).
    #[test]
    fn reads_as_the_sdk_does_where_the_spec_allows() {
        let sdk = TraceContextPropagator::new();
        for at in 0..SPEC_EXAMPLE.len() {
            for byte in b"0159aefAF-+ x".iter().copied() {
                let mut value = SPEC_EXAMPLE.as_bytes().to_vec();
                value[at] = byte;
                let value = String::from_utf8(value).unwrap();
                let spec_shape = !value.starts_with("ff")
                    && value.bytes().enumerate().all(|(i, b)| match i {
                        2 | 35 | 52 => b == b'-',
                        _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
                    });
                let ours = traceparent(value.as_bytes());
                let theirs = sdk.extract(&carrier(&[(TRACEPARENT, &value)]));
                let theirs = theirs.span().span_context().clone();
                match ours {
                    Some((trace_id, span_id, flags)) => {
                        assert!(theirs.is_valid(), "{value}");
                        assert_eq!(theirs.trace_id(), trace_id, "{value}");
                        assert_eq!(theirs.span_id(), span_id, "{value}");
                        assert_eq!(
                            theirs.trace_flags(),
                            TraceFlags::new(flags) & TraceFlags::SAMPLED,
                            "{value}"
                        );
                    }
                    None if theirs.is_valid() => assert!(!spec_shape, "{value}"),
                    None => {}
                }
            }
        }
    }

    #[test]
    fn keeps_only_the_sampled_flag() {
        let flags = SPEC_EXAMPLE.replace("-01", "-03");
        assert!(sent(&begin(&[(TRACEPARENT, &flags)]))[TRACEPARENT].ends_with("-01"));
        let flags = SPEC_EXAMPLE.replace("-01", "-fe");
        assert!(sent(&begin(&[(TRACEPARENT, &flags)]))[TRACEPARENT].ends_with("-00"));
    }

    #[test]
    fn reads_the_known_fields_of_a_later_version() {
        let later = format!("cc{}-what-comes-next", &SPEC_EXAMPLE[2..]);
        let trace = begin(&[(TRACEPARENT, &later)]);
        assert_eq!(
            trace.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        let glued = format!("cc{}x", &SPEC_EXAMPLE[2..]);
        let trace = begin(&[(TRACEPARENT, &glued)]);
        assert_ne!(
            trace.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
    }

    #[test]
    fn header_pairs_read_the_last_value_of_a_repeated_name() {
        let other = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let pairs = [
            (TRACEPARENT.to_owned(), SPEC_EXAMPLE.to_owned()),
            ("content-type".to_owned(), "application/json".to_owned()),
            (TRACEPARENT.to_owned(), other.to_owned()),
            // Another name, as a Kafka record's header names are.
            ("TraceParent".to_owned(), SPEC_EXAMPLE.to_owned()),
        ];
        assert_eq!(HeaderPairs(&pairs).get(TRACEPARENT), Some(other));
        assert_eq!(HeaderPairs(&pairs).get("Content-Type"), None);
        assert_eq!(HeaderPairs(&pairs).get(TRACESTATE), None);
        let trace = TraceContext::begin(extract(&HeaderPairs(&pairs)), &tracing::Span::none());
        assert_eq!(
            trace.trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
    }

    #[test]
    fn new_traces_differ() {
        let (a, b) = (begin(&[]), begin(&[]));
        assert_ne!(a.trace_id(), b.trace_id());
        assert_eq!(a.trace_id().to_string().len(), 32);
        assert_eq!(a.span_id().to_string().len(), 16);
        assert!(sent(&a)[TRACEPARENT].ends_with("-01"));
    }
}
