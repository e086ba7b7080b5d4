//! What the throughput benchmarks share: concurrent load loops, rotating rounds, one side
//! alone (`BENCH_ONLY`, for a profiler or `scripts/bench-instructions`), and the summary
//! (rate, p99, CPU time per call, ratios).

// Each bench binary compiles its own copy and uses part of it.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// One round of load against one server.
pub struct Round {
    calls: u64,
    elapsed: Duration,
    latencies: Vec<u32>,
    /// The process's CPU time in the round: the client's and the server's.
    cpu: Duration,
}

impl Round {
    fn rate(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }

    /// Calls per second of the process's CPU time: what a call costs, whatever the machine's
    /// pace in this round.
    fn per_cpu_second(&self) -> f64 {
        self.calls as f64 / self.cpu.as_secs_f64()
    }
}

/// The CPU time all threads of this process used so far (rustix's safe `clock_gettime`: the
/// workspace forbids `unsafe`).
pub fn cpu_time() -> Duration {
    let time = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(time.tv_sec as u64, time.tv_nsec as u32)
}

/// Runs one loop per client for `length`: each iteration is one `call`, which hands the client
/// back.
pub async fn round<C, F, Fut>(clients: Vec<C>, length: Duration, call: F) -> Round
where
    C: Send + 'static,
    F: Fn(C) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = C> + Send,
{
    let start = Instant::now();
    let cpu = cpu_time();
    let deadline = start + length;
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
        cpu: cpu_time() - cpu,
    }
}

/// How many comparisons this process has begun, for `BENCH_ONLY=<comparison>.<side>`.
static COMPARISONS: AtomicUsize = AtomicUsize::new(0);

/// How long each side is loaded before the rounds.
const WARM_UP: Duration = Duration::from_secs(1);

/// `BENCH_*` settings; under `cargo test` (no `--bench` flag) a short smoke run.
#[derive(Clone, Copy)]
pub struct Plan {
    measuring: bool,
    rounds: u64,
    length: Duration,
    /// The framework / hand-written ratio to reach.
    target: f64,
    /// What the first two sides are, for the ratios' lines.
    pair: &'static str,
}

impl Plan {
    pub fn from_env(default_rounds: u64) -> Plan {
        let measuring = std::env::args().any(|a| a == "--bench");
        let (rounds, length) = if measuring {
            let secs = std::env::var("BENCH_SECS").map_or(3.0, |secs| {
                secs.parse()
                    .expect("BENCH_SECS: seconds per round, such as 2 or 0.5")
            });
            (
                env("BENCH_ROUNDS", default_rounds),
                Duration::from_secs_f64(secs),
            )
        } else {
            (1, Duration::from_secs(1))
        };
        Plan {
            measuring,
            rounds,
            length,
            target: 0.98,
            pair: "framework / hand-written",
        }
    }

    /// How long a round lasts (`BENCH_SECS`).
    pub fn length(&self) -> Duration {
        self.length
    }

    /// What the first side over the second is, in the ratios' lines (`framework /
    /// hand-written` unless a benchmark says otherwise).
    pub fn pair(self, pair: &'static str) -> Plan {
        Plan { pair, ..self }
    }

    /// The ratio the framework's side must reach (0.98 unless a benchmark says otherwise).
    pub fn target(self, target: f64) -> Plan {
        Plan { target, ..self }
    }

