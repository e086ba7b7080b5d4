use framework::{DomainError, cron_job};

#[derive(Debug, thiserror::Error, DomainError)]
pub enum Failed {
    #[error("failed")]
    #[domain(internal)]
    Broken,
}

// Five fields: the seconds are missing.
#[cron_job(schedule = "*/5 * * * *")]
async fn purge() -> Result<(), Failed> {
    Ok(())
}

// Six fields, but there is no 61st second.
#[cron_job(schedule = "61 * * * * *")]
async fn never() -> Result<(), Failed> {
    Ok(())
}

fn main() {}
