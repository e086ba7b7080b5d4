use framework::kafka::Payload;
use framework::kafka_consumer;

#[kafka_consumer(topic = "t", group = "g", idempotent = 1, idempotent)]
async fn on_created(_payload: Payload) -> Result<(), framework::kafka::PublishError> {
    Ok(())
}

fn main() {}
