//! Fixtures for `framework`'s and example-service's tests and benchmarks: the generated code of
//! `probe.proto`, a macro that runs each scenario on each backend, the Kafka backends, a tansu
//! broker of a test's own, a statement on whichever SQL backend a `Tx` holds, and a poll with
//! a deadline, a token issuer with its JWKS endpoint, and an OTLP/gRPC receiver.

#![allow(missing_docs, clippy::all)]

pub mod issuer;
pub mod otlp;

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

/// Where a Kafka scenario runs: the in-process broker (`memory://<name>`), or the real broker
/// of `KAFKA_BROKERS` with names no earlier run used.
#[derive(Debug, Clone)]
pub struct KafkaBackend {
    /// The `KAFKA_BROKERS` value.
    pub brokers: String,
    /// Unique per test: topic and group names derive from it.
    pub run: String,
}

impl KafkaBackend {
    pub fn memory(name: &str) -> KafkaBackend {
        KafkaBackend {
            brokers: format!("memory://{name}"),
            run: name.to_owned(),
        }
    }

    pub fn broker(name: &str) -> KafkaBackend {
        let brokers = std::env::var("KAFKA_BROKERS").unwrap_or_default();
        assert!(
            !brokers.is_empty() && !brokers.starts_with("memory"),
            "the broker tests need KAFKA_BROKERS=host:port of a running Kafka-protocol broker \
             (scripts/test starts tansu); got {brokers:?}"
        );
        KafkaBackend {
            brokers,
            run: format!("{name}-{}", uuid::Uuid::new_v4().simple()),
        }
    }

    /// `<prefix>-<run>`: a topic or group name of this run.
    pub fn name(&self, prefix: &str) -> String {
        format!("{prefix}-{}", self.run)
    }
}

