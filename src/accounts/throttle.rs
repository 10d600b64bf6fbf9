//! Sign-in throttling, per client address and per account: a few wrong passwords are free;
//! after that each attempt (right or wrong: the answer must not reveal which) waits a delay
//! that doubles with every further failure, up to a ceiling. Failures are forgotten after the
//! ceiling has passed without one, and a successful sign-in clears them.
//!
//! In memory, per instance: several instances each apply the limit (the bound an attacker
//! gets is multiplied by the instance count, which is small).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys tracked at most; beyond it, stale entries are dropped (and if none are stale, the
/// oldest), so a flood of addresses cannot exhaust memory.
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

#[derive(Debug)]
pub struct LoginThrottle {
    free: u32,
    delay: Duration,
    max_delay: Duration,
    entries: Mutex<HashMap<String, Failures>>,
}

impl LoginThrottle {
    pub fn new(free: u32, delay: Duration, max_delay: Duration) -> Self {
        LoginThrottle {
            free,
            delay,
            max_delay,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn wait_for(&self, f: &Failures, now: Instant) -> Option<Duration> {
        if f.count < self.free {
            return None;
        }
        let doublings = (f.count - self.free).min(20);
        let delay = self
            .delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay);
        let until = f.last + delay;
        (until > now).then(|| until - now)
    }

    /// `Err(wait)` when an attempt for any of `keys` must wait.
    pub fn check(&self, keys: &[String], now: Instant) -> Result<(), Duration> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let wait = keys
            .iter()
            .filter_map(|k| entries.get(k))
            .filter_map(|f| self.wait_for(f, now))
            .max();
        match wait {
            Some(w) => Err(w),
            None => Ok(()),
        }
    }

    pub fn failed(&self, keys: &[String], now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() + keys.len() > MAX_KEYS {
            let max_delay = self.max_delay;
            entries.retain(|_, f| now.duration_since(f.last) < max_delay);
            if entries.len() + keys.len() > MAX_KEYS {
                entries.clear();
            }
        }
        for k in keys {
            let e = entries.entry(k.clone()).or_insert(Failures {
                count: 0,
                last: now,
            });
            if now.duration_since(e.last) >= self.max_delay {
                e.count = 0;
            }
            e.count += 1;
            e.last = now;
        }
    }

    pub fn succeeded(&self, keys: &[String]) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        for k in keys {
            entries.remove(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(ip: &str, email: &str) -> Vec<String> {
        vec![format!("ip:{ip}"), format!("account:{email}")]
    }

    #[test]
    fn five_failures_are_free_then_delays_double() {
        let t = LoginThrottle::new(5, Duration::from_secs(30), Duration::from_secs(900));
        let start = Instant::now();
        let k = keys("1.2.3.4", "a@x");
        for _ in 0..5 {
            assert!(t.check(&k, start).is_ok());
            t.failed(&k, start);
        }
        assert_eq!(t.check(&k, start), Err(Duration::from_secs(30)));
        // The same address with another account, and the same account from elsewhere, wait too.
        assert!(t.check(&keys("1.2.3.4", "b@x"), start).is_err());
        assert!(t.check(&keys("5.6.7.8", "a@x"), start).is_err());
        assert!(t.check(&keys("5.6.7.8", "b@x"), start).is_ok());
        let later = start + Duration::from_secs(31);
        assert!(t.check(&k, later).is_ok());
        t.failed(&k, later);
        assert_eq!(t.check(&k, later), Err(Duration::from_secs(60)));
        // Capped.
        let mut now = later;
        for _ in 0..10 {
            now += Duration::from_secs(1);
            t.failed(&k, now);
        }
        assert_eq!(t.check(&k, now), Err(Duration::from_secs(900)));
        t.succeeded(&k);
        assert!(t.check(&k, now).is_ok());
    }

    #[test]
    fn old_failures_are_forgotten() {
        let t = LoginThrottle::new(2, Duration::from_secs(1), Duration::from_secs(10));
        let start = Instant::now();
        let k = keys("1.1.1.1", "a@x");
        t.failed(&k, start);
        t.failed(&k, start);
        assert!(t.check(&k, start).is_err());
        let later = start + Duration::from_secs(11);
        t.failed(&k, later);
        assert!(t.check(&k, later).is_ok(), "the count restarted");
    }
}
