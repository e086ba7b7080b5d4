//! Odd records and failures around the handler, on the in-process broker and on the real
//! broker of `KAFKA_BROKERS` (scripts/test starts tansu):
//! - a record of 999,850 bytes with a null and an empty header, rejected by its handler, is
//!   dead-lettered byte for byte (the added headers used to push it past the producer's size
//!   limit, and a null value came back empty);
//! - a header name that is not UTF-8 (written by a real librdkafka client: its C API, from
//!   Python) does not stop the consumer: the record is dead-lettered with every header as it
//!   came (read back by librdkafka), and every other record, on its partition and the
//!   others, is handled;
//! - a partition's worker that panics (outside any handler) turns the `kafka` health unit
//!   down, its consumer is started again, and no record is skipped;
//! - a dead letter that cannot be written shows in `/health` and in
//!   `kafka_dead_letter_errors_total`, and is written once it can be, its partition going on.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use framework::kafka::{
    Fetched, Header, Headers, Message, Metadata, Outgoing, Payload, Transport,
    dead_letter_headers as h, injected,
};
use framework::testing::TestApp;
use framework::{DomainError, Inject, kafka_consumer, module};
use framework_test_support::eventually;

/// What the handler saw: (partition, offset, payload length, headers).
type Seen = (i32, i64, usize, Vec<Header>);

#[module]
pub struct Inbox {
    #[state]
    seen: Mutex<Vec<Seen>>,
}

impl Inbox {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The `id` headers of the records handled.
    fn ids(&self) -> BTreeSet<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|(_, _, _, headers)| {
                let id = headers
                    .iter()
                    .find(|h| h.name == b"id")
                    .and_then(|h| h.value.clone())
                    .unwrap_or_default();
                String::from_utf8_lossy(&id).into_owned()
            })
            .collect()
    }
}

#[derive(Debug, thiserror::Error, DomainError)]
pub enum InboxError {
    #[error("the record asked to be rejected")]
    #[domain(bad_request, code = "INBOX_REJECTED")]
    Rejected,
}

/// Rejects a record whose payload starts with `reject`; records every other one.
#[kafka_consumer(topic = "${INBOX_TOPIC}", group = "${INBOX_GROUP}", backoff_ms = 10)]
async fn take(
    Payload(payload): Payload,
    meta: Metadata,
    headers: Headers,
    inbox: Inject<Inbox>,
) -> Result<(), InboxError> {
    if payload.starts_with(b"reject") {
        return Err(InboxError::Rejected);
    }
    inbox
        .seen
        .lock()
        .unwrap()
        .push((meta.partition, meta.offset, payload.len(), headers.0));
    Ok(())
}

type Backend = framework_test_support::KafkaBackend;

struct Setup {
    app: TestApp,
    transport: Arc<dyn Transport>,
    topic: String,
}

async fn start(backend: &Backend) -> Setup {
    let (topic, group) = (backend.name("inbox"), backend.name("inbox-group"));
    let app = TestApp::start(&[
        ("DATABASE_URL", ""),
        ("KAFKA_BROKERS", backend.brokers.as_str()),
        ("KAFKA_CREATE_TOPICS", "true"),
        ("INBOX_TOPIC", topic.as_str()),
        ("INBOX_GROUP", group.as_str()),
    ])
    .await
    .expect("the app starts");
    let transport = app
        .running()
        .component::<dyn Transport>()
        .expect("the transport");
    Setup {
        app,
        transport,
        topic,
    }
}

impl Setup {
    fn inbox(&self) -> Arc<Inbox> {
        self.app.running().component::<Inbox>().expect("the inbox")
    }

    /// Sends a record with an `id` header; returns its partition.
    async fn send(&self, id: &str, payload: &[u8], mut headers: Vec<Header>) -> i32 {
        headers.insert(0, Header::new("id", id));
        let record = Outgoing {
            topic: self.topic.clone(),
            key: Some(id.as_bytes().to_vec()),
            payload: Some(payload.to_vec()),
            headers,
        };
        self.transport.send(record).await.expect("sent").0
    }

