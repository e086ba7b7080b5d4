use framework::axum::Json;
use framework::kafka_consumer;

pub struct Created {
    pub id: u32,
}

#[kafka_consumer(topic = "articles.created", group = "projector")]
async fn on_created(Json(_event): Json<Created>) -> Result<(), framework::kafka::PublishError> {
    Ok(())
}

fn main() {}
