use framework::{DomainError, cron_job};

#[derive(Debug, thiserror::Error, DomainError)]
pub enum Failed {
    #[error("failed")]
    #[domain(internal)]
    Broken,
}

#[cron_job(schedule = "0 * * * * *", overlap = "queue")]
async fn purge() -> Result<(), Failed> {
    Ok(())
}

fn main() {}
