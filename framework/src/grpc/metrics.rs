//! gRPC call metrics, taken where tower-http classifies each call: from the `grpc-status`
//! header of a trailers-only response, or from the trailers at the end of the stream.

use std::fmt;
use std::time::Instant;

use crate::metrics::Meter;
use axum::http::{HeaderMap, Request, Response};
use tower_http::classify::{
    ClassifiedResponse, ClassifyEos, ClassifyResponse, GrpcEosErrorsAsFailures,
    GrpcErrorsAsFailures, GrpcFailureClass, MakeClassifier,
};

static CALLS: Meter = Meter::new(
    "grpc_requests_total",
    "grpc_request_duration_seconds",
    &["method", "code"],
);

/// `grpc_requests_total` and `grpc_request_duration_seconds` by method and code, recorded
/// while classifying as [`GrpcErrorsAsFailures`] does: `TraceLayer::new(GrpcMetrics)`. The
/// method is `/package.Service/Method` for a call that reached one, else `_OTHER` (an unknown
/// service or method, which answers `UNIMPLEMENTED`, as OpenTelemetry's `rpc.method` has it).
/// Public so a hand-written tonic server can get the same metrics (the benchmark does).
#[derive(Clone, Copy, Default)]
pub struct GrpcMetrics;

impl MakeClassifier for GrpcMetrics {
    type Classifier = Call;
    type FailureClass = GrpcFailureClass;
    type ClassifyEos = CallEnd;

    fn make_classifier<B>(&self, request: &Request<B>) -> Call {
        Call {
            method: request.uri().path().to_owned(),
            started: Instant::now(),
        }
    }
}

/// One call being measured (tower-http consumes it once; `Clone` is a bound it asks for).
#[derive(Clone)]
pub struct Call {
    /// `/package.Service/Method`.
    method: String,
    started: Instant,
}

impl Call {
    fn record(self, metadata: Option<&HeaderMap>) {
        let status = metadata
            .and_then(|m| m.get("grpc-status"))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i32>().ok())
            .map(tonic::Code::from_i32);
        let code = status.unwrap_or(tonic::Code::Unknown);
        // Only a call that reached a method keeps its path: an unknown service or method
        // answers UNIMPLEMENTED (tonic's router and generated servers do), and a call without
        // a status never said which method it reached. Otherwise a client could add a series
        // per path it invents.
        let method = match status {
            Some(code) if code != tonic::Code::Unimplemented => self.method.as_str(),
            _ => crate::telemetry::OTHER,
        };
        let code = format!("{code:?}");
        CALLS.record(&[method, &code], self.started.elapsed());
    }
}

impl ClassifyResponse for Call {
    type FailureClass = GrpcFailureClass;
    type ClassifyEos = CallEnd;

    fn classify_response<B>(
        self,
        response: &Response<B>,
    ) -> ClassifiedResponse<GrpcFailureClass, CallEnd> {
        match GrpcErrorsAsFailures::new().classify_response(response) {
            ClassifiedResponse::Ready(result) => {
                self.record(Some(response.headers()));
                ClassifiedResponse::Ready(result)
            }
            ClassifiedResponse::RequiresEos(eos) => {
                ClassifiedResponse::RequiresEos(CallEnd { call: self, eos })
            }
        }
    }

    fn classify_error<E: fmt::Display + 'static>(self, error: &E) -> GrpcFailureClass {
        self.record(None);
        GrpcErrorsAsFailures::new().classify_error(error)
    }
}

/// A call whose status comes with the trailers.
#[derive(Clone)]
pub struct CallEnd {
    call: Call,
    eos: GrpcEosErrorsAsFailures,
}

impl ClassifyEos for CallEnd {
    type FailureClass = GrpcFailureClass;

    fn classify_eos(self, trailers: Option<&HeaderMap>) -> Result<(), GrpcFailureClass> {
        self.call.record(trailers);
        self.eos.classify_eos(trailers)
    }

    fn classify_error<E: fmt::Display + 'static>(self, error: &E) -> GrpcFailureClass {
        self.call.record(None);
        self.eos.classify_error(error)
    }
}
