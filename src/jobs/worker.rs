//! The job worker: claims due jobs with a lease, runs each outside the claiming transaction,
//! and finishes it only while the lease is still its own. Wakes at once when a job is
//! committed (an in-process signal, and PostgreSQL `LISTEN careline_jobs` across instances),
//! else polls. Beats a heartbeat (for `/readyz`), runs the auditor every minute, and on
//! shutdown stops claiming, hands the jobs it claimed but has not started back at once (another
//! worker takes them without waiting out the lease), and gives running jobs
//! `worker.shutdown_timeout` to finish; what still runs then is aborted and handed back too.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDateTime, Utc};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::{AbortHandle, JoinSet};

use super::{
    CHANNEL, ChannelPayload, DIGEST, DigestPayload, EMAIL, ESCALATE, EmailPayload, EscalatePayload,
    GAPS, Purpose, REMIND, RemindPayload,
};
use crate::audit::{self, Who};
use crate::config::Settings;
use crate::db::alerts as alert_store;
use crate::db::jobs::{self as store, Claimed};
use crate::db::{self, DbError, write_transaction};
use crate::notify::{self, Mailer, SendError};

/// What the worker shares with its jobs.
#[derive(Debug)]
pub struct Worker {
    pub id: String,
    pub settings: Settings,
    pub pool: db::Pool,
    pub mailer: Mailer,
    /// Group robots, SMS and voice (`[notify]`), each send under `notify.timeout`.
    pub channels: crate::notify::channels::Channels,
    /// Signalled when a job is committed in this process.
    pub wake: Arc<Notify>,
    /// Deliveries and the mail path's health are recorded here.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The mail path as this worker last recorded it: failing (true), and when a success
    /// was last written (successes are written at most every few seconds while all is well).
    mail_seen: std::sync::Mutex<(bool, Option<std::time::Instant>)>,
    /// At most `mail.pool_size` sends at once; a claimed email waits here for a slot.
    send_slots: Arc<Semaphore>,
    /// The jobs this worker has claimed and not yet settled, by id.
    claims: std::sync::Mutex<HashMap<String, Claim>>,
}

/// A job this worker holds the lease of.
#[derive(Debug)]
struct Claim {
    token: String,
    /// Its effect has begun (a send is on the wire, or a database step runs): handing it back
    /// could duplicate it, so it is handed back only when aborted at the shutdown timeout.
    started: bool,
    task: Option<AbortHandle>,
}

/// How running one job ended.
#[derive(Debug)]
enum Outcome {
    Done,
    /// Nothing to do any more (the alert was acknowledged or resolved).
    Cancelled,
    Retry(String),
    /// Not run: put back until then without counting the attempt (a channel's rate limit).
    Defer(NaiveDateTime, String),
    Failed(String),
}

fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

