//! The connection pool never hands out a connection that a failure left inside a transaction.

use std::time::Duration;

use diesel::Connection;

use crate::helpers::{Backend, RED, created, phq9_body, spawn_app};

/// Screenings committed, counted on a connection of its own (outside the application's pool).
async fn committed_screenings(url: &str) -> i64 {
    let manager = careline::db::Manager::new(url, Duration::from_secs(5)).expect("a database URL");
    tokio::task::spawn_blocking(move || {
        let mut conn = r2d2::ManageConnection::connect(&manager).expect("connect");
        careline::db::screenings::count(&mut conn).expect("count")
    })
    .await
    .expect("the count ran")
}

async fn a_connection_left_inside_a_transaction_is_not_reused(backend: Backend) {
    let app = spawn_app(backend).await;
    let pool = app.state.pool.clone();
    // A bug (here a panic) while a transaction is open: diesel neither commits nor rolls
    // back, and the connection goes back to the pool as it is unwound.
    let crashed = tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().expect("a connection");
        let _: Result<(), diesel::result::Error> = conn
            .transaction(|_| panic!("a bug while a transaction is open (expected by this test)"));
    })
    .await;
    assert!(crashed.is_err());

    // Submissions after it are answered 201, so they must be committed, for everyone to see.
    for _ in 0..3 {
        created(app.post_screening(&phq9_body(RED)).await).await;
    }
    assert_eq!(committed_screenings(app.database_url()).await, 3);
}

backend_tests!(a_connection_left_inside_a_transaction_is_not_reused);
