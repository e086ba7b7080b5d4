use framework::kafka_consumer;

#[kafka_consumer(topic = "articles.created", group = "projector")]
async fn on_created(id: u32) -> Result<(), framework::kafka::PublishError> {
    let _ = id;
    Ok(())
}

fn main() {}
