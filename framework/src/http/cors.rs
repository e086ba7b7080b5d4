//! Cross-origin requests (the Fetch standard's CORS protocol), on tower-http's `CorsLayer`,
//! from the `HTTP_CORS_*` keys; and the security headers every response carries.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, Request, Response, header};
use futures_util::FutureExt as _;
use futures_util::future::Either;
use tower::Layer as _;
use tower_http::cors::{AllowOrigin, CorsLayer};
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
                serialized_origin(origin)
                    .and_then(|origin| HeaderValue::from_str(&origin).ok())
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
            inner,
            layer: self.clone(),
        }
    }
}

/// See [`CorsGateLayer`].
#[derive(Clone)]
pub(crate) struct CorsGate<S> {
    inner: S,
    layer: CorsGateLayer,
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
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let headers = request.headers();
        let origins = self.layer.origins.as_deref();
        // `*` is every response's (the Fetch standard: a constant answer needs no `Vary`);
        // a list's, only for a listed origin.
        let allowed = match origins {
            None => true,
            Some(listed) => headers
                .get(header::ORIGIN)
                .is_some_and(|origin| listed.contains(origin)),
        };
        let not_preflight = request.method() == Method::OPTIONS
            && !headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        if allowed && !not_preflight {
            // The ready service goes to this call's `Cors`; a clone stays (tower's contract).
            let ready = self.inner.clone();
            let inner = std::mem::replace(&mut self.inner, ready);
            return Either::Left(self.layer.cors.layer(inner).call(request));
        }
        // The answer depends on the origin when only some are allowed: a cache must not give
        // this one (without CORS headers) to an allowed origin (the Fetch standard, "CORS
        // protocol and HTTP caches").
        let vary = if origins.is_some() {
            vary_origin
        } else {
            unchanged
        };
        Either::Right(self.inner.call(request).map(vary))
    }
}

/// The future of a request CORS leaves alone.
type Plain<F, R, E> =
    futures_util::future::Map<F, fn(Result<Response<R>, E>) -> Result<Response<R>, E>>;

fn vary_origin<R, E>(result: Result<Response<R>, E>) -> Result<Response<R>, E> {
    result.map(|mut response| {
        response.headers_mut().append(
            header::VARY,
            HeaderValue::from_static(
                "origin, access-control-request-method, access-control-request-headers",
            ),
        );
        response
    })
}

fn unchanged<R, E>(result: Result<Response<R>, E>) -> Result<Response<R>, E> {
    result
}

fn split(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// `value` as browsers send `Origin` (the Fetch standard's serialized origin, RFC 6454
/// §6.2): `scheme://host[:port]`, scheme and host in lowercase, no default port (80 for
/// http, 443 for https), no path; `None` for anything else. A listed origin is compared with
/// the header byte for byte, so `https://App.example.com:443` is stored as a browser sends it.
fn serialized_origin(value: &str) -> Option<String> {
    let (scheme, rest) = value.split_once("://")?;
    let valid_scheme = !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    if !valid_scheme || rest.is_empty() || rest.contains(['/', '?', '#', ' ', '@']) {
        return None;
    }
    let scheme = scheme.to_ascii_lowercase();
    let rest = rest.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => Some(":80"),
        "https" => Some(":443"),
        _ => None,
    };
    let host = match default_port {
        Some(port) => rest.strip_suffix(port).unwrap_or(&rest),
        None => &rest,
    };
    Some(format!("{scheme}://{host}"))
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
        assert_eq!(
            serialized_origin("HTTPS://App.Example.com:443").as_deref(),
            Some("https://app.example.com")
        );
        assert_eq!(
            serialized_origin("http://localhost:5173").as_deref(),
            Some("http://localhost:5173")
        );
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
