//! The only home of diesel: connections to SQLite or PostgreSQL from one binary, the pool,
//! migrations, and the store functions. Every difference between the two backends lives here.
//!
//! Diesel is synchronous: callers on the async runtime go through `web::block` /
//! `spawn_blocking`, never call these functions directly on a worker thread.
//!
//! Layer: storage (under the use cases; imports only the core and the vocabulary). ARCHITECTURE.md maps the layers.

pub mod abuse;
pub mod accounts;
pub mod alerts;
pub mod audit;
pub mod backup;
pub mod channels;
pub mod group_commit;
pub mod jobs;
pub mod listen;
pub mod questionnaires;
pub mod reports;
pub mod rosters;
pub mod schema;
pub mod screenings;

use std::path::Path;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::config::DatabaseSettings;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// A connection to either backend.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

impl std::fmt::Debug for AnyConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AnyConnection::Postgresql(_) => "AnyConnection::Postgresql",
            AnyConnection::Sqlite(_) => "AnyConnection::Sqlite",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database URL must start with sqlite:// or postgres://")]
    BadUrl,
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    /// A stored value (a job's payload, a copied policy) does not parse.
    #[error("a stored value does not parse: {0}")]
    Corrupt(String),
    #[error("no database connection available: {0}")]
    Pool(#[from] r2d2::Error),
    /// The group commit's batch this write was in could not be written (`group_commit`).
    #[error("the batch could not be written: {0}")]
    Batch(String),
}

impl DbError {
    /// The database cannot be reached now (no connection from the pool in time, the
    /// connection refused or lost, SQLite busy or its file not openable): worth a retry
    /// later, answered 503 with `Retry-After`, never a 500.
    pub fn is_unavailable(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        match self {
            DbError::Pool(_) | DbError::Connect(_) | DbError::Batch(_) => true,
            DbError::Query(Error::DatabaseError(kind, info)) => {
                matches!(
                    kind,
                    DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand
                ) || {
                    let m = info.message();
                    m.contains("database is locked")
                        || m.contains("unable to open database file")
                        || m.contains("terminating connection")
                        || m.contains("server closed the connection")
                }
            }
            _ => false,
        }
    }
}

pub type Pool = r2d2::Pool<Manager>;
pub type PooledConn = r2d2::PooledConnection<Manager>;

/// Opens connections of the backend its URL names. Picking the backend here, rather than
/// letting `MultiConnection` try each in turn, keeps a PostgreSQL error verbatim.
#[derive(Debug, Clone)]
pub struct Manager {
    backend: Backend,
    target: String,
    busy_timeout: Duration,
}

impl Backend {
    /// The backend a database URL names.
    pub fn of_url(url: &str) -> Result<Backend, DbError> {
        if url.starts_with("sqlite://") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(DbError::BadUrl)
        }
    }
}

impl Manager {
    pub fn new(url: &str, busy_timeout: Duration) -> Result<Self, DbError> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            Ok(Manager {
                backend: Backend::Sqlite,
                target: path.to_string(),
                busy_timeout,
            })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Manager {
                backend: Backend::Postgres,
                target: url.to_string(),
                busy_timeout,
            })
        } else {
            Err(DbError::BadUrl)
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = AnyConnection;
    type Error = diesel::ConnectionError;

    fn connect(&self) -> Result<AnyConnection, Self::Error> {
        match self.backend {
            Backend::Postgres => {
                diesel::PgConnection::establish(&self.target).map(AnyConnection::Postgresql)
            }
            Backend::Sqlite => {
                let mut conn = diesel::SqliteConnection::establish(&self.target)?;
                // WAL for concurrent readers; FULL so a screening answered 201 survives a power
                // cut; foreign keys are off by default in SQLite.
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
                    self.busy_timeout.as_millis()
                ))
                .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
                Ok(AnyConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), Self::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))
    }

    /// As diesel's own manager: a connection given back during a panic, or still inside a
    /// transaction, is dropped. Reused, its next transaction would be a mere savepoint of the
    /// one left open, and what it wrote would never be committed.
    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        std::thread::panicking() || diesel::r2d2::R2D2Connection::is_broken(conn)
    }
}

