//! The mirrored migration folders, and that every migration can be reverted and reapplied.

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel_migrations::{FileBasedMigrations, MigrationHarness};

use crate::helpers::{Backend, TestDb, root};

/// Migration name -> the files in it.
fn migrations(backend: &str) -> BTreeMap<String, Vec<String>> {
    let dir = root().join("migrations").join(backend);
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_dir())
        .map(|p| {
            let mut files: Vec<String> = std::fs::read_dir(&p)
                .expect("a migration folder")
                .map(|f| {
                    f.expect("a file")
                        .file_name()
                        .to_string_lossy()
                        .into_owned()
                })
                .collect();
            files.sort();
            (
                p.file_name()
                    .expect("a name")
                    .to_string_lossy()
                    .into_owned(),
                files,
            )
        })
        .collect()
}

#[test]
fn both_backends_have_the_same_migrations() {
    let sqlite = migrations("sqlite");
    let postgres = migrations("postgres");
    assert!(!sqlite.is_empty());
    assert_eq!(
        sqlite.keys().collect::<Vec<_>>(),
        postgres.keys().collect::<Vec<_>>(),
        "migrations/sqlite and migrations/postgres list the same migrations"
    );
    for (name, files) in sqlite.iter().chain(&postgres) {
        assert_eq!(files, &["down.sql", "up.sql"], "{name}");
    }
}

async fn migrations_revert_and_reapply(backend: Backend) {
    let db = TestDb::create(&backend).await;
    let url = db.url.clone();
    tokio::task::spawn_blocking(move || {
        let sqlite = !url.starts_with("postgres");
        let folder = root()
            .join("migrations")
            .join(if sqlite { "sqlite" } else { "postgres" });
        let source = FileBasedMigrations::from_path(&folder).expect("the migration folder");
        let count = migrations(if sqlite { "sqlite" } else { "postgres" }).len();
        if sqlite {
            let path = url.strip_prefix("sqlite://").expect("a sqlite URL");
            let mut conn = diesel::SqliteConnection::establish(path).expect("connect");
            cycle(&mut conn, &source, count);
        } else {
            let mut conn = diesel::PgConnection::establish(&url).expect("connect");
            cycle(&mut conn, &source, count);
        }
    })
    .await
    .expect("the migrations ran");
    drop(db);
}

fn cycle<DB, C>(conn: &mut C, source: &FileBasedMigrations, count: usize)
where
    DB: diesel::backend::Backend,
    C: MigrationHarness<DB>,
    FileBasedMigrations: diesel::migration::MigrationSource<DB>,
{
    let applied = conn.run_pending_migrations(source.clone()).expect("up");
    assert_eq!(applied.len(), count);
    let reverted = conn.revert_all_migrations(source.clone()).expect("down");
    assert_eq!(reverted.len(), count);
    let applied = conn
        .run_pending_migrations(source.clone())
        .expect("up again");
    assert_eq!(applied.len(), count);
}

backend_tests!(migrations_revert_and_reapply);