impl Worker {
    pub fn new(
        mut settings: Settings,
        pool: db::Pool,
        wake: Arc<Notify>,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Result<Worker, String> {
        settings.sync_channels();
        let mailer = Mailer::new(&settings.mail)?;
        let channels = crate::notify::channels::Channels::new(&settings)?;
        Ok(Worker {
            channels,
            id: format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()),
            pool,
            mailer,
            wake,
            send_slots: Arc::new(Semaphore::new(settings.mail.pool_size.max(1) as usize)),
            settings,
            metrics,
            mail_seen: std::sync::Mutex::new((false, None)),
            claims: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// Records that this worker is alive (blocking).
    pub fn heartbeat(&self) -> Result<(), DbError> {
        let mut conn = self.pool.get()?;
        store::heartbeat(&mut conn, &self.id, now())
    }

    async fn blocking<T, F>(self: &Arc<Self>, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut db::AnyConnection, &Worker) -> Result<T, DbError> + Send + 'static,
    {
        let me = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let mut conn = me.pool.get()?;
            f(&mut conn, &me)
        })
        .await
        .map_err(|e| DbError::Connect(format!("worker task: {e}")))?
    }

    /// Runs until `shutdown` turns true.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(worker = %self.id, "job worker started");
        // Another instance's committed job wakes this worker at once (PostgreSQL).
        let wake = Arc::clone(&self.wake);
        let stop = shutdown.clone();
        if let Err(e) = db::listen::spawn(
            &self.settings.database.url,
            "careline_jobs",
            move || wake.notify_one(),
            move || *stop.borrow(),
        ) {
            tracing::warn!(error = %e, "cannot listen for jobs; polling only");
        }
        let permits = Arc::new(Semaphore::new(self.settings.worker.concurrency as usize));
        let mut running = JoinSet::new();
        let mut last_beat: Option<std::time::Instant> = None;
        let mut last_audit: Option<std::time::Instant> = None;
        loop {
            if *shutdown.borrow() {
                break;
            }
            if last_beat.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                last_beat = Some(std::time::Instant::now());
                let id = self.id.clone();
                if let Err(e) = self
                    .blocking(move |c, _| store::heartbeat(c, &id, now()))
                    .await
                {
                    tracing::warn!(error = %e, "worker heartbeat failed");
                }
            }
            if last_audit.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                last_audit = Some(std::time::Instant::now());
                self.audit().await;
            }
            let free = permits.available_permits();
            let mut claimed = Vec::new();
            if free > 0 {
                let lease = chrono::Duration::from_std(self.settings.worker.lease)
                    .unwrap_or(chrono::Duration::seconds(60));
                let id = self.id.clone();
                match self
                    .blocking(move |c, _| {
                        let t = now();
                        store::claim(c, &id, t, t + lease, free as i64)
                    })
                    .await
                {
                    Ok(jobs) => claimed = jobs,
                    Err(e) => tracing::warn!(error = %e, "cannot claim jobs"),
                }
            }
            let full = !claimed.is_empty() && claimed.len() == free;
            for job in claimed {
                let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                    break;
                };
                let id = job.job.id.clone();
                self.claims_lock().insert(
                    id.clone(),
                    Claim {
                        token: job.token.clone(),
                        started: false,
                        task: None,
                    },
                );
                let me = Arc::clone(&self);
                let task = running.spawn(async move {
                    me.execute(job).await;
                    drop(permit);
                });
                if let Some(claim) = self.claims_lock().get_mut(&id) {
                    claim.task = Some(task);
                }
            }
            if full {
                // More may be due: claim again once a slot frees.
                tokio::select! {
                    _ = running.join_next(), if !running.is_empty() => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            let sleep = self.sleep_for().await;
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(sleep) => {}
                _ = running.join_next(), if !running.is_empty() => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::info!(worker = %self.id, running = running.len(), "job worker stopping: no more claims");
        // What has not started goes back at once: another worker need not wait out the lease.
        self.hand_back(false).await;
        let grace = self.settings.worker.shutdown_timeout;
        if tokio::time::timeout(grace, async {
            while running.join_next().await.is_some() {}
        })
        .await
        .is_err()
        {
            tracing::warn!(worker = %self.id, "jobs still running at the shutdown timeout");
            running.abort_all();
            while running.join_next().await.is_some() {}
            // Their outcome is unknown (a send may or may not have reached the server); a page
            // sent twice, with the same Message-ID, is better than one late by a whole lease.
            self.hand_back(true).await;
        }
        tracing::info!(worker = %self.id, "job worker stopped");
    }

    fn claims_lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Claim>> {
        self.claims.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks a claimed job as started. False if it was handed back (at shutdown) before: the
    /// caller must then leave it alone.
    fn start(&self, job_id: &str) -> bool {
        match self.claims_lock().get_mut(job_id) {
            Some(claim) => {
                claim.started = true;
                true
            }
            None => false,
        }
    }

    /// Gives up the leases of the jobs not yet started (or, with `all`, of every job still
    /// held after the running ones were aborted): their tasks are aborted, the leases cleared
    /// in the database (fenced by token, so a lease another worker took over is left alone),
    /// and other workers are woken.
    async fn hand_back(self: &Arc<Self>, all: bool) {
        let taken: Vec<(String, String, bool)> = {
            let mut claims = self.claims_lock();
            let ids: Vec<String> = claims
                .iter()
                .filter(|(_, c)| all || !c.started)
                .map(|(id, _)| id.clone())
                .collect();
            ids.into_iter()
                .filter_map(|id| claims.remove(&id).map(|c| (id, c)))
                .map(|(id, c)| {
                    if let Some(task) = &c.task {
                        task.abort();
                    }
                    (id, c.token, c.started)
                })
                .collect()
        };
        if taken.is_empty() {
            return;
        }
        let n = taken.len();
        let result = self
            .blocking(move |c, _| {
                let mut released = 0;
                for (id, token, started) in &taken {
                    // A job that never started did not use up an attempt.
                    if store::release(c, id, token, !started)? {
                        released += 1;
                    }
                }
                store::announce(c)?;
                Ok(released)
            })
            .await;
        match result {
            Ok(released) => {
                tracing::info!(worker = %self.id, claimed = n, released, started = all, "handed claimed jobs back")
            }
            // Their leases run out instead.
            Err(e) => {
                tracing::warn!(worker = %self.id, error = %e, "cannot hand claimed jobs back")
            }
        }
    }

    /// Until the next due job, at most the poll interval.
    async fn sleep_for(self: &Arc<Self>) -> Duration {
        let poll = self.settings.worker.poll_interval;
        match self.blocking(|c, _| store::next_due(c)).await {
            Ok(Some(at)) => (at - now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .clamp(Duration::from_millis(5), poll),
            _ => poll,
        }
    }

    /// The auditor: overdue red alerts without a pending escalation get one back, and the day's
    /// yellow digest is scheduled once it is past 09:00 in China.
    async fn audit(self: &Arc<Self>) {
        let result = self
            .blocking(|c, w| {
                let t = now();
                let repaired = super::repair_overdue(c, &w.settings.escalation, t)?;
                // A suspected flood left unworked pages its supervisors again.
                let repaged = super::repage_clusters(c, &w.settings.escalation, t)?;
                let local = t.and_utc().with_timezone(&crate::china_time::shanghai());
                if local.format("%H").to_string().as_str() >= "09" {
                    super::schedule_digest(c, &local.format("%Y-%m-%d").to_string(), t)?;
                    if w.settings.worker.gap_digest {
                        super::schedule_gaps(c, &local.format("%Y-%m-%d").to_string(), t)?;
                    }
                }
                Ok(repaired + repaged)
            })
            .await;
        match result {
            Ok(0) => {}
            Ok(n) => {
                tracing::warn!(
                    repaired = n,
                    "auditor: overdue red alerts re-armed, or unworked suspected floods paged again"
                );
                self.wake.notify_one();
            }
            Err(e) => tracing::warn!(error = %e, "auditor failed"),
        }
    }

    async fn execute(self: Arc<Self>, claimed: Claimed) {
        let kind = claimed.job.kind.clone();
        let id = claimed.job.id.clone();
        let outcome = match kind.as_str() {
            ESCALATE | REMIND | DIGEST | GAPS => {
                if !self.start(&id) {
                    return;
                }
                self.run_in_db(claimed.clone()).await
            }
            EMAIL => match self.send_email(claimed.clone()).await {
                Some(outcome) => outcome,
                None => return,
            },
            CHANNEL => match self.send_channel(claimed.clone()).await {
                Some(outcome) => outcome,
                None => return,
            },
            other => Outcome::Failed(format!("unknown job kind {other}")),
        };
        tracing::debug!(job = %id, kind = %kind, outcome = ?outcome, "job ran");
        self.settle(claimed, outcome).await;
        self.claims_lock().remove(&id);
    }

    /// Jobs that only change the database: done in one transaction with their finish, so a
    /// lost lease rolls their effects back (exactly once).
    async fn run_in_db(self: &Arc<Self>, claimed: Claimed) -> Outcome {
        let result = self
            .blocking(move |c, w| {
                let t = now();
                let job = &claimed.job;
                let done = write_transaction(c, |c| -> Result<bool, Abort> {
                    match job.kind.as_str() {
                        ESCALATE => {
                            let p: EscalatePayload = serde_json::from_str(&job.payload)
                                .map_err(|e| DbError::Corrupt(e.to_string()))?;
                            let alert_id = job.alert_id.clone().unwrap_or_default();
                            // Holds the alert until commit: an acknowledgement waits for this
                            // step, and this step sees a committed acknowledgement.
                            if alert_store::lock_if_status(c, &alert_id, "open")?
                                && let Some(alert) = alert_store::find(c, &alert_id)?
                            {
                                let policy = super::policy_of(&alert, &w.settings.escalation);
                                super::escalate(c, &alert, &policy, p.step, &p.epoch, t)?;
                            }
                        }
                        REMIND => {
                            let p: RemindPayload = serde_json::from_str(&job.payload)
                                .map_err(|e| DbError::Corrupt(e.to_string()))?;
                            let alert_id = job.alert_id.clone().unwrap_or_default();
                            if alert_store::lock_if_status(c, &alert_id, "acknowledged")?
                                && let Some(alert) = alert_store::find(c, &alert_id)?
                            {
                                super::remind(c, &alert, p.n, &w.settings.escalation, t)?;
                            }
                        }
                        GAPS => {
                            let p: DigestPayload = serde_json::from_str(&job.payload)
                                .map_err(|e| DbError::Corrupt(e.to_string()))?;
                            super::roster_gaps(c, &w.settings.notify, &p.date, t)?;
                        }
                        _ => {
                            let p: DigestPayload = serde_json::from_str(&job.payload)
                                .map_err(|e| DbError::Corrupt(e.to_string()))?;
                            super::digest(c, &p.date, t)?;
                        }
                    }
                    if !store::finish(c, &job.id, &claimed.token, "done", None, t)? {
                        // Another worker holds it now: undo everything this run did.
                        return Err(Abort::LeaseLost);
                    }
                    Ok(true)
                });
                match done {
                    Ok(_) => Ok(None),
                    Err(Abort::LeaseLost) => Ok(Some("lease lost".to_string())),
                    Err(Abort::Db(e)) => Err(e),
                }
            })
            .await;
        match result {
            Ok(None) => {
                self.wake.notify_one();
                Outcome::Done
            }
            // Already settled by the lease's new holder: nothing to record.
            Ok(Some(_)) => Outcome::Cancelled,
            Err(e) => Outcome::Retry(e.to_string()),
        }
    }

    /// None when the job was handed back (at shutdown) before its send began.
    async fn send_email(self: &Arc<Self>, claimed: Claimed) -> Option<Outcome> {
        let payload: EmailPayload = match serde_json::from_str(&claimed.job.payload) {
            Ok(p) => p,
            Err(e) => return Some(Outcome::Failed(format!("bad payload: {e}"))),
        };
        // Waiting for a send slot, the job is claimed but not started: shutdown hands it back.
        let Ok(_slot) = Arc::clone(&self.send_slots).acquire_owned().await else {
            return Some(Outcome::Retry("the worker is stopping".into()));
        };
        // A page goes out only while the alert is open, decided under the alert's lock and
        // while this worker still holds the job: after an acknowledgement commits, no page
        // starts.
        if !matches!(
            payload.purpose,
            Purpose::Digest | Purpose::Flood | Purpose::Gaps
        ) {
            let alert_id = claimed.job.alert_id.clone().unwrap_or_default();
            let job_id = claimed.job.id.clone();
            let token = claimed.token.clone();
            let wanted = if payload.purpose == Purpose::Page {
                "open"
            } else {
                "acknowledged"
            };
            let go = self
                .blocking(move |c, _| {
                    write_transaction(c, |c| -> Result<Option<bool>, DbError> {
                        if !store::still_held(c, &job_id, &token)? {
                            return Ok(None);
                        }
                        Ok(Some(alert_store::lock_if_status(c, &alert_id, wanted)?))
                    })
                })
                .await;
            match go {
                Ok(Some(true)) => {}
                Ok(Some(false)) => return Some(Outcome::Cancelled),
                Ok(None) => return Some(Outcome::Cancelled),
                Err(e) => return Some(Outcome::Retry(e.to_string())),
            }
        }
        // Site names, not codes, in the mail (issue 13); the code when the names cannot be
        // read (the mail still goes out).
        let names = self
            .blocking(|c, _| crate::db::accounts::list_sites(c))
            .await
            .map(|sites| sites.into_iter().map(|s| (s.slug, s.name)).collect())
            .unwrap_or_default();
        let message = match notify::build_named(
            &payload.delivery,
            &claimed.job.unique_key,
            &self.settings.mail,
            &names,
        ) {
            Ok(m) => m,
            Err(e) => return Some(Outcome::Failed(e.to_string())),
        };
        let from = self.settings.mail.from.parse().ok();
        let message_id = from
            .as_ref()
            .map(|f| notify::message_id(&claimed.job.unique_key, f))
            .unwrap_or_default();
        if !self.start(&claimed.job.id) {
            return None;
        }
        Some(match self.mailer.send(&message, &message_id).await {
            Ok(()) => {
                tracing::info!(job = %claimed.job.id, alert = ?claimed.job.alert_id, "email accepted");
                self.metrics.delivery("sent");
                self.mail_path(None).await;
                Outcome::Done
            }
            Err(SendError::Transient(e)) => {
                tracing::warn!(job = %claimed.job.id, alert = ?claimed.job.alert_id, "email not sent, will retry");
                self.metrics.delivery("retry");
                self.mail_path(Some(&e)).await;
                Outcome::Retry(e)
            }
            // The server answered: the path works; this delivery failed for good.
            Err(SendError::Permanent(e)) => {
                self.metrics.delivery("failed");
                Outcome::Failed(e)
            }
        })
    }

    /// One delivery on a channel besides email. A page, like a page email, goes out only
    /// while the alert is open (decided under the alert's lock while this worker holds the
    /// job); the gap message has no alert. Then it takes a slot of the channel's rate limit,
    /// shared by every instance through the database (none free: the job waits its turn,
    /// without using up an attempt), and runs under `notify.timeout`. None when the job was
    /// handed back (at shutdown) before its send began.
    async fn send_channel(self: &Arc<Self>, claimed: Claimed) -> Option<Outcome> {
        use crate::notify::channels::Target;
        let payload: ChannelPayload = match serde_json::from_str(&claimed.job.payload) {
            Ok(p) => p,
            Err(e) => return Some(Outcome::Failed(format!("bad payload: {e}"))),
        };
        let alert_id = claimed.job.alert_id.clone().unwrap_or_default();
        let page = payload.message.is_page();
        let job_id = claimed.job.id.clone();
        let token = claimed.token.clone();
        let user = match &payload.target {
            Target::Sms { user_id } | Target::Voice { user_id } => Some(user_id.clone()),
            Target::Webhook { .. } => None,
        };
        let wants_phone = user.is_some();
        let go = self
            .blocking(move |c, _| {
                write_transaction(c, |c| -> Result<Option<(bool, Option<String>)>, DbError> {
                    if !store::still_held(c, &job_id, &token)? {
                        return Ok(None);
                    }
                    let open = !page || alert_store::lock_if_status(c, &alert_id, "open")?;
                    // The number as the account has it now (changed or removed since).
                    let phone = match &user {
                        Some(id) => crate::db::accounts::phones_of(c, std::slice::from_ref(id))?
                            .into_iter()
                            .next()
                            .map(|(_, p)| p),
                        None => None,
                    };
                    Ok(Some((open, phone)))
                })
            })
            .await;
        let phone = match go {
            Ok(Some((true, phone))) => phone,
            Ok(Some((false, _)) | None) => return Some(Outcome::Cancelled),
            Err(e) => return Some(Outcome::Retry(e.to_string())),
        };
        // The number was removed since: nothing to text or call.
        if wants_phone && phone.is_none() {
            return Some(Outcome::Cancelled);
        }
        let channel = self.channels.label(&payload.target);
        if let Some((key, per_minute)) = self.channels.limit_of(&payload.target) {
            let window = self.settings.notify.rate_window;
            let slot = self
                .blocking(move |c, _| {
                    crate::db::channels::take_slot(c, &key, per_minute, window, now())
                })
                .await;
            match slot {
                Ok(None) => {}
                Ok(Some(free_at)) => {
                    tracing::debug!(job = %claimed.job.id, channel, "channel rate limit used up; waiting its turn");
                    self.metrics.channel_delivery(channel, "deferred");
                    return Some(Outcome::Defer(
                        free_at,
                        format!("waiting for the channel's rate limit (per_minute = {per_minute})"),
                    ));
                }
                Err(e) => return Some(Outcome::Retry(e.to_string())),
            }
        }
        if !self.start(&claimed.job.id) {
            return None;
        }
        Some(
            match self
                .channels
                .send(&payload.target, phone.as_deref(), &payload.message)
                .await
            {
                Ok(()) => {
                    tracing::info!(job = %claimed.job.id, alert = ?claimed.job.alert_id, channel, "channel delivery accepted");
                    self.metrics.channel_delivery(channel, "sent");
                    Outcome::Done
                }
                Err(SendError::Transient(e)) => {
                    tracing::warn!(job = %claimed.job.id, alert = ?claimed.job.alert_id, channel, "channel delivery not sent, will retry");
                    self.metrics.channel_delivery(channel, "retry");
                    Outcome::Retry(e)
                }
                Err(SendError::Permanent(e)) => {
                    tracing::warn!(job = %claimed.job.id, alert = ?claimed.job.alert_id, channel, "channel delivery failed");
                    self.metrics.channel_delivery(channel, "failed");
                    Outcome::Failed(e)
                }
            },
        )
    }

    /// Records the mail path's health for every instance (`mail.alarm_after`): a transient
    /// failure at once, a success when this worker saw a failure or has not written one for a
    /// few seconds (another instance may have recorded the failure).
    async fn mail_path(self: &Arc<Self>, failure: Option<&str>) {
        let write = {
            let mut seen = self.mail_seen.lock().unwrap_or_else(|e| e.into_inner());
            match failure {
                Some(_) => {
                    seen.0 = true;
                    true
                }
                None => {
                    let due =
                        seen.0 || seen.1.is_none_or(|t| t.elapsed() >= Duration::from_secs(2));
                    if due {
                        seen.0 = false;
                        seen.1 = Some(std::time::Instant::now());
                    }
                    due
                }
            }
        };
        if !write {
            return;
        }
        let transport = if self.settings.mail.smtp_url.trim().is_empty() {
            "outbox"
        } else {
            "smtp"
        };
        let error = failure.map(truncate);
        let result = self
            .blocking(move |c, _| match &error {
                Some(e) => store::mail_failed(c, transport, e, now()),
                None => store::mail_succeeded(c, transport, now()),
            })
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "cannot record the mail path's health");
        }
    }

    /// Records the outcome, only while holding the lease.
    async fn settle(self: &Arc<Self>, claimed: Claimed, outcome: Outcome) {
        let worker = &self.settings.worker;
        let max_attempts = worker.max_attempts as i32;
        let base = worker.backoff_base;
        let cap = worker.backoff_max;
        let job_id = claimed.job.id.clone();
        // A channel delivery goes on the alert's timeline: which channel, which step.
        let sent = (claimed.job.kind == CHANNEL)
            .then(|| serde_json::from_str::<ChannelPayload>(&claimed.job.payload).ok())
            .flatten()
            .map(|p| {
                serde_json::json!({
                    "channel": self.channels.label(&p.target),
                    "level": p.level,
                    "round": p.round,
                })
            });
        let result = self
            .blocking(move |c, _| {
                let t = now();
                let job = &claimed.job;
                let token = &claimed.token;
                write_transaction(c, |c| -> Result<(), DbError> {
                    match &outcome {
                        Outcome::Done => {
                            if job.kind == EMAIL {
                                store::finish(c, &job.id, token, "done", None, t)?;
                            }
                            if job.kind == CHANNEL
                                && store::finish(c, &job.id, token, "done", None, t)?
                                && let (Some(alert_id), Some(detail)) = (&job.alert_id, &sent)
                            {
                                alert_store::insert_event(
                                    c,
                                    &alert_store::EventRow {
                                        id: uuid::Uuid::now_v7().to_string(),
                                        alert_id: alert_id.clone(),
                                        at: t,
                                        actor_id: None,
                                        kind: "channel_sent".into(),
                                        detail: detail.to_string(),
                                    },
                                )?;
                            }
                        }
                        Outcome::Cancelled => {
                            store::finish(c, &job.id, token, "cancelled", None, t)?;
                        }
                        Outcome::Defer(at, why) => {
                            store::defer(c, &job.id, token, *at, why)?;
                        }
                        // A page of an open (unacknowledged) red alert never dies: it retries,
                        // at most every backoff_max, for as long as nobody has taken the alert.
                        Outcome::Retry(e)
                            if job.attempts < max_attempts || pages_open_red(c, job)? =>
                        {
                            let wait = backoff(base, cap, job.attempts);
                            let at = t + chrono::Duration::from_std(wait)
                                .unwrap_or(chrono::Duration::minutes(1));
                            store::retry(c, &job.id, token, at, &truncate(e))?;
                        }
                        Outcome::Retry(e) => {
                            if store::finish(c, &job.id, token, "dead", Some(&truncate(e)), t)? {
                                record_failure(c, job, "dead", e)?;
                            }
                        }
                        Outcome::Failed(e) => {
                            if store::finish(c, &job.id, token, "failed", Some(&truncate(e)), t)? {
                                record_failure(c, job, "failed", e)?;
                            }
                        }
                    }
                    Ok(())
                })
            })
            .await;
        if let Err(e) = result {
            // The lease runs out and the job is taken up again.
            tracing::error!(job = %job_id, error = %e, "cannot record a job's outcome");
        }
    }
}

