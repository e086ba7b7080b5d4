//! The built-in commands of every service binary.

use super::{App, Error, Result};

const USAGE: &str = "usage: <service> [serve|check|wiring|migrate|help]
  serve    run the service (default)
  check    validate the config and the wiring, without I/O; exit 1 with a report on failure
  wiring   list every module, binding, route and error code with file:line
  migrate  apply the embedded database migrations and exit";

/// What the command line asks for.
pub(crate) enum Command {
    Serve,
    Check,
    Wiring,
    Migrate,
    Help,
}

impl Command {
    pub(crate) fn parse(mut args: impl Iterator<Item = String>) -> Result<Command> {
        let command = match args.next().as_deref() {
            None | Some("serve") => Command::Serve,
            Some("check") => Command::Check,
            Some("wiring") => Command::Wiring,
            Some("migrate") => Command::Migrate,
            Some("help" | "-h" | "--help") => Command::Help,
            Some(other) => return Err(Error::Usage(format!("unknown command `{other}`\n{USAGE}"))),
        };
        match args.next() {
            Some(extra) => Err(Error::Usage(format!(
                "unexpected argument `{extra}`\n{USAGE}"
            ))),
            None => Ok(command),
        }
    }
}

impl App {
    /// Runs the command named by the process arguments (`serve` by default).
    pub async fn run(self) -> Result<()> {
        match Command::parse(std::env::args().skip(1))? {
            Command::Serve => {
                crate::telemetry::init(&self.config, self.tracing_layers());
                self.serve().await
            }
            Command::Check => {
                println!("wiring ok: {}", self.check()?);
                Ok(())
            }
            Command::Wiring => {
                print!("{}", self.wiring());
                self.check().map(drop)
            }
            Command::Migrate => {
                crate::telemetry::init(&self.config, self.tracing_layers());
                self.migrate().await
            }
            Command::Help => {
                println!("{USAGE}");
                Ok(())
            }
        }
    }
}
