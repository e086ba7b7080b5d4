//! The gRPC server's behaviour through a real tonic client on a real port: a panicking method
//! answers `Internal` and the server keeps serving, deadlines (`DEADLINE_EXCEEDED`) and message
//! limits hold, health turns `NOT_SERVING` when shutdown starts, open watches then end, and
//! in-flight calls drain. Streams have their own tests in `streams.rs`.

use std::time::Duration;

use framework::testing::TestApp;
use framework::tonic::{Code, Request, Response, Status};
use framework::{grpc_service, module};
use framework_test_support::probe::probe_client::ProbeClient;
use framework_test_support::probe::{EchoReply, EchoRequest, SleepRequest, probe_server};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

#[module]
pub struct ProbeService;

#[derive(Debug, thiserror::Error, framework::DomainError)]
pub enum ProbeError {
    #[error("connection to db-primary:5432 failed: password rejected")]
    #[domain(internal, code = "PROBE_BROKEN")]
    Broken,
}

#[grpc_service]
impl probe_server::Probe for ProbeService {
    async fn echo(&self, request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        let message = request.into_inner().message;
        if message == "fail" {
            return Err(ProbeError::Broken.into());
        }
        Ok(Response::new(EchoReply { message }))
    }

    async fn sleep(&self, request: Request<SleepRequest>) -> Result<Response<EchoReply>, Status> {
        tokio::time::sleep(Duration::from_millis(request.into_inner().millis)).await;
        Ok(Response::new(EchoReply {
            message: "slept".into(),
        }))
    }

    async fn panic(&self, _request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        panic!("secret panic message")
    }
}

async fn start(overrides: &[(&str, &str)]) -> (TestApp, Channel) {
    let mut all = vec![("DATABASE_URL", "")];
    all.extend_from_slice(overrides);
    let app = TestApp::start(&all).await.expect("the app starts");
    let url = app.grpc_url().expect("a gRPC port");
    let channel = Channel::from_shared(url)
        .unwrap()
        .connect()
        .await
        .expect("connect");
    (app, channel)
}

fn echo(message: &str) -> EchoRequest {
    EchoRequest {
        message: message.into(),
    }
}

