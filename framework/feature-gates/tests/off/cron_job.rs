#[derive(Debug, thiserror::Error, framework::DomainError)]
pub enum Never {
    #[error("never")]
    #[domain(internal)]
    Never,
}

#[framework::cron_job(schedule = "0 * * * * *")]
async fn every_minute() -> Result<(), Never> {
    Ok(())
}

fn main() {}