/// Polls `done` every 20 ms until it holds; fails the test naming `what` once `limit` passed.
pub async fn eventually(
    what: &str,
    limit: std::time::Duration,
    mut done: impl AsyncFnMut() -> bool,
) {
    let deadline = tokio::time::Instant::now() + limit;
    while !done().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A tansu broker of a test's own (in-memory storage) on a port below 32768, so that it can be
/// frozen (`SIGSTOP`) and thawed (`SIGCONT`) with its topics intact; thawed and killed when
/// dropped.
pub struct Tansu {
    child: std::process::Child,
    /// `127.0.0.1:<port>`, for `KAFKA_BROKERS`.
    pub address: String,
}

impl Tansu {
    /// Starts it and waits (at most 20 s) until it listens.
    pub fn start() -> Tansu {
        let port = free_low_port();
        let address = format!("127.0.0.1:{port}");
        let url = format!("tcp://{address}");
        let child = std::process::Command::new("tansu")
            .args(["broker", "--storage-engine", "memory://tansu/"])
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect(
                "tansu runs (scripts/test installs it: cargo install tansu --features dynostore)",
            );
        let mut tansu = Tansu { child, address };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        // Its own, not another process's on that port: it must still be running once the
        // port answers.
        while std::net::TcpStream::connect(&tansu.address).is_err()
            || tansu.child.try_wait().is_ok_and(|exit| exit.is_some())
        {
            if let Ok(Some(exit)) = tansu.child.try_wait() {
                panic!(
                    "tansu exited ({exit}) instead of listening on {}",
                    tansu.address
                );
            }
            assert!(
                std::time::Instant::now() < deadline,
                "tansu did not listen on {}",
                tansu.address
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        tansu
    }

    /// Sends `signal` (`-STOP`, `-CONT`) to it.
    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} failed");
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        self.signal("-CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free port below 32768 (outside Linux's ephemeral range, so that no client of a frozen
/// broker takes it by connecting to itself). Each call of a process starts its search past
/// the port the last one returned: tests running side by side get different ports even
/// before their servers bind them.
pub fn free_low_port() -> u16 {
    static LAST: std::sync::Mutex<Option<u16>> = std::sync::Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    let start = match *last {
        Some(port) if port + 1 < 32_000 => port + 1,
        Some(_) => 20_000,
        None => 20_000 + (std::process::id() % 10_000) as u16,
    };
    let port = (start..32_000)
        .chain(20_000..start)
        .find(|port| std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok())
        .expect("a free port below 32768");
    *last = Some(port);
    port
}

/// `$body` with `$conn` bound to the connection of the SQL backend `$tx` (a `framework::Tx`)
/// runs on, PostgreSQL or SQLite, in a function whose error converts from
/// `framework::transaction::TxError`.
#[macro_export]
macro_rules! on_connection {
    ($tx:expr, |$conn:ident| $body:expr) => {{
        use ::framework::db::SqlTx as _;
        match $tx.connection::<::framework::sqlx::Postgres>().await {
            Ok(mut $conn) => $body,
            Err(::framework::transaction::TxError::Backend { .. }) => {
                let mut $conn = $tx.connection::<::framework::sqlx::Sqlite>().await?;
                $body
            }
            Err(error) => return Err(error.into()),
        }
    }};
}

/// The database a scenario runs on: a new SQLite file under the temporary directory (removed
/// with its `-wal` and `-shm` when dropped), or the PostgreSQL server of `DATABASE_URL`.
pub struct Database {
    /// The `DATABASE_URL` value.
    pub url: String,
    file: Option<std::path::PathBuf>,
}

impl Database {
    /// A new SQLite file named after `name`.
    pub fn sqlite(name: &str) -> Database {
        let file = std::env::temp_dir().join(format!(
            "framework-{name}-{}.db",
            uuid::Uuid::new_v4().simple()
        ));
        Database {
            url: format!("sqlite://{}", file.display()),
            file: Some(file),
        }
    }

    /// The server of `DATABASE_URL`, which must be PostgreSQL (scripts/test starts one).
    pub fn postgres() -> Database {
        let url = std::env::var("DATABASE_URL").unwrap_or_default();
        assert!(
            url.starts_with("postgres"),
            "these tests need DATABASE_URL=postgres://... (scripts/test starts PostgreSQL); got {url:?}"
        );
        Database { url, file: None }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Some(file) = &self.file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
            }
        }
    }
}

/// A PostgreSQL server of a test's own (a fresh `initdb` in a temporary folder, trust
/// authentication) on a port below 32768, which the test can stop and start again; stopped
/// and removed when dropped. Its binaries are the newest `/usr/lib/postgresql/*/bin`
/// (Debian's `postgresql` package, which scripts/test installs), or `PG_BIN`; as root they
/// run as the `postgres` user, since PostgreSQL refuses to run as root.
pub struct OwnPostgres {
    dir: std::path::PathBuf,
    bin: std::path::PathBuf,
    port: u16,
}

impl OwnPostgres {
    /// Creates the cluster and starts it (waits until it accepts connections).
    pub fn start() -> OwnPostgres {
        let bin = std::env::var_os("PG_BIN")
            .map(std::path::PathBuf::from)
            .or_else(newest_pg_bin)
            .expect("PostgreSQL's binaries (apt-get install postgresql, or set PG_BIN)");
        let dir = std::env::temp_dir().join(format!("own-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("a folder for the cluster");
        let server = OwnPostgres {
            dir,
            bin,
            port: free_low_port(),
        };
        if is_root() {
            run("chown", &["postgres", &server.dir.to_string_lossy()]);
        }
        server.pg(&format!(
            "{}/initdb -D {} -U postgres --auth=trust",
            server.bin.display(),
            server.data().display()
        ));
        server.restart();
        server
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops it at once (`pg_ctl stop -m immediate`): connections are dropped.
    pub fn stop(&self) {
        self.pg_ctl("stop -m immediate -w");
    }

    /// Starts it again on the same port and data.
    pub fn restart(&self) {
        self.pg_ctl(&format!(
            "start -w -o '-h 127.0.0.1 -p {} -k {}' -l {}",
            self.port,
            self.dir.display(),
            self.dir.join("log").display()
        ));
    }

    fn data(&self) -> std::path::PathBuf {
        self.dir.join("data")
    }

    fn pg_ctl(&self, args: &str) {
        self.pg(&format!(
            "{}/pg_ctl -D {} {args}",
            self.bin.display(),
            self.data().display()
        ));
    }

    fn pg(&self, command: &str) {
        if is_root() {
            run("su", &["postgres", "-c", command]);
        } else {
            run("sh", &["-c", command]);
        }
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let command = format!(
            "{}/pg_ctl -D {} stop -m immediate -w",
            self.bin.display(),
            self.data().display()
        );
        // Already stopped is fine here.
        let _ = if is_root() {
            std::process::Command::new("su")
                .args(["postgres", "-c", &command])
                .output()
        } else {
            std::process::Command::new("sh")
                .args(["-c", &command])
                .output()
        };
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn newest_pg_bin() -> Option<std::path::PathBuf> {
    let mut versions: Vec<(u32, std::path::PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|out| out.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

fn run(program: &str, args: &[&str]) {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
