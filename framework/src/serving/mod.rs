//! What the HTTP and gRPC plugins share, so neither imports the other (built with the `http`
//! feature, which `grpc` turns on): the tower layers that give each request its request id and
//! its unit of work, the guard of routes and methods with a requirement, accepting
//! connections, and the drain of connections and bodies at shutdown.

pub(crate) mod accept;
pub(crate) mod client_address;
pub(crate) mod drain;
pub(crate) mod gate;
pub(crate) mod guard;
pub(crate) mod limit;
mod request_id;
mod work_context;

pub use request_id::{
    DropInvalidRequestId, DropInvalidRequestIdLayer, REQUEST_ID, RequestIdLayer, request_id_layer,
};
pub use work_context::{WorkContextLayer, WorkContextService, span_of};
