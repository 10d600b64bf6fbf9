use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use careline::cli::{self, Cli};
use careline::config::Settings;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e}");
            return ExitCode::from(1);
        }
    };
    careline::telemetry::init(&settings.log);
    let mut stdout = std::io::stdout().lock();
    match cli::run(cli, &settings, &mut std::io::stdin().lock(), &mut stdout) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e}");
            ExitCode::from(1)
        }
    }
}
