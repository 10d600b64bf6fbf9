//! Sign-in throttling, per client address and per account: a few wrong passwords are free;
//! after that each attempt (right or wrong: the answer must not reveal which) waits a delay
//! that doubles with every further failure, up to a ceiling. Failures are forgotten after the
//! ceiling has passed without one. A successful sign-in clears its account's count only (not
//! the address's: else signing in to an account one owns would reset the count of guesses at
//! someone else's).
//!
//! The counts live in the database (`login_failures`), so every instance sharing it applies
//! one limit (DESIGN.md section 9).

use std::time::Duration;

use chrono::NaiveDateTime;

use crate::db::{AnyConnection, DbError, accounts as store};

#[derive(Debug)]
pub struct LoginThrottle {
    free: u32,
    delay: Duration,
    max_delay: Duration,
}

fn chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::minutes(15))
}

impl LoginThrottle {
    pub fn new(free: u32, delay: Duration, max_delay: Duration) -> Self {
        LoginThrottle {
            free,
            delay,
            max_delay,
        }
    }

    /// How long an attempt must still wait after `count` failures, the last at `last`.
    fn wait_for(&self, count: u32, last: NaiveDateTime, now: NaiveDateTime) -> Option<Duration> {
        if count < self.free || now - last >= chrono(self.max_delay) {
            return None;
        }
        let doublings = (count - self.free).min(20);
        let delay = self
            .delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay);
        let until = last + chrono(delay);
        (until > now).then(|| (until - now).to_std().unwrap_or(Duration::from_secs(1)))
    }

    /// `Ok(Err(wait))` when an attempt for any of `keys` must wait.
    pub fn check(
        &self,
        conn: &mut AnyConnection,
        keys: &[String],
        now: NaiveDateTime,
    ) -> Result<Result<(), Duration>, DbError> {
        let wait = store::login_failures(conn, keys)?
            .into_iter()
            .filter_map(|(_, count, last)| {
                self.wait_for(u32::try_from(count).unwrap_or(0), last, now)
            })
            .max();
        Ok(match wait {
            Some(w) => Err(w),
            None => Ok(()),
        })
    }

    /// One more failure for each key (a count older than the ceiling starts again at 1).
    pub fn failed(
        &self,
        conn: &mut AnyConnection,
        keys: &[String],
        now: NaiveDateTime,
    ) -> Result<(), DbError> {
        let forget_before = now - chrono(self.max_delay);
        for k in keys {
            store::add_login_failure(conn, k, now, forget_before)?;
        }
        Ok(())
    }

    /// A successful sign-in: the account's count is cleared (the address's stays).
    pub fn succeeded(&self, conn: &mut AnyConnection, account_key: &str) -> Result<(), DbError> {
        store::clear_login_failures(conn, account_key)
    }

    /// Forgets failures older than the ceiling (they no longer count).
    pub fn purge(&self, conn: &mut AnyConnection, now: NaiveDateTime) -> Result<usize, DbError> {
        store::delete_login_failures_before(conn, now - chrono(self.max_delay))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000 + s, 0)
            .unwrap()
            .naive_utc()
    }

    #[test]
    fn five_failures_are_free_then_delays_double_up_to_the_ceiling() {
        let t = LoginThrottle::new(5, Duration::from_secs(30), Duration::from_secs(900));
        assert_eq!(t.wait_for(4, at(0), at(0)), None);
        assert_eq!(t.wait_for(5, at(0), at(0)), Some(Duration::from_secs(30)));
        assert_eq!(t.wait_for(5, at(0), at(31)), None);
        assert_eq!(t.wait_for(6, at(0), at(0)), Some(Duration::from_secs(60)));
        assert_eq!(t.wait_for(16, at(0), at(0)), Some(Duration::from_secs(900)));
        // Forgotten once the ceiling has passed without a failure.
        assert_eq!(t.wait_for(16, at(0), at(900)), None);
    }
}
