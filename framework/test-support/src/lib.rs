//! Fixtures for `framework`'s tests and benchmarks: the generated code of `probe.proto`.

#![allow(missing_docs, clippy::all)]

pub mod probe {
    tonic::include_proto!("probe.v1");
}
