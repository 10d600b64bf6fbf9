//! The `careline` command: one executable, one subcommand per role.
//!
//! Layer: wiring (the top: `main.rs` calls it). ARCHITECTURE.md maps the layers.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

use crate::catalog::{load_file, questionnaire_files};
use crate::config::Settings;
use crate::scoring::{self, AnswerSet};

#[derive(Debug, Parser)]
#[command(
    name = "careline",
    version,
    about = "Mental-health screening and triage for delivery riders"
)]
pub struct Cli {
    /// Folder of questionnaire files (overrides the `questionnaires.dir` setting).
    #[arg(long, global = true, value_name = "DIR")]
    pub questionnaires: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (API and pages); applies pending migrations first.
    Serve,
    /// Run the job worker only (pages, escalations, reminders, digests); applies pending
    /// migrations first. Any number may run against one PostgreSQL database.
    Worker,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Validate questionnaire files and run their examples; exit 1 on any error.
    Check {
        /// Files or folders to check (default: the configured questionnaire folder).
        paths: Vec<PathBuf>,
    },
    /// Score answers with a questionnaire and print the outcome as JSON.
    Score {
        /// The questionnaire id, e.g. phq9.
        id: String,
        /// The answers as a JSON object from item id to value, or - to read them from stdin.
        #[arg(long, value_name = "JSON")]
        answers: String,
        /// Print the JSON indented.
        #[arg(long)]
        pretty: bool,
    },
    /// Write a consistent snapshot of the SQLite database to PATH while the service runs
    /// (PATH must not exist). For PostgreSQL, use pg_dump.
    Backup {
        /// The new backup file.
        path: PathBuf,
    },
    /// Manage staff accounts.
    User {
        #[command(subcommand)]
        action: UserCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. The password is read from stdin (piped); with nothing piped in, one is
    /// generated and printed once.
    Add {
        #[arg(long)]
        email: String,
        /// The display name.
        #[arg(long)]
        name: String,
        /// counselor, supervisor or admin.
        #[arg(long)]
        role: String,
        /// A site the user serves (repeat for several; none means all sites).
        #[arg(long = "site", value_name = "SLUG")]
        sites: Vec<String>,
        /// zh-CN (default), zh-TW or en.
        #[arg(long)]
        locale: Option<String>,
        /// The user's mobile number in E.164 (`+8613800138000`), for SMS and voice pages.
        #[arg(long)]
        phone: Option<String>,
    },
}

/// Runs a parsed command. Returns the process exit code. `stdin` is `None` when it is a
/// terminal (nothing piped in).
pub fn run(
    cli: Cli,
    settings: &Settings,
    stdin: Option<&mut dyn Read>,
    out: &mut dyn Write,
) -> std::io::Result<u8> {
    let needs_questionnaires = matches!(
        cli.command,
        Command::Serve | Command::Score { .. } | Command::Check { .. }
    );
    let dir = match cli.questionnaires {
        Some(dir) => dir,
        None if needs_questionnaires
            && !matches!(&cli.command, Command::Check { paths } if !paths.is_empty()) =>
        {
            match crate::startup::questionnaire_dir(settings) {
                Ok(dir) => dir,
                Err(e) => {
                    writeln!(out, "error: {e}")?;
                    return Ok(1);
                }
            }
        }
        None => settings.questionnaires.dir.clone(),
    };
    match cli.command {
        Command::Serve => {
            let mut settings = settings.clone();
            settings.questionnaires.dir = dir;
            serve(settings, out)
        }
        Command::Worker => worker(settings.clone(), out),
        Command::Migrate => migrate(settings, out),
        Command::Backup { path } => backup(settings, &path, out),
        Command::Check { paths } => {
            let paths = if paths.is_empty() { vec![dir] } else { paths };
            check(&paths, out)
        }
        Command::Score {
            id,
            answers,
            pretty,
        } => score(&dir, &id, &answers, pretty, stdin, out),
        Command::User {
            action:
                UserCommand::Add {
                    email,
                    name,
                    role,
                    sites,
                    locale,
                    phone,
                },
        } => user_add(
            settings,
            crate::accounts::NewUser {
                email,
                name,
                role,
                sites,
                password: None,
                locale,
                phone,
            },
            stdin,
            out,
        ),
    }
}

fn user_add(
    settings: &Settings,
    mut new: crate::accounts::NewUser,
    stdin: Option<&mut dyn Read>,
    out: &mut dyn Write,
) -> std::io::Result<u8> {
    if let Some(stdin) = stdin {
        let mut text = String::new();
        if stdin.read_to_string(&mut text).is_err() {
            writeln!(out, "error: the password on stdin is not UTF-8 text")?;
            return Ok(1);
        }
        // One line: the trailing newline of `echo` is not part of the password.
        let password = text.strip_suffix('\n').unwrap_or(&text);
        let password = password.strip_suffix('\r').unwrap_or(password);
        if !password.is_empty() {
            new.password = Some(password.to_string());
        }
    }
    let result = crate::db::connect(&settings.database).and_then(|pool| {
        let mut conn = pool.get()?;
        crate::db::migrate(&mut conn)?;
        Ok(pool)
    });
    let pool = match result {
        Ok(pool) => pool,
        Err(e) => {
            writeln!(out, "error: {e}")?;
            return Ok(1);
        }
    };
    let mut conn = match pool.get() {
        Ok(c) => c,
        Err(e) => {
            writeln!(out, "error: {e}")?;
            return Ok(1);
        }
    };
    let who = crate::audit::Who {
        user_id: None,
        label: "cli".into(),
        ip: None,
    };
    match crate::accounts::create_user(&mut conn, &who, &new) {
        Ok((user, generated)) => {
            writeln!(
                out,
                "created {} {} ({})",
                user.role.as_str(),
                user.email,
                user.id
            )?;
            if let Some(p) = generated {
                writeln!(out, "password (shown once, keep it safe): {p}")?;
            }
            Ok(0)
        }
        Err(e) => {
            writeln!(out, "error: {e}")?;
            Ok(1)
        }
    }
}

fn serve(settings: Settings, out: &mut dyn Write) -> std::io::Result<u8> {
    let result = actix_web::rt::System::new().block_on(async move {
        let app = crate::startup::Application::build(settings).await?;
        tracing::info!(port = app.port(), "careline is listening");
        app.run_until_stopped()
            .await
            .map_err(|e| crate::startup::StartupError::Bind("server".into(), e))
    });
    match result {
        Ok(()) => Ok(0),
        Err(e) => {
            writeln!(out, "error: {e}")?;
            Ok(1)
        }
    }
}

fn worker(settings: Settings, out: &mut dyn Write) -> std::io::Result<u8> {
    let result = actix_web::rt::System::new().block_on(async move {
        let pool = crate::db::connect_and_migrate(&settings.database)
            .await
            .map_err(|e| e.to_string())?;
        crate::startup::check_someone_is_paged(&settings, &pool)
            .await
            .map_err(|e| e.to_string())?;
        crate::startup::check_channel_sites(&settings, &pool)
            .await
            .map_err(|e| e.to_string())?;
        let worker = crate::jobs::worker::Worker::new(
            settings,
            pool,
            std::sync::Arc::new(tokio::sync::Notify::new()),
            // A worker process has no HTTP port: its metrics are not scraped (the web
            // instances report everything read from the database).
            std::sync::Arc::new(crate::metrics::Metrics::new()),
        )?;
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let running = tokio::spawn(std::sync::Arc::new(worker).run(stopping));
        // SIGTERM or Ctrl-C: stop claiming, let running jobs finish, exit.
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("stopping the worker");
        let _ = stop.send(true);
        running.await.map_err(|e| e.to_string())
    });
    match result {
        Ok(()) => Ok(0),
        Err(e) => {
            writeln!(out, "error: {e}")?;
            Ok(1)
        }
    }
}

fn backup(settings: &Settings, path: &Path, out: &mut dyn Write) -> std::io::Result<u8> {
    match crate::db::backup::backup_sqlite(&settings.database, path) {
        Ok(s) => {
            writeln!(
                out,
                "backup written to {} ({} bytes, {} screenings); to restore, stop careline and copy it over the database file (remove any -wal and -shm files beside it)",
                s.path.display(),
                s.bytes,
                s.screenings
            )?;
            Ok(0)
        }
        Err(e) => {
            writeln!(out, "error: {e}")?;
            Ok(1)
        }
    }
}

fn migrate(settings: &Settings, out: &mut dyn Write) -> std::io::Result<u8> {
    let result = crate::db::connect(&settings.database).and_then(|pool| {
        let mut conn = pool.get()?;
        crate::db::migrate(&mut conn)
    });
    match result {
        Ok(applied) if applied.is_empty() => {
            writeln!(out, "the database is up to date")?;
            Ok(0)
        }
        Ok(applied) => {
            for m in applied {
                writeln!(out, "applied {m}")?;
            }
            Ok(0)
        }
        Err(e) => {
            writeln!(out, "error: {e}")?;
            Ok(1)
        }
    }
}

fn check(paths: &[PathBuf], out: &mut dyn Write) -> std::io::Result<u8> {
    let mut files = Vec::new();
    let mut failed = 0usize;
    for p in paths {
        if p.is_dir() {
            match questionnaire_files(p) {
                Ok(found) if found.is_empty() => {
                    writeln!(
                        out,
                        "{}: no questionnaire files (*.toml) in this folder",
                        p.display()
                    )?;
                    failed += 1;
                }
                Ok(found) => files.extend(found),
                Err(e) => {
                    writeln!(out, "{}: cannot read the folder: {e}", p.display())?;
                    failed += 1;
                }
            }
        } else if p.exists() {
            files.push(p.clone());
        } else {
            writeln!(out, "{}: no such file or folder", p.display())?;
            failed += 1;
        }
    }
    let mut ok = 0usize;
    for f in &files {
        match load_file(f) {
            Ok(q) => {
                ok += 1;
                // Sensitive items are named: the author sees which ones bring the soft prompt.
                let sensitive: Vec<&str> = q
                    .items
                    .iter()
                    .filter(|i| i.sensitive)
                    .map(|i| i.id.as_str())
                    .collect();
                let sensitive = if sensitive.is_empty() {
                    String::new()
                } else {
                    format!(", sensitive: {}", sensitive.join(" "))
                };
                writeln!(
                    out,
                    "{}: ok {} {} ({} items, {} examples{sensitive})",
                    f.display(),
                    q.id,
                    q.version,
                    q.items.len(),
                    q.examples.len()
                )?;
            }
            Err(diags) => {
                failed += 1;
                for d in diags {
                    writeln!(out, "{d}")?;
                }
            }
        }
    }
    writeln!(out, "{ok} ok, {failed} failed")?;
    Ok(u8::from(failed > 0))
}

fn score(
    dir: &Path,
    id: &str,
    answers: &str,
    pretty: bool,
    stdin: Option<&mut dyn Read>,
    out: &mut dyn Write,
) -> std::io::Result<u8> {
    let available = || -> String {
        questionnaire_files(dir)
            .unwrap_or_default()
            .iter()
            .filter_map(|p| p.file_stem().and_then(|s| s.to_str()).map(str::to_string))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let path = dir.join(format!("{id}.toml"));
    let valid_id = !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid_id || !path.is_file() {
        writeln!(
            out,
            "error: unknown questionnaire `{id}` in {}; available: {}",
            dir.display(),
            available()
        )?;
        return Ok(1);
    }
    let q = match load_file(&path) {
        Ok(q) => q,
        Err(diags) => {
            writeln!(out, "error: {} has errors:", path.display())?;
            for d in diags {
                writeln!(out, "{d}")?;
            }
            return Ok(1);
        }
    };
    let text = if answers == "-" {
        let mut s = String::new();
        // Piped stdin comes in as `stdin`; a terminal is read directly (the caller holds no
        // lock on it then).
        let read = match stdin {
            Some(r) => r.read_to_string(&mut s),
            None => std::io::stdin().lock().read_to_string(&mut s),
        };
        if let Err(e) = read {
            writeln!(out, "error: cannot read the answers from stdin: {e}")?;
            return Ok(1);
        }
        s
    } else {
        answers.to_string()
    };
    match AnswerSet::parse_json(&q, &text) {
        Ok(set) => {
            let outcome = scoring::score(&set);
            let json = if pretty {
                serde_json::to_string_pretty(&outcome)
            } else {
                serde_json::to_string(&outcome)
            };
            writeln!(out, "{}", json.map_err(std::io::Error::other)?)?;
            Ok(0)
        }
        Err(invalid) => {
            writeln!(out, "error: invalid answers for {}:", q.id)?;
            for e in &invalid.0 {
                writeln!(out, "  {e}")?;
            }
            Ok(1)
        }
    }
}

/// Re-exported for tests that need to check the CLI definition.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_cli_definition_is_consistent() {
        super::command().debug_assert();
    }
}
