//! Compressed request bodies: `Content-Encoding: gzip` is decoded by tower-http's
//! `RequestDecompressionLayer` (gzip being the coding the server answers in), any other coding
//! answers 415 with `Accept-Encoding: gzip` (RFC 9110 section 15.5.16), rendered as
//! `UNSUPPORTED_CONTENT_ENCODING`. The body limit sits inside, so that it counts decoded bytes.

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::Response;
use tower::ServiceBuilder;
use tower::layer::util::{Identity, Stack};
use tower::util::MapRequestLayer;
use tower_http::decompression::RequestDecompressionLayer;

/// Marks a request whose body is decoded from gzip, so that `Valid` can tell a body that
/// does not decode (`MALFORMED_CONTENT_ENCODING`) from one that does not parse.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GzipBody;

/// The decompression layers, outermost first: the [`GzipBody`] mark, then tower-http's.
pub(crate) type DecompressionLayer =
    Stack<RequestDecompressionLayer, Stack<MapRequestLayer<fn(Request) -> Request>, Identity>>;

pub(crate) fn layer() -> DecompressionLayer {
    ServiceBuilder::new()
        .layer(MapRequestLayer::new(mark as fn(Request) -> Request))
        // Named one by one, so that a feature another crate enables on tower-http adds no
        // coding the server does not answer in.
        .layer(
            RequestDecompressionLayer::new()
                .gzip(true)
                .no_deflate()
                .no_br()
                .no_zstd(),
        )
        .into_inner()
}

fn mark(mut request: Request) -> Request {
    // The one value tower-http decodes as gzip.
    let coding = request.headers().get(header::CONTENT_ENCODING);
    if coding.is_some_and(|coding| coding.as_bytes() == b"gzip") {
        request.extensions_mut().insert(GzipBody);
    }
    request
}

/// tower-http's answer to a coding it does not decode: a bare 415 naming the codings it
/// does in `Accept-Encoding`.
pub(crate) fn is_unsupported_encoding(response: &Response) -> bool {
    response.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE
        && response.headers().contains_key(header::ACCEPT_ENCODING)
}
