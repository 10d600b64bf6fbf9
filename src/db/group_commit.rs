//! Group commit (issue 17): one writer thread per database takes the writes waiting at that
//! moment and commits them in one transaction, answering each caller only after the commit.
//!
//! Why: a commit is the expensive part of a submission (an fsync on SQLite with
//! `synchronous = FULL`, a WAL flush and a round trip on PostgreSQL). Sixteen riders
//! submitting at once paid sixteen of them, and on SQLite each waited for the others under the
//! busy timeout (p99 near two seconds). One writer pays one commit for all of them, and on
//! SQLite nothing else on the hot path takes the write lock.
//!
//! What each caller is promised:
//! - its own result and its own error, only once the transaction that holds its rows is
//!   committed (a success still means on disk: the same commit, the same pragmas);
//! - one bad unit does not fail its neighbours: when a unit fails with an error of its own
//!   (a constraint, a trigger), the batch is rolled back and committed again without it, and
//!   the failed one then runs alone in its own transaction, where it gets its own answer
//!   (e.g. a duplicate idempotency key finds the first request's row and replays it);
//! - a failure of the database itself (connection lost, the file locked or unwritable, the
//!   commit refused) answers every caller of that batch with that error: none of it is stored.
//!
//! Layer: storage. ARCHITECTURE.md maps the layers.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::{AnyConnection, DbError, Pool};

/// At most this many units in one transaction: a bound on the work one rollback can waste.
pub const MAX_BATCH: usize = 256;

/// After this many units of one batch failed on their own, the rest run one by one: a batch
/// full of bad units must not be retried once per unit.
const MAX_RETRIES: usize = 4;

/// One caller's write. `write` may run more than once (after a neighbour failed, the batch is
/// rolled back and run again), so it must only depend on its own data.
pub trait Unit: Send + 'static {
    type Output: Send + 'static;

    /// Writes inside the batch's transaction (opened and committed by the writer).
    fn write(&mut self, conn: &mut AnyConnection) -> Result<Self::Output, DbError>;

    /// Writes alone, in a transaction of its own: after the batch failed on this unit.
    fn write_alone(&mut self, conn: &mut AnyConnection) -> Result<Self::Output, DbError>;

    /// The transaction that held this unit's write is committed (caches may learn from it).
    fn committed(&mut self) {}

    /// Writes all the units of a batch at once, before any transaction, in one statement the
    /// database commits on its own (one round trip instead of a transaction's several):
    /// `Ok(None)` when these units cannot be (they are then written in the batch's
    /// transaction as if this was never tried). It must store nothing unless it returns
    /// `Some`; an error is taken as "not written" too (the transaction's path finds out).
    fn write_at_once(
        _conn: &mut AnyConnection,
        _units: &mut [&mut Self],
    ) -> Result<Option<Vec<Self::Output>>, DbError>
    where
        Self: Sized,
    {
        Ok(None)
    }

    /// Writes several units inside the batch's transaction, as `write` would one by one
    /// (the default does just that). A unit may write its rows together with its neighbours'
    /// (one multi-row statement per table) or be left for after the commit (`Step::Alone`).
    fn write_many(
        conn: &mut AnyConnection,
        units: &mut [&mut Self],
    ) -> Result<Vec<Step<Self::Output>>, Failed>
    where
        Self: Sized,
    {
        write_each(conn, units)
    }
}

/// What became of one unit of `Unit::write_many`.
#[derive(Debug)]
pub enum Step<T> {
    Written(T),
    /// To run alone once the batch is committed (e.g. it must see a neighbour's row first).
    Alone,
}

/// Each unit's `write` in turn: `Unit::write_many` without statements shared by units.
pub fn write_each<U: Unit>(
    conn: &mut AnyConnection,
    units: &mut [&mut U],
) -> Result<Vec<Step<U::Output>>, Failed> {
    let mut out = Vec::with_capacity(units.len());
    for (i, unit) in units.iter_mut().enumerate() {
        match unit.write(conn) {
            Ok(o) => out.push(Step::Written(o)),
            Err(e) => return Err(Failed::Unit(i, e)),
        }
    }
    Ok(out)
}

struct Pending<U: Unit> {
    unit: U,
    reply: oneshot::Sender<Result<U::Output, DbError>>,
}

/// The writer of one database. Dropping the last handle stops its thread once the waiting
/// units are written.
pub struct GroupCommit<U: Unit> {
    queue: Mutex<mpsc::Sender<Pending<U>>>,
    batches: Arc<std::sync::atomic::AtomicU64>,
    waiting: Arc<std::sync::atomic::AtomicUsize>,
}

