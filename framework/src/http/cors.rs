//! Cross-origin requests (the Fetch standard's CORS protocol), on tower-http's `CorsLayer`,
//! from the `HTTP_CORS_*` keys; and the security headers every response carries.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, Request, Response, header};
use futures_util::FutureExt as _;
use futures_util::future::Either;
use tower_http::cors::{AllowOrigin, Cors, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

use super::HttpConfig;

/// The CORS layer of `config`; `None` when `HTTP_CORS_ALLOWED_ORIGINS` is empty (no CORS
/// headers: browsers refuse cross-origin reads).
///
/// # Errors
/// The key and what is wrong with its value: an origin that is not `scheme://host[:port]`,
/// an unknown method, a bad header name, or credentials with `*` (the Fetch standard forbids
/// it, and tower-http would panic).
pub(crate) fn layer(config: &HttpConfig) -> Result<Option<CorsGateLayer>, (&'static str, String)> {
    let Some(origins) = config.cors_allowed_origins.as_deref().map(str::trim) else {
        return Ok(None);
    };
    if origins.is_empty() {
        return Ok(None);
    }
    let any = origins == "*";
    let mut allowed_origins = None;
    let origin = if any {
        AllowOrigin::any()
    } else {
        let list = split(origins)
            .map(|origin| {
                is_origin(origin)
                    .then(|| HeaderValue::from_str(origin).ok())
                    .flatten()
                    .ok_or_else(|| {
                        (
                            "HTTP_CORS_ALLOWED_ORIGINS",
                            format!("`{origin}` is not an origin (`https://app.example.com`, no path) or `*`"),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        allowed_origins = Some(Arc::new(list.clone()));
        AllowOrigin::list(list)
    };
    if any && config.cors_allow_credentials {
        return Err((
            "HTTP_CORS_ALLOW_CREDENTIALS",
            "cannot be true with HTTP_CORS_ALLOWED_ORIGINS=*: list the origins".to_owned(),
        ));
    }
    let methods = split(&config.cors_allowed_methods)
        .map(|m| {
            Method::from_bytes(m.to_ascii_uppercase().as_bytes()).map_err(|_| {
                (
                    "HTTP_CORS_ALLOWED_METHODS",
                    format!("`{m}` is not a method"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let names = |key: &'static str, list: &str| {
        split(list)
            .map(|name| {
                HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
                    .map_err(|_| (key, format!("`{name}` is not a header name")))
            })
            .collect::<Result<Vec<_>, _>>()
    };
    let allowed = names("HTTP_CORS_ALLOWED_HEADERS", &config.cors_allowed_headers)?;
    let exposed = names("HTTP_CORS_EXPOSE_HEADERS", &config.cors_expose_headers)?;
    let cors = CorsLayer::new()
        .allow_origin(origin)
        .allow_methods(methods)
        .allow_headers(allowed)
        .expose_headers(exposed)
        .allow_credentials(config.cors_allow_credentials)
        .max_age(Duration::from_secs(config.cors_max_age_secs));
    Ok(Some(CorsGateLayer {
        cors,
        origins: allowed_origins,
    }))
}

/// tower-http's `CorsLayer` for the requests of allowed origins only. Alone, it answers every
/// `OPTIONS` itself (so an `OPTIONS` route is never reached) and puts its preflight headers on
/// the answers to any origin; here a request from another origin, or without one, or an
/// `OPTIONS` that is not a preflight (no `Access-Control-Request-Method`), goes past it.
#[derive(Clone)]
pub(crate) struct CorsGateLayer {
    cors: CorsLayer,
    /// `None`: any origin (`*`).
    origins: Option<Arc<Vec<HeaderValue>>>,
}

impl<S: Clone> tower::Layer<S> for CorsGateLayer {
    type Service = CorsGate<S>;

    fn layer(&self, inner: S) -> CorsGate<S> {
        CorsGate {
            cors: self.cors.layer(inner.clone()),
            plain: inner,
            origins: self.origins.clone(),
        }
    }
}

/// See [`CorsGateLayer`].
#[derive(Clone)]
pub(crate) struct CorsGate<S> {
    cors: Cors<S>,
    plain: S,
    origins: Option<Arc<Vec<HeaderValue>>>,
}

impl<S, B, R> tower::Service<Request<B>> for CorsGate<S>
where
    S: tower::Service<Request<B>, Response = Response<R>> + Clone,
    R: Default,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future =
        Either<tower_http::cors::ResponseFuture<S::Future>, Plain<S::Future, R, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        match self.plain.poll_ready(cx) {
            Poll::Ready(Ok(())) => self.cors.poll_ready(cx),
            other => other,
        }
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let headers = request.headers();
        let allowed = headers.get(header::ORIGIN).is_some_and(|origin| {
            self.origins
                .as_ref()
                .is_none_or(|origins| origins.contains(origin))
        });
        let not_preflight = request.method() == Method::OPTIONS
            && !headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        if allowed && !not_preflight {
            return Either::Left(self.cors.call(request));
        }
        // The answer depends on the origin when only some are allowed: a cache must not give
        // this one (without CORS headers) to an allowed origin (the Fetch standard, "CORS
        // protocol and HTTP caches").
        let vary = if self.origins.is_some() {
            vary_origin
        } else {
            unchanged
        };
        Either::Right(self.plain.call(request).map(vary))
    }
}

/// The future of a request CORS leaves alone.
type Plain<F, R, E> =
    futures_util::future::Map<F, fn(Result<Response<R>, E>) -> Result<Response<R>, E>>;

fn vary_origin<R, E>(result: Result<Response<R>, E>) -> Result<Response<R>, E> {
    result.map(|mut response| {
        response
            .headers_mut()
            .append(header::VARY, HeaderValue::from_static("origin"));
        response
    })
}

fn unchanged<R, E>(result: Result<Response<R>, E>) -> Result<Response<R>, E> {
    result
}

fn split(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// `scheme://host[:port]`, as browsers send `Origin` (RFC 6454 §6.2): no path, no
/// trailing slash.
fn is_origin(value: &str) -> bool {
    let Some((scheme, rest)) = value.split_once("://") else {
        return false;
    };
    !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        && !rest.is_empty()
        && !rest.contains(['/', '?', '#', ' '])
}

/// The headers every response carries unless its handler set them: an API serves data, not
/// documents, so nothing of it is sniffed, framed or given a referrer (OWASP's REST security
/// cheat sheet); and `strict-transport-security` when `HTTP_HSTS_MAX_AGE_SECS` is above 0
/// (TLS ends in front of the service, which sees plain HTTP).
pub(crate) fn security_headers(config: &HttpConfig) -> Vec<SetResponseHeaderLayer<HeaderValue>> {
    let mut headers = vec![
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        ),
    ];
    if config.hsts_max_age_secs > 0 {
        let value = format!("max-age={}", config.hsts_max_age_secs);
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.push((header::STRICT_TRANSPORT_SECURITY, value));
        }
    }
    headers
        .into_iter()
        .map(|(name, value)| SetResponseHeaderLayer::if_not_present(name, value))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigSection, Settings};

    fn config(pairs: &[(&str, &str)]) -> HttpConfig {
        HttpConfig::load(&Settings::from_pairs(pairs.iter().copied())).unwrap()
    }

    #[test]
    fn origins_are_checked() {
        assert!(layer(&config(&[])).unwrap().is_none());
        let listed = config(&[(
            "HTTP_CORS_ALLOWED_ORIGINS",
            "https://app.example.com, http://localhost:5173",
        )]);
        assert!(layer(&listed).unwrap().is_some());
        for bad in [
            "app.example.com",
            "https://app.example.com/",
            "https://a.com/x",
        ] {
            let settings = Settings::from_pairs([("HTTP_CORS_ALLOWED_ORIGINS", bad)]);
            let error = HttpConfig::load(&settings).unwrap_err().to_string();
            assert!(
                error.contains("HTTP_CORS_ALLOWED_ORIGINS"),
                "{bad}: {error}"
            );
        }
        let settings = Settings::from_pairs([
            ("HTTP_CORS_ALLOWED_ORIGINS", "*"),
            ("HTTP_CORS_ALLOW_CREDENTIALS", "true"),
        ]);
        let error = HttpConfig::load(&settings).unwrap_err().to_string();
        assert!(error.contains("HTTP_CORS_ALLOW_CREDENTIALS"), "{error}");
    }
}