/// Whether `job` is a page (an email, or a channel delivery) of a red alert that is open
/// (nobody has acknowledged it).
fn pages_open_red(c: &mut db::AnyConnection, job: &store::JobRow) -> Result<bool, DbError> {
    let Some(alert_id) = &job.alert_id else {
        return Ok(false);
    };
    let page = match job.kind.as_str() {
        EMAIL => serde_json::from_str::<EmailPayload>(&job.payload)
            .is_ok_and(|p| p.purpose == Purpose::Page),
        CHANNEL => {
            serde_json::from_str::<ChannelPayload>(&job.payload).is_ok_and(|p| p.message.is_page())
        }
        _ => false,
    };
    if !page {
        return Ok(false);
    }
    Ok(alert_store::find(c, alert_id)?.is_some_and(|a| a.status == "open" && a.tier == "red"))
}

fn truncate(e: &str) -> String {
    e.chars().take(500).collect()
}

/// A delivery that failed for good, or a job that kept failing, is shown to admins: on the
/// alert's timeline and in the audit log.
fn record_failure(
    c: &mut db::AnyConnection,
    job: &store::JobRow,
    status: &str,
    error: &str,
) -> Result<(), DbError> {
    if let Some(alert_id) = &job.alert_id {
        alert_store::insert_event(
            c,
            &alert_store::EventRow {
                id: uuid::Uuid::now_v7().to_string(),
                alert_id: alert_id.clone(),
                at: now(),
                actor_id: None,
                kind: "delivery_failed".into(),
                detail: serde_json::json!({"job": job.id, "kind": job.kind, "status": status})
                    .to_string(),
            },
        )?;
    }
    audit::record(
        c,
        &Who::system(),
        match job.kind.as_str() {
            EMAIL => "email.delivery_failed",
            CHANNEL => "channel.delivery_failed",
            _ => "job.failed",
        },
        Some(&job.id),
        serde_json::json!({"kind": job.kind, "status": status, "error": truncate(error), "alert": job.alert_id}),
    )
}

