use std::ops::Deref;
use std::sync::Arc;

/// An extractor for a singleton component: `svc: Inject<ArticleService>`.
///
/// Every `Inject<T>` of a handler (a `#[http_route]`, a `#[kafka_consumer]`, a `#[cron_job]`)
/// is checked at startup, so a missing component is a
/// wiring error before the server starts, not a failed request.
pub struct Inject<T: ?Sized>(pub Arc<T>);

impl<T: ?Sized> Deref for Inject<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: ?Sized> Clone for Inject<T> {
    fn clone(&self) -> Self {
        Inject(self.0.clone())
    }
}