#[tokio::test]
async fn a_panic_is_internal_and_the_server_keeps_serving() {
    let (app, channel) = start(&[]).await;
    let mut client = ProbeClient::new(channel);
    let status = client.panic(echo("boom")).await.unwrap_err();
    assert_eq!(status.code(), Code::Internal);
    assert!(!status.message().contains("secret"), "{status:?}");

    let reply = client
        .echo(echo("still here"))
        .await
        .expect("the server survived");
    assert_eq!(reply.into_inner().message, "still here");
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_internal_error_shows_only_its_code() {
    use tonic_types::StatusExt;

    let (app, channel) = start(&[]).await;
    let status = ProbeClient::new(channel)
        .echo(echo("fail"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Internal);
    assert_eq!(status.message(), "the server failed to handle the call");
    let info = status
        .get_error_details()
        .error_info()
        .cloned()
        .expect("ErrorInfo");
    assert_eq!(info.reason, "PROBE_BROKEN");
    assert!(!format!("{status:?}").contains("password"), "{status:?}");
    app.shutdown().await.unwrap();
}

/// A gRPC client that leaves deadlines to the server, as curl or a proxy would: tonic's own
/// `Channel` enforces `grpc-timeout` itself and reports its own `CANCELLED` first.
fn bare_client(app: &TestApp) -> ProbeClient<BareClient> {
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    ProbeClient::with_origin(client, app.grpc_url().unwrap().parse().unwrap())
}

type BareClient = hyper_util::client::legacy::Client<HttpConnector, tonic::body::Body>;

#[tokio::test]
async fn deadlines_are_enforced() {
    let (app, channel) = start(&[("HTTP_REQUEST_TIMEOUT_SECS", "1")]).await;
    let mut client = ProbeClient::new(channel);

    // The client's own deadline (`grpc-timeout`), from a client that leaves it to the server.
    let mut request = Request::new(SleepRequest { millis: 3000 });
    request.set_timeout(Duration::from_millis(200));
    let status = bare_client(&app).sleep(request).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert_eq!(
        status.message(),
        "the call's deadline (grpc-timeout) passed"
    );

    // The server's limit when the client sets none.
    let started = std::time::Instant::now();
    let status = client
        .sleep(SleepRequest { millis: 3000 })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert_eq!(
        status.message(),
        "the call took longer than the server's time limit"
    );
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );

    // A malformed deadline is refused, not ignored.
    let mut request = Request::new(SleepRequest { millis: 1 });
    request
        .metadata_mut()
        .insert("grpc-timeout", "soon".parse().unwrap());
    let status = client.sleep(request).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("grpc-timeout"), "{status:?}");
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn oversized_messages_are_refused() {
    let (app, channel) = start(&[("GRPC_MAX_MESSAGE_BYTES", "1024")]).await;
    let mut client = ProbeClient::new(channel);
    let status = client.echo(echo(&"x".repeat(4096))).await.unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert_eq!(
        client
            .echo(echo("small"))
            .await
            .unwrap()
            .into_inner()
            .message,
        "small"
    );
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_turns_health_off_and_drains_in_flight_calls() {
    let (app, channel) = start(&[("SHUTDOWN_DELAY_SECS", "1")]).await;
    let mut health = HealthClient::new(channel.clone());
    let check = |service: &str| HealthCheckRequest {
        service: service.into(),
    };
    let status = health.check(check("")).await.unwrap().into_inner().status();
    assert_eq!(status, ServingStatus::Serving);
    let status = health
        .check(check("probe.v1.Probe"))
        .await
        .unwrap()
        .into_inner()
        .status();
    assert_eq!(status, ServingStatus::Serving);

    // Serving by now (the checks above), so a watch starts with it.
    let mut watch = health.watch(check("")).await.unwrap().into_inner();
    let status = watch.message().await.unwrap().unwrap().status();
    assert_eq!(status, ServingStatus::Serving);

    let mut client = ProbeClient::new(channel.clone());
    let in_flight = tokio::spawn(async move { client.sleep(SleepRequest { millis: 1500 }).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let url = app.grpc_url().expect("a gRPC port");
    let shutdown = tokio::spawn(app.shutdown());
    tokio::time::sleep(Duration::from_millis(300)).await;

    // During the shutdown delay calls still work, but health says NOT_SERVING. The open
    // connection got GOAWAY at the signal, so the call goes on a new one, as GOAWAY asks (a
    // bare tonic channel would queue it on the old one while its streams are open, and
    // hyper cancels it there unsent: `GrpcClient` makes such calls again).
    let moved = Channel::from_shared(url).unwrap().connect().await.unwrap();
    let status = HealthClient::new(moved)
        .check(check(""))
        .await
        .unwrap()
        .into_inner()
        .status();
    assert_eq!(status, ServingStatus::NotServing);
    let status = watch.message().await.unwrap().unwrap().status();
    assert_eq!(status, ServingStatus::NotServing);

    // The open watch ends with UNAVAILABLE once the delay is over; the unary call in flight
    // is answered in full.
    let ended = tokio::time::timeout(Duration::from_secs(5), watch.message())
        .await
        .expect("the watch ends promptly")
        .unwrap_err();
    assert_eq!(ended.code(), Code::Unavailable, "{ended:?}");
    let reply = in_flight
        .await
        .unwrap()
        .expect("the in-flight call is not dropped");
    assert_eq!(reply.into_inner().message, "slept");
    shutdown.await.unwrap().expect("graceful shutdown");
}

#[tokio::test]
async fn a_unit_going_down_turns_grpc_health_off() {
    let (app, channel) = start(&[]).await;
    let mut health = HealthClient::new(channel);
    let check = |service: &str| HealthCheckRequest {
        service: service.into(),
    };
    assert_eq!(
        health.check(check("")).await.unwrap().into_inner().status(),
        ServingStatus::Serving
    );

    app.running()
        .health()
        .add_unit("cache", || async { Err("connection refused".to_owned()) });
    // The gRPC statuses follow the units on their next refresh (every few seconds).
    let deadline = std::time::Instant::now() + Duration::from_secs(8);
    loop {
        let status = health.check(check("")).await.unwrap().into_inner().status();
        if status == ServingStatus::NotServing {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "health stayed {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let unit = health
        .check(check("cache"))
        .await
        .unwrap()
        .into_inner()
        .status();
    assert_eq!(unit, ServingStatus::NotServing);
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn calls_are_counted_by_method_and_code() {
    let (app, channel) = start(&[("HTTP_BASE_PATH", "")]).await;
    let mut client = ProbeClient::new(channel);
    for message in ["one", "two", "fail"] {
        let _ = client.echo(echo(message)).await;
    }
    let text = reqwest::get(app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Other tests in this binary call Echo too: at least ours are counted.
    let count = |code: &str| -> f64 {
        let labels = format!("{{method=\"/probe.v1.Probe/Echo\",code=\"{code}\"}}");
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("grpc_requests_total{labels} ")))
            .map_or(0.0, |value| value.parse().unwrap())
    };
    assert!(count("Ok") >= 2.0, "{text}");
    assert!(count("Internal") >= 1.0, "{text}");
    assert!(
        text.contains("grpc_request_duration_seconds_bucket{method=\"/probe.v1.Probe/Echo\""),
        "{text}"
    );
    app.shutdown().await.unwrap();
}
