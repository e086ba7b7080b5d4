//! What the throughput benchmarks share: concurrent load loops, alternating rounds, and the
//! summary (rate, p99, ratio).

use std::future::Future;
use std::time::{Duration, Instant};

/// One round of load against one server.
pub struct Round {
    calls: u64,
    elapsed: Duration,
    latencies: Vec<u32>,
}

impl Round {
    fn rate(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }
}

/// Runs one loop per client for `secs`: each iteration is one `call`, which hands the client
/// back.
pub async fn round<C, F, Fut>(clients: Vec<C>, secs: u64, call: F) -> Round
where
    C: Send + 'static,
    F: Fn(C) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = C> + Send,
{
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut client| {
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    client = call(client).await;
                    latencies.push(sent.elapsed().as_micros() as u32);
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("a load loop panicked"));
    }
    Round {
        calls: latencies.len() as u64,
        elapsed: start.elapsed(),
        latencies,
    }
}

/// `BENCH_*` settings; under `cargo test` (no `--bench` flag) a short smoke run.
pub struct Plan {
    measuring: bool,
    rounds: u64,
    secs: u64,
}

impl Plan {
    pub fn from_env(default_rounds: u64) -> Plan {
        let measuring = std::env::args().any(|a| a == "--bench");
        let (rounds, secs) = if measuring {
            (env("BENCH_ROUNDS", default_rounds), env("BENCH_SECS", 3))
        } else {
            (1, 1)
        };
        Plan {
            measuring,
            rounds,
            secs,
        }
    }

    /// Loads the framework's server and the hand-written one in alternating rounds (so drift
    /// hits both alike) after a warm-up, and prints rate, p99 and their ratio.
    pub async fn compare<A, AF, B, BF>(&self, unit: &str, labels: [&str; 2], framework: A, hand: B)
    where
        A: Fn(u64) -> AF,
        AF: Future<Output = Round>,
        B: Fn(u64) -> BF,
        BF: Future<Output = Round>,
    {
        framework(1).await;
        hand(1).await;
        let (mut f_rounds, mut h_rounds) = (Vec::new(), Vec::new());
        for round in 0..self.rounds {
            let (f, h) = if round % 2 == 0 {
                let f = framework(self.secs).await;
                (f, hand(self.secs).await)
            } else {
                let h = hand(self.secs).await;
                (framework(self.secs).await, h)
            };
            println!(
                "round {}: {} {:>9.0} {unit}/s, {} {:>9.0} {unit}/s",
                round + 1,
                labels[0],
                f.rate(),
                labels[1],
                h.rate()
            );
            f_rounds.push(f);
            h_rounds.push(h);
        }
        let (f_rate, f_p99) = summary(&f_rounds);
        let (h_rate, h_p99) = summary(&h_rounds);
        println!("{} rounds of {}s each:", self.rounds, self.secs);
        println!("  {:<24} {f_rate:>9.0} {unit}/s  p99 {f_p99} us", labels[0]);
        println!("  {:<24} {h_rate:>9.0} {unit}/s  p99 {h_p99} us", labels[1]);
        println!(
            "  ratio (framework / hand-written): {:.3} (target >= 0.98)",
            f_rate / h_rate
        );
        if !self.measuring {
            println!("  (smoke run of a debug build: use `cargo bench` for figures)");
        }
    }
}

/// `BENCH_<name>` or `default`.
pub fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn summary(rounds: &[Round]) -> (f64, u32) {
    let calls: u64 = rounds.iter().map(|r| r.calls).sum();
    let secs: f64 = rounds.iter().map(|r| r.elapsed.as_secs_f64()).sum();
    let mut latencies: Vec<u32> = rounds
        .iter()
        .flat_map(|r| r.latencies.iter().copied())
        .collect();
    latencies.sort_unstable();
    let p99 = latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)];
    (calls as f64 / secs, p99)
}
