//! Fixtures for `framework`'s tests and benchmarks: the generated code of `probe.proto`, and
//! a macro that runs each scenario on each backend.

#![allow(missing_docs, clippy::all)]

pub mod probe {
    tonic::include_proto!("probe.v1");
}

/// One test per backend for each scenario: `on_backends!(Backend: memory, redis; [a, b])`
/// writes `memory::a`, `memory::b`, `redis::a`, `redis::b`, each a multi-threaded tokio test
/// calling `a(Backend::memory("a"))` and so on. Each backend is a constructor of `Backend`
/// taking a name unique to the scenario.
#[macro_export]
macro_rules! on_backends {
    ($backend:ident: $($kind:ident),+; $scenarios:tt) => {
        $($crate::on_backends!(@one $backend, $kind, $scenarios);)+
    };
    (@one $backend:ident, $kind:ident, [$($scenario:ident),* $(,)?]) => {
        mod $kind {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                super::$scenario(super::$backend::$kind(stringify!($scenario))).await;
            })*
        }
    };
}
