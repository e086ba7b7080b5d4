#[derive(Debug, thiserror::Error, framework::DomainError)]
pub enum Never {
    #[error("never")]
    #[domain(internal)]
    Never,
}

#[framework::kafka_consumer(topic = "articles", group = "activity")]
async fn on_article() -> Result<(), Never> {
    Ok(())
}

fn main() {}
