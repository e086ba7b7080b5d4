//! `Idempotency-Key` on the routes that opt in (`#[http_route(POST, "/x", idempotency)]`), as
//! draft-ietf-httpapi-idempotency-key-header-06 describes it:
//!
//! - no key: the request runs as usual;
//! - a key not seen in this route: the request runs, and its response (below 500, except 408
//!   and 429, which a retry should not get again) is kept `HTTP_IDEMPOTENCY_TTL_SECS` with a
//!   fingerprint of the request (SHA-256 of method, path and query, content type and body).
//!   On a route whose handler takes a `Tx`, a success is kept in the handler's transaction, so
//!   the writes and the response that reports them commit together;
//! - the same key and fingerprint again: the kept status, headers and body, with
//!   `idempotent-replayed: true`, and the handler does not run;
//! - the same key with another request: 422 `IDEMPOTENCY_KEY_REUSED`;
//! - the same key while its first request runs: 409 `IDEMPOTENCY_KEY_IN_USE` with
//!   `Retry-After`;
//! - a key that is not a string of 1 to 255 visible ASCII characters (bare, or quoted as the
//!   draft's structured-field string): 400 `IDEMPOTENCY_KEY_INVALID`.
//!
//! A request that fails with a 5xx, panics or is dropped gives its key up, so a retry runs
//! again; a process that dies holding one leaves it for twice `HTTP_REQUEST_TIMEOUT_SECS`,
//! after which a retry takes it over.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use sha2::{Digest, Sha256};

use super::{AppState, Problem};
use crate::transaction::{Claim, IdempotencyStore, StoredResponse, Transactions};

/// The request header (draft-ietf-httpapi-idempotency-key-header).
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// Set on a replayed response.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The longest key taken.
pub const MAX_KEY_LEN: usize = 255;

/// The largest response body kept for replays; a larger response is sent but not kept (its
/// key is given up, and logged).
const MAX_KEPT_BODY: usize = 1 << 20;

/// Response headers not replayed: hop-by-hop ones, and those of the first exchange only.
const NOT_KEPT: [HeaderName; 5] = [
    header::DATE,
    header::CONTENT_LENGTH,
    header::TRANSFER_ENCODING,
    header::CONNECTION,
    HeaderName::from_static("x-request-id"),
];

/// One idempotent route.
pub(super) struct Idempotent {
    pub(super) store: Arc<dyn IdempotencyStore>,
    /// The route's unit of work, when its handler takes a `Tx`.
    pub(super) transactions: Option<Arc<Transactions>>,
    /// `METHOD /path`: keys are the client's per route.
    pub(super) scope: String,
    /// How long a running request holds its key.
    pub(super) lease: Duration,
    /// How long a key is kept.
    pub(super) ttl: Duration,
}

/// `route` with its `Idempotency-Key` handling (and its unit of work, if any).
pub(super) fn layer(
    route: MethodRouter<AppState>,
    idempotent: Idempotent,
) -> MethodRouter<AppState> {
    let idempotent = Arc::new(idempotent);
    route.route_layer(axum::middleware::from_fn(move |request, next| {
        run(idempotent.clone(), request, next)
    }))
}

