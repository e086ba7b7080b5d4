//! The code generated from `proto/` at build time.

#![allow(missing_docs, clippy::all)]

pub mod article {
    pub mod v1 {
        tonic::include_proto!("article.v1");
    }
}

framework::file_descriptor_set!(include_bytes!(concat!(
    env!("OUT_DIR"),
    "/descriptor_set.bin"
)));
