//! The channels' rate limits, shared by every instance (issue 13): a channel allowed `limit`
//! sends per window has up to `limit` slots in `channel_slots`; a send takes a slot last used
//! a whole window ago (or makes a new one while there are fewer than `limit`). A slot is
//! therefore used at most once in any window, and no window holds more than `limit` sends,
//! however many workers send.
//!
//! PostgreSQL takes the free slot `FOR UPDATE SKIP LOCKED`, so workers taking slots of one
//! channel at once take different ones without waiting; SQLite runs it under the write lock
//! (`BEGIN IMMEDIATE`).

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::channel_slots;
use super::{AnyConnection, DbError, is_unique_violation, write_transaction};

/// How soon to try again when the slot this worker was about to make was made by another at
/// the same moment, or every free slot was being taken by others.
const CONTENDED: chrono::Duration = chrono::Duration::milliseconds(100);

/// Takes a send slot of `channel` (at most `limit` sends in any `window`) at `now`. `None`:
/// taken, send now; `Some(at)`: none is free before `at`.
pub fn take_slot(
    conn: &mut AnyConnection,
    channel: &str,
    limit: u32,
    window: Duration,
    now: NaiveDateTime,
) -> Result<Option<NaiveDateTime>, DbError> {
    let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::minutes(1));
    let limit = i32::try_from(limit.max(1)).unwrap_or(i32::MAX);
    let free_since = now - window;
    write_transaction(conn, |c| {
        let mine = channel_slots::table
            .filter(channel_slots::channel.eq(channel))
            .filter(channel_slots::slot.lt(limit))
            .filter(channel_slots::used_at.le(free_since))
            .order((channel_slots::used_at.asc(), channel_slots::slot.asc()))
            .select(channel_slots::slot);
        let free: Option<i32> = match c {
            AnyConnection::Postgresql(pg) => {
                mine.for_update().skip_locked().first(pg).optional()?
            }
            AnyConnection::Sqlite(_) => mine.first(c).optional()?,
        };
        if let Some(slot) = free {
            diesel::update(
                channel_slots::table
                    .filter(channel_slots::channel.eq(channel))
                    .filter(channel_slots::slot.eq(slot)),
            )
            .set(channel_slots::used_at.eq(now))
            .execute(c)?;
            return Ok(None);
        }
        // Slots are made in order from 0, so the ones below the limit are 0..made.
        let made: i64 = channel_slots::table
            .filter(channel_slots::channel.eq(channel))
            .filter(channel_slots::slot.lt(limit))
            .count()
            .get_result(c)?;
        if made < i64::from(limit) {
            let slot = i32::try_from(made).unwrap_or(i32::MAX);
            // A savepoint: another worker making the same slot does not abort this transaction.
            let inserted = c.transaction(|c| {
                diesel::insert_into(channel_slots::table)
                    .values((
                        channel_slots::channel.eq(channel),
                        channel_slots::slot.eq(slot),
                        channel_slots::used_at.eq(now),
                    ))
                    .execute(c)
            });
            return match inserted {
                Ok(_) => Ok(None),
                Err(e) if is_unique_violation(&e) => Ok(Some(now + CONTENDED)),
                Err(e) => Err(e.into()),
            };
        }
        let oldest: Option<NaiveDateTime> = channel_slots::table
            .filter(channel_slots::channel.eq(channel))
            .filter(channel_slots::slot.lt(limit))
            .select(diesel::dsl::min(channel_slots::used_at))
            .first(c)?;
        // A free slot being taken by another worker right now (skipped, locked) reads as
        // free already: try again shortly.
        Ok(Some(
            oldest.map_or(now, |t| t + window).max(now + CONTENDED),
        ))
    })
}
