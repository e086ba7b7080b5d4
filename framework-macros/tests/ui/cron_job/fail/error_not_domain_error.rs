use framework::cron_job;

#[cron_job(schedule = "0 * * * * *")]
async fn purge() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
