//! A cache hit through `Cache::get` versus a direct fred `GET` plus serde decode of the same
//! key, on the real Redis of `REDIS_URL`, in alternating rounds of sequential reads. Prints
//! the mean latency of each and the ratio.
//!
//! Run with `REDIS_URL=redis://127.0.0.1:6379 cargo bench -p framework --bench cache`
//! (env: BENCH_READS, BENCH_ROUNDS).

#![allow(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use framework::breaker::{Breaker, BreakerConfig};
use framework::cache::{Cache, RedisStore};
use fred::bytes::Bytes;
use fred::prelude::{ClientLike, Config, KeysInterface};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
pub struct Article {
    id: String,
    name: String,
    description: String,
    created_at: String,
    updated_at: String,
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Mean latency of `reads` sequential reads.
async fn time<F, Fut>(reads: u64, read: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Article>,
{
    let started = Instant::now();
    for _ in 0..reads {
        std::hint::black_box(read().await);
    }
    started.elapsed() / reads as u32
}

#[tokio::main]
async fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    let url = std::env::var("REDIS_URL").unwrap_or_default();
    if !url.starts_with("redis://") {
        assert!(
            !measuring,
            "set REDIS_URL=redis://host:port of a running Redis"
        );
        println!("cache bench: no REDIS_URL Redis; nothing to measure");
        return;
    }
    let (reads, rounds) = if measuring {
        (env("BENCH_READS", 20_000), env("BENCH_ROUNDS", 6))
    } else {
        (200, 1)
    };

    let cache = Cache::new(
        Arc::new(
            RedisStore::connect(&url, Breaker::new("redis", BreakerConfig::default()))
                .await
                .unwrap(),
        ),
        "bench",
    );
    let article = Article {
        id: uuid::Uuid::new_v4().to_string(),
        name: "A cached article".into(),
        description: "What a service keeps in its cache: a row of a few fields.".into(),
        created_at: "2026-11-25T09:00:00.000000Z".into(),
        updated_at: "2026-11-25T09:00:00.000000Z".into(),
    };
    cache
        .set("article", &article, Duration::from_secs(600))
        .await;
    assert!(
        cache.get::<Article>("article").await.is_some(),
        "the value is cached"
    );

    // What a hand-wiring user writes: a fred client, GET, decode.
    let client = fred::clients::Client::new(Config::from_url(&url).unwrap(), None, None, None);
    client.init().await.unwrap();
    let direct = || async {
        let bytes: Bytes = client.get("bench:article").await.unwrap();
        serde_json::from_slice::<Article>(&bytes).unwrap()
    };
    let through_cache = || async { cache.get::<Article>("article").await.unwrap() };

    // Warm both paths up.
    time(reads / 10, direct).await;
    time(reads / 10, through_cache).await;
    let (mut cached, mut hand) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let (c, h) = if round % 2 == 0 {
            let c = time(reads, through_cache).await;
            (c, time(reads, direct).await)
        } else {
            let h = time(reads, direct).await;
            (time(reads, through_cache).await, h)
        };
        println!(
            "round {}: Cache::get {c:>9.2?}, fred GET + decode {h:>9.2?}",
            round + 1
        );
        cached.push(c);
        hand.push(h);
    }
    let median = |mut times: Vec<Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    let (c, h) = (median(cached), median(hand));
    println!("{reads} sequential hits per round, {rounds} rounds (medians):");
    println!("  Cache::get               {c:>9.2?}");
    println!("  fred GET + serde decode  {h:>9.2?}");
    println!(
        "  ratio (cache / direct): {:.3} (target <= 1.10)",
        c.as_secs_f64() / h.as_secs_f64()
    );
    if !measuring {
        println!("  (smoke run of a debug build: use `cargo bench` for figures)");
    }
    client.quit().await.unwrap();
}