    /// Loads each side in rotating rounds (each round starts with the next side, so drift hits
    /// all alike) after a warm-up, and prints rate, p99 and ratios: the first side is the
    /// framework's, the second the hand-written equivalent (their ratio is the target), each
    /// further one a reference both are also measured against.
    ///
    /// `BENCH_ONLY=<n>` loads only the n-th side (1 is the framework's) of the binary's first
    /// comparison, round after round, to profile it; `BENCH_ONLY=<c>.<n>` the n-th side of the
    /// c-th comparison. The other comparisons are skipped.
    pub async fn compare_sides(&self, unit: &str, sides: Vec<Side<'_>>) {
        let comparison = COMPARISONS.fetch_add(1, Ordering::Relaxed) + 1;
        if let Ok(only) = std::env::var("BENCH_ONLY") {
            let (wanted, side) = only.split_once('.').unwrap_or(("1", &only));
            let wanted: usize = wanted
                .parse()
                .unwrap_or_else(|_| panic!("BENCH_ONLY={only}: <side> or <comparison>.<side>"));
            if wanted != comparison {
                return;
            }
            let (label, load) = side
                .parse::<usize>()
                .ok()
                .and_then(|n| sides.get(n.wrapping_sub(1)))
                .unwrap_or_else(|| panic!("BENCH_ONLY={only}: sides 1 to {}", sides.len()));
            load(WARM_UP).await;
            for round in 1..=self.rounds {
                let done = load(self.length).await;
                println!(
                    "round {round}: {label} {} {unit} in {:.2} s, {:.0} {unit}/s, {:.0} {unit} per \
                     CPU-second",
                    done.calls,
                    done.elapsed.as_secs_f64(),
                    done.rate(),
                    done.per_cpu_second()
                );
            }
            return;
        }
        for (_, load) in &sides {
            load(WARM_UP).await;
        }
        let mut rounds: Vec<Vec<Round>> = sides.iter().map(|_| Vec::new()).collect();
        for round in 0..self.rounds as usize {
            let mut line = format!("round {}:", round + 1);
            let mut measured: Vec<Option<Round>> = sides.iter().map(|_| None).collect();
            for step in 0..sides.len() {
                let index = (round + step) % sides.len();
                measured[index] = Some(sides[index].1(self.length).await);
            }
            for ((label, _), (done, all)) in sides.iter().zip(measured.into_iter().zip(&mut rounds))
            {
                let done = done.expect("every side ran");
                line += &format!(" {label} {:>9.0} {unit}/s,", done.rate());
                all.push(done);
            }
            println!("{}", line.trim_end_matches(','));
        }
        let summaries: Vec<(f64, u32)> = rounds.iter().map(|r| summary(r)).collect();
        println!(
            "{} rounds of {:.2} s each:",
            self.rounds,
            self.length.as_secs_f64()
        );
        for ((label, _), (rate, p99)) in sides.iter().zip(&summaries) {
            println!("  {label:<24} {rate:>9.0} {unit}/s  p99 {p99} us");
        }
        // Each round's own ratio, too: its two sides ran seconds apart, so their median is
        // less moved by the machine's drift than the ratio of the totals.
        let mut by_round: Vec<f64> = rounds[0]
            .iter()
            .zip(&rounds[1])
            .map(|(framework, hand)| framework.rate() / hand.rate())
            .collect();
        by_round.sort_by(f64::total_cmp);
        println!(
            "  ratio ({}): {:.3} of the totals, {:.3} median of the rounds (target >= {})",
            self.pair,
            summaries[0].0 / summaries[1].0,
            median(&by_round),
            self.target
        );
        // What a call costs: the process's CPU time per call in each side's rounds (the
        // client's share is the same for every side), as calls per CPU-second.
        let per_cpu: Vec<f64> = rounds
            .iter()
            .map(|side| {
                let mut values: Vec<f64> = side.iter().map(Round::per_cpu_second).collect();
                values.sort_by(f64::total_cmp);
                median(&values)
            })
            .collect();
        for ((label, _), value) in sides.iter().zip(&per_cpu) {
            println!("  {label:<24} {value:>9.0} {unit} per CPU-second (median of the rounds)");
        }
        println!(
            "  ratio of calls per CPU-second ({}): {:.3}",
            self.pair,
            per_cpu[0] / per_cpu[1]
        );
        for ((label, _), (rate, _)) in sides.iter().zip(&summaries).skip(2) {
            println!(
                "  ratio to {label}: {} {:.3}, {} {:.3}",
                sides[0].0,
                summaries[0].0 / rate,
                sides[1].0,
                summaries[1].0 / rate
            );
        }
        if !self.measuring {
            println!("  (smoke run of a debug build: use `cargo bench` for figures)");
        }
    }
}

/// One side of a comparison: its label and its load for a time.
pub type Side<'a> = (
    &'a str,
    Box<dyn Fn(Duration) -> Pin<Box<dyn Future<Output = Round> + 'a>> + 'a>,
);

/// A side loaded by `load`.
pub fn side<'a, L, F>(label: &'a str, load: L) -> Side<'a>
where
    L: Fn(Duration) -> F + 'a,
    F: Future<Output = Round> + 'a,
{
    (label, Box::new(move |length| Box::pin(load(length))))
}

/// What a hand-written server stops gracefully on: Ctrl-C, as in tonic's and axum's examples.
pub async fn ctrl_c() {
    let _ = tokio::signal::ctrl_c().await;
}

/// `BENCH_<name>` or `default`.
pub fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The median of sorted `values`.
pub fn median(values: &[f64]) -> f64 {
    let middle = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[middle - 1] + values[middle]) / 2.0
    } else {
        values[middle]
    }
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
