//! Every error response leaves as problem+json with the request id: the framework's own
//! problems get the id added, and the bare or plain-text errors of axum and tower-http
//! (405, 408, 413, 415 for a content coding, extractor rejections) are rewritten.

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Problem;
use crate::serving::REQUEST_ID;

/// Longest rejection text kept as a problem's detail.
const MAX_DETAIL: usize = 4096;

pub(crate) async fn render_problems(request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut response = next.run(request).await;
    let status = response.status();
    if !status.is_client_error() && !status.is_server_error() {
        return response;
    }
    let mut problem = match response.extensions_mut().remove::<Problem>() {
        Some(problem) => problem,
        None if is_bare(&response) && super::decompression::is_unsupported_encoding(&response) => {
            let accepted = response.headers()[header::ACCEPT_ENCODING]
                .to_str()
                .unwrap_or_default();
            Problem::new(
                status,
                "UNSUPPORTED_CONTENT_ENCODING",
                format!(
                    "The request body's Content-Encoding is not supported; send it \
                     uncompressed or in one of: {accepted}."
                ),
            )
        }
        None if is_bare(&response) => {
            let (_, body) = std::mem::take(&mut response).into_parts();
            let text = axum::body::to_bytes(body, MAX_DETAIL)
                .await
                .unwrap_or_default();
            let text = String::from_utf8_lossy(&text);
            let detail = if text.trim().is_empty() {
                status.canonical_reason().unwrap_or("error").to_owned()
            } else {
                text.trim().to_owned()
            };
            Problem::from_status(status, detail)
        }
        // A body the handler chose (its own JSON, say) is left alone.
        None => return response,
    };
    problem.request_id = request_id;
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    let mut rendered = problem.into_response();
    // Keep headers such as `allow` (405) from the original response.
    for (name, value) in parts.headers.drain().filter_map(|(n, v)| n.map(|n| (n, v))) {
        if name != header::CONTENT_TYPE {
            rendered.headers_mut().entry(name).or_insert(value);
        }
    }
    rendered.extensions_mut().remove::<Problem>();
    *rendered.status_mut() = status;
    rendered
}

/// Empty, or plain text: what axum's rejections and tower-http's layers produce.
fn is_bare(response: &Response) -> bool {
    match response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(HeaderValue::to_str)
    {
        None => true,
        Some(Ok(content_type)) => content_type.starts_with("text/plain"),
        Some(Err(_)) => false,
    }
}
