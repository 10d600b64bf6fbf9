//! Time in China: every time is stored in UTC and shown in China Standard Time
//! (Asia/Shanghai: UTC+8 all year, no daylight saving since 1991), where the programmes run.
//! Shared vocabulary for rosters, the worker's daily schedule, emails and pages.
//!
//! Layer: shared vocabulary. ARCHITECTURE.md maps the layers.

use chrono::{DateTime, Duration, FixedOffset, NaiveDateTime, SecondsFormat, TimeZone, Timelike};

/// China Standard Time.
pub fn shanghai() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// `2026-12-01 09:00`: China time to the minute, as emails show it.
pub fn shanghai_time(utc: NaiveDateTime) -> String {
    utc.and_utc()
        .with_timezone(&shanghai())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// The UTC instant of an RFC 3339 time (any offset).
pub fn parse_rfc3339(s: &str) -> Option<NaiveDateTime> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.naive_utc())
}

/// `2026-12-01T01:00:00Z`.
pub fn utc_rfc3339(t: NaiveDateTime) -> String {
    t.and_utc().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `2026-12-01T09:00:00+08:00`: the same instant in China time.
pub fn local_rfc3339(t: NaiveDateTime) -> String {
    t.and_utc()
        .with_timezone(&shanghai())
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `2026-12-01T09:00`: China time as a `datetime-local` field shows it.
pub fn local_input(t: NaiveDateTime) -> String {
    t.and_utc()
        .with_timezone(&shanghai())
        .format("%Y-%m-%dT%H:%M")
        .to_string()
}

/// The wall-clock time in China of a UTC time.
pub fn local(t: NaiveDateTime) -> NaiveDateTime {
    t.and_utc().with_timezone(&shanghai()).naive_local()
}

/// A time as RFC 3339 with an offset, or as a China-time `YYYY-MM-DDTHH:MM[:SS]`; in UTC,
/// whole seconds. `None` when it is neither.
pub fn parse_time(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    if s.len() > 64 {
        return None;
    }
    let utc = if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        t.naive_utc()
    } else {
        let local = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M"]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())?;
        // A fixed offset: every local time is exactly one instant.
        shanghai().from_local_datetime(&local).single()?.naive_utc()
    };
    utc.with_nanosecond(0)
}

/// Midnight (China time) of the day `now` is in, in UTC.
pub fn local_midnight(now: NaiveDateTime) -> NaiveDateTime {
    let day = local(now).date();
    day.and_hms_opt(0, 0, 0).unwrap_or(now) - Duration::hours(8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn local_times_mean_china_time_and_offsets_are_honoured() {
        let nine = at("2026-12-01 01:00:00");
        assert_eq!(parse_time("2026-12-01T09:00"), Some(nine));
        assert_eq!(parse_time(" 2026-12-01T09:00:00 "), Some(nine));
        assert_eq!(parse_time("2026-12-01 09:00"), Some(nine));
        assert_eq!(parse_time("2026-12-01T01:00:00Z"), Some(nine));
        assert_eq!(parse_time("2026-12-01T09:00:00+08:00"), Some(nine));
        assert_eq!(parse_time("2026-11-30T20:00:00-05:00"), Some(nine));
        assert_eq!(parse_time("2026-12-01T01:00:00.75Z"), Some(nine));
        // Just after midnight in China is the previous day in UTC.
        assert_eq!(
            parse_time("2026-12-01T00:30"),
            Some(at("2026-11-30 16:30:00"))
        );
        for bad in [
            "",
            "tomorrow",
            "2026-12-01",
            "2026-13-01T09:00",
            "2026-12-01T25:00",
            "09:00",
            "1764550800",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn views_carry_utc_and_china_time() {
        let t = at("2026-12-01 16:30:00");
        assert_eq!(utc_rfc3339(t), "2026-12-01T16:30:00Z");
        assert_eq!(local_rfc3339(t), "2026-12-02T00:30:00+08:00");
        assert_eq!(local_input(t), "2026-12-02T00:30");
        assert_eq!(local_midnight(t), at("2026-12-01 16:00:00"));
        assert_eq!(
            local_midnight(at("2026-12-01 15:59:59")),
            at("2026-11-30 16:00:00")
        );
    }

    #[test]
    fn emails_show_china_time_to_the_minute() {
        assert_eq!(shanghai_time(at("2026-12-01 16:30:59")), "2026-12-02 00:30");
    }
}