async fn run(route: Arc<Idempotent>, request: Request, next: Next) -> Response {
    let Some(value) = request.headers().get(IDEMPOTENCY_KEY) else {
        return match &route.transactions {
            Some(transactions) => {
                super::unit_of_work::run(transactions.clone(), request, next).await
            }
            None => next.run(request).await,
        };
    };
    let Some(key) = parse_key(value) else {
        return Problem::new(
            StatusCode::BAD_REQUEST,
            "IDEMPOTENCY_KEY_INVALID",
            format!(
                "Idempotency-Key must be a string of 1 to {MAX_KEY_LEN} visible ASCII characters"
            ),
        )
        .into_response();
    };
    // An authenticated caller's keys are its own: another caller's same key and request must
    // not replay the first one's response.
    let key = match request.extensions().get::<crate::identity::Principal>() {
        Some(caller) => owned_key(&key, caller),
        None => key,
    };
    let (parts, body) = request.into_parts();
    let body = match Bytes::from_request(Request::from_parts(parts.clone(), body), &()).await {
        Ok(body) => body,
        Err(rejection) => {
            return Problem::from_status(rejection.status(), rejection.body_text()).into_response();
        }
    };
    let fingerprint = fingerprint(&parts, &body);
    let claim = route
        .store
        .claim(&route.scope, &key, &fingerprint, route.lease, route.ttl)
        .await;
    match claim {
        Ok(Claim::Acquired) => {}
        Ok(Claim::Completed(stored)) => return replay(stored),
        Ok(Claim::InProgress) => {
            let mut response = Problem::new(
                StatusCode::CONFLICT,
                "IDEMPOTENCY_KEY_IN_USE",
                "A request with this Idempotency-Key is still being processed; retry later",
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return response;
        }
        Ok(Claim::Mismatch) => {
            return Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "IDEMPOTENCY_KEY_REUSED",
                "This Idempotency-Key was used with another request",
            )
            .into_response();
        }
        Err(error) => return Problem::from_domain_error(&error).into_response(),
    }
    let held = Held {
        route: route.clone(),
        key,
        done: false,
    };
    let request = Request::from_parts(parts, Body::from(body));
    match &route.transactions {
        Some(transactions) => held.run_in_transaction(transactions, request, next).await,
        None => held.run(request, next).await,
    }
}

/// A key this request holds; given up if the request ends without completing it (a 5xx, a
/// panic, a timeout, a client gone).
struct Held {
    route: Arc<Idempotent>,
    key: String,
    done: bool,
}

impl Held {
    /// Runs the request, then keeps its response outside any transaction.
    async fn run(self, request: Request, next: Next) -> Response {
        let (response, kept) = buffered(next.run(request).await).await;
        self.keep(response, kept).await
    }

    /// Runs the request in a transaction; a success is kept in it, so the writes and their
    /// response commit together.
    async fn run_in_transaction(
        mut self,
        transactions: &Transactions,
        request: Request,
        next: Next,
    ) -> Response {
        let tx = transactions.begin();
        let (response, kept) = buffered(tx.clone().scope(next.run(request)).await).await;
        if !super::unit_of_work::succeeded(response.status()) {
            tx.rollback().await;
            // Nothing was written: a refusal is kept on its own.
            return self.keep(response, kept).await;
        }
        let committed = match &kept {
            Some(kept) => match tx
                .complete_idempotent(&self.route.scope, &self.key, kept)
                .await
            {
                Ok(()) => tx.commit().await,
                Err(error) => Err(error),
            },
            None => tx.commit().await,
        };
        match committed {
            Ok(()) if kept.is_some() => {
                self.done = true;
                response
            }
            Ok(()) => {
                self.give_up().await;
                response
            }
            Err(error) => {
                tx.rollback().await;
                self.give_up().await;
                Problem::from_domain_error(&error).into_response()
            }
        }
    }

    /// Keeps `kept` as the key's response, outside any transaction; without one (a 5xx, a
    /// body too large), gives the key up before answering, so that a retry runs again.
    async fn keep(mut self, response: Response, kept: Option<StoredResponse>) -> Response {
        let Some(kept) = &kept else {
            self.give_up().await;
            return response;
        };
        if let Err(error) = self
            .route
            .store
            .complete(&self.route.scope, &self.key, kept)
            .await
        {
            // The request ran: its response stands, and a retry must not run it again. The
            // key stays held until its lease ends (retries get 409 meanwhile).
            tracing::error!(error = %crate::error::error_chain(&error), "the response of an Idempotency-Key was not kept");
        }
        self.done = true;
        response
    }

    async fn give_up(&mut self) {
        self.done = true;
        if let Err(error) = self.route.store.release(&self.route.scope, &self.key).await {
            tracing::warn!(error = %crate::error::error_chain(&error), "an Idempotency-Key was not given up; it lapses at the end of its lease");
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // The request was given up on (a panic, a timeout, a client gone): release the key on
        // a task of its own, or it would refuse retries (409) until its lease ran out.
        let mut held = Held {
            route: self.route.clone(),
            key: std::mem::take(&mut self.key),
            done: true,
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { held.give_up().await });
        }
    }
}

