//! Compressed request bodies: `Content-Encoding: gzip` is decoded by tower-http's
//! `RequestDecompressionLayer` (gzip being the coding the server answers in), any other coding
//! answers 415 with `Accept-Encoding: gzip` (RFC 9110 section 15.5.16), rendered as
//! `UNSUPPORTED_CONTENT_ENCODING`. The body limit sits inside, so that it counts decoded bytes.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
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

/// Spells gzip the one way tower-http decodes, and marks the request. Content codings are
/// case-insensitive, and "x-gzip" is gzip (RFC 9110 sections 8.4.1 and 8.4.1.3).
fn mark(mut request: Request) -> Request {
    let headers = request.headers_mut();
    let coding = headers
        .get(header::CONTENT_ENCODING)
        .map(|c| c.as_bytes().trim_ascii());
    if coding.is_some_and(|c| c.eq_ignore_ascii_case(b"gzip") || c.eq_ignore_ascii_case(b"x-gzip"))
    {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
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
