//! `careline worker` as real processes (the built binary) on the test's own database, sending
//! to a real SMTP server inside the test process (mailin-embedded): a worker killed with
//! SIGKILL mid-send, two workers sharing one database, and a graceful SIGTERM.
//!
//! Deliveries are enqueued straight into the job table (digest emails, which need no alert), so
//! these tests exercise the worker and the mailer alone.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::net::{IpAddr, TcpListener};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use careline::config::DatabaseSettings;
use careline::db::jobs::JobRow;
use careline::db::{self, AnyConnection};
use careline::jobs::{EmailPayload, Purpose};
use careline::notify::{Content, Delivery};
use diesel::prelude::*;
use mailin_embedded::{Handler, Response, Server, response};

use crate::helpers::{Backend, TestDb, eventually};

/// The lease the worker processes take on a job (a killed worker's job is free after it).
const LEASE: Duration = Duration::from_secs(2);
/// What the graceful-shutdown test allows the worker after SIGTERM.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// `mail.from` of the shipped configuration: the domain of every Message-ID.
const FROM: &str = "Careline <careline@localhost>";

// ---------------------------------------------------------------------------------------------
// The SMTP server

/// A message the server accepted (its `data_end` answered 250).
#[derive(Debug, Clone)]
struct Mail {
    to: Vec<String>,
    message_id: String,
}

#[derive(Debug, Default)]
struct Inbox {
    mails: Vec<Mail>,
    /// The next message's end of DATA waits until `released`.
    hold_next: bool,
    /// A message is waiting in `data_end` now.
    holding: bool,
    released: bool,
}

type Shared = Arc<(Mutex<Inbox>, Condvar)>;

/// One session's handler (mailin-embedded clones it per connection).
#[derive(Debug, Clone)]
struct Recorder {
    shared: Shared,
    to: Vec<String>,
    data: Vec<u8>,
}

fn lock(shared: &Shared) -> MutexGuard<'_, Inbox> {
    shared.0.lock().unwrap_or_else(|e| e.into_inner())
}

fn header(raw: &str, name: &str) -> Option<String> {
    raw.lines().take_while(|l| !l.is_empty()).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

impl Handler for Recorder {
    fn helo(&mut self, _ip: IpAddr, _domain: &str) -> Response {
        response::OK
    }

    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.to = to.to_vec();
        self.data.clear();
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let raw = String::from_utf8_lossy(&self.data).replace("\r\n", "\n");
        let (_, wake) = &*self.shared;
        let mut inbox = lock(&self.shared);
        if inbox.hold_next {
            // The whole message is here; the client waits for our answer.
            inbox.hold_next = false;
            inbox.holding = true;
            while !inbox.released {
                inbox = wake.wait(inbox).unwrap_or_else(|e| e.into_inner());
            }
            inbox.holding = false;
        }
        inbox.mails.push(Mail {
            to: self.to.clone(),
            message_id: header(&raw, "Message-ID").unwrap_or_default(),
        });
        response::OK
    }
}

/// An SMTP server on a port of its own, for the test's lifetime (its thread is left behind).
#[derive(Debug)]
pub(crate) struct Smtp {
    port: u16,
    shared: Shared,
}

impl Smtp {
    pub(crate) fn start() -> Smtp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the SMTP port");
        let port = listener.local_addr().expect("an address").port();
        let shared: Shared = Arc::default();
        let mut server = Server::new(Recorder {
            shared: Arc::clone(&shared),
            to: Vec::new(),
            data: Vec::new(),
        });
        // Pooled client connections stay open and each holds a server thread.
        server.with_num_threads(64).with_tcp_listener(listener);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        Smtp { port, shared }
    }

    fn url(&self) -> String {
        format!("smtp+plain://127.0.0.1:{}", self.port)
    }

    fn hold_next(&self) {
        lock(&self.shared).hold_next = true;
    }

    fn holding(&self) -> bool {
        lock(&self.shared).holding
    }

    fn release(&self) {
        lock(&self.shared).released = true;
        self.shared.1.notify_all();
    }

    fn mails(&self) -> Vec<Mail> {
        lock(&self.shared).mails.clone()
    }

    fn mails_to(&self, address: &str) -> Vec<Mail> {
        self.mails()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(address)))
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// The worker processes

