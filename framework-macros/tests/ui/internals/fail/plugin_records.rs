// With every plugin built, their records and adapters are still not public API: only the
// macros' generated code names them, through `framework::__private`.
use framework::cron::JobRecord;
use framework::db::MigrationsRecord;
use framework::grpc::{GrpcServiceRecord, MountOptions};
use framework::http::RouteRecord;
use framework::kafka::{ConsumerRecord, Handle};

fn main() {}
