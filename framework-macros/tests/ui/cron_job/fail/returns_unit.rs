use framework::cron_job;

#[cron_job(schedule = "0 * * * * *")]
async fn purge() {}

fn main() {}
