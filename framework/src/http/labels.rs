//! Label values from bounded sets, whatever a client sends: a metric must not grow a series
//! per method it invents. The spans use the same values, so logs and metrics agree.

use axum::http::Method;

use crate::telemetry::OTHER;

/// The method as OpenTelemetry's `http.request.method` has it: one of the methods of
/// RFC 9110 and RFC 5789 (PATCH), case-sensitive, else `_OTHER`, so a client cannot add a
/// label value or a log field per method it makes up.
pub(crate) fn http_method(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::CONNECT => "CONNECT",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::PATCH => "PATCH",
        _ => OTHER,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_are_one_value() {
        assert_eq!(http_method(&Method::GET), "GET");
        assert_eq!(http_method(&Method::PATCH), "PATCH");
        for made_up in ["ZZMETHOD1", "get", "PROPFIND", "QUERYX"] {
            let method = Method::from_bytes(made_up.as_bytes()).unwrap();
            assert_eq!(http_method(&method), OTHER, "{made_up}");
        }
    }
}
