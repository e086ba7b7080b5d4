//! Streams, through the real app and real clients on real ports: gRPC server, client and bidi
//! streams through `#[grpc_service]` (request id, order, an error mid-stream, the client's
//! deadline, the server's limit, a client that goes away, the streams per connection), and
//! what shutdown does with everything that never finishes by itself: open gRPC streams
//! (health `Watch` included) end with `UNAVAILABLE`, an HTTP streaming body is cut, a
//! half-sent request head or body and a stalled HTTP/2 preface do not hold the drain, all
//! well before `SHUTDOWN_TIMEOUT_SECS`.

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use framework::axum::body::{Body, Bytes};
use framework::testing::TestApp;
use framework::tonic::{Code, Request, Response, Status, Streaming};
use framework::{grpc_service, http_route, module};
use framework_test_support::probe::streams_client::StreamsClient;
use framework_test_support::probe::{CountRequest, EchoReply, EchoRequest, streams_server};
use futures_util::{Stream, StreamExt, stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// What shutdown must beat by far (the fault: the drain waited out 15 s).
const SHUTDOWN_TIMEOUT: &str = "15";
/// A generous bound for "at once".
const PROMPT: Duration = Duration::from_secs(5);

/// The request ids of the `Count` streams the server dropped, so a test sees its stream end.
static ENDED: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(Mutex::default);

#[module]
pub struct StreamsService;

type Replies = Pin<Box<dyn Stream<Item = Result<EchoReply, Status>> + Send>>;

/// Records its stream's request id in [`ENDED`] when the server drops the stream.
struct Ended(String);

impl Drop for Ended {
    fn drop(&mut self) {
        ENDED.lock().unwrap().insert(self.0.clone());
    }
}

fn reply(message: impl Into<String>) -> EchoReply {
    EchoReply {
        message: message.into(),
    }
}

#[grpc_service]
impl streams_server::Streams for StreamsService {
    type CountStream = Replies;
    type ChatStream = Replies;

    async fn count(&self, request: Request<CountRequest>) -> Result<Response<Replies>, Status> {
        let id = request
            .metadata()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let CountRequest {
            count,
            interval_millis,
            fail_after,
        } = request.into_inner();
        let interval = Duration::from_millis(interval_millis);
        let replies = stream::unfold((0, Ended(id)), move |(sent, ended)| async move {
            if count != 0 && sent >= count {
                return None;
            }
            if sent > 0 {
                tokio::time::sleep(interval).await;
            }
            if fail_after == Some(sent) {
                let error = Status::aborted(format!("failed after {sent} replies"));
                return Some((Err(error), (count.max(sent + 1), ended)));
            }
            Some((Ok(reply(sent.to_string())), (sent + 1, ended)))
        });
        Ok(Response::new(Box::pin(replies)))
    }

    async fn collect(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<EchoReply>, Status> {
        let mut messages = request.into_inner();
        let mut words = Vec::new();
        while let Some(message) = messages.message().await? {
            words.push(message.message);
        }
        Ok(Response::new(reply(words.join(" "))))
    }

    async fn chat(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<Replies>, Status> {
        let replies = request
            .into_inner()
            .map(|message| message.map(|m| reply(m.message)));
        Ok(Response::new(Box::pin(replies)))
    }
}

/// An HTTP body without end: a line every 100 ms.
#[http_route(GET, "/ticks")]
async fn ticks() -> Body {
    Body::from_stream(stream::unfold(0, |n| async move {
        if n > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Some((
            Ok::<_, std::io::Error>(Bytes::from(format!("tick {n}\n"))),
            n + 1,
        ))
    }))
}

/// Reads the whole request body.
#[http_route(POST, "/upload")]
async fn upload(body: String) -> String {
    format!("{} bytes", body.len())
}

async fn start(overrides: &[(&str, &str)]) -> (TestApp, Channel) {
    let mut all = vec![("DATABASE_URL", ""), ("HTTP_BASE_PATH", "")];
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

fn count(count: u32, interval_millis: u64) -> CountRequest {
    CountRequest {
        count,
        interval_millis,
        fail_after: None,
    }
}

fn with_id<T>(message: T, id: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("x-request-id", id.parse().unwrap());
    request
}

fn echo(message: &str) -> EchoRequest {
    EchoRequest {
        message: message.into(),
    }
}

/// The replies of a stream until it ends, and how it ended.
async fn drain_stream(mut replies: Streaming<EchoReply>) -> (Vec<String>, Result<(), Status>) {
    let mut messages = Vec::new();
    loop {
        match replies.message().await {
            Ok(Some(reply)) => messages.push(reply.message),
            Ok(None) => return (messages, Ok(())),
            Err(status) => return (messages, Err(status)),
        }
    }
}

#[tokio::test]
async fn a_server_stream_carries_the_request_id_and_its_replies_in_order() {
    let (app, channel) = start(&[]).await;
    let mut client = StreamsClient::new(channel);
    let response = client
        .count(with_id(count(5, 10), "stream-call-1"))
        .await
        .unwrap();
    assert_eq!(
        response.metadata().get("x-request-id").unwrap(),
        "stream-call-1",
        "the stream's initial metadata echoes the request id"
    );
    let (messages, end) = drain_stream(response.into_inner()).await;
    assert_eq!(messages, ["0", "1", "2", "3", "4"]);
    end.expect("the stream ends with OK");

    // Without one, a request id is generated.
    let response = client.count(count(1, 0)).await.unwrap();
    let generated = response.metadata().get("x-request-id").unwrap();
    assert!(
        uuid::Uuid::parse_str(generated.to_str().unwrap()).is_ok(),
        "{generated:?}"
    );
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_error_mid_stream_ends_it_with_its_status_after_the_replies_before() {
    let (app, channel) = start(&[]).await;
    let mut request = count(10, 10);
    request.fail_after = Some(3);
    let replies = StreamsClient::new(channel)
        .count(request)
        .await
        .unwrap()
        .into_inner();
    let (messages, end) = drain_stream(replies).await;
    assert_eq!(messages, ["0", "1", "2"]);
    let status = end.unwrap_err();
    assert_eq!(status.code(), Code::Aborted, "{status:?}");
    assert_eq!(status.message(), "failed after 3 replies");
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_clients_deadline_ends_a_stream_with_deadline_exceeded() {
    let (app, channel) = start(&[]).await;
    let mut request = with_id(count(0, 50), "deadline-1");
    request.set_timeout(Duration::from_millis(500));
    let started = Instant::now();
    let replies = StreamsClient::new(channel)
        .count(request)
        .await
        .unwrap()
        .into_inner();
    let (messages, end) = drain_stream(replies).await;
    let status = end.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(
        messages.len() >= 2,
        "replies flowed until the deadline: {messages:?}"
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(500) && elapsed < PROMPT,
        "{elapsed:?}"
    );
    // The server dropped its stream, and counted the call by its code.
    wait_until_ended("deadline-1").await;
    let metrics = reqwest::get(app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "grpc_requests_total{method=\"/probe.v1.Streams/Count\",code=\"DeadlineExceeded\"}"
        ),
        "{metrics}"
    );
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_servers_time_limit_does_not_cut_a_stream() {
    // HTTP_REQUEST_TIMEOUT_SECS bounds the time to the stream's start, not its life.
    let (app, channel) = start(&[("HTTP_REQUEST_TIMEOUT_SECS", "1")]).await;
    let mut replies = StreamsClient::new(channel)
        .count(count(0, 100))
        .await
        .unwrap()
        .into_inner();
    let started = Instant::now();
    let mut received = 0;
    while started.elapsed() < Duration::from_millis(2500) {
        replies
            .message()
            .await
            .expect("the stream goes on past the server's limit")
            .expect("and does not end");
        received += 1;
    }
    assert!(received >= 10, "{received}");
    app.shutdown().await.unwrap();
}

/// Waits (a bounded while) for the server to drop the `Count` stream of request `id`.
async fn wait_until_ended(id: &str) {
    let deadline = Instant::now() + PROMPT;
    while !ENDED.lock().unwrap().contains(id) {
        assert!(
            Instant::now() < deadline,
            "the server still runs stream {id}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_server_drops_a_stream_whose_client_went_away() {
    let (app, channel) = start(&[]).await;
    let mut replies = StreamsClient::new(channel)
        .count(with_id(count(0, 50), "gone-1"))
        .await
        .unwrap()
        .into_inner();
    replies.message().await.unwrap().unwrap();
    assert!(!ENDED.lock().unwrap().contains("gone-1"));
    drop(replies);
    wait_until_ended("gone-1").await;
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn client_and_bidi_streams_work() {
    let (app, channel) = start(&[]).await;
    let mut client = StreamsClient::new(channel);
    let words = ["one", "two", "three"].map(echo);
    let collected = client
        .collect(stream::iter(words.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(collected.message, "one two three");
    let replies = client.chat(stream::iter(words)).await.unwrap().into_inner();
    let (messages, end) = drain_stream(replies).await;
    assert_eq!(messages, ["one", "two", "three"]);
    end.unwrap();
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_connection_has_at_most_grpc_max_concurrent_streams() {
    let (app, channel) = start(&[("GRPC_MAX_CONCURRENT_STREAMS", "2")]).await;
    let mut client = StreamsClient::new(channel);
    let first = client.count(count(0, 50)).await.unwrap().into_inner();
    let _second = client.count(count(0, 50)).await.unwrap().into_inner();
    // A third waits for a free stream rather than opening one.
    let third = tokio::spawn({
        let mut client = client.clone();
        async move { client.count(count(1, 0)).await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !third.is_finished(),
        "a third stream opened on the connection"
    );
    drop(first);
    let (messages, end) = drain_stream(
        tokio::time::timeout(PROMPT, third)
            .await
            .expect("the third starts once a stream is free")
            .unwrap()
            .unwrap()
            .into_inner(),
    )
    .await;
    assert_eq!(messages, ["0"]);
    end.unwrap();
    app.shutdown().await.unwrap();
}

/// Relays one connection to `target` until `freeze` is told, then holds both sockets open
/// without moving a byte: a peer that vanished (power cut, network partition) sends neither
/// FIN nor RST.
async fn freezing_relay(
    target: std::net::SocketAddr,
) -> (String, tokio::sync::watch::Sender<bool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (freeze, frozen) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let (client, _) = listener.accept().await.unwrap();
        let server = TcpStream::connect(target).await.unwrap();
        let (client_read, client_write) = client.into_split();
        let (server_read, server_write) = server.into_split();
        let relay = |mut from: tokio::net::tcp::OwnedReadHalf,
                     mut to: tokio::net::tcp::OwnedWriteHalf| {
            let mut frozen = frozen.clone();
            async move {
                let mut buffer = vec![0; 16 * 1024];
                loop {
                    let read = tokio::select! {
                        read = from.read(&mut buffer) => read,
                        _ = frozen.wait_for(|frozen| *frozen) => break,
                    };
                    match read {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if to.write_all(&buffer[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
                // Frozen: keep the sockets, move nothing.
                std::future::pending::<()>().await;
                drop((from, to));
            }
        };
        tokio::join!(
            relay(client_read, server_write),
            relay(server_read, client_write)
        );
    });
    (url, freeze)
}

#[tokio::test]
async fn the_server_drops_the_streams_of_a_client_that_vanished() {
    let (app, _) = start(&[("GRPC_KEEPALIVE_SECS", "1")]).await;
    let (url, freeze) = freezing_relay(app.running().grpc_addr().unwrap()).await;
    let channel = Channel::from_shared(url).unwrap().connect().await.unwrap();
    let mut replies = StreamsClient::new(channel)
        .count(with_id(count(0, 60_000), "vanished-1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next(&mut replies).await.unwrap().unwrap().message, "0");
    freeze.send(true).unwrap();
    // Silent for 1 s: pinged; no answer within 1 s: the connection and its stream are closed.
    wait_until_ended("vanished-1").await;
    app.shutdown().await.unwrap();
}

/// Waits for a stream's next item, a bounded while.
async fn next<T>(replies: &mut Streaming<T>) -> Result<Option<T>, Status> {
    tokio::time::timeout(PROMPT, replies.message())
        .await
        .expect("the stream answers promptly")
}

#[tokio::test]
async fn shutdown_ends_open_grpc_streams_with_unavailable_at_once() {
    let (app, channel) = start(&[("SHUTDOWN_TIMEOUT_SECS", SHUTDOWN_TIMEOUT)]).await;
    let mut client = StreamsClient::new(channel.clone());

    // A server stream waiting for its next reply, a client stream and a bidi call whose
    // clients send nothing more, and a health watch.
    let mut counting = client
        .count(with_id(count(0, 60_000), "shutdown-1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next(&mut counting).await.unwrap().unwrap().message, "0");
    let collecting = tokio::spawn({
        let mut client = client.clone();
        async move {
            let words = stream::iter([echo("kept")]).chain(stream::pending());
            client.collect(words).await
        }
    });
    let mut chatting = client
        .chat(stream::iter([echo("hello")]).chain(stream::pending()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next(&mut chatting).await.unwrap().unwrap().message, "hello");
    let mut watching = HealthClient::new(channel)
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    // Health follows the app's readiness a moment after it.
    while next(&mut watching).await.unwrap().unwrap().status() != ServingStatus::Serving {}
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!collecting.is_finished());

    let started = Instant::now();
    app.shutdown().await.expect("graceful shutdown");
    let elapsed = started.elapsed();
    assert!(
        elapsed < PROMPT,
        "shutdown took {elapsed:?} with streams open"
    );

    let unavailable = |status: Status| {
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        assert_eq!(status.message(), "the server is shutting down");
    };
    unavailable(next(&mut counting).await.unwrap_err());
    wait_until_ended("shutdown-1").await;
    unavailable(collecting.await.unwrap().unwrap_err());
    unavailable(next(&mut chatting).await.unwrap_err());
    // Watchers hear NOT_SERVING before their stream ends.
    let status = next(&mut watching).await.unwrap().unwrap().status();
    assert_eq!(status, ServingStatus::NotServing);
    unavailable(next(&mut watching).await.unwrap_err());
}

#[tokio::test]
async fn shutdown_cuts_an_http_streaming_body_at_once() {
    let (app, _) = start(&[("SHUTDOWN_TIMEOUT_SECS", SHUTDOWN_TIMEOUT)]).await;
    let client = reqwest::Client::new();
    // A kept-alive idle connection as well.
    let live = client.get(app.url("/health/live")).send().await.unwrap();
    assert_eq!(live.status(), 200);
    live.bytes().await.unwrap();
    let mut ticks = client.get(app.url("/ticks")).send().await.unwrap();
    assert_eq!(ticks.status(), 200);
    assert_eq!(ticks.chunk().await.unwrap().unwrap(), "tick 0\n");

    let started = Instant::now();
    let shutdown = tokio::spawn(app.shutdown());
    // The body breaks off: a client must not take it for a complete (shorter) answer.
    let ended = tokio::time::timeout(PROMPT, async {
        loop {
            match ticks.chunk().await {
                Ok(Some(_)) => continue,
                Ok(None) => return Ok(()),
                Err(error) => return Err(error),
            }
        }
    })
    .await
    .expect("the body ends promptly");
    assert!(ended.is_err(), "the cut body looked complete");
    shutdown.await.unwrap().expect("graceful shutdown");
    let elapsed = started.elapsed();
    assert!(elapsed < PROMPT, "shutdown took {elapsed:?}");
}

/// Reads what the server sends until it closes the connection, a bounded while.
async fn read_to_close(connection: &mut TcpStream) -> String {
    let mut received = Vec::new();
    tokio::time::timeout(PROMPT, connection.read_to_end(&mut received))
        .await
        .expect("the server closes the connection promptly")
        .ok();
    String::from_utf8_lossy(&received).into_owned()
}

#[tokio::test]
async fn shutdown_is_not_held_by_half_sent_requests() {
    let (app, channel) = start(&[("SHUTDOWN_TIMEOUT_SECS", SHUTDOWN_TIMEOUT)]).await;
    drop(channel);
    // Half a request head.
    let mut head = TcpStream::connect(app.addr()).await.unwrap();
    head.write_all(b"GET /ticks HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    // A whole head, then half of the body it announces.
    let mut body = TcpStream::connect(app.addr()).await.unwrap();
    body.write_all(
        b"POST /upload HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\n\
          content-length: 100\r\nx-request-id: half-body-1\r\n\r\nonly half",
    )
    .await
    .unwrap();
    // Half an HTTP/2 connection preface on the gRPC port.
    let grpc = app.running().grpc_addr().unwrap();
    let mut preface = TcpStream::connect(grpc).await.unwrap();
    preface.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let started = Instant::now();
    app.shutdown().await.expect("graceful shutdown");
    let elapsed = started.elapsed();
    assert!(elapsed < PROMPT, "shutdown took {elapsed:?}");

    assert_eq!(
        read_to_close(&mut head).await,
        "",
        "closed without an answer"
    );
    // The request whose body broke off is not handled as if complete: 503, retry elsewhere.
    let answer = read_to_close(&mut body).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("\"code\":\"SHUTTING_DOWN\""), "{answer}");
    assert!(
        answer.contains("\"request_id\":\"half-body-1\""),
        "{answer}"
    );
}

#[tokio::test]
async fn a_request_head_that_does_not_arrive_in_time_loses_its_connection() {
    let (app, _) = start(&[("HTTP_HEADER_READ_TIMEOUT_SECS", "1")]).await;
    let mut silent = TcpStream::connect(app.addr()).await.unwrap();
    let mut slow = TcpStream::connect(app.addr()).await.unwrap();
    slow.write_all(b"GET /health/live HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    for connection in [&mut silent, &mut slow] {
        let answer = read_to_close(connection).await;
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
            "{answer}"
        );
    }
    assert!(started.elapsed() >= Duration::from_millis(900));
    // A whole request in time is served as before.
    let live = reqwest::get(app.url("/health/live")).await.unwrap();
    assert_eq!(live.status(), 200);
    app.shutdown().await.unwrap();
}
