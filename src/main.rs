//! The `careline` binary: reads its arguments and standard input, and hands them to `cli`.

use std::io::{IsTerminal, Read, Write};
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
    let mut stdin = std::io::stdin().lock();
    let piped: Option<&mut dyn Read> = if std::io::stdin().is_terminal() {
        None
    } else {
        Some(&mut stdin)
    };
    match cli::run(cli, &settings, piped, &mut stdout) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e}");
            ExitCode::from(1)
        }
    }
}
