//! Every kind keyword, with its HTTP status through the generated `IntoResponse`, and the
//! codes registered for the startup check.

use framework::axum::http::StatusCode;
use framework::axum::response::IntoResponse;
use framework::config::Settings;
use framework::{DomainError, ErrorKind};

#[derive(Debug, thiserror::Error, DomainError)]
pub enum PaymentError {
    #[error("a")]
    #[domain(validation)]
    Validation,
    #[error("b")]
    #[domain(bad_request)]
    BadRequest,
    #[error("c")]
    #[domain(domain)]
    Domain,
    #[error("d")]
    #[domain(not_found)]
    NotFound,
    #[error("e")]
    #[domain(conflict)]
    Conflict,
    #[error("f")]
    #[domain(unauthorized)]
    Unauthorized,
    #[error("g")]
    #[domain(forbidden)]
    Forbidden,
    #[error("h")]
    #[domain(marshaling)]
    Marshaling,
    #[error("i")]
    #[domain(application)]
    Application,
    #[error("j")]
    #[domain(internal)]
    Internal,
    #[error("k")]
    #[domain(unavailable)]
    Unavailable,
    #[error("l")]
    #[domain(timeout)]
    Timeout,
}

fn main() {
    let cases = [
        (
            PaymentError::Validation,
            ErrorKind::Validation,
            StatusCode::BAD_REQUEST,
        ),
        (
            PaymentError::BadRequest,
            ErrorKind::BadRequest,
            StatusCode::BAD_REQUEST,
        ),
        (
            PaymentError::Domain,
            ErrorKind::Domain,
            StatusCode::BAD_REQUEST,
        ),
        (
            PaymentError::NotFound,
            ErrorKind::NotFound,
            StatusCode::NOT_FOUND,
        ),
        (
            PaymentError::Conflict,
            ErrorKind::Conflict,
            StatusCode::CONFLICT,
        ),
        (
            PaymentError::Unauthorized,
            ErrorKind::Unauthorized,
            StatusCode::UNAUTHORIZED,
        ),
        (
            PaymentError::Forbidden,
            ErrorKind::Forbidden,
            StatusCode::FORBIDDEN,
        ),
        (
            PaymentError::Marshaling,
            ErrorKind::Marshaling,
            StatusCode::INTERNAL_SERVER_ERROR,
        ),
        (
            PaymentError::Application,
            ErrorKind::Application,
            StatusCode::INTERNAL_SERVER_ERROR,
        ),
        (
            PaymentError::Internal,
            ErrorKind::Internal,
            StatusCode::INTERNAL_SERVER_ERROR,
        ),
        (
            PaymentError::Unavailable,
            ErrorKind::Unavailable,
            StatusCode::SERVICE_UNAVAILABLE,
        ),
        (
            PaymentError::Timeout,
            ErrorKind::Timeout,
            StatusCode::GATEWAY_TIMEOUT,
        ),
    ];
    for (error, kind, status) in cases {
        assert_eq!(error.kind(), kind);
        assert!(error.code().starts_with("PAYMENT_"), "{}", error.code());
        assert_eq!(error.into_response().status(), status);
    }

    let app = framework::App::from_settings(Settings::from_pairs([("DATABASE_URL", "")]))
        .expect("settings are valid");
    app.check().expect("no code is claimed twice");
    assert!(
        app.wiring().contains("PAYMENT_BAD_REQUEST"),
        "{}",
        app.wiring()
    );
}