/// Builds the pool and checks that one connection can be made, so a wrong URL or a database
/// that is down is reported at start with the database's own words.
pub fn connect(settings: &DatabaseSettings) -> Result<Pool, DbError> {
    let manager = Manager::new(&settings.url, settings.timeout)?;
    if manager.backend == Backend::Sqlite
        && let Some(parent) = Path::new(&manager.target).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .map_err(|e| DbError::Connect(format!("{}: {e}", parent.display())))?;
    }
    // One direct connection first: r2d2 would only say "timed out waiting for connection".
    r2d2::ManageConnection::connect(&manager).map_err(|e| DbError::Connect(e.to_string()))?;
    r2d2::Pool::builder()
        .max_size(settings.pool_size)
        .connection_timeout(settings.timeout)
        .build(manager)
        .map_err(|e| DbError::Connect(e.to_string()))
}

/// Applies pending migrations of the connection's backend; returns their names.
pub fn migrate(conn: &mut AnyConnection) -> Result<Vec<String>, DbError> {
    let applied = match conn {
        AnyConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS),
        AnyConnection::Postgresql(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS),
    }
    .map_err(|e| DbError::Migration(e.to_string()))?;
    Ok(applied.iter().map(ToString::to_string).collect())
}

pub fn backend_of(conn: &AnyConnection) -> Backend {
    match conn {
        AnyConnection::Sqlite(_) => Backend::Sqlite,
        AnyConnection::Postgresql(_) => Backend::Postgres,
    }
}

/// Whether the database answers.
pub fn ping(conn: &mut AnyConnection) -> bool {
    conn.batch_execute("SELECT 1").is_ok()
}

impl DbError {
    /// A unique key refused the row (a second enqueue, a taken email or reference).
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, DbError::Query(e) if is_unique_violation(e))
    }
}

/// For store functions that look at diesel's own error before it becomes a `DbError`.
fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

/// Runs `f` in a transaction that takes the write lock at once. On SQLite a plain (deferred)
/// transaction that reads before it writes cannot wait for a concurrent writer: it fails with
/// "database is locked" instead. `BEGIN IMMEDIATE` waits (busy_timeout) before any read.
/// PostgreSQL needs nothing special.
pub fn write_transaction<T, E, F>(conn: &mut AnyConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut AnyConnection) -> Result<T, E>,
    E: From<DbError>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    type Manager = <AnyConnection as Connection>::TransactionManager;
    match conn {
        AnyConnection::Postgresql(_) => Manager::begin_transaction(conn),
        AnyConnection::Sqlite(c) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")
        }
    }
    .map_err(DbError::from)?;
    // As diesel's own `Connection::transaction`.
    match f(conn) {
        Ok(value) => {
            Manager::commit_transaction(conn).map_err(DbError::from)?;
            Ok(value)
        }
        Err(e) => match Manager::rollback_transaction(conn) {
            Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(e),
            Err(rollback) => Err(DbError::from(rollback).into()),
        },
    }
}

/// Connects and applies pending migrations, on the blocking pool: for async callers (the
/// service's start, `careline migrate`, tests).
pub async fn connect_and_migrate(settings: &DatabaseSettings) -> Result<Pool, DbError> {
    let settings = settings.clone();
    tokio::task::spawn_blocking(move || -> Result<Pool, DbError> {
        let pool = connect(&settings)?;
        let mut conn = pool.get()?;
        for m in migrate(&mut conn)? {
            tracing::info!(migration = %m, "migration applied");
        }
        Ok(pool)
    })
    .await
    .map_err(|e| DbError::Connect(e.to_string()))?
}
