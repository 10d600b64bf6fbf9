//! The notifier through a real SMTP server inside the test process (mailin-embedded), on both
//! databases: pages and their headers, escalation timing, acknowledgement racing the timer,
//! mail-server outages (refused, 4xx, 5xx, silent), gaps, reminders, resolution, the digest.
//!
//! `TestSmtp` is the server. The application connects to a front port that this file owns:
//! it forwards connections to the mailin server, or (switched at runtime) closes its listener
//! so that connections are refused, or accepts TCP and never says a word. The mailin handler
//! answers the end of DATA with 250, 451 or 550 as the test asks, and records every attempt
//! with its raw bytes.

use std::collections::VecDeque;
use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use careline::config::{Audience, EscalationLevel, EscalationPolicy, Settings};
use careline::db::alerts::EventRow;
use careline::db::jobs::JobRow;
use chrono::NaiveDateTime;
use mailin_embedded::{Handler, Response, Server};

use crate::helpers::{
    AppOptions, Backend, RED, TestApp, Tweak, YELLOW, captured_logs, eventually, ok, phq9_body,
};
use crate::notifier::on_duty;

// ---------------------------------------------------------------------------------------------
// The test SMTP server

/// What the server does with the next connection or message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 250 at the end of DATA.
    Accept,
    /// 451 at the end of DATA (temporary: the client should retry).
    TempFail,
    /// 550 at the end of DATA (permanent).
    PermFail,
    /// Nothing listens on the port: connections are refused.
    Refuse,
    /// TCP connections are accepted and never answered (not even a greeting).
    Hang,
}

/// One message the client sent up to the end of DATA, and how the server answered it.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// When the client said MAIL FROM (the send had started).
    pub started: Instant,
    /// When the server answered the end of DATA.
    pub answered: Instant,
    pub to: Vec<String>,
    pub code: u16,
    pub raw: Vec<u8>,
}

impl Attempt {
    pub fn accepted(&self) -> bool {
        self.code == 250
    }

    /// The header section, unfolded: (name, value), in order.
    pub fn headers(&self) -> Vec<(String, String)> {
        let text = String::from_utf8_lossy(&self.raw);
        let head = text.split("\r\n\r\n").next().unwrap_or_default();
        let mut out: Vec<(String, String)> = Vec::new();
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some(last) = out.last_mut() {
                    last.1.push_str(line.trim_start());
                }
            } else if let Some((name, value)) = line.split_once(':') {
                out.push((name.to_string(), value.trim().to_string()));
            }
        }
        out
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers()
            .into_iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    pub fn message_id(&self) -> String {
        self.header("Message-ID").unwrap_or_default()
    }

    /// The subject, RFC 2047 words decoded.
    pub fn subject(&self) -> String {
        decode_words(&self.header("Subject").unwrap_or_default())
    }

    /// The body, its transfer encoding (base64, quoted-printable) undone.
    pub fn body(&self) -> String {
        let text = String::from_utf8_lossy(&self.raw);
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let encoding = self
            .header("Content-Transfer-Encoding")
            .unwrap_or_default()
            .to_ascii_lowercase();
        match encoding.as_str() {
            "base64" => {
                let clean: String = body.chars().filter(|c| !c.is_whitespace()).collect();
                String::from_utf8_lossy(
                    &base64::engine::general_purpose::STANDARD
                        .decode(clean)
                        .expect("a base64 body"),
                )
                .into_owned()
            }
            "quoted-printable" => String::from_utf8_lossy(&qp_decode(body)).into_owned(),
            _ => body.to_string(),
        }
    }

    /// Everything a reader could see: raw bytes, decoded subject and body.
    pub fn everything(&self) -> String {
        format!(
            "{}\n{}\n{}",
            String::from_utf8_lossy(&self.raw),
            self.subject(),
            self.body()
        )
    }
}

fn qp_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            if bytes.get(i + 1..i + 3) == Some(b"\r\n") {
                i += 3;
                continue;
            }
            if bytes.get(i + 1) == Some(&b'\n') {
                i += 2;
                continue;
            }
            if let Some(hex) = bytes.get(i + 1..i + 3)
                && let Ok(b) = u8::from_str_radix(&String::from_utf8_lossy(hex), 16)
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// Decodes `=?charset?B|Q?...?=` words (UTF-8 only, which is what lettre writes).
fn decode_words(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("=?") {
        let before = &rest[..start];
        // Whitespace between two encoded words is not part of the text.
        if !before.trim().is_empty() || out.is_empty() {
            out.push_str(before);
        }
        let word = &rest[start + 2..];
        let parts: Vec<&str> = word.splitn(3, '?').collect();
        let Some(end) = parts.get(2).and_then(|p| p.find("?=")) else {
            out.push_str(&rest[start..]);
            return out;
        };
        let (encoding, text) = (parts[1], &parts[2][..end]);
        let decoded = if encoding.eq_ignore_ascii_case("b") {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .unwrap_or_default()
        } else {
            qp_decode(&text.replace('_', " "))
        };
        out.push_str(&String::from_utf8_lossy(&decoded));
        let consumed = start + 2 + parts[0].len() + 1 + parts[1].len() + 1 + end + 2;
        rest = &rest[consumed..];
    }
    out.push_str(rest);
    out
}

