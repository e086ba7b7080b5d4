use framework::kafka::Payload;
use framework::kafka_consumer;

#[kafka_consumer(topic = "articles.created", group = "projector", partitions = 3)]
async fn on_created(_payload: Payload) -> Result<(), framework::kafka::PublishError> {
    Ok(())
}

fn main() {}