/// Why a database-only job's transaction was rolled back.
#[derive(Debug)]
enum Abort {
    /// Another worker holds the job now: undo everything this run did.
    LeaseLost,
    Db(DbError),
}

impl From<DbError> for Abort {
    fn from(e: DbError) -> Self {
        Abort::Db(e)
    }
}

/// Capped exponential backoff with jitter: base x 2^(attempt-1), at most `cap`, then a random
/// 50-100% of it so that retries of many jobs spread out.
pub fn backoff(base: Duration, cap: Duration, attempt: i32) -> Duration {
    let exp = u32::try_from(attempt.saturating_sub(1).clamp(0, 30)).unwrap_or(0);
    let full = base.saturating_mul(1u32 << exp.min(20)).min(cap);
    let mut r = [0u8; 2];
    rand::fill(&mut r);
    let fraction = 0.5 + f64::from(u16::from_le_bytes(r)) / f64::from(u16::MAX) / 2.0;
    full.mul_f64(fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let base = Duration::from_secs(5);
        let cap = Duration::from_secs(600);
        for attempt in 1..40 {
            let d = backoff(base, cap, attempt);
            let full = base.saturating_mul(1 << (attempt - 1).min(20)).min(cap);
            assert!(
                d >= full / 2 && d <= full,
                "attempt {attempt}: {d:?} vs {full:?}"
            );
        }
        assert!(backoff(base, cap, 30) <= cap);
    }
}