#[derive(Debug)]
struct State {
    mode: Mode,
    /// Answers for the next messages, before the mode applies.
    script: VecDeque<u16>,
    attempts: Vec<Attempt>,
    connections: usize,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// The client side of every open connection, to cut them when the server "goes down".
    live: Mutex<Vec<TcpStream>>,
    stop: AtomicBool,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn cut_connections(&self) {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        for s in live.drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// The per-connection mailin handler.
#[derive(Clone)]
struct SmtpHandler {
    shared: Arc<Shared>,
    started: Option<Instant>,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for SmtpHandler {
    fn mail(&mut self, _ip: std::net::IpAddr, _domain: &str, _from: &str) -> Response {
        self.started = Some(Instant::now());
        self.to.clear();
        self.data.clear();
        mailin_embedded::response::OK
    }

    fn rcpt(&mut self, to: &str) -> Response {
        self.to
            .push(to.trim_matches(['<', '>']).to_ascii_lowercase());
        mailin_embedded::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let mut state = self.shared.state();
        let code = state.script.pop_front().unwrap_or(match state.mode {
            Mode::TempFail => 451,
            Mode::PermFail => 550,
            _ => 250,
        });
        state.attempts.push(Attempt {
            started: self.started.unwrap_or_else(Instant::now),
            answered: Instant::now(),
            to: self.to.clone(),
            code,
            raw: std::mem::take(&mut self.data),
        });
        let mut response = match code {
            250 => return mailin_embedded::response::OK,
            451 => Response::custom(451, "4.3.0 try again later (test)".into()),
            c => Response::custom(c, "5.1.1 mailbox unavailable (test)".into()),
        };
        // mailin stays in its DATA state after an error there, so the client's QUIT would be
        // read as message text and never answered: close the connection instead, as many
        // servers do after refusing a message.
        response.action = mailin_embedded::Action::Close;
        response
    }
}

/// A real SMTP server on 127.0.0.1, switchable at runtime.
#[derive(Debug)]
pub struct TestSmtp {
    pub port: u16,
    shared: Arc<Shared>,
}

impl TestSmtp {
    pub fn start() -> TestSmtp {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                mode: Mode::Accept,
                script: VecDeque::new(),
                attempts: Vec::new(),
                connections: 0,
            }),
            live: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        // The SMTP server proper, on a port of its own (it serves forever).
        let inner = TcpListener::bind("127.0.0.1:0").expect("bind the SMTP server");
        let inner_port = inner.local_addr().expect("an address").port();
        let handler = SmtpHandler {
            shared: Arc::clone(&shared),
            started: None,
            to: Vec::new(),
            data: Vec::new(),
        };
        std::thread::spawn(move || {
            let mut server = Server::new(handler);
            server
                .with_name("smtp.test")
                .with_num_threads(32)
                .with_tcp_listener(inner);
            let _ = server.serve();
        });
        // The front door the application connects to.
        let front = TcpListener::bind("127.0.0.1:0").expect("bind the front port");
        let port = front.local_addr().expect("an address").port();
        let s = Arc::clone(&shared);
        std::thread::spawn(move || run_front(front, port, inner_port, &s));
        TestSmtp { port, shared }
    }

    pub fn url(&self) -> String {
        format!("smtp+plain://127.0.0.1:{}", self.port)
    }

    pub fn set_mode(&self, mode: Mode) {
        let before = {
            let mut state = self.shared.state();
            std::mem::replace(&mut state.mode, mode)
        };
        if matches!(mode, Mode::Refuse | Mode::Hang) || before == Mode::Hang {
            // A server going down takes its open connections (the client's pooled ones) along.
            self.shared.cut_connections();
        }
    }

    /// The next `codes.len()` messages are answered with these codes, in order.
    pub fn script(&self, codes: &[u16]) {
        self.shared.state().script.extend(codes);
    }

    pub fn attempts(&self) -> Vec<Attempt> {
        self.shared.state().attempts.clone()
    }

    pub fn accepted(&self) -> Vec<Attempt> {
        self.attempts()
            .into_iter()
            .filter(Attempt::accepted)
            .collect()
    }

    /// TCP connections the front port accepted.
    pub fn connections(&self) -> usize {
        self.shared.state().connections
    }

    /// Waits until `check` holds on the accepted messages; returns them.
    pub async fn wait_accepted(
        &self,
        timeout: Duration,
        what: &str,
        check: impl Fn(&[Attempt]) -> bool,
    ) -> Vec<Attempt> {
        eventually(timeout, what, || {
            let mails = self.accepted();
            let done = check(&mails);
            async move { done.then_some(mails) }
        })
        .await
    }
}

impl Drop for TestSmtp {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.cut_connections();
    }
}

