//! A consumer whose handler needs a dependency that is known to be down (its circuit breaker
//! refuses): the record waits for the dependency instead of spending its retries and going
//! to the dead-letter topic. On the in-process broker.

use std::sync::Mutex;
use std::time::Duration;

use framework::axum::Json;
use framework::breaker::CircuitOpen;
use framework::kafka::{Outgoing, Transport};
use framework::testing::TestApp;
use framework::{DomainError, Inject, kafka_consumer, module};
use framework_test_support::eventually;

/// How many times the dependency refuses before it is back: more than the retries.
const REFUSALS: usize = 6;

#[derive(Debug, thiserror::Error, DomainError)]
pub enum StockError {
    #[error("the stock service is down")]
    #[domain(internal, code = "STOCK_DOWN")]
    Down(#[source] CircuitOpen),
}

/// The handler's attempts, and what it handled.
#[module]
pub struct Stock {
    #[state]
    attempts: Mutex<usize>,
    #[state]
    handled: Mutex<Vec<u32>>,
}

#[kafka_consumer(
    topic = "${STOCK_TOPIC}",
    group = "stock",
    retries = 2,
    backoff_ms = 10
)]
async fn reserve(Json(item): Json<u32>, stock: Inject<Stock>) -> Result<(), StockError> {
    let attempt = {
        let mut attempts = stock.attempts.lock().unwrap();
        *attempts += 1;
        *attempts
    };
    if attempt <= REFUSALS {
        return Err(StockError::Down(CircuitOpen {
            breaker: "stock",
            retry_after: Duration::from_millis(50),
        }));
    }
    stock.handled.lock().unwrap().push(item);
    Ok(())
}

#[tokio::test]
async fn a_record_refused_by_an_open_breaker_waits_instead_of_being_dead_lettered() {
    let topic = format!("stock-{}", uuid::Uuid::new_v4().simple());
    let app = TestApp::start(&[
        ("DATABASE_URL", ""),
        ("KAFKA_BROKERS", &format!("memory://{topic}")),
        ("KAFKA_CREATE_TOPICS", "true"),
        ("STOCK_TOPIC", topic.as_str()),
    ])
    .await
    .expect("the app starts");
    let transport = app.running().component::<dyn Transport>().unwrap();
    transport
        .send(Outgoing {
            topic: topic.clone(),
            key: Some(b"item".to_vec()),
            payload: Some(b"7".to_vec()),
            headers: Vec::new(),
        })
        .await
        .expect("sent");
    let stock = app.running().component::<Stock>().unwrap();
    eventually("the record handled", Duration::from_secs(10), || async {
        !stock.handled.lock().unwrap().is_empty()
    })
    .await;
    assert_eq!(*stock.handled.lock().unwrap(), [7]);
    // Refused 6 times with 2 retries: none of the refusals spent one (else the third
    // attempt's failure would have dead-lettered it, unhandled).
    assert_eq!(*stock.attempts.lock().unwrap(), REFUSALS + 1);
    app.shutdown().await.unwrap();
}