/// A running `careline worker`: killed (SIGKILL) when dropped if still running, and its log
/// printed when the test fails.
#[derive(Debug)]
pub(crate) struct WorkerProcess {
    name: &'static str,
    child: Child,
    log: Arc<Mutex<String>>,
    exited: Option<ExitStatus>,
}

impl WorkerProcess {
    fn start(name: &'static str, database_url: &str, smtp: &Smtp) -> WorkerProcess {
        Self::start_with(name, database_url, smtp, LEASE, &[])
    }

    /// With a lease of its own (`mail.timeout` is three quarters of it: a send must end
    /// before its lease) and further `CARELINE__*` variables.
    pub(crate) fn start_with(
        name: &'static str,
        database_url: &str,
        smtp: &Smtp,
        lease: Duration,
        vars: &[(&str, &str)],
    ) -> WorkerProcess {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_careline"));
        cmd.arg("worker")
            .current_dir(crate::helpers::root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, _) in std::env::vars() {
            if k.starts_with("CARELINE") || k == "RUST_LOG" {
                cmd.env_remove(k);
            }
        }
        let mail_timeout = format!("{}ms", (lease * 3 / 4).as_millis());
        let lease = format!("{}ms", lease.as_millis());
        let shutdown = format!("{}ms", SHUTDOWN_TIMEOUT.as_millis());
        cmd.envs([
            ("CARELINE__DATABASE__URL", database_url),
            ("CARELINE__MAIL__SMTP_URL", &smtp.url()),
            ("CARELINE__MAIL__TIMEOUT", &mail_timeout),
            ("CARELINE__WORKER__LEASE", &lease),
            ("CARELINE__WORKER__POLL_INTERVAL", "200ms"),
            ("CARELINE__WORKER__BACKOFF_BASE", "200ms"),
            ("CARELINE__WORKER__BACKOFF_MAX", "1s"),
            ("CARELINE__WORKER__SHUTDOWN_TIMEOUT", &shutdown),
            ("CARELINE__LOG__LEVEL", "careline=debug,info"),
        ]);
        cmd.envs(vars.iter().copied());
        let mut child = cmd.spawn().expect("start careline worker");
        let log = crate::helpers::capture_log(&mut child);
        WorkerProcess {
            name,
            child,
            log,
            exited: None,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The exit status, if it has exited.
    fn exited(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().expect("wait for the worker");
        }
        self.exited
    }

    /// SIGKILL, and waits for it to be gone.
    pub(crate) fn kill(&mut self) -> ExitStatus {
        if let Some(status) = self.exited() {
            return status;
        }
        self.child.kill().expect("SIGKILL the worker");
        let status = self.child.wait().expect("wait for the worker");
        self.exited = Some(status);
        status
    }

    /// SIGTERM (the way a service manager stops it).
    fn terminate(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {}", self.pid());
    }

    /// Whether the job's claimant (`locked_by`) is this process.
    pub(crate) fn claimed(&self, job: &JobRow) -> bool {
        job.locked_by
            .as_deref()
            .is_some_and(|by| by.starts_with(&format!("{}-", self.pid())))
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.kill();
        if std::thread::panicking() {
            let _ = writeln!(
                std::io::stderr(),
                "---- log of worker {} (pid {}) ----\n{}",
                self.name,
                self.pid(),
                self.log()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The database

/// The test's database, migrated, with a small pool for the test's own queries.
#[derive(Debug)]
pub(crate) struct Jobs {
    pool: db::Pool,
    pub(crate) url: String,
    // Dropped last.
    _db: TestDb,
}

impl Jobs {
    pub(crate) async fn open(backend: &Backend) -> Jobs {
        let test_db = TestDb::create(backend).await;
        let url = test_db.url.clone();
        let settings = DatabaseSettings {
            url: url.clone(),
            pool_size: 2,
            timeout: Duration::from_secs(10),
        };
        let pool = tokio::task::spawn_blocking(move || {
            let pool = db::connect(&settings).expect("connect to the test database");
            let mut conn = pool.get().expect("a connection");
            db::migrate(&mut conn).expect("migrate");
            pool
        })
        .await
        .expect("the migration ran");
        Jobs {
            pool,
            url,
            _db: test_db,
        }
    }

    pub(crate) async fn run<T, F>(&self, f: F) -> T
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> T + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || f(&mut pool.get().expect("a connection")))
            .await
            .expect("the database task ran")
    }

    /// Queues one digest email per `(unique key, address)`, due now, in one transaction.
    async fn enqueue(&self, deliveries: Vec<(String, String)>) {
        self.run(move |c| {
            db::write_transaction(c, |c| -> Result<(), db::DbError> {
                let now = chrono::Utc::now().naive_utc();
                for (key, to) in deliveries {
                    let payload = EmailPayload {
                        purpose: Purpose::Digest,
                        delivery: Delivery {
                            to,
                            locale: "en".into(),
                            content: Content::Digest {
                                date: "2026-01-02".into(),
                                counts: vec![("station-1".into(), 3)],
                            },
                        },
                    };
                    let job = JobRow::new(
                        careline::jobs::EMAIL,
                        key,
                        None,
                        serde_json::to_value(&payload).expect("JSON"),
                        now,
                        now,
                    );
                    assert!(careline::db::jobs::enqueue(c, &job)?, "a new unique key");
                }
                Ok(())
            })
        })
        .await
        .expect("enqueue the deliveries");
    }

    async fn job(&self, unique_key: &str) -> JobRow {
        let key = unique_key.to_string();
        self.run(move |c| {
            use careline::db::schema::jobs;
            jobs::table
                .filter(jobs::unique_key.eq(key))
                .select(JobRow::as_select())
                .first(c)
        })
        .await
        .expect("the job")
    }

    /// Every `email.send` job.
    async fn emails(&self) -> Vec<JobRow> {
        self.run(|c| {
            use careline::db::schema::jobs;
            jobs::table
                .filter(jobs::kind.eq(careline::jobs::EMAIL))
                .select(JobRow::as_select())
                .load(c)
        })
        .await
        .expect("the jobs")
    }

    /// How many workers have beaten their heartbeat.
    pub(crate) async fn workers_seen(&self) -> i64 {
        self.run(|c| {
            careline::db::schema::workers::table
                .count()
                .get_result::<i64>(c)
        })
        .await
        .expect("count workers")
    }
}

fn message_id(unique_key: &str) -> String {
    careline::notify::message_id(unique_key, &FROM.parse().expect("a mailbox"))
}

fn note(message: &str) {
    let _ = writeln!(std::io::stderr(), "{message}");
}

// ---------------------------------------------------------------------------------------------
// Tests

/// Killed with SIGKILL while the mail server holds its message: the job stays leased to the
/// dead worker until the lease runs out, then a second worker sends it again. Nothing is lost;
/// the one duplicate this allows carries the same Message-ID.
async fn a_worker_killed_mid_send_is_taken_over_after_the_lease(backend: Backend) {
    let started = Instant::now();
    let smtp = Smtp::start();
    smtp.hold_next();
    let jobs = Jobs::open(&backend).await;
    let key = "kill-test:1".to_string();
    let to = "kill-test@example.org";
    jobs.enqueue(vec![(key.clone(), to.into())]).await;

    let mut first = WorkerProcess::start("first", &jobs.url, &smtp);
    eventually(
        Duration::from_secs(30),
        "the first worker to be in the middle of the send",
        || async { smtp.holding().then_some(()) },
    )
    .await;
    let status = first.kill();
    let killed = Instant::now();
    assert_eq!(status.signal(), Some(9), "killed by SIGKILL: {status:?}");
    let leased = jobs.job(&key).await;
    assert_eq!(leased.status, "pending", "{leased:?}");
    assert_eq!(leased.attempts, 1, "{leased:?}");
    assert!(
        first.claimed(&leased),
        "leased to the dead worker: {leased:?}"
    );
    let lease_end = leased.locked_until.expect("a lease");
    // The server finishes the message the dead client sent; it may count as delivered.
    smtp.release();

    let second = WorkerProcess::start("second", &jobs.url, &smtp);
    let done = eventually(
        Duration::from_secs(30),
        "the second worker to finish the job",
        || async {
            let job = jobs.job(&key).await;
            (job.status != "pending").then_some(job)
        },
    )
    .await;
    let taken_over = killed.elapsed();
    assert_eq!(done.status, "done", "{done:?}");
    assert!(
        second.claimed(&done),
        "finished by the second worker: {done:?}"
    );
    assert_eq!(done.attempts, 2, "{done:?}");
    assert!(
        done.finished_at.expect("finished") >= lease_end,
        "taken over only after the lease ran out ({lease_end}): {done:?}"
    );
    let copies = smtp.mails_to(to);
    assert!(
        (1..=2).contains(&copies.len()),
        "delivered, at most one duplicate: {copies:?}"
    );
    for copy in &copies {
        assert_eq!(copy.message_id, message_id(&key), "{copies:?}");
    }
    note(&format!(
        "killed mid-send: {} copies delivered, done {taken_over:?} after the kill, test took {:?}",
        copies.len(),
        started.elapsed()
    ));
}

/// SIGTERM while a send is in progress: the worker claims nothing more, lets the send finish
/// (the mail arrives, the job is done), and exits 0 within `worker.shutdown_timeout`.
async fn sigterm_lets_the_running_send_finish_and_claims_nothing_more(backend: Backend) {
    let smtp = Smtp::start();
    smtp.hold_next();
    let jobs = Jobs::open(&backend).await;
    let running = ("term-test:running".to_string(), "running@example.org");
    let later = ("term-test:later".to_string(), "later@example.org");
    jobs.enqueue(vec![(running.0.clone(), running.1.into())])
        .await;

    // A lease (and so a mail timeout) longer than the send is held.
    let mut worker =
        WorkerProcess::start_with("worker", &jobs.url, &smtp, Duration::from_secs(40), &[]);
    eventually(
        Duration::from_secs(30),
        "the worker to be in the middle of the send",
        || async { smtp.holding().then_some(()) },
    )
    .await;
    worker.terminate();
    let terminated = Instant::now();
    eventually(
        Duration::from_secs(10),
        "the worker to stop claiming",
        || async { worker.log().contains("no more claims").then_some(()) },
    )
    .await;
    // Due now, and announced (PostgreSQL NOTIFY): a worker still claiming would take it.
    jobs.enqueue(vec![(later.0.clone(), later.1.into())]).await;
    // Several poll intervals for it to (wrongly) claim the new job while the send still runs.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(worker.exited().is_none(), "still finishing its send");
    smtp.release();

    let status = eventually(SHUTDOWN_TIMEOUT, "the worker to exit", || {
        let status = worker.exited();
        async move { status }
    })
    .await;
    let took = terminated.elapsed();
    assert!(status.success(), "exit 0: {status:?}\n{}", worker.log());
    assert!(took < SHUTDOWN_TIMEOUT, "exited after {took:?}");

    let sent = jobs.job(&running.0).await;
    assert_eq!(sent.status, "done", "the running send finished: {sent:?}");
    let mails = smtp.mails_to(running.1);
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].message_id, message_id(&running.0));

    let untouched = jobs.job(&later.0).await;
    assert_eq!(untouched.status, "pending", "{untouched:?}");
    assert_eq!(untouched.attempts, 0, "never claimed: {untouched:?}");
    assert_eq!(untouched.locked_by, None, "never claimed: {untouched:?}");
    assert!(smtp.mails_to(later.1).is_empty());
    note(&format!("SIGTERM mid-send: exited 0 after {took:?}"));
}

/// Two worker processes on one database and `n` deliveries committed at once: each is claimed
/// once and sent exactly once (distinct Message-IDs at the server, none twice), every job ends
/// `done`, and both processes took part.
async fn two_workers_send_each_delivery_once(backend: Backend, n: usize) {
    let smtp = Smtp::start();
    let jobs = Jobs::open(&backend).await;
    // No takeover is wanted here: a lease (and a mail timeout, below it) far longer than a
    // send takes on a loaded machine, so no send times out and is sent again.
    let lease = Duration::from_secs(40);
    let workers = [
        WorkerProcess::start_with("a", &jobs.url, &smtp, lease, &[]),
        WorkerProcess::start_with("b", &jobs.url, &smtp, lease, &[]),
    ];
    eventually(
        Duration::from_secs(30),
        "both workers to be running",
        || async { (jobs.workers_seen().await >= 2).then_some(()) },
    )
    .await;

    let deliveries: Vec<(String, String)> = (0..n)
        .map(|i| (format!("many:{i}"), format!("rcpt-{i}@example.org")))
        .collect();
    let expected: HashSet<String> = deliveries.iter().map(|(k, _)| message_id(k)).collect();
    assert_eq!(expected.len(), n);
    let queued = Instant::now();
    jobs.enqueue(deliveries).await;

    let done = eventually(
        Duration::from_secs(50),
        "every delivery to be done",
        || async {
            let emails = jobs.emails().await;
            emails
                .iter()
                .all(|j| j.status != "pending")
                .then_some(emails)
        },
    )
    .await;
    let took = queued.elapsed();
    assert_eq!(done.len(), n);
    let not_done: Vec<&JobRow> = done.iter().filter(|j| j.status != "done").collect();
    assert!(not_done.is_empty(), "{not_done:?}");

    let mails = smtp.mails();
    let mut per_id: HashMap<&str, usize> = HashMap::new();
    for m in &mails {
        *per_id.entry(m.message_id.as_str()).or_default() += 1;
    }
    let twice: Vec<_> = per_id.iter().filter(|(_, c)| **c > 1).collect();
    assert!(twice.is_empty(), "sent more than once: {twice:?}");
    assert_eq!(mails.len(), n, "one mail per delivery");
    let seen: HashSet<String> = per_id.keys().map(|s| s.to_string()).collect();
    assert_eq!(seen, expected, "the Message-IDs of the deliveries");

    let by: Vec<usize> = workers
        .iter()
        .map(|w| done.iter().filter(|j| w.claimed(j)).count())
        .collect();
    assert_eq!(by.iter().sum::<usize>(), n, "{by:?}");
    assert!(by.iter().all(|c| *c > 0), "both workers sent some: {by:?}");
    let twice_claimed: Vec<&JobRow> = done.iter().filter(|j| j.attempts != 1).collect();
    assert!(
        twice_claimed.is_empty(),
        "each claimed once: {twice_claimed:?}"
    );
    note(&format!(
        "{n} deliveries by two worker processes in {took:?}: {by:?} per worker"
    ));
}

/// SIGTERM while one send hangs and three claimed deliveries wait for a send slot
/// (`mail.pool_size` 1, `worker.concurrency` 4): the three are handed back at once and a second
/// worker sends them long before the 40 s lease would have freed them; the hanging one is
/// handed back when the shutdown timeout aborts it, and sent by the second worker too.
async fn sigterm_hands_claimed_jobs_back_at_once(backend: Backend) {
    let hanging = Smtp::start();
    hanging.hold_next();
    let working = Smtp::start();
    let jobs = Jobs::open(&backend).await;
    let lease = Duration::from_secs(40);
    let keys: Vec<(String, String)> = (0..4)
        .map(|i| (format!("handback:{i}"), format!("h{i}@example.org")))
        .collect();
    let mut a = WorkerProcess::start_with(
        "a",
        &jobs.url,
        &hanging,
        lease,
        &[
            ("CARELINE__MAIL__POOL_SIZE", "1"),
            ("CARELINE__WORKER__CONCURRENCY", "4"),
            ("CARELINE__WORKER__SHUTDOWN_TIMEOUT", "2s"),
        ],
    );
    eventually(Duration::from_secs(30), "worker a to run", || async {
        (jobs.workers_seen().await >= 1).then_some(())
    })
    .await;
    jobs.enqueue(keys.clone()).await;
    eventually(
        Duration::from_secs(30),
        "a to hold all four, one of them mid-send",
        || async {
            let emails = jobs.emails().await;
            (hanging.holding() && emails.iter().filter(|j| a.claimed(j)).count() == 4).then_some(())
        },
    )
    .await;
    let b = WorkerProcess::start_with("b", &jobs.url, &working, lease, &[]);
    eventually(Duration::from_secs(30), "worker b to run", || async {
        (jobs.workers_seen().await >= 2).then_some(())
    })
    .await;
    assert!(working.mails().is_empty(), "b found nothing to claim yet");

    a.terminate();
    let terminated = Instant::now();
    eventually(
        Duration::from_secs(20),
        "b to send the three waiting deliveries",
        || async { (working.mails().len() >= 3).then_some(()) },
    )
    .await;
    let waiting_took = terminated.elapsed();
    let all_took = eventually(
        Duration::from_secs(20),
        "b to send the aborted one too",
        || async {
            let emails = jobs.emails().await;
            emails
                .iter()
                .all(|j| j.status == "done")
                .then_some(terminated.elapsed())
        },
    )
    .await;
    let status = eventually(Duration::from_secs(10), "a to exit", || {
        let status = a.exited();
        async move { status }
    })
    .await;
    assert!(status.success(), "exit 0: {status:?}\n{}", a.log());
    assert!(a.log().contains("handed claimed jobs back"), "{}", a.log());
    // Far below the lease: nobody waited for it to run out.
    assert!(waiting_took < Duration::from_secs(10), "{waiting_took:?}");
    assert!(all_took < Duration::from_secs(15), "{all_took:?}");
    let done = jobs.emails().await;
    assert!(
        done.iter().all(|j| b.claimed(j)),
        "b sent all four: {done:?}"
    );
    let mut attempts: Vec<i32> = done.iter().map(|j| j.attempts).collect();
    attempts.sort();
    // The three that never started did not use up an attempt; the aborted one did.
    assert_eq!(attempts, vec![1, 1, 1, 2], "{done:?}");
    for (key, to) in &keys {
        let got = working.mails_to(to);
        assert_eq!(got.len(), 1, "{key}: {got:?}");
        assert_eq!(got[0].message_id, message_id(key));
    }
    note(&format!(
        "SIGTERM hand-back: waiting jobs sent by another worker {waiting_took:?} after SIGTERM, the aborted one {all_took:?} (lease {lease:?})"
    ));
}

backend_tests!(
    a_worker_killed_mid_send_is_taken_over_after_the_lease,
    sigterm_lets_the_running_send_finish_and_claims_nothing_more,
    sigterm_hands_claimed_jobs_back_at_once,
);

/// Issue 5: two `careline worker` processes on one PostgreSQL, 500 queued deliveries.
mod two_worker_processes_on_one_postgres_send_each_of_500_deliveries_once {
    #[actix_web::test]
    async fn postgres() {
        if let Some(backend) = crate::helpers::Backend::postgres().await {
            super::two_workers_send_each_delivery_once(backend, 500).await;
        }
    }
}

/// The same on one SQLite file (claims serialize on its write lock).
mod two_worker_processes_on_one_sqlite_file_send_each_delivery_once {
    #[actix_web::test]
    async fn sqlite() {
        super::two_workers_send_each_delivery_once(crate::helpers::Backend::Sqlite, 200).await;
    }
}