impl<U: Unit> std::fmt::Debug for GroupCommit<U> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit")
            .field("batches", &self.batches())
            .field("waiting", &self.waiting())
            .finish_non_exhaustive()
    }
}

impl<U: Unit> GroupCommit<U> {
    /// Starts the writer thread; it takes its connection from `pool` for each batch.
    pub fn start(pool: Pool) -> Result<Self, DbError> {
        let (tx, rx) = mpsc::channel::<Pending<U>>();
        let batches = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = Arc::clone(&batches);
        let waiting = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let taken = Arc::clone(&waiting);
        std::thread::Builder::new()
            .name("careline-writer".into())
            .spawn(move || {
                // Its own connection, kept from batch to batch: the callers waiting for the
                // pool must never keep the writer from the connection it commits them with.
                let mut conn: Option<super::PooledConn> = None;
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    take_waiting(&rx, &mut batch);
                    if batch.len() > 1 {
                        // Busy: others are likely being handed over this instant. Let them
                        // (a yield, never a sleep: a lone submission waits for nothing), so
                        // that one commit serves them too.
                        std::thread::yield_now();
                        take_waiting(&rx, &mut batch);
                    }
                    taken.fetch_sub(batch.len(), std::sync::atomic::Ordering::AcqRel);
                    counted.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                    run_batch(&pool, &mut conn, batch);
                }
            })
            .map_err(|e| DbError::Connect(format!("cannot start the writer thread: {e}")))?;
        Ok(GroupCommit {
            queue: Mutex::new(tx),
            batches,
            waiting,
        })
    }

    /// Hands `unit` to the writer and waits, without holding a thread, until its batch is
    /// committed (or failed). A caller that stops waiting (a dropped request) leaves its unit
    /// to be written: the writer does not answer anyone but the committed.
    pub async fn submit(&self, unit: U) -> Result<U::Output, DbError> {
        let answer = self.hand_over(unit)?;
        answer
            .await
            .map_err(|_| DbError::Batch("the writer stopped before answering".into()))?
    }

    /// `submit` for a caller on a blocking thread (never an async worker thread).
    pub fn write(&self, unit: U) -> Result<U::Output, DbError> {
        let answer = self.hand_over(unit)?;
        answer
            .blocking_recv()
            .map_err(|_| DbError::Batch("the writer stopped before answering".into()))?
    }

    fn hand_over(&self, unit: U) -> Result<oneshot::Receiver<Result<U::Output, DbError>>, DbError> {
        let (reply, answer) = oneshot::channel();
        self.waiting
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        let sent = match self.queue.lock() {
            Ok(queue) => queue.send(Pending { unit, reply }).is_ok(),
            Err(_) => false,
        };
        if !sent {
            self.waiting
                .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
            return Err(DbError::Batch("the writer has stopped".into()));
        }
        Ok(answer)
    }

    /// How many batches the writer has taken (each one transaction, and its retries).
    pub fn batches(&self) -> u64 {
        self.batches.load(std::sync::atomic::Ordering::Acquire)
    }

    /// How many units wait for the writer to take them (handed over, not yet in a batch).
    pub fn waiting(&self) -> usize {
        self.waiting.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// Moves what waits in the queue into `batch`, up to `MAX_BATCH`.
fn take_waiting<T>(rx: &mpsc::Receiver<T>, batch: &mut Vec<T>) {
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(next) => batch.push(next),
            Err(_) => break,
        }
    }
}

/// Why a batch's transaction failed.
#[derive(Debug)]
pub enum Failed {
    /// The unit at this index (of the units given to `write_many`) failed (the transaction
    /// is rolled back).
    Unit(usize, DbError),
    /// A statement shared by several units failed: which unit caused it is not known (the
    /// batch is rolled back and written again unit by unit, which finds it).
    Shared(DbError),
    /// The transaction itself (begin, commit, rollback).
    Transaction(DbError),
}

impl From<DbError> for Failed {
    fn from(e: DbError) -> Self {
        Failed::Transaction(e)
    }
}