/// The key of a header value: a bare token, or a structured-field string (`"..."`, RFC 8941
/// §3.3.3) without escapes; visible ASCII only, 1 to [`MAX_KEY_LEN`] characters.
fn parse_key(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?.trim();
    let key = match text.strip_prefix('"') {
        Some(quoted) => quoted.strip_suffix('"')?,
        None => text,
    };
    let valid = (1..=MAX_KEY_LEN).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
    valid.then(|| key.to_owned())
}

/// `key` and a digest of the caller's scheme and subject, after a space (which no key holds):
/// bounded, and storable whatever the subject's characters.
fn owned_key(key: &str, caller: &crate::identity::Principal) -> String {
    let mut hash = Sha256::new();
    hash.update(caller.scheme().as_str());
    hash.update([0]);
    hash.update(caller.subject());
    let digest = hash.finalize();
    let owner: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{key} {owner}")
}

/// SHA-256 (hex) of what makes two requests the same one: method, path and query, content
/// type and body, each length-prefixed so that no two requests share a preimage.
fn fingerprint(parts: &axum::http::request::Parts, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .map_or(&b""[..], HeaderValue::as_bytes);
    let target = parts.uri.path_and_query().map_or("", |p| p.as_str());
    for part in [
        parts.method.as_str().as_bytes(),
        target.as_bytes(),
        content_type,
        body,
    ] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hash.finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The response with its body read, and what of it is kept for replays: `None` for a 5xx, a
/// 408 or 429 (a retry should run again), or a body over [`MAX_KEPT_BODY`].
async fn buffered(response: Response) -> (Response, Option<StoredResponse>) {
    let (parts, body) = response.into_parts();
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(body) => body,
        Err(error) => {
            tracing::error!(%error, "the response body could not be read");
            return (Problem::internal().into_response(), None);
        }
    };
    let status = parts.status;
    let transient = status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS;
    let kept = if transient {
        None
    } else if body.len() > MAX_KEPT_BODY {
        tracing::warn!(
            bytes = body.len(),
            "a response over 1 MiB is not kept for Idempotency-Key replays"
        );
        None
    } else {
        Some(StoredResponse {
            status: status.as_u16(),
            headers: kept_headers(&parts.headers),
            body: body.to_vec(),
        })
    };
    (Response::from_parts(parts, Body::from(body)), kept)
}

fn kept_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| !NOT_KEPT.contains(name))
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_owned())))
        .collect()
}

/// The kept response, marked as a replay.
fn replay(stored: StoredResponse) -> Response {
    let mut response = Response::new(Body::from(stored.body));
    *response.status_mut() =
        StatusCode::from_u16(stored.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    for (name, value) in stored.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            headers.append(name, value);
        }
    }
    headers.insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_bare_or_quoted_visible_ascii() {
        let key = |s: &str| parse_key(&HeaderValue::from_str(s).unwrap());
        assert_eq!(key("abc-123").as_deref(), Some("abc-123"));
        assert_eq!(key("\"8e03978e-40d5\"").as_deref(), Some("8e03978e-40d5"));
        assert_eq!(key(""), None);
        assert_eq!(key("\"\""), None);
        assert_eq!(key("\"open"), None);
        assert_eq!(key("a b"), None);
        assert_eq!(key("a\\b"), None);
        assert_eq!(
            key(&"k".repeat(MAX_KEY_LEN)).map(|k| k.len()),
            Some(MAX_KEY_LEN)
        );
        assert_eq!(key(&"k".repeat(MAX_KEY_LEN + 1)), None);
    }

    #[test]
    fn the_fingerprint_tells_requests_apart() {
        let parts = |uri: &str, body: &[u8]| {
            let (parts, _) = Request::post(uri)
                .header(header::CONTENT_TYPE, "application/json")
                .body(())
                .unwrap()
                .into_parts();
            fingerprint(&parts, body)
        };
        assert_eq!(parts("/a", b"{}"), parts("/a", b"{}"));
        assert_ne!(parts("/a", b"{}"), parts("/a", b"{ }"));
        assert_ne!(parts("/a", b"{}"), parts("/a?x=1", b"{}"));
        assert_eq!(parts("/a", b"").len(), 64);
    }
}
