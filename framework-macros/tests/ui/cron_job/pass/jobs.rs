use framework::cron::JobContext;
use framework::{DomainError, Inject, cron_job, module};

#[module]
pub struct Reports {}

#[derive(Debug, thiserror::Error, DomainError)]
pub enum ReportError {
    #[error("the report store is unavailable")]
    #[domain(internal, code = "REPORT_STORE_DOWN")]
    Unavailable,
}

#[cron_job(schedule = "0 */5 * * * *", singleton)]
async fn summarize(_reports: Inject<Reports>, _context: JobContext) -> Result<(), ReportError> {
    Ok(())
}

#[cron_job(schedule = "${REPORT_SCHEDULE}", overlap = "allow", timeout_secs = 30, singleton = false)]
async fn from_config() -> Result<(), ReportError> {
    Err(ReportError::Unavailable)
}

fn main() {}