fn run_front(first: TcpListener, port: u16, inner_port: u16, shared: &Arc<Shared>) {
    let _ = first.set_nonblocking(true);
    let mut listener = Some(first);
    while !shared.stop.load(Ordering::SeqCst) {
        let mode = shared.state().mode;
        if mode == Mode::Refuse {
            // Nothing listens: the kernel refuses connections to the port.
            listener = None;
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        if listener.is_none() {
            // Back on the same port (std sets SO_REUSEADDR).
            match TcpListener::bind(("127.0.0.1", port)) {
                Ok(l) => {
                    let _ = l.set_nonblocking(true);
                    listener = Some(l);
                }
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            }
        }
        let Some(l) = &listener else { continue };
        match l.accept() {
            Ok((client, _)) => {
                let _ = client.set_nonblocking(false);
                shared.state().connections += 1;
                if let Ok(c) = client.try_clone() {
                    shared
                        .live
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(c);
                }
                if mode == Mode::Hang {
                    // Held open (in `live`), never read, never answered.
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", inner_port)) else {
                    continue;
                };
                pipe(client, server);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

/// Copies bytes both ways until either side closes.
fn pipe(client: TcpStream, server: TcpStream) {
    let (Ok(mut c2), Ok(mut s2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let (mut c1, mut s1) = (client, server);
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut c1, &mut s1);
        let _ = s1.shutdown(Shutdown::Both);
        let _ = c1.shutdown(Shutdown::Both);
    });
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut s2, &mut c2);
        let _ = c2.shutdown(Shutdown::Both);
        let _ = s2.shutdown(Shutdown::Both);
    });
}

// ---------------------------------------------------------------------------------------------
// The application, configured for it

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A policy of three levels (on-duty counselors, on-duty supervisors, all supervisors + backup)
/// with these timeouts; `rounds` rounds, then `repeat`.
fn policy(timeouts: [Duration; 3], rounds: u32, repeat: Duration) -> EscalationPolicy {
    let notify = [
        Audience::OnDutyCounselors,
        Audience::OnDutySupervisors,
        Audience::AllSupervisors,
    ];
    EscalationPolicy {
        levels: notify
            .iter()
            .zip(timeouts)
            .map(|(n, t)| EscalationLevel {
                notify: *n,
                timeout: t,
            })
            .collect(),
        rounds,
        repeat_interval: repeat,
        urgent_first_timeout: timeouts[0],
        backup_emails: vec![BACKUP.into()],
        reminder_interval: Duration::from_secs(3600),
        channels: Default::default(),
    }
}

const BACKUP: &str = "backup-desk@example.org";
const SITE: &str = "station-1";
const OTHER_SITE: &str = "station-2";

/// An application whose mail goes to `smtp`, with fast worker settings, the given policy, and
/// any further changes from `tune`.
async fn app_with(
    backend: Backend,
    smtp: &TestSmtp,
    escalation: EscalationPolicy,
    tune: impl Fn(&mut Settings) + Send + Sync + 'static,
) -> TestApp {
    let url = smtp.url();
    let tweak = move |s: &mut Settings| {
        s.mail.smtp_url = url.clone();
        s.mail.timeout = Duration::from_secs(2);
        s.worker.poll_interval = ms(200);
        s.worker.backoff_base = ms(100);
        s.worker.backoff_max = Duration::from_secs(1);
        s.worker.max_attempts = 50;
        s.escalation = escalation.clone();
        tune(s);
    };
    let app = crate::helpers::spawn_app_with(
        backend,
        AppOptions {
            tweak: Some(Tweak(Arc::new(tweak))),
            ..Default::default()
        },
    )
    .await;
    app.create_site(SITE).await;
    app.create_site(OTHER_SITE).await;
    app
}

fn now() -> NaiveDateTime {
    chrono::Utc::now().naive_utc()
}

async fn jobs_of(app: &TestApp, alert_id: &str) -> Vec<JobRow> {
    let id = alert_id.to_string();
    app.with_conn(move |c| careline::db::jobs::list_for_alert(c, &id))
        .await
        .expect("read the jobs")
}

fn payload(job: &JobRow) -> serde_json::Value {
    serde_json::from_str(&job.payload).expect("a JSON payload")
}

fn is_page(job: &JobRow) -> bool {
    job.kind == "email.send" && payload(job)["purpose"] == "page"
}

fn recipient(job: &JobRow) -> String {
    payload(job)["delivery"]["to"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// The `paged` entries of the timeline: (level, round, at).
async fn pages(app: &TestApp, alert_id: &str) -> Vec<(u64, u64, NaiveDateTime)> {
    app.alert_events_all(alert_id)
        .await
        .into_iter()
        .filter(|e| e.kind == "paged")
        .map(|e| {
            let d: serde_json::Value = serde_json::from_str(&e.detail).expect("JSON detail");
            (
                d["level"].as_u64().unwrap_or(99),
                d["round"].as_u64().unwrap_or(99),
                e.at,
            )
        })
        .collect()
}

async fn events_of(app: &TestApp, alert_id: &str, kind: &str) -> Vec<EventRow> {
    app.alert_events_all(alert_id)
        .await
        .into_iter()
        .filter(|e| e.kind == kind)
        .collect()
}

fn to_of(mail: &Attempt) -> String {
    mail.to.join(",")
}

fn mails_to<'a>(mails: &'a [Attempt], address: &str) -> Vec<&'a Attempt> {
    let address = address.to_ascii_lowercase();
    mails.iter().filter(|m| m.to.contains(&address)).collect()
}

fn note(message: &str) {
    let _ = writeln!(std::io::stderr(), "{message}");
}

async fn acknowledge(app: &TestApp, token: &str, alert_id: &str) {
    ok(app
        .post_as(
            token,
            &format!("/api/v1/alerts/{alert_id}/acknowledge"),
            None,
        )
        .await)
    .await;
}

// ---------------------------------------------------------------------------------------------
// 1. The page: who gets it, its headers, and no rider data

async fn a_red_screening_pages_the_on_duty_counselors_of_its_site_over_smtp(backend: Backend) {
    let smtp = TestSmtp::start();
    let app = app_with(
        backend,
        &smtp,
        policy([Duration::from_secs(600); 3], 2, Duration::from_secs(900)),
        |_| {},
    )
    .await;
    let here_1 = app.create_user("counselor", &[SITE]).await;
    let here_2 = app.create_user("counselor", &[SITE]).await;
    let elsewhere = app.create_user("counselor", &[OTHER_SITE]).await;
    let _off_duty = app.create_user("counselor", &[SITE]).await;
    let supervisor = app.create_user("supervisor", &[SITE]).await;
    for u in [&here_1, &here_2, &elsewhere, &supervisor] {
        on_duty(&app, &u.id).await;
    }

    let marker_name = "Zhang Markername 张标记";
    let marker_phone = "13987654321";
    let mut body = phq9_body(RED);
    body["site"] = SITE.into();
    body["contact"] = serde_json::json!({"name": marker_name, "phone": marker_phone});
    body["consent_to_contact"] = true.into();
    let started = Instant::now();
    let alert_id = app.submit(&body).await.alert_id.expect("an alert");
    let alert = app.alert_row(&alert_id).await;

    let mails = smtp
        .wait_accepted(Duration::from_secs(10), "two pages", |m| m.len() >= 2)
        .await;
    let latency = started.elapsed();
    // Every page job is settled: nothing else is on its way.
    let id = alert_id.clone();
    let settled = eventually(Duration::from_secs(10), "the page jobs done", || {
        let (app, id) = (&app, id.clone());
        async move {
            let jobs = jobs_of(app, &id).await;
            let pages: Vec<JobRow> = jobs.into_iter().filter(is_page).collect();
            pages.iter().all(|j| j.status == "done").then_some(pages)
        }
    })
    .await;
    assert_eq!(settled.len(), 2, "{settled:?}");
    let mails_now = smtp.accepted();
    assert_eq!(
        mails_now.len(),
        2,
        "{:?}",
        mails_now.iter().map(to_of).collect::<Vec<_>>()
    );
    let mut to: Vec<String> = mails.iter().map(to_of).collect();
    to.sort();
    let mut expected = vec![
        here_1.email.to_ascii_lowercase(),
        here_2.email.to_ascii_lowercase(),
    ];
    expected.sort();
    assert_eq!(
        to, expected,
        "the on-duty counselors of {SITE} and nobody else"
    );

    for mail in &mails {
        let raw = String::from_utf8_lossy(&mail.raw).into_owned();
        let from = mail.header("From").expect("From");
        assert!(from.contains("careline@localhost"), "From: {from}");
        let to = mail.header("To").expect("To");
        assert!(mail.to.iter().any(|t| to.contains(t.as_str())), "To: {to}");
        let subject = mail.subject();
        assert!(subject.contains(&alert.reference), "Subject: {subject}");
        let message_id = mail.message_id();
        assert!(
            message_id.starts_with('<') && message_id.ends_with("@localhost>"),
            "Message-ID: {message_id}"
        );
        let date = mail.header("Date").expect("Date");
        chrono::DateTime::parse_from_rfc2822(&date)
            .unwrap_or_else(|e| panic!("Date `{date}` is RFC 2822: {e}"));
        // One of each, and nothing smuggled in.
        for name in ["From", "To", "Subject", "Message-ID", "Date"] {
            let n = mail
                .headers()
                .iter()
                .filter(|(h, _)| h.eq_ignore_ascii_case(name))
                .count();
            assert_eq!(n, 1, "{name} once in {raw}");
        }
        assert!(
            mail.headers()
                .iter()
                .all(|(h, _)| !h.eq_ignore_ascii_case("bcc") && !h.eq_ignore_ascii_case("cc")),
            "{raw}"
        );
        let body = mail.body();
        assert!(body.contains(&alert.reference), "{body}");
        assert!(body.contains(SITE), "{body}");
        assert!(
            body.contains(&format!("http://127.0.0.1:8080/queue/{}", alert.reference)),
            "{body}"
        );
        let everything = mail.everything();
        for secret in [marker_name, "Markername", "张标记", marker_phone, "9876"] {
            assert!(
                !everything.contains(secret),
                "`{secret}` in a mail: {everything}"
            );
        }
        for answer_or_score in ["q9", "self_harm", "score", "PHQ", "phq9", "\"answers\""] {
            assert!(
                !everything.contains(answer_or_score),
                "`{answer_or_score}` in a mail: {everything}"
            );
        }
    }
    let logs = captured_logs();
    for secret in [marker_name, "Markername", "张标记", marker_phone] {
        assert!(!logs.contains(secret), "`{secret}` in the logs");
    }
    // Two Message-IDs, one per delivery.
    assert_ne!(mails[0].message_id(), mails[1].message_id());
    note(&format!(
        "notifier_smtp: submit to two pages accepted in {latency:?}"
    ));
}

backend_tests!(a_red_screening_pages_the_on_duty_counselors_of_its_site_over_smtp);

// ---------------------------------------------------------------------------------------------
// 2. Nobody acknowledges: the chain climbs; acknowledging stops it

async fn without_acknowledgement_the_chain_climbs_until_someone_acknowledges(backend: Backend) {
    let smtp = TestSmtp::start();
    let level = ms(1000);
    let app = app_with(backend, &smtp, policy([level; 3], 2, level), |_| {}).await;
    let counselor = app.staff("counselor", &[SITE]).await;
    let sup_on = app.create_user("supervisor", &[SITE]).await;
    let sup_off = app.create_user("supervisor", &[SITE]).await;
    let sup_other_site = app.create_user("supervisor", &[OTHER_SITE]).await;
    on_duty(&app, &counselor.id).await;
    on_duty(&app, &sup_on.id).await;
    on_duty(&app, &sup_other_site.id).await;
    let _ = &sup_off;

    let alert_id = app.red_alert(Some(SITE)).await;
    let lower = |s: &str| s.to_ascii_lowercase();
    let all_supervisors = {
        let mut v = vec![
            lower(&sup_on.email),
            lower(&sup_off.email),
            lower(&sup_other_site.email),
            BACKUP.to_string(),
        ];
        v.sort();
        v
    };
    // Level 0, then level 1 (the on-duty supervisor of the site), then level 2.
    let mails = smtp
        .wait_accepted(Duration::from_secs(10), "three levels of pages", |m| {
            m.len() >= 1 + 1 + all_supervisors.len()
        })
        .await;
    let t_level2 = Instant::now();
    let first: Vec<String> = mails[..1].iter().map(to_of).collect();
    assert_eq!(first, [lower(&counselor.email)]);
    let second: Vec<String> = mails[1..2].iter().map(to_of).collect();
    assert_eq!(
        second,
        [lower(&sup_on.email)],
        "level 1: the on-duty supervisor of {SITE}"
    );
    let mut third: Vec<String> = mails[2..2 + all_supervisors.len()]
        .iter()
        .map(to_of)
        .collect();
    third.sort();
    assert_eq!(
        third, all_supervisors,
        "level 2: every supervisor and the backup"
    );
    // Timings, from the timeline: each level its timeout after the one before, and on time.
    let paged = pages(&app, &alert_id).await;
    assert_eq!(
        paged.iter().map(|p| (p.0, p.1)).collect::<Vec<_>>()[..3],
        [(0, 0), (1, 0), (2, 0)],
        "{paged:?}"
    );
    for w in paged.windows(2).take(2) {
        let gap = (w[1].2 - w[0].2).to_std().expect("in order");
        assert!(
            gap >= level && gap < level + ms(1500),
            "level {} paged {gap:?} after level {}, timeout {level:?}",
            w[1].0,
            w[0].0
        );
    }
    // And the mails in that order: level 1's after level 0's by about the timeout.
    let spread = mails[1].answered - mails[0].answered;
    assert!(spread >= level - ms(300), "{spread:?}");

    // The acknowledgement stops the chain (the next step, round 1, was due a second later).
    acknowledge(&app, &counselor.token, &alert_id).await;
    let acked = Instant::now();
    assert!(
        acked - t_level2 < level,
        "acknowledged before the next step was due"
    );
    let jobs = jobs_of(&app, &alert_id).await;
    let pending: Vec<&JobRow> = jobs.iter().filter(|j| j.status == "pending").collect();
    assert!(
        pending.iter().all(|j| j.kind == "alert.remind"),
        "only the reminder is pending after the acknowledgement: {pending:?}"
    );
    assert!(
        jobs.iter()
            .any(|j| j.kind == "alert.escalate" && j.status == "cancelled"),
        "the armed timer was cancelled: {jobs:?}"
    );
    // A few timeouts later: no page, no further `paged` entry.
    let count = smtp.accepted().len();
    let until = acked + 3 * level;
    eventually(Duration::from_secs(6), "three timeouts to pass", || async {
        (Instant::now() >= until).then_some(())
    })
    .await;
    assert_eq!(
        smtp.accepted().len(),
        count,
        "a page after the acknowledgement"
    );
    assert_eq!(pages(&app, &alert_id).await.len(), 3);
}

backend_tests!(without_acknowledgement_the_chain_climbs_until_someone_acknowledges);

// ---------------------------------------------------------------------------------------------
// 3. The acknowledgement racing the escalation timer

/// One race: the alert, and the acknowledgement's 200 on the test's clocks.
#[derive(Debug)]
struct Race {
    alert_id: String,
    reference: String,
    acked: Instant,
    acked_utc: NaiveDateTime,
}

async fn the_acknowledgement_racing_the_timer_never_yields_a_page_after_it(backend: Backend) {
    const RUNS: u32 = 50;
    let smtp = TestSmtp::start();
    let t = ms(150);
    let app = app_with(backend, &smtp, policy([t; 3], 1, t), |s| {
        s.worker.poll_interval = ms(50);
    })
    .await;
    let counselor = app.staff("counselor", &[SITE]).await;
    let supervisor = app.create_user("supervisor", &[SITE]).await;
    on_duty(&app, &counselor.id).await;
    on_duty(&app, &supervisor.id).await;

    let mut races = Vec::new();
    for i in 0..RUNS {
        let alert_id = app.red_alert(Some(SITE)).await;
        // The timer fires `t` after the commit; acknowledge from 60 ms before to 60 ms after.
        tokio::time::sleep(t - ms(60) + ms(10 * u64::from(i % 13))).await;
        acknowledge(&app, &counselor.token, &alert_id).await;
        let (acked, acked_utc) = (Instant::now(), now());
        let reference = app.alert_row(&alert_id).await.reference;
        races.push(Race {
            alert_id,
            reference,
            acked,
            acked_utc,
        });
    }
    // Every job of every alert settles (the next reminder aside, an hour away).
    for race in &races {
        let id = race.alert_id.clone();
        eventually(
            Duration::from_secs(10),
            "the alert's jobs to settle",
            || {
                let (app, id) = (&app, id.clone());
                async move {
                    jobs_of(app, &id)
                        .await
                        .iter()
                        .all(|j| j.status != "pending" || j.kind == "alert.remind")
                        .then_some(())
                }
            },
        )
        .await;
    }
    // A send decided before an acknowledgement may still be talking to the server: wait out
    // the grace after the last acknowledgement before reading what the server accepted.
    let grace = Duration::from_secs(1);
    let until = races.last().expect("runs").acked + grace + ms(200);
    eventually(Duration::from_secs(5), "the grace to pass", || async {
        (Instant::now() >= until).then_some(())
    })
    .await;
    let mails = smtp.accepted();

    // The criterion. The acknowledgement commits before its 200 is sent (`acked`, `acked_utc`
    // are read after the 200 arrives). An escalation step and a page's go/no-go check run in
    // transactions that hold the alert's row and re-read its status, so a step or a page either
    // committed before the acknowledgement (and is allowed) or sees it and does nothing. Hence:
    // (a) no page job and no `paged` entry is dated after the 200, nor after the
    //     `acknowledged` entry of the timeline (the timeline must read in the order things
    //     happened);
    // (b) no page job is pending or running afterwards (the acknowledgement cancelled it);
    // (c) no page for the alert reaches the server (MAIL FROM) later than 1 s after the 200:
    //     a page whose go/no-go committed before the acknowledgement is at most milliseconds
    //     from its MAIL FROM on an idle local server; one that starts later was decided after
    //     the acknowledgement committed.
    let mut late_but_started = 0;
    let mut raced_level_1 = 0;
    for race in &races {
        let jobs = jobs_of(&app, &race.alert_id).await;
        let acked_at = events_of(&app, &race.alert_id, "acknowledged")
            .await
            .first()
            .expect("an acknowledged entry")
            .at;
        for job in jobs.iter().filter(|j| is_page(j)) {
            assert!(
                job.created_at <= race.acked_utc && job.created_at <= acked_at,
                "{}: a page job created at {} after the acknowledgement ({acked_at}, 200 at {}): {job:?}",
                race.reference,
                job.created_at,
                race.acked_utc
            );
            assert_ne!(job.status, "pending", "{}: {job:?}", race.reference);
        }
        let paged = pages(&app, &race.alert_id).await;
        for (level, round, at) in &paged {
            assert!(
                *at <= race.acked_utc && *at <= acked_at,
                "{}: level {level} round {round} paged at {at}, after the acknowledgement at {acked_at} (200 at {})",
                race.reference,
                race.acked_utc
            );
        }
        if paged.iter().any(|p| p.0 >= 1) {
            raced_level_1 += 1;
        }
        for mail in mails
            .iter()
            .filter(|m| m.subject().contains(&race.reference))
        {
            assert!(
                mail.started <= race.acked + grace,
                "{}: a page to {} started {:?} after the acknowledgement's 200",
                race.reference,
                to_of(mail),
                mail.started - race.acked
            );
            if mail.started > race.acked {
                late_but_started += 1;
            }
        }
    }
    note(&format!(
        "notifier_smtp race: {RUNS} runs, {raced_level_1} reached level 1 before the acknowledgement, \
         {late_but_started} pages decided before it reached the server after its 200"
    ));
    // The runs did straddle the timer: some acknowledgements came before it, some after.
    assert!(
        raced_level_1 > 0 && raced_level_1 < RUNS,
        "the acknowledgement should sometimes win and sometimes lose: {raced_level_1}/{RUNS}"
    );
}

backend_tests!(the_acknowledgement_racing_the_timer_never_yields_a_page_after_it);

// ---------------------------------------------------------------------------------------------
// 4-7. Mail-server trouble

fn expected_message_id(job: &JobRow) -> String {
    let from: lettre::message::Mailbox = "Careline <careline@localhost>".parse().expect("from");
    careline::notify::message_id(&job.unique_key, &from)
}

/// Waits until every page job of the alert is in one of `statuses`; returns them.
async fn page_jobs_when(
    app: &TestApp,
    alert_id: &str,
    want: usize,
    statuses: &[&str],
    timeout: Duration,
) -> Vec<JobRow> {
    let id = alert_id.to_string();
    eventually(timeout, &format!("{want} page jobs {statuses:?}"), || {
        let (app, id) = (app, id.clone());
        async move {
            let pages: Vec<JobRow> = jobs_of(app, &id)
                .await
                .into_iter()
                .filter(is_page)
                .collect();
            (pages.len() >= want && pages.iter().all(|j| statuses.contains(&j.status.as_str())))
                .then_some(pages)
        }
    })
    .await
}

async fn the_mail_server_down_then_back_delivers_everything_and_escalation_kept_time(
    backend: Backend,
) {
    let smtp = TestSmtp::start();
    smtp.set_mode(Mode::Refuse);
    let level = ms(1000);
    let long = Duration::from_secs(600);
    let app = app_with(backend, &smtp, policy([level, long, long], 2, long), |_| {}).await;
    let counselor = app.create_user("counselor", &[SITE]).await;
    let supervisor = app.create_user("supervisor", &[SITE]).await;
    on_duty(&app, &counselor.id).await;
    on_duty(&app, &supervisor.id).await;

    let alert_id = app.red_alert(Some(SITE)).await;
    // Escalation depends on acknowledgement only: level 1 is paged on time, mail or no mail.
    let id = alert_id.clone();
    let paged = eventually(
        Duration::from_secs(5),
        "level 1 paged while mail is down",
        || {
            let (app, id) = (&app, id.clone());
            async move {
                let p = pages(app, &id).await;
                (p.len() >= 2).then_some(p)
            }
        },
    )
    .await;
    let gap = (paged[1].2 - paged[0].2).to_std().expect("in order");
    assert!(
        gap >= level && gap < level + ms(1500),
        "level 1 after {gap:?}"
    );
    // Meanwhile the first page keeps failing and is retried.
    let id = alert_id.clone();
    let retrying = eventually(Duration::from_secs(5), "the page retried", || {
        let (app, id) = (&app, id.clone());
        async move {
            jobs_of(app, &id)
                .await
                .into_iter()
                .find(|j| is_page(j) && j.attempts >= 2)
        }
    })
    .await;
    assert_eq!(retrying.status, "pending", "{retrying:?}");
    assert!(retrying.last_error.is_some(), "{retrying:?}");
    assert!(
        smtp.attempts().is_empty(),
        "nothing reached a refusing server"
    );
    // Back, but answering 451 for a while: still nothing delivered, still retried.
    smtp.set_mode(Mode::TempFail);
    eventually(Duration::from_secs(5), "a 451", || {
        let seen = smtp.attempts().iter().any(|a| a.code == 451);
        async move { seen.then_some(()) }
    })
    .await;
    assert!(smtp.accepted().is_empty());

    smtp.set_mode(Mode::Accept);
    let done = page_jobs_when(&app, &alert_id, 2, &["done"], Duration::from_secs(10)).await;
    let mails = smtp.accepted();
    assert_eq!(mails.len(), done.len(), "each delivery once");
    for job in &done {
        let id = expected_message_id(job);
        let same: Vec<&Attempt> = mails.iter().filter(|m| m.message_id() == id).collect();
        assert_eq!(same.len(), 1, "{id} once: {job:?}");
        assert_eq!(same[0].to, [recipient(job)]);
    }
}

backend_tests!(the_mail_server_down_then_back_delivers_everything_and_escalation_kept_time);

async fn a_temporary_failure_twice_then_success_delivers_on_the_third_try(backend: Backend) {
    let smtp = TestSmtp::start();
    smtp.script(&[451, 451]);
    let long = Duration::from_secs(600);
    let app = app_with(backend, &smtp, policy([long; 3], 2, long), |_| {}).await;
    let counselor = app.create_user("counselor", &[SITE]).await;
    on_duty(&app, &counselor.id).await;

    let alert_id = app.red_alert(Some(SITE)).await;
    let done = page_jobs_when(&app, &alert_id, 1, &["done"], Duration::from_secs(10)).await;
    assert_eq!(done.len(), 1, "{done:?}");
    let job = &done[0];
    assert_eq!(job.attempts, 3, "{job:?}");
    let id = expected_message_id(job);
    let seen: Vec<u16> = smtp
        .attempts()
        .iter()
        .filter(|a| a.message_id() == id)
        .map(|a| a.code)
        .collect();
    assert_eq!(seen, [451, 451, 250], "three tries of the same message");
    assert_eq!(smtp.accepted().len(), 1);
}

backend_tests!(a_temporary_failure_twice_then_success_delivers_on_the_third_try);

async fn a_permanent_failure_is_failed_at_once_shown_to_admins_and_escalation_goes_on(
    backend: Backend,
) {
    let smtp = TestSmtp::start();
    let level = ms(1000);
    let long = Duration::from_secs(600);
    let app = app_with(backend, &smtp, policy([level, long, long], 2, long), |_| {}).await;
    let admin = app.staff("admin", &[]).await;
    let counselor = app.create_user("counselor", &[SITE]).await;
    let supervisor = app.create_user("supervisor", &[SITE]).await;
    on_duty(&app, &counselor.id).await;
    on_duty(&app, &supervisor.id).await;
    smtp.set_mode(Mode::PermFail);

    let alert_id = app.red_alert(Some(SITE)).await;
    let failed = page_jobs_when(&app, &alert_id, 1, &["failed"], Duration::from_secs(5)).await;
    // The next level's page (a second later) finds the server accepting again.
    smtp.set_mode(Mode::Accept);
    let job = &failed[0];
    assert_eq!(job.attempts, 1, "not retried: {job:?}");
    assert!(
        job.last_error.as_deref().is_some_and(|e| e.contains("550")),
        "{job:?}"
    );
    assert_eq!(smtp.attempts().len(), 1);
    let events = events_of(&app, &alert_id, "delivery_failed").await;
    assert_eq!(events.len(), 1, "{events:?}");
    let audit = ok(app
        .get_as(
            &admin.token,
            "/api/v1/admin/audit?action=email.delivery_failed",
        )
        .await)
    .await;
    let entries = audit["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(entries[0]["target"], job.id.as_str(), "{audit}");
    // The escalation does not wait for the mail: the supervisor is paged after the timeout.
    let mails = smtp
        .wait_accepted(Duration::from_secs(5), "the supervisor's page", |m| {
            !m.is_empty()
        })
        .await;
    assert_eq!(mails[0].to, [supervisor.email.to_ascii_lowercase()]);
    let paged = pages(&app, &alert_id).await;
    assert_eq!(paged.len(), 2, "{paged:?}");
    assert!((paged[1].2 - paged[0].2).to_std().expect("in order") >= level);
}

backend_tests!(a_permanent_failure_is_failed_at_once_shown_to_admins_and_escalation_goes_on);

async fn a_server_that_never_answers_times_out_and_the_worker_keeps_working(backend: Backend) {
    let smtp = TestSmtp::start();
    smtp.set_mode(Mode::Hang);
    let level = ms(1000);
    let long = Duration::from_secs(600);
    let app = app_with(backend, &smtp, policy([level, long, long], 2, long), |s| {
        s.mail.timeout = ms(1000);
    })
    .await;
    let counselor = app.create_user("counselor", &[SITE]).await;
    let supervisor = app.create_user("supervisor", &[SITE]).await;
    on_duty(&app, &counselor.id).await;
    on_duty(&app, &supervisor.id).await;

    let submitted = Instant::now();
    let alert_id = app.red_alert(Some(SITE)).await;
    // The send times out (mail.timeout) and is put back for later.
    let id = alert_id.clone();
    let timed_out = eventually(Duration::from_secs(5), "the send to time out", || {
        let (app, id) = (&app, id.clone());
        async move {
            jobs_of(app, &id)
                .await
                .into_iter()
                .find(|j| is_page(j) && j.last_error.is_some())
        }
    })
    .await;
    let after = submitted.elapsed();
    assert!(
        after >= ms(900),
        "gave up after {after:?}, before mail.timeout"
    );
    assert_eq!(timed_out.status, "pending", "retried later: {timed_out:?}");
    assert!(smtp.connections() >= 1, "the client did connect");
    assert!(smtp.attempts().is_empty());
    // The worker keeps working: the escalation timer (a job without mail) runs on time.
    let id = alert_id.clone();
    let paged = eventually(Duration::from_secs(5), "level 1 paged", || {
        let (app, id) = (&app, id.clone());
        async move {
            let p = pages(app, &id).await;
            (p.len() >= 2).then_some(p)
        }
    })
    .await;
    let gap = (paged[1].2 - paged[0].2).to_std().expect("in order");
    assert!(gap < level + ms(1500), "level 1 after {gap:?}");
    // The server answers again: the retried pages go out, and a new alert's page too.
    smtp.set_mode(Mode::Accept);
    page_jobs_when(&app, &alert_id, 2, &["done"], Duration::from_secs(10)).await;
    let second = app.red_alert(Some(SITE)).await;
    let reference = app.alert_row(&second).await.reference;
    smtp.wait_accepted(Duration::from_secs(5), "the next alert's page", |m| {
        m.iter().any(|m| m.subject().contains(&reference))
    })
    .await;
}

backend_tests!(a_server_that_never_answers_times_out_and_the_worker_keeps_working);

// ---------------------------------------------------------------------------------------------
// 8. A level with nobody on duty

async fn a_level_with_nobody_on_duty_is_skipped_at_once_and_the_gap_recorded(backend: Backend) {
    let smtp = TestSmtp::start();
    let long = Duration::from_secs(600);
    let app = app_with(backend, &smtp, policy([long; 3], 2, long), |_| {}).await;
    let _off_duty = app.create_user("counselor", &[SITE]).await;
    let supervisor = app.create_user("supervisor", &[SITE]).await;
    on_duty(&app, &supervisor.id).await;

    let alert_id = app.red_alert(Some(SITE)).await;
    // At once, not after the first level's ten minutes.
    let mails = smtp
        .wait_accepted(Duration::from_secs(5), "the supervisor's page", |m| {
            !m.is_empty()
        })
        .await;
    assert_eq!(mails[0].to, [supervisor.email.to_ascii_lowercase()]);
    let paged = pages(&app, &alert_id).await;
    assert_eq!(
        paged.iter().map(|p| (p.0, p.1)).collect::<Vec<_>>(),
        [(1, 0)]
    );
    let gaps = events_of(&app, &alert_id, "escalation_gap").await;
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    let detail: serde_json::Value = serde_json::from_str(&gaps[0].detail).expect("JSON");
    assert_eq!(detail["level"], 0, "{detail}");
    assert_eq!(detail["notify"], "on_duty_counselors", "{detail}");
    assert_eq!(app.audit_count(Some("alert.escalation_gap")).await, 1);
}

backend_tests!(a_level_with_nobody_on_duty_is_skipped_at_once_and_the_gap_recorded);

// ---------------------------------------------------------------------------------------------
// 9. Reminders, and resolving

async fn an_acknowledged_alert_reminds_until_resolved_and_resolving_cancels_its_jobs(
    backend: Backend,
) {
    let smtp = TestSmtp::start();
    let long = Duration::from_secs(600);
    let interval = ms(1000);
    let mut p = policy([long; 3], 2, long);
    p.reminder_interval = interval;
    let app = app_with(backend, &smtp, p, |_| {}).await;
    let counselor = app.staff("counselor", &[SITE]).await;
    let supervisor = app.create_user("supervisor", &[SITE]).await;
    on_duty(&app, &counselor.id).await;
    on_duty(&app, &supervisor.id).await;

    let alert_id = app.red_alert(Some(SITE)).await;
    let reference = app.alert_row(&alert_id).await.reference;
    smtp.wait_accepted(Duration::from_secs(5), "the page", |m| !m.is_empty())
        .await;
    // Reminders are due `interval` after the acknowledgement's transaction, which starts after
    // this instant.
    let acking = Instant::now();
    acknowledge(&app, &counselor.token, &alert_id).await;
    let is_reminder =
        |m: &Attempt| m.subject().contains("Reminder") && m.subject().contains(&reference);
    let reminders = smtp
        .wait_accepted(Duration::from_secs(5), "the first reminders", |m| {
            m.iter().filter(|m| is_reminder(m)).count() >= 2
        })
        .await;
    let reminders: Vec<&Attempt> = reminders.iter().filter(|m| is_reminder(m)).collect();
    let mut to: Vec<String> = reminders.iter().map(|m| to_of(m)).collect();
    to.sort();
    let mut expected = vec![
        counselor.email.to_ascii_lowercase(),
        supervisor.email.to_ascii_lowercase(),
    ];
    expected.sort();
    assert_eq!(to, expected, "the acknowledger and the on-duty supervisor");
    assert!(
        reminders.iter().all(|m| m.started >= acking + interval),
        "not before the reminder interval"
    );
    for m in &reminders {
        assert!(
            m.body().contains(&format!("/queue/{reference}")),
            "{}",
            m.body()
        );
    }
    // The next reminder is armed; resolving cancels it and everything else pending.
    let id = alert_id.clone();
    eventually(Duration::from_secs(5), "the next reminder armed", || {
        let (app, id) = (&app, id.clone());
        async move {
            jobs_of(app, &id)
                .await
                .iter()
                .any(|j| j.kind == "alert.remind" && j.status == "pending")
                .then_some(())
        }
    })
    .await;
    ok(app
        .post_as(
            &counselor.token,
            &format!("/api/v1/alerts/{alert_id}/resolve"),
            Some(&serde_json::json!({"outcome": "contacted_safe", "note": "Called; safe."})),
        )
        .await)
    .await;
    let resolved = Instant::now();
    let jobs = jobs_of(&app, &alert_id).await;
    assert!(
        jobs.iter().all(|j| j.status != "pending"),
        "nothing pending after resolving: {jobs:?}"
    );
    assert!(
        jobs.iter()
            .any(|j| j.kind == "alert.remind" && j.status == "cancelled"),
        "{jobs:?}"
    );
    // No reminder after that, over three intervals.
    let count = smtp.accepted().iter().filter(|m| is_reminder(m)).count();
    let until = resolved + 3 * interval;
    eventually(
        Duration::from_secs(6),
        "three intervals to pass",
        || async { (Instant::now() >= until).then_some(()) },
    )
    .await;
    let late: Vec<String> = smtp
        .accepted()
        .iter()
        .filter(|m| is_reminder(m) && m.started > resolved + ms(500))
        .map(to_of)
        .collect();
    assert!(late.is_empty(), "reminders after resolving: {late:?}");
    assert!(smtp.accepted().iter().filter(|m| is_reminder(m)).count() <= count + 2);
}

backend_tests!(an_acknowledged_alert_reminds_until_resolved_and_resolving_cancels_its_jobs);

async fn an_alert_stored_without_a_policy_follows_the_configured_one_when_acknowledged(
    backend: Backend,
) {
    // Alerts written before policies were copied onto them have none: their reminders follow
    // the configured `[escalation]` section, not the shipped defaults (30 minutes).
    use diesel::RunQueryDsl;
    let smtp = TestSmtp::start();
    let long = Duration::from_secs(600);
    let interval = Duration::from_secs(7 * 60);
    let mut p = policy([long; 3], 2, long);
    p.reminder_interval = interval;
    let app = app_with(backend, &smtp, p, |_| {}).await;
    let counselor = app.staff("counselor", &[SITE]).await;
    on_duty(&app, &counselor.id).await;
    let alert_id = app.red_alert(Some(SITE)).await;
    let id = alert_id.clone();
    let cleared = app
        .with_conn(move |c| {
            diesel::sql_query(format!("UPDATE alerts SET policy = NULL WHERE id = '{id}'"))
                .execute(c)
                .map_err(|e| e.to_string())
        })
        .await;
    assert_eq!(cleared, Ok(1));
    assert!(app.alert_row(&alert_id).await.policy.is_none());

    let before = now();
    acknowledge(&app, &counselor.token, &alert_id).await;
    let after = now();
    let reminders: Vec<JobRow> = jobs_of(&app, &alert_id)
        .await
        .into_iter()
        .filter(|j| j.kind == "alert.remind" && j.status == "pending")
        .collect();
    assert_eq!(reminders.len(), 1, "{reminders:?}");
    let due = reminders[0].run_at;
    let step = chrono::Duration::from_std(interval).unwrap();
    assert!(
        due >= before + step - chrono::Duration::seconds(1) && due <= after + step,
        "the reminder is due {due}, the configured interval after {before}"
    );
}

backend_tests!(an_alert_stored_without_a_policy_follows_the_configured_one_when_acknowledged);

// ---------------------------------------------------------------------------------------------
// 10. Yellow alerts do not page; the daily digest

async fn yellow_alerts_never_page_and_the_digest_counts_them_per_site(backend: Backend) {
    let smtp = TestSmtp::start();
    let long = Duration::from_secs(600);
    let app = app_with(backend, &smtp, policy([long; 3], 2, long), |_| {}).await;
    let here = app.create_user("counselor", &[SITE]).await;
    let there = app.create_user("counselor", &[OTHER_SITE]).await;
    let everywhere = app.create_user("counselor", &[]).await;
    let supervisor = app.create_user("supervisor", &[SITE]).await;
    for u in [&here, &there, &everywhere, &supervisor] {
        on_duty(&app, &u.id).await;
    }
    let marker_phone = "13911112222";
    let mut yellows = Vec::new();
    for (i, site) in [SITE, SITE, OTHER_SITE].iter().enumerate() {
        let mut body = phq9_body(YELLOW);
        body["site"] = (*site).into();
        if i == 0 {
            body["contact"] =
                serde_json::json!({"name": "Yellow Markername", "phone": marker_phone});
            body["consent_to_contact"] = true.into();
        }
        let alert_id = app.submit(&body).await.alert_id.expect("a yellow alert");
        assert_eq!(app.alert_row(&alert_id).await.tier, "yellow");
        yellows.push(alert_id);
    }
    for id in &yellows {
        let jobs = jobs_of(&app, id).await;
        assert!(jobs.is_empty(), "a yellow alert has no jobs: {jobs:?}");
        assert!(pages(&app, id).await.is_empty());
    }

    // A date of its own, apart from the one the auditor may schedule at start-up.
    let date = "2031-05-05";
    let scheduled = app
        .with_conn(move |c| careline::jobs::schedule_digest(c, date, now()))
        .await
        .expect("schedule the digest");
    assert!(scheduled);
    app.state.wake.notify_one();
    let is_digest = |m: &Attempt| m.body().contains(date);
    let mails = smtp
        .wait_accepted(Duration::from_secs(10), "three digests", |m| {
            m.iter().filter(|m| is_digest(m)).count() >= 3
        })
        .await;
    let digests: Vec<&Attempt> = mails.iter().filter(|m| is_digest(m)).collect();
    let body_for = |email: &str| {
        let to = mails_to(&mails, email);
        let d: Vec<&&Attempt> = to.iter().filter(|m| is_digest(m)).collect();
        assert_eq!(d.len(), 1, "one digest to {email}");
        d[0].body()
    };
    let b = body_for(&here.email);
    assert!(
        b.contains(&format!("{SITE}: 2")) && !b.contains(OTHER_SITE),
        "{b}"
    );
    let b = body_for(&there.email);
    assert!(
        b.contains(&format!("{OTHER_SITE}: 1")) && !b.contains(&format!("{SITE}:")),
        "{b}"
    );
    let b = body_for(&everywhere.email);
    assert!(
        b.contains(&format!("{SITE}: 2")) && b.contains(&format!("{OTHER_SITE}: 1")),
        "{b}"
    );
    assert_eq!(digests.len(), 3, "counselors only");
    for m in smtp.accepted() {
        let all = m.everything();
        assert!(
            !all.contains(marker_phone) && !all.contains("Markername"),
            "{all}"
        );
        assert!(
            m.subject().contains("Daily summary"),
            "only digests, no page: {}",
            m.subject()
        );
    }
}

backend_tests!(yellow_alerts_never_page_and_the_digest_counts_them_per_site);

/// `GET /admin` as `admin` (the session cookie), the page's HTML.
async fn admin_page(app: &TestApp, token: &str) -> String {
    let response = app
        .client
        .get(app.url("/admin"))
        .header("Cookie", format!("careline_session={token}"))
        .send()
        .await
        .expect("the request was sent");
    assert_eq!(response.status().as_u16(), 200);
    response.text().await.expect("a page")
}

/// `/readyz`: its status code and the `mail` entry of its detail.
async fn readyz_mail(app: &TestApp) -> (u16, serde_json::Value) {
    let response = app.get_readyz().await;
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.expect("JSON");
    (status, body["mail"].clone())
}

/// Issue 12: the mail server refuses connections for longer than the whole backoff window
/// (max_attempts 2, backoff of at most 300 ms): the pages of the open red alert keep retrying
/// instead of dying, the outage shows as an alarm (readyz detail, admin page) once it has
/// lasted `mail.alarm_after`, and when the server is back every recipient of the current level
/// gets their page and the alarm clears.
async fn pages_of_an_open_red_alert_outlive_an_outage_and_it_shows_as_an_alarm(backend: Backend) {
    let smtp = TestSmtp::start();
    smtp.set_mode(Mode::Refuse);
    let long = Duration::from_secs(600);
    let app = app_with(backend, &smtp, policy([long, long, long], 2, long), |s| {
        s.worker.max_attempts = 2;
        s.worker.backoff_base = ms(50);
        s.worker.backoff_max = ms(300);
        s.mail.alarm_after = ms(1500);
    })
    .await;
    let admin = app.staff("admin", &[]).await;
    let counselors = [
        app.create_user("counselor", &[SITE]).await,
        app.create_user("counselor", &[SITE]).await,
    ];
    for c in &counselors {
        on_duty(&app, &c.id).await;
    }
    let (status, mail) = readyz_mail(&app).await;
    assert_eq!(mail["status"], "ok", "{mail}");
    let ready = status;

    let alert_id = app.red_alert(Some(SITE)).await;
    // Many times max_attempts, still pending.
    let id = alert_id.clone();
    let retried = eventually(
        Duration::from_secs(30),
        "both pages retried well past max_attempts",
        || {
            let (app, id) = (&app, id.clone());
            async move {
                let pages: Vec<JobRow> = jobs_of(app, &id)
                    .await
                    .into_iter()
                    .filter(is_page)
                    .collect();
                (pages.len() == 2 && pages.iter().all(|j| j.attempts >= 6)).then_some(pages)
            }
        },
    )
    .await;
    for job in &retried {
        assert_eq!(
            job.status, "pending",
            "never dead while unacknowledged: {job:?}"
        );
    }
    assert!(smtp.accepted().is_empty());
    // The outage has lasted longer than mail.alarm_after: an alarm, and readiness unchanged.
    let mail = eventually(Duration::from_secs(10), "the mail alarm", || {
        let app = &app;
        async move {
            let (status, mail) = readyz_mail(app).await;
            (mail["status"] == "alarm").then_some((status, mail))
        }
    })
    .await;
    assert_eq!(
        mail.0, ready,
        "the alarm is detail, not readiness: {}",
        mail.1
    );
    assert!(mail.1["failing_since"].is_string(), "{}", mail.1);
    let page = admin_page(&app, &admin.token).await;
    assert!(
        page.contains("mail-alarm") && page.contains("every send has failed since"),
        "{page}"
    );

    smtp.set_mode(Mode::Accept);
    let done = page_jobs_when(&app, &alert_id, 2, &["done"], Duration::from_secs(30)).await;
    let mails = smtp.accepted();
    for c in &counselors {
        let to = mails_to(&mails, &c.email);
        assert_eq!(to.len(), 1, "{} paged once: {mails:?}", c.email);
    }
    assert_eq!(done.len(), 2);
    for job in &done {
        let same: Vec<&Attempt> = mails
            .iter()
            .filter(|m| m.message_id() == expected_message_id(job))
            .collect();
        assert_eq!(same.len(), 1, "{job:?}");
        assert_eq!(same[0].to, [recipient(job)]);
    }
    let mail = eventually(Duration::from_secs(10), "the alarm to clear", || {
        let app = &app;
        async move {
            let (_, mail) = readyz_mail(app).await;
            (mail["status"] == "ok").then_some(mail)
        }
    })
    .await;
    assert!(mail["failing_since"].is_null(), "{mail}");
    let page = admin_page(&app, &admin.token).await;
    assert!(!page.contains("mail-alarm"), "{page}");
}

backend_tests!(pages_of_an_open_red_alert_outlive_an_outage_and_it_shows_as_an_alarm);

/// The same outage ends other mail for good after max_attempts: a page of an acknowledged
/// alert is not kept alive (the acknowledgement cancels it), and a digest dies as before.
async fn other_mail_still_dies_after_max_attempts(backend: Backend) {
    let smtp = TestSmtp::start();
    smtp.set_mode(Mode::Refuse);
    let long = Duration::from_secs(600);
    let app = app_with(backend, &smtp, policy([long, long, long], 2, long), |s| {
        s.worker.max_attempts = 2;
        s.worker.backoff_base = ms(50);
        s.worker.backoff_max = ms(300);
    })
    .await;
    let key = "digest:2026-01-02".to_string();
    app.with_conn(move |c| {
        let now = now();
        let payload = careline::jobs::EmailPayload {
            purpose: careline::jobs::Purpose::Digest,
            delivery: careline::notify::Delivery {
                to: "digest-reader@example.org".into(),
                locale: "en".into(),
                content: careline::notify::Content::Digest {
                    date: "2026-01-02".into(),
                    counts: vec![("station-1".into(), 1)],
                },
            },
        };
        careline::db::jobs::enqueue(
            c,
            &JobRow::new(
                careline::jobs::EMAIL,
                key,
                None,
                serde_json::to_value(&payload).expect("JSON"),
                now,
                now,
            ),
        )
    })
    .await
    .expect("enqueue a digest");
    let dead = eventually(Duration::from_secs(30), "the digest to die", || {
        let app = &app;
        async move {
            app.with_conn(|c| {
                use careline::db::schema::jobs;
                use diesel::prelude::*;
                jobs::table
                    .filter(jobs::unique_key.eq("digest:2026-01-02"))
                    .select(JobRow::as_select())
                    .first(c)
            })
            .await
            .ok()
            .filter(|j: &JobRow| j.status != "pending")
        }
    })
    .await;
    assert_eq!(dead.status, "dead", "{dead:?}");
    assert_eq!(dead.attempts, 2, "{dead:?}");
}

backend_tests!(other_mail_still_dies_after_max_attempts);