fn run_batch<U: Unit>(pool: &Pool, kept: &mut Option<super::PooledConn>, batch: Vec<Pending<U>>) {
    let (mut units, replies): (Vec<U>, Vec<_>) =
        batch.into_iter().map(|p| (p.unit, p.reply)).unzip();
    let mut results: Vec<Option<Result<U::Output, DbError>>> =
        std::iter::repeat_with(|| None).take(units.len()).collect();
    // A kept connection the server closed meanwhile (a restart, a terminated backend) is
    // found when the batch's BEGIN fails on it: nothing of the batch was sent, so the batch
    // is written on a fresh connection instead of failing (no round trip per batch to check).
    for fresh in [false, true] {
        if kept.is_none() {
            match pool.get() {
                Ok(conn) => *kept = Some(conn),
                Err(e) => {
                    for r in &mut results {
                        *r = Some(Err(DbError::Batch(e.to_string())));
                    }
                    break;
                }
            }
        }
        let Some(conn) = kept.as_mut() else { break };
        match write_batch(conn, &mut units, &mut results, !fresh) {
            Written::NotBegun => {
                // Lost: the next try starts on a fresh connection.
                *kept = None;
            }
            Written::Done { unavailable } => {
                if unavailable || diesel::r2d2::R2D2Connection::is_broken(&mut **conn) {
                    // Lost or in doubt: the next batch starts on a fresh connection.
                    *kept = None;
                }
                break;
            }
        }
    }
    for (reply, result) in replies.into_iter().zip(results) {
        let result =
            result.unwrap_or_else(|| Err(DbError::Batch("the unit was never written".into())));
        // A caller that gave up waiting is not an error of the writer.
        let _ = reply.send(result);
    }
}

/// How `write_batch` ended.
enum Written {
    /// Its first BEGIN failed on a connection that no longer answers: nothing was sent and
    /// nothing answered; worth one more try on a fresh connection.
    NotBegun,
    /// Every unit has its result; `unavailable` when the database failed under the batch.
    Done { unavailable: bool },
}

fn write_batch<U: Unit>(
    conn: &mut AnyConnection,
    units: &mut [U],
    results: &mut [Option<Result<U::Output, DbError>>],
    may_retry: bool,
) -> Written {
    let mut all: Vec<&mut U> = units.iter_mut().collect();
    match U::write_at_once(conn, &mut all) {
        Ok(Some(outs)) if outs.len() == units.len() => {
            for ((unit, result), out) in units.iter_mut().zip(results.iter_mut()).zip(outs) {
                unit.committed();
                *result = Some(Ok(out));
            }
            return Written::Done { unavailable: false };
        }
        Ok(_) => {}
        Err(e) => {
            // Nothing of it is stored: the transaction's path answers (and a lost
            // connection is found by its BEGIN, as without this).
            tracing::debug!(error = %e, "a batch's single statement failed: written in a transaction");
        }
    }
    let mut unavailable = false;
    let mut first = true;
    let mut in_batch: Vec<usize> = (0..units.len()).collect();
    let mut alone: Vec<usize> = Vec::new();
    // After a shared statement failed, the batch is written again unit by unit (which names
    // the unit that fails).
    let mut one_by_one = false;
    while !in_batch.is_empty() {
        let mut began = false;
        let attempt = super::write_transaction(conn, |c| {
            began = true;
            let mut taken: Vec<&mut U> = units
                .iter_mut()
                .enumerate()
                .filter(|(i, _)| in_batch.binary_search(i).is_ok())
                .map(|(_, u)| u)
                .collect();
            if one_by_one {
                write_each(c, &mut taken)
            } else {
                U::write_many(c, &mut taken)
            }
        });
        if std::mem::take(&mut first)
            && may_retry
            && !began
            && matches!(&attempt, Err(Failed::Transaction(_)))
            && !super::ping(conn)
        {
            return Written::NotBegun;
        }
        match attempt {
            Ok(steps) => {
                for (&i, step) in in_batch.iter().zip(steps) {
                    match step {
                        Step::Written(out) => {
                            units[i].committed();
                            results[i] = Some(Ok(out));
                        }
                        Step::Alone => alone.push(i),
                    }
                }
                break;
            }
            Err(Failed::Shared(e)) if !e.is_unavailable() && !one_by_one => {
                tracing::debug!(error = %e, "a statement of a batch failed: written again unit by unit");
                one_by_one = true;
            }
            Err(Failed::Unit(k, e)) if !e.is_unavailable() => {
                tracing::debug!(error = %e, "a unit of a batch failed: the rest are written again without it");
                let i = in_batch.remove(k);
                alone.push(i);
                if alone.len() >= MAX_RETRIES {
                    alone.append(&mut in_batch);
                }
            }
            Err(Failed::Unit(_, e)) | Err(Failed::Shared(e)) | Err(Failed::Transaction(e)) => {
                // The database failed, not one unit: nothing of this batch is stored.
                unavailable |= e.is_unavailable();
                tracing::warn!(error = %e, units = in_batch.len(), "a batch could not be written");
                let message = e.to_string();
                for &i in &in_batch {
                    results[i] = Some(Err(DbError::Batch(message.clone())));
                }
                in_batch.clear();
            }
        }
    }
    alone.sort_unstable();
    for i in alone {
        let result = units[i].write_alone(conn);
        if result.is_ok() {
            units[i].committed();
        }
        results[i] = Some(result);
    }
    Written::Done { unavailable }
}
