//! `careline backup PATH`: a consistent snapshot of a live SQLite database, taken with
//! `VACUUM INTO` (one read transaction: writers carry on under WAL, and the copy holds exactly
//! what was committed when it began). Written to a temporary file beside PATH, checked with
//! `PRAGMA quick_check`, synced, then linked into place, so PATH is either absent or a whole,
//! verified snapshot; it never replaces an existing file. PostgreSQL is backed up with its own
//! tool, `pg_dump`.

use std::path::{Path, PathBuf};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;

use super::{AnyConnection, Backend, DbError};
use crate::config::DatabaseSettings;

/// What a backup wrote.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub path: PathBuf,
    pub bytes: u64,
    pub screenings: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "the database is PostgreSQL: careline backup copies SQLite files only. Back it up with \
         PostgreSQL's own tool, e.g.\n  pg_dump --format=custom --file=careline.dump \"$CARELINE__DATABASE__URL\"\n\
         (restore into a new, empty database: pg_restore --no-owner --dbname=\"$CARELINE__DATABASE__URL\" careline.dump)"
    )]
    Postgres,
    #[error("{0} already exists: a backup never overwrites a file; name a new one")]
    Exists(String),
    #[error("no SQLite database at {0} (check database.url)")]
    NoDatabase(String),
    #[error("cannot write the backup {path}: {message}")]
    Write { path: String, message: String },
    #[error("the snapshot failed SQLite's integrity check ({0}); nothing was written")]
    Check(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

#[derive(QueryableByName)]
struct CheckRow {
    #[diesel(sql_type = Text)]
    quick_check: String,
}

/// Snapshots the configured SQLite database into `dest`, which must not exist.
pub fn backup_sqlite(settings: &DatabaseSettings, dest: &Path) -> Result<Snapshot, BackupError> {
    if Backend::of_url(&settings.url)? == Backend::Postgres {
        return Err(BackupError::Postgres);
    }
    let source = settings
        .url
        .strip_prefix("sqlite://")
        .ok_or(DbError::BadUrl)?;
    if !Path::new(source).is_file() {
        return Err(BackupError::NoDatabase(source.to_string()));
    }
    if dest.symlink_metadata().is_ok() {
        return Err(BackupError::Exists(dest.display().to_string()));
    }
    let write_error = |message: String| BackupError::Write {
        path: dest.display().to_string(),
        message,
    };
    let name = dest
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| write_error("not a file name".into()))?;
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return Err(write_error(format!(
            "{} is not an existing folder",
            parent.display()
        )));
    }
    let tmp = parent.join(format!(".{name}.partial-{}", uuid::Uuid::new_v4().simple()));
    let tmp_str = tmp
        .to_str()
        .ok_or_else(|| write_error("the path is not UTF-8".into()))?
        .to_string();
    let shown = dest.display().to_string();
    let result = snapshot_to(source, &tmp_str, &shown, settings.timeout).and_then(|screenings| {
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| write_error(e.to_string()))?;
        // No-clobber: a link fails if the name appeared meanwhile.
        match std::fs::hard_link(&tmp, dest) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(BackupError::Exists(dest.display().to_string()));
            }
            Err(e) => return Err(write_error(e.to_string())),
        }
        if let Ok(dir) = std::fs::File::open(&parent) {
            let _ = dir.sync_all();
        }
        Ok(screenings)
    });
    let _ = std::fs::remove_file(&tmp);
    let screenings = result?;
    let bytes = std::fs::metadata(dest)
        .map_err(|e| write_error(e.to_string()))?
        .len();
    Ok(Snapshot {
        path: dest.to_path_buf(),
        bytes,
        screenings,
    })
}

/// `VACUUM INTO tmp`, then checks the copy; returns how many screenings it holds.
fn snapshot_to(
    source: &str,
    tmp: &str,
    shown: &str,
    busy_timeout: std::time::Duration,
) -> Result<i64, BackupError> {
    let write_error = |e: diesel::result::Error| BackupError::Write {
        path: shown.to_string(),
        message: e.to_string(),
    };
    let mut conn =
        diesel::SqliteConnection::establish(source).map_err(|e| DbError::Connect(e.to_string()))?;
    conn.batch_execute(&format!(
        "PRAGMA busy_timeout = {};",
        busy_timeout.as_millis()
    ))
    .map_err(DbError::from)?;
    diesel::sql_query("VACUUM INTO ?")
        .bind::<Text, _>(tmp)
        .execute(&mut conn)
        .map_err(write_error)?;
    drop(conn);
    let mut copy =
        diesel::SqliteConnection::establish(tmp).map_err(|e| DbError::Connect(e.to_string()))?;
    let rows: Vec<CheckRow> = diesel::sql_query("PRAGMA quick_check")
        .load(&mut copy)
        .map_err(DbError::from)?;
    let problems: Vec<String> = rows
        .into_iter()
        .map(|r| r.quick_check)
        .filter(|r| r != "ok")
        .collect();
    if !problems.is_empty() {
        return Err(BackupError::Check(problems.join("; ")));
    }
    let mut any = AnyConnection::Sqlite(copy);
    Ok(super::screenings::count(&mut any)?)
}
