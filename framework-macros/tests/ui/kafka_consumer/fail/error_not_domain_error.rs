use framework::kafka::Payload;
use framework::kafka_consumer;

#[kafka_consumer(topic = "articles.created", group = "projector")]
async fn on_created(_payload: Payload) -> Result<(), String> {
    Ok(())
}

fn main() {}