    /// The `kafka` unit's status in `/health`, as a client sees it.
    async fn kafka_health(&self) -> String {
        let report: serde_json::Value = reqwest::get(self.app.url("/health"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        report["units"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["name"] == "kafka")
            .map(|u| u["status"].as_str().unwrap().to_owned())
            .expect("a kafka unit")
    }

    /// The value of counter `name` for this test's topic in `/metrics` (0 when absent).
    async fn counter(&self, name: &str) -> f64 {
        let text = reqwest::get(self.app.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let topic = format!("topic=\"{}\"", self.topic);
        text.lines()
            .filter(|l| l.starts_with(name) && l.contains(&topic))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// The first `count` dead letters, read by a group of its own.
    async fn dead_letters(&self, count: usize) -> Vec<Message> {
        read(&*self.transport, &format!("{}.dlq", self.topic), count).await
    }
}

/// The first `count` records of `topic`, read by a group of its own.
async fn read(transport: &dyn Transport, topic: &str, count: usize) -> Vec<Message> {
    let group = format!("reader-{}", uuid::Uuid::new_v4().simple());
    let mut subscription = transport
        .subscribe(&group, &[topic.to_owned()])
        .expect("subscribe");
    let mut records = Vec::new();
    while records.len() < count {
        let next = subscription.next(count - records.len());
        match tokio::time::timeout(Duration::from_secs(30), next)
            .await
            .unwrap_or_else(|_| panic!("{count} records of {topic} in time"))
        {
            Some(Fetched::Records(batch)) => records.extend(batch),
            Some(Fetched::Revoked(_)) => {}
            Some(Fetched::Failed(error)) => panic!("the reader failed: {error}"),
            None => panic!("the subscription closed"),
        }
    }
    records
}

fn value<'a>(message: &'a Message, name: &str) -> &'a str {
    std::str::from_utf8(
        message
            .header(name)
            .unwrap_or_else(|| panic!("header {name}")),
    )
    .unwrap()
}

framework_test_support::on_backends!(Backend: memory, broker; [
    a_large_record_is_dead_lettered_byte_for_byte_with_null_and_empty_headers,
    a_header_name_that_is_not_utf8_stops_nothing,
    a_worker_that_panics_shows_in_health_and_its_consumer_restarts,
]);

/// Fault 11: a record of 999,850 bytes (which the broker accepts) with a null and an empty
/// header, rejected by the handler.
async fn a_large_record_is_dead_lettered_byte_for_byte_with_null_and_empty_headers(
    backend: Backend,
) {
    let setup = start(&backend).await;
    let mut payload = b"reject ".to_vec();
    payload.extend((0..999_850 - payload.len()).map(|i| (i % 251) as u8));
    assert_eq!(payload.len(), 999_850);
    let original = vec![
        Header::null("null-value"),
        Header::new("empty-value", ""),
        Header::new("binary-value", [0u8, 255, 1]),
        Header::new("null-value", "repeated name"),
    ];
    setup.send("big", &payload, original.clone()).await;
    setup.send("after", b"small", Vec::new()).await;

    let inbox = setup.inbox();
    eventually(
        "the record after the big one",
        Duration::from_secs(30),
        async || inbox.seen().iter().any(|(_, _, len, _)| *len == 5),
    )
    .await;
    let dead = setup.dead_letters(1).await;
    let dead = &dead[0];
    assert_eq!(dead.key.as_deref(), Some(&b"big"[..]));
    assert!(
        dead.payload.as_deref() == Some(&payload[..]),
        "the payload is kept byte for byte"
    );
    let mut expected = vec![Header::new("id", "big")];
    expected.extend(original);
    assert_eq!(
        dead.headers[..expected.len()],
        expected[..],
        "the original headers come first, as they were (null apart from empty)"
    );
    assert_eq!(value(dead, h::ERROR_CODE), "INBOX_REJECTED");
    assert_eq!(value(dead, h::ORIGINAL_TOPIC), setup.topic);
    assert_eq!(value(dead, h::ATTEMPTS), "1");
    let added: usize = dead.headers[expected.len()..]
        .iter()
        .map(|h| h.name.len() + h.value.as_ref().map_or(0, Vec::len))
        .sum();
    assert!(
        added <= h::MAX_ADDED_BYTES,
        "{added} bytes of added headers"
    );
    assert_eq!(setup.kafka_health().await, "up");
    assert_eq!(setup.counter("kafka_dead_letter_errors_total").await, 0.0);
    if !backend.brokers.starts_with("memory") {
        // The dead-letter topic the framework created takes its source's records (here with
        // the broker's default limit) plus the added headers.
        let limit = max_message_bytes(&backend.brokers, &format!("{}.dlq", setup.topic)).await;
        assert!(
            limit >= 1_048_588 + h::MAX_ADDED_BYTES,
            "the dead-letter topic's max.message.bytes is {limit}"
        );
    }
    setup.app.shutdown().await.unwrap();
}

/// A topic's `max.message.bytes`, as the broker describes it.
async fn max_message_bytes(brokers: &str, topic: &str) -> usize {
    use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
    let admin: AdminClient<rdkafka::client::DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    let described = admin
        .describe_configs(&[ResourceSpecifier::Topic(topic)], &AdminOptions::new())
        .await
        .unwrap();
    let resource = described.into_iter().next().unwrap().unwrap();
    let entry = resource
        .get("max.message.bytes")
        .expect("max.message.bytes");
    entry.value.as_deref().unwrap().parse().unwrap()
}

/// Fault 10: a record whose header name is not valid UTF-8, written by a librdkafka client
/// (on the in-process broker, through the transport: its names are bytes too).
async fn a_header_name_that_is_not_utf8_stops_nothing(backend: Backend) {
    let setup = start(&backend).await;
    let odd_name = b"\xff\xfename".to_vec();
    let odd = vec![
        ("id".as_bytes().to_vec(), Some(b"odd".to_vec())),
        (odd_name.clone(), Some(b"v".to_vec())),
        (b"kept".to_vec(), None),
    ];
    // The odd record first on its partition, then records on every partition.
    let partition = if backend.brokers.starts_with("memory") {
        let headers = odd
            .iter()
            .map(|(name, value)| Header {
                name: name.clone(),
                value: value.clone(),
            })
            .collect();
        let record = Outgoing {
            topic: setup.topic.clone(),
            key: Some(b"odd".to_vec()),
            payload: Some(b"reject odd".to_vec()),
            headers,
        };
        setup.transport.send(record).await.expect("sent").0
    } else {
        produce_with_librdkafka(&backend.brokers, &setup.topic, b"odd", b"reject odd", &odd)
    };
    let ids: Vec<String> = (0..30).map(|i| format!("after-{i}")).collect();
    let mut same_partition = 0;
    for id in &ids {
        if setup.send(id, id.as_bytes(), Vec::new()).await == partition {
            same_partition += 1;
        }
    }
    assert!(
        same_partition > 0,
        "no record after the odd one on its partition"
    );

    let inbox = setup.inbox();
    eventually(
        "every record after the odd one",
        Duration::from_secs(30),
        async || {
            let handled = inbox.ids();
            ids.iter().all(|id| handled.contains(id))
        },
    )
    .await;
    let dead = setup.dead_letters(1).await;
    let dead = &dead[0];
    assert_eq!(dead.payload.as_deref(), Some(&b"reject odd"[..]));
    assert_eq!(value(dead, h::ORIGINAL_OFFSET), "0");
    let kept = |name: &[u8]| dead.headers.iter().find(|h| h.name == name).cloned();
    assert_eq!(kept(b"id"), Some(Header::new("id", "odd")));
    assert_eq!(
        kept(b"kept"),
        Some(Header::null("kept")),
        "a null value stays null"
    );
    if backend.brokers.starts_with("memory") {
        // Names are bytes: the odd one is kept as it was.
        assert_eq!(value(dead, h::ERROR_CODE), "INBOX_REJECTED");
        assert_eq!(kept(&odd_name), Some(Header::new(odd_name.clone(), "v")));
    } else {
        // librdkafka's Rust binding cannot read such a name (see `framework::kafka::Broker`):
        // the record is dead-lettered without running the handler, with the reason...
        assert_eq!(value(dead, h::ERROR_CODE), "MESSAGE_UNREADABLE");
        assert_eq!(value(dead, h::ATTEMPTS), "0");
        assert!(
            value(dead, h::ERROR_MESSAGE).contains("not UTF-8"),
            "{}",
            value(dead, h::ERROR_MESSAGE)
        );
        // ...and every header as it came, the odd name too, as librdkafka reads them.
        let dlq = format!("{}.dlq", setup.topic);
        let (payload, headers) = consume_with_librdkafka(&backend.brokers, &dlq);
        assert_eq!(payload, b"reject odd");
        let sent: Vec<Header> = odd
            .iter()
            .map(|(name, value)| Header {
                name: name.clone(),
                value: value.clone(),
            })
            .collect();
        assert_eq!(
            headers[..sent.len()],
            sent[..],
            "the record's own headers, in order"
        );
        let added: Vec<&[u8]> = headers[sent.len()..].iter().map(|h| &h.name[..]).collect();
        assert_eq!(
            added,
            [
                h::ERROR_CODE,
                h::ERROR_MESSAGE,
                h::ORIGINAL_TOPIC,
                h::ORIGINAL_PARTITION,
                h::ORIGINAL_OFFSET,
                h::ATTEMPTS
            ]
            .map(str::as_bytes)
        );
    }
    assert_eq!(setup.kafka_health().await, "up");
    assert_eq!(setup.counter("kafka_consumer_restarts_total").await, 0.0);
    setup.app.shutdown().await.unwrap();
}

/// A real librdkafka client: librdkafka's C API (the library that Python's confluent-kafka
/// ships, 2.16), called from Python through ctypes, since rdkafka's Rust API takes header
/// names as `&str` and reads them with `to_str().unwrap()`, and confluent-kafka's Python API
/// turns a `bytes` name into its `repr`. `rd_kafka_header_add` takes a name's bytes and
/// length, `rd_kafka_header_get_all` gives them back. The script answers one JSON line.
fn librdkafka(args: serde_json::Value) -> serde_json::Value {
    const SCRIPT: &str = r#"
import ctypes, glob, json, os, sys, time
import confluent_kafka
libs = glob.glob(os.path.join(os.path.dirname(os.path.dirname(confluent_kafka.__file__)), "confluent_kafka.libs", "librdkafka*.so*"))
rd = ctypes.CDLL(libs[0])
args = json.loads(sys.argv[1])
unhex = lambda v: None if v is None else bytes.fromhex(v)
P = ctypes.c_void_p
rd.rd_kafka_conf_new.restype = P
rd.rd_kafka_conf_set.argtypes = [P, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]
rd.rd_kafka_new.restype = P
rd.rd_kafka_new.argtypes = [ctypes.c_int, P, ctypes.c_char_p, ctypes.c_size_t]
rd.rd_kafka_err2str.restype = ctypes.c_char_p
class Message(ctypes.Structure):
    _fields_ = [("err", ctypes.c_int), ("rkt", P), ("partition", ctypes.c_int32), ("payload", P), ("len", ctypes.c_size_t),
                ("key", P), ("key_len", ctypes.c_size_t), ("offset", ctypes.c_int64), ("_private", P)]
errstr = ctypes.create_string_buffer(512)
def client(kind, settings, setup=None):
    conf = rd.rd_kafka_conf_new()
    for k, v in [("bootstrap.servers", args["brokers"])] + settings:
        assert rd.rd_kafka_conf_set(conf, k.encode(), v.encode(), errstr, 512) == 0, errstr.value
    if setup:
        setup(conf)
    rk = rd.rd_kafka_new(kind, conf, errstr, 512)
    assert rk, errstr.value
    return P(rk)

def produce():
    rd.rd_kafka_headers_new.restype = P
    rd.rd_kafka_headers_new.argtypes = [ctypes.c_size_t]
    rd.rd_kafka_header_add.argtypes = [P, ctypes.c_char_p, ctypes.c_ssize_t, ctypes.c_char_p, ctypes.c_ssize_t]
    rd.rd_kafka_produceva.restype = P
    rd.rd_kafka_error_string.restype = ctypes.c_char_p
    rd.rd_kafka_error_string.argtypes = [P]
    rd.rd_kafka_flush.argtypes = [P, ctypes.c_int]
    rd.rd_kafka_poll.argtypes = [P, ctypes.c_int]
    DR = ctypes.CFUNCTYPE(None, P, ctypes.POINTER(Message), P)
    delivered = []
    on_delivery = DR(lambda rk, m, opaque: delivered.append((m.contents.err, m.contents.partition)))
    rd.rd_kafka_conf_set_dr_msg_cb.argtypes = [P, DR]
    rk = client(0, [("enable.idempotence", "true")], lambda conf: rd.rd_kafka_conf_set_dr_msg_cb(conf, on_delivery))
    headers = rd.rd_kafka_headers_new(len(args["headers"]))
    for name, value in args["headers"]:
        name, value = unhex(name), unhex(value)
        rd.rd_kafka_header_add(headers, name, len(name), value, -1 if value is None else len(value))
    class Mem(ctypes.Structure):
        _fields_ = [("ptr", P), ("size", ctypes.c_size_t)]
    class U(ctypes.Union):
        _fields_ = [("cstr", ctypes.c_char_p), ("i", ctypes.c_int), ("i32", ctypes.c_int32), ("mem", Mem), ("ptr", P), ("_pad", ctypes.c_char * 64)]
    class VU(ctypes.Structure):
        _fields_ = [("vtype", ctypes.c_int), ("u", U)]
    key, value = unhex(args["key"]), unhex(args["value"])
    kbuf, vbuf = ctypes.create_string_buffer(key, len(key)), ctypes.create_string_buffer(value, len(value))
    vus = (VU * 6)()
    vus[0].vtype = 1; vus[0].u.cstr = args["topic"].encode()
    vus[1].vtype = 3; vus[1].u.i32 = -1                      # RD_KAFKA_PARTITION_UA: the partitioner picks
    vus[2].vtype = 5; vus[2].u.mem = Mem(ctypes.cast(kbuf, P), len(key))
    vus[3].vtype = 4; vus[3].u.mem = Mem(ctypes.cast(vbuf, P), len(value))
    vus[4].vtype = 7; vus[4].u.i = 2                         # RD_KAFKA_MSG_F_COPY
    vus[5].vtype = 10; vus[5].u.ptr = headers                # the producer owns them from here
    error = rd.rd_kafka_produceva(rk, vus, 6)
    if error:
        sys.exit("produce failed: " + rd.rd_kafka_error_string(error).decode())
    rd.rd_kafka_flush(rk, 30000)
    rd.rd_kafka_poll(rk, 0)
    err, partition = delivered[0]
    if err != 0:
        sys.exit("not delivered: " + rd.rd_kafka_err2str(err).decode())
    return {"partition": partition}

def consume():
    # The first record of the topic, with its headers' names and values as bytes.
    rd.rd_kafka_poll_set_consumer.argtypes = [P]
    rd.rd_kafka_topic_partition_list_new.restype = P
    rd.rd_kafka_topic_partition_list_add.argtypes = [P, ctypes.c_char_p, ctypes.c_int32]
    rd.rd_kafka_subscribe.argtypes = [P, P]
    rd.rd_kafka_consumer_poll.restype = ctypes.POINTER(Message)
    rd.rd_kafka_consumer_poll.argtypes = [P, ctypes.c_int]
    rd.rd_kafka_message_headers.argtypes = [ctypes.POINTER(Message), ctypes.POINTER(P)]
    rd.rd_kafka_header_get_all.argtypes = [P, ctypes.c_size_t, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(P), ctypes.POINTER(ctypes.c_size_t)]
    rd.rd_kafka_message_destroy.argtypes = [ctypes.POINTER(Message)]
    rd.rd_kafka_consumer_close.argtypes = [P]
    rd.rd_kafka_destroy.argtypes = [P]
    group = "librdkafka-reader-" + str(time.time_ns())
    rk = client(1, [("group.id", group), ("auto.offset.reset", "earliest")])
    rd.rd_kafka_poll_set_consumer(rk)
    topics = rd.rd_kafka_topic_partition_list_new(1)
    rd.rd_kafka_topic_partition_list_add(topics, args["topic"].encode(), -1)
    assert rd.rd_kafka_subscribe(rk, topics) == 0
    deadline = time.time() + 30
    while time.time() < deadline:
        m = rd.rd_kafka_consumer_poll(rk, 500)
        if not m:
            continue
        if m.contents.err != 0:
            rd.rd_kafka_message_destroy(m)
            continue
        headers, found = P(), []
        if rd.rd_kafka_message_headers(m, ctypes.byref(headers)) == 0:
            name, value, size, index = ctypes.c_char_p(), P(), ctypes.c_size_t(), 0
            while rd.rd_kafka_header_get_all(headers, index, ctypes.byref(name), ctypes.byref(value), ctypes.byref(size)) == 0:
                found.append([name.value.hex(), None if not value.value else ctypes.string_at(value, size.value).hex()])
                index += 1
        payload = ctypes.string_at(m.contents.payload, m.contents.len).hex() if m.contents.payload else None
        rd.rd_kafka_message_destroy(m)
        rd.rd_kafka_consumer_close(rk)
        rd.rd_kafka_destroy(rk)
        return {"payload": payload, "headers": found}
    sys.exit("no record of " + args["topic"] + " within 30 s")

print(json.dumps(produce() if args["mode"] == "produce" else consume()))
"#;
    let output = std::process::Command::new("python3")
        .args(["-c", SCRIPT, &args.to_string()])
        .output()
        .expect("python3 runs (scripts/test needs it anyway)");
    assert!(
        output.status.success(),
        "librdkafka through Python failed (scripts/test installs confluent-kafka, which ships \
         it, with pip: `python3 -m pip install confluent-kafka`): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("one JSON line")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Produces one record with librdkafka; returns its partition.
fn produce_with_librdkafka(
    brokers: &str,
    topic: &str,
    key: &[u8],
    value: &[u8],
    headers: &[(Vec<u8>, Option<Vec<u8>>)],
) -> i32 {
    let answer = librdkafka(serde_json::json!({
        "mode": "produce",
        "brokers": brokers,
        "topic": topic,
        "key": hex(key),
        "value": hex(value),
        "headers": headers
            .iter()
            .map(|(n, v)| (hex(n), v.as_deref().map(hex)))
            .collect::<Vec<_>>(),
    }));
    answer["partition"].as_i64().expect("the partition") as i32
}

/// The first record of `topic` as librdkafka reads it: its payload and headers, as bytes.
fn consume_with_librdkafka(brokers: &str, topic: &str) -> (Vec<u8>, Vec<Header>) {
    let answer = librdkafka(serde_json::json!({
        "mode": "consume",
        "brokers": brokers,
        "topic": topic,
    }));
    let payload = unhex(answer["payload"].as_str().unwrap_or_default());
    let headers = answer["headers"]
        .as_array()
        .expect("headers")
        .iter()
        .map(|pair| Header {
            name: unhex(pair[0].as_str().unwrap()),
            value: pair[1].as_str().map(unhex),
        })
        .collect();
    (payload, headers)
}

/// A panic outside any handler: a partition's worker dies. The consumer shows as down, is
/// started again, and handles every record (the ones in flight again, from the commit).
async fn a_worker_that_panics_shows_in_health_and_its_consumer_restarts(backend: Backend) {
    let setup = start(&backend).await;
    let ids: Vec<String> = (0..20).map(|i| format!("first-{i}")).collect();
    for id in &ids[..10] {
        setup.send(id, id.as_bytes(), Vec::new()).await;
    }
    let inbox = setup.inbox();
    eventually("the first ten", Duration::from_secs(30), async || {
        inbox.ids().len() >= 10
    })
    .await;
    assert_eq!(setup.kafka_health().await, "up");

    injected::panic_next_run(&setup.topic);
    for id in &ids[10..] {
        setup.send(id, id.as_bytes(), Vec::new()).await;
    }
    // Down from the failure until the consumer runs again (at least the first restart
    // delay, 500 ms with jitter).
    eventually("the kafka unit down", Duration::from_secs(20), async || {
        setup.kafka_health().await == "down"
    })
    .await;
    eventually(
        "every record, none skipped",
        Duration::from_secs(60),
        async || {
            let handled = inbox.ids();
            ids.iter().all(|id| handled.contains(id))
        },
    )
    .await;
    eventually(
        "the kafka unit up again",
        Duration::from_secs(20),
        async || setup.kafka_health().await == "up",
    )
    .await;
    assert_eq!(setup.counter("kafka_consumer_restarts_total").await, 1.0);
    setup.app.shutdown().await.unwrap();
}

/// A dead letter that cannot be written (its topic was deleted) blocks its partition
/// visibly, and is written once the topic is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_that_cannot_be_written_shows_in_health_and_metrics() {
    let backend = Backend::memory("dead-letter-write-fails");
    let setup = start(&backend).await;
    let broker = framework::kafka::MemoryBroker::named("dead-letter-write-fails");
    let dead_letters = format!("{}.dlq", setup.topic);
    broker.delete_topic(&dead_letters);

    let partition = setup.send("k", b"reject me", Vec::new()).await;
    eventually("the kafka unit down", Duration::from_secs(20), async || {
        setup.kafka_health().await == "down"
    })
    .await;
    eventually(
        "failed writes counted",
        Duration::from_secs(20),
        async || setup.counter("kafka_dead_letter_errors_total").await >= 1.0,
    )
    .await;
    // The partition waits: a later record on it is not handled (nor its offset committed).
    setup.send("k", b"later", Vec::new()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(setup.inbox().seen().is_empty(), "the partition went on");
    let group = backend.name("inbox-group");
    assert_eq!(broker.committed(&group, &setup.topic, partition), None);

    broker.ensure_topics(&[dead_letters]).await.unwrap();
    let inbox = setup.inbox();
    eventually("the later record", Duration::from_secs(60), async || {
        !inbox.seen().is_empty()
    })
    .await;
    assert_eq!(
        setup.dead_letters(1).await[0].payload.as_deref(),
        Some(&b"reject me"[..])
    );
    eventually(
        "the kafka unit up again",
        Duration::from_secs(20),
        async || setup.kafka_health().await == "up",
    )
    .await;
    setup.app.shutdown().await.unwrap();
}
