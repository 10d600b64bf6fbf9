//! PostgreSQL LISTEN: a thread of its own on a direct connection (never a pooled one, which
//! would serve other queries between notifications), woken by every committed NOTIFY on a
//! channel. SQLite deployments are one instance, so there is nothing to listen to there.

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
            'listen: while !stopped() {
                let mut woke = false;
                for n in conn.notifications_iter() {
                    match n {
                        Ok(_) => woke = true,
                        Err(_) => break 'listen,
                    }
                }
                if woke {
                    on_notify();
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    });
    Ok(true)
}
