//! gRPC call metrics, taken where tower-http classifies each call: from the `grpc-status`
//! header of a trailers-only response, or from the trailers at the end of the stream.

use std::fmt;
use std::time::Instant;

use axum::http::{HeaderMap, Request, Response};
use tower_http::classify::{
    ClassifiedResponse, ClassifyEos, ClassifyResponse, GrpcEosErrorsAsFailures,
    GrpcErrorsAsFailures, GrpcFailureClass, MakeClassifier,
};

/// `grpc_requests_total` and `grpc_request_duration_seconds` by method and code, recorded
/// while classifying as [`GrpcErrorsAsFailures`] does: `TraceLayer::new(GrpcMetrics)`.
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
        let code = metadata
            .and_then(|m| m.get("grpc-status"))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i32>().ok())
            .map_or(tonic::Code::Unknown, tonic::Code::from_i32);
        // An unknown method would otherwise make a label per path a client invents.
        let method = match code {
            tonic::Code::Unimplemented => "unimplemented".to_owned(),
            _ => self.method,
        };
        let labels = [("method", method), ("code", format!("{code:?}"))];
        ::metrics::counter!("grpc_requests_total", &labels).increment(1);
        ::metrics::histogram!("grpc_request_duration_seconds", &labels)
            .record(self.started.elapsed().as_secs_f64());
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
