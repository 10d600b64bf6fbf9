//! PostgreSQL LISTEN: a thread of its own on a direct connection (never a pooled one, which
//! would serve other queries between notifications), woken by every committed NOTIFY on a
//! channel. SQLite deployments are one instance, so there is nothing to listen to there.
//! `spawn` wakes a caller per batch (the job worker); `spawn_with_payloads` hands each
//! notification's payload over (the alert events that live queue streams fan out).

use std::time::Duration;

use diesel::{Connection, RunQueryDsl};

use super::{Backend, DbError};

/// Calls `on_notify` after each batch of notifications on `channel`, until `stopped()` says
/// so; reconnects after errors (meanwhile the callers' polling covers). Returns `false`
/// without starting anything for SQLite.
pub fn spawn<F, S>(
    url: &str,
    channel: &'static str,
    on_notify: F,
    stopped: S,
) -> Result<bool, DbError>
where
    F: Fn() + Send + 'static,
    S: Fn() -> bool + Send + 'static,
{
    listen(
        url,
        channel,
        move |payloads: Vec<String>| {
            if !payloads.is_empty() {
                on_notify()
            }
        },
        |_| {},
        stopped,
    )
}

/// Calls `on_payload` with each notification's payload on `channel`, in the order PostgreSQL
/// delivered them (commit order), until `stopped()` says so; reconnects after errors (the
/// notifications of the gap are lost: callers replay from the database or poll). Returns
/// `false` without starting anything for SQLite. `on_listening(true)` is called each time
/// LISTEN is in place (after a reconnect too: the caller then catches up on the gap),
/// `on_listening(false)` when the connection is lost.
pub fn spawn_with_payloads<F, L, S>(
    url: &str,
    channel: &'static str,
    on_payload: F,
    on_listening: L,
    stopped: S,
) -> Result<bool, DbError>
where
    F: Fn(String) + Send + 'static,
    L: Fn(bool) + Send + 'static,
    S: Fn() -> bool + Send + 'static,
{
    listen(
        url,
        channel,
        move |payloads: Vec<String>| {
            for p in payloads {
                on_payload(p)
            }
        },
        on_listening,
        stopped,
    )
}

fn listen<F, L, S>(
    url: &str,
    channel: &'static str,
    on_batch: F,
    on_listening: L,
    stopped: S,
) -> Result<bool, DbError>
where
    F: Fn(Vec<String>) + Send + 'static,
    L: Fn(bool) + Send + 'static,
    S: Fn() -> bool + Send + 'static,
{
    if Backend::of_url(url)? == Backend::Sqlite {
        return Ok(false);
    }
    assert!(
        channel.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
        "a channel name is a plain identifier"
    );
    let url = url.to_string();
    std::thread::spawn(move || {
        while !stopped() {
            let mut conn = match diesel::PgConnection::establish(&url) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, channel, "LISTEN connection failed; polling only");
                    std::thread::sleep(Duration::from_secs(5));
                    continue;
                }
            };
            if diesel::sql_query(format!("LISTEN {channel}"))
                .execute(&mut conn)
                .is_err()
            {
                std::thread::sleep(Duration::from_secs(5));
                continue;
            }
            on_listening(true);
            'listen: while !stopped() {
                let mut batch = Vec::new();
                for n in conn.notifications_iter() {
                    match n {
                        Ok(n) => batch.push(n.payload),
                        Err(_) => break 'listen,
                    }
                }
                if !batch.is_empty() {
                    on_batch(batch);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            on_listening(false);
        }
    });
    Ok(true)
}
