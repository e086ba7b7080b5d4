use framework::{DomainError, cron_job};

#[derive(Debug, thiserror::Error, DomainError)]
pub enum Failed {
    #[error("failed")]
    #[domain(internal)]
    Broken,
}

#[cron_job(schedule = "0 * * * * *")]
async fn purge(days: u32) -> Result<(), Failed> {
    let _ = days;
    Ok(())
}

fn main() {}
