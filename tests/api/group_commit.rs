//! Group commit (issue 17): many submissions at once, each caller its own answer; a bad row
//! does not fail its neighbours; a database failure answers its whole batch "not saved"; a
//! killed process loses no submission it answered 201. Also: accepted sockets have
//! `TCP_NODELAY` (the 40 ms keep-alive stall).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{
    AppOptions, Backend, GREEN, RED, TestApp, TestDb, YELLOW, eventually, phq9_body, spawn_app_with,
};

/// An app whose writer may wait long for a lock a test holds (SQLite's busy timeout).
async fn patient_app(backend: Backend) -> TestApp {
    spawn_app_with(
        backend,
        AppOptions {
            database_timeout: Some(Duration::from_secs(60)),
            ..AppOptions::default()
        },
    )
    .await
}

async fn post(app: &TestApp, body: &Value, key: &str) -> (u16, Value) {
    post_with(&app.client, app, body, key).await
}

async fn post_with(
    client: &reqwest::Client,
    app: &TestApp,
    body: &Value,
    key: &str,
) -> (u16, Value) {
    let response = client
        .post(app.url("/api/v1/screenings"))
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .expect("the request is answered");
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.expect("a JSON body");
    (status, body)
}

/// Every stored screening with a key: key -> id.
async fn stored_keys(app: &TestApp) -> HashMap<String, String> {
    use careline::db::schema::screenings as s;
    app.with_conn(|c| {
        s::table
            .filter(s::idempotency_key.is_not_null())
            .select((s::idempotency_key, s::id))
            .load::<(Option<String>, String)>(c)
            .expect("read screenings")
    })
    .await
    .into_iter()
    .map(|(k, id)| (k.unwrap_or_default(), id))
    .collect()
}

fn is_postgres(app: &TestApp) -> bool {
    app.database_url().starts_with("postgres")
}

/// A connection of the test's own, outside the application's pool.
fn own_connection(url: &str) -> careline::db::AnyConnection {
    let manager = careline::db::Manager::new(url, Duration::from_secs(60)).expect("a database URL");
    r2d2::ManageConnection::connect(&manager).expect("a connection of the test's own")
}

/// Rows whose key starts `poison-` are refused by the database (a trigger); a row whose key
/// starts `fail-commit-` makes its transaction's COMMIT fail (a deferred foreign key that
/// cannot be met): a failure of the whole transaction, found only at its end.
async fn install_faults(app: &TestApp) {
    let postgres = is_postgres(app);
    app.with_conn(move |c| {
        let sql = if postgres {
            "CREATE TABLE guard_parent (id TEXT PRIMARY KEY);
             CREATE TABLE guard_child (parent TEXT REFERENCES guard_parent (id) DEFERRABLE INITIALLY DEFERRED);
             CREATE FUNCTION test_faults() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
               IF NEW.idempotency_key LIKE 'poison-%' THEN RAISE EXCEPTION 'poisoned row'; END IF;
               IF NEW.idempotency_key LIKE 'fail-commit-%' THEN INSERT INTO guard_child VALUES ('none'); END IF;
               RETURN NEW;
             END $$;
             CREATE TRIGGER test_faults BEFORE INSERT ON screenings FOR EACH ROW EXECUTE FUNCTION test_faults();"
        } else {
            "CREATE TABLE guard_parent (id TEXT PRIMARY KEY);
             CREATE TABLE guard_child (parent TEXT REFERENCES guard_parent (id) DEFERRABLE INITIALLY DEFERRED);
             CREATE TRIGGER test_poison BEFORE INSERT ON screenings
               WHEN NEW.idempotency_key LIKE 'poison-%'
               BEGIN SELECT RAISE(ABORT, 'poisoned row'); END;
             CREATE TRIGGER test_fail_commit AFTER INSERT ON screenings
               WHEN NEW.idempotency_key LIKE 'fail-commit-%'
               BEGIN INSERT INTO guard_child VALUES ('none'); END;"
        };
        c.batch_execute(sql).expect("install the test's faults");
    })
    .await;
}

/// Holds the lock the writer needs for screenings (SQLite: the write lock; PostgreSQL: a
/// SHARE lock on `screenings`, which lets reads through and makes inserts wait) until
/// released, so that a batch can be made to gather behind it.
struct Held {
    release: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

fn hold_writes(url: &str) -> Held {
    let url = url.to_string();
    let (locked, is_locked) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        let mut c = own_connection(&url);
        let sql = if url.starts_with("postgres") {
            "BEGIN; LOCK TABLE screenings IN SHARE MODE;"
        } else {
            "BEGIN IMMEDIATE;"
        };
        c.batch_execute(sql).expect("take the lock");
        locked.send(()).expect("tell the test");
        let _ = released.recv();
        c.batch_execute("ROLLBACK").expect("release the lock");
    });
    is_locked.recv().expect("the lock is taken");
    Held { release, thread }
}

impl Held {
    fn release(self) {
        self.release.send(()).expect("release");
        self.thread.join().expect("the lock thread");
    }
}

/// Lets one submission reach the writer and wait there on the held lock (its batch taken),
/// then hands `bodies` over so that they all wait in the writer's queue: released, they are
/// one batch.
async fn one_batch_behind_a_lock(
    app: &TestApp,
    first: (Value, String),
    bodies: Vec<(Value, String)>,
) -> ((u16, Value), Vec<(u16, Value)>) {
    let held = hold_writes(app.database_url());
    let before = app.state.writer.batches();
    let first = {
        let client = app.client.clone();
        let url = app.url("/api/v1/screenings");
        actix_web::rt::spawn(async move {
            let r = client
                .post(url)
                .header("Idempotency-Key", first.1)
                .json(&first.0)
                .send()
                .await
                .expect("answered");
            (r.status().as_u16(), r.json::<Value>().await.expect("JSON"))
        })
    };
    let writer = &app.state.writer;
    eventually(
        Duration::from_secs(30),
        "the first batch is taken",
        || async { (writer.batches() == before + 1 && writer.waiting() == 0).then_some(()) },
    )
    .await;
    let n = bodies.len();
    let rest: Vec<_> = bodies
        .into_iter()
        .map(|(body, key)| {
            let client = app.client.clone();
            let url = app.url("/api/v1/screenings");
            actix_web::rt::spawn(async move {
                let r = client
                    .post(url)
                    .header("Idempotency-Key", key)
                    .json(&body)
                    .send()
                    .await
                    .expect("answered");
                (r.status().as_u16(), r.json::<Value>().await.expect("JSON"))
            })
        })
        .collect();
    eventually(
        Duration::from_secs(30),
        "all wait for the writer",
        || async { (writer.waiting() == n).then_some(()) },
    )
    .await;
    assert_eq!(writer.batches(), before + 1, "nothing else was taken yet");
    held.release();
    let first = first.await.expect("the first request");
    let rest = join_all(rest)
        .await
        .into_iter()
        .map(|r| r.expect("a request"))
        .collect();
    assert_eq!(
        writer.batches(),
        before + 2,
        "the waiting submissions were taken as one batch"
    );
    (first, rest)
}

fn tier_values(i: usize) -> [i64; 9] {
    [GREEN, YELLOW, RED][i % 3]
}

async fn a_thousand_concurrent_submissions_each_get_their_own_answer(backend: Backend) {
    let app = patient_app(backend).await;
    // 600 distinct; 100 keys sent twice with the same body; 100 invalid; 50 keys sent with
    // two different bodies. 1,000 requests, all at once, in a mixed order.
    let mut requests: Vec<(String, Value, &'static str)> = Vec::new();
    for i in 0..600 {
        requests.push((format!("u-{i}"), phq9_body(tier_values(i)), "unique"));
    }
    for i in 0..100 {
        for _ in 0..2 {
            requests.push((format!("d-{i}"), phq9_body(tier_values(i)), "duplicate"));
        }
    }
    for i in 0..100 {
        let mut bad = phq9_body(GREEN);
        bad["answers"]["q1"] = json!(9);
        requests.push((format!("bad-{i}"), bad, "invalid"));
    }
    for i in 0..50 {
        requests.push((format!("c-{i}"), phq9_body(GREEN), "conflict"));
        requests.push((format!("c-{i}"), phq9_body(RED), "conflict"));
    }
    assert_eq!(requests.len(), 1000);
    // A fixed shuffle (an LCG), so a failure can be replayed.
    let mut order: Vec<usize> = (0..requests.len()).collect();
    let mut x: u64 = 17;
    for i in (1..order.len()).rev() {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        order.swap(i, (x >> 33) as usize % (i + 1));
    }
    let batches_before = app.state.writer.batches();
    // A thousand at once on a debug build and two shared cores: more than the usual 30 s.
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(300))
        .build()
        .expect("a client");
    let answers = join_all(order.iter().map(|&i| {
        let (key, body, _) = &requests[i];
        post_with(&client, &app, body, key)
    }))
    .await;
    let mut by_key: HashMap<String, Vec<(u16, Value)>> = HashMap::new();
    for (&i, answer) in order.iter().zip(answers) {
        by_key
            .entry(requests[i].0.clone())
            .or_default()
            .push(answer);
    }

    let stored = stored_keys(&app).await;
    let mut red_or_yellow = 0;
    for (key, answers) in &by_key {
        let kind = requests
            .iter()
            .find(|r| &r.0 == key)
            .map(|r| r.2)
            .expect("a request of this key");
        match kind {
            "unique" => {
                let [(status, body)] = answers.as_slice() else {
                    panic!("{key}: {answers:?}")
                };
                assert_eq!(*status, 201, "{key}: {body}");
                assert_eq!(
                    stored.get(key),
                    body["id"].as_str().map(str::to_string).as_ref()
                );
                if body["outcome"]["tier"] != "green" {
                    red_or_yellow += 1;
                }
            }
            "duplicate" => {
                assert_eq!(answers.len(), 2);
                for (status, body) in answers {
                    assert_eq!(*status, 201, "{key}: {body}");
                }
                assert_eq!(
                    answers[0].1, answers[1].1,
                    "{key}: the second is the first's answer"
                );
                assert_eq!(
                    stored.get(key),
                    answers[0].1["id"].as_str().map(str::to_string).as_ref()
                );
                if answers[0].1["outcome"]["tier"] != "green" {
                    red_or_yellow += 1;
                }
            }
            "invalid" => {
                let [(status, body)] = answers.as_slice() else {
                    panic!("{key}: {answers:?}")
                };
                assert_eq!(*status, 422, "{key}: {body}");
                assert_eq!(body["error"]["code"], "invalid_answers");
                assert!(!stored.contains_key(key), "{key} changed nothing");
            }
            "conflict" => {
                let mut statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
                statuses.sort_unstable();
                assert_eq!(statuses, [201, 409], "{key}: {answers:?}");
                let first = answers.iter().find(|a| a.0 == 201).expect("a 201");
                assert_eq!(
                    stored.get(key),
                    first.1["id"].as_str().map(str::to_string).as_ref()
                );
                if first.1["outcome"]["tier"] != "green" {
                    red_or_yellow += 1;
                }
            }
            other => unreachable!("{other}"),
        }
    }
    assert_eq!(stored.len(), 600 + 100 + 50, "every valid one stored once");
    assert_eq!(app.rows().await.screenings, 750);
    assert_eq!(
        app.alert_count().await,
        red_or_yellow,
        "one alert per yellow or red"
    );
    let batches = app.state.writer.batches() - batches_before;
    assert!(
        batches < 750,
        "the writes were grouped: {batches} batches for 750 screenings"
    );
}

async fn a_row_the_database_refuses_does_not_fail_its_neighbours(backend: Backend) {
    let app = patient_app(backend).await;
    install_faults(&app).await;
    // Warm: the questionnaire's version is stored and known.
    assert_eq!(post(&app, &phq9_body(GREEN), "warm").await.0, 201);
    let mut bodies = Vec::new();
    for i in 0..30 {
        let key = if i % 10 == 3 {
            format!("poison-{i}")
        } else {
            format!("n-{i}")
        };
        bodies.push((phq9_body(tier_values(i)), key));
    }
    let keys: Vec<String> = bodies.iter().map(|b| b.1.clone()).collect();
    let (first, rest) =
        one_batch_behind_a_lock(&app, (phq9_body(RED), "first".into()), bodies).await;
    assert_eq!(first.0, 201, "{}", first.1);
    let stored = stored_keys(&app).await;
    for (key, (status, body)) in keys.iter().zip(&rest) {
        if key.starts_with("poison-") {
            assert_eq!(*status, 503, "{key}: {body}");
            assert_eq!(body["error"]["code"], "not_saved");
            assert_eq!(body["result"]["id"], "");
            assert!(!stored.contains_key(key));
        } else {
            assert_eq!(*status, 201, "{key}: {body}");
            assert_eq!(
                stored.get(key),
                body["id"].as_str().map(str::to_string).as_ref()
            );
        }
    }
    // A poisoned red one is still shown its crisis lines (i = 3, 13, 23: tiers 0, 1, 2).
    let red = &rest[23].1;
    assert_eq!(red["result"]["outcome"]["tier"], "red");
    assert!(
        !red["result"]["crisis_lines"]
            .as_array()
            .expect("lines")
            .is_empty()
    );
    assert_eq!(stored.len(), 2 + 27);
}

async fn a_database_failure_in_a_batch_answers_all_of_it_not_saved(backend: Backend) {
    let app = patient_app(backend).await;
    install_faults(&app).await;
    assert_eq!(post(&app, &phq9_body(GREEN), "warm").await.0, 201);
    let alerts_before = app.alert_count().await;
    let mut bodies = Vec::new();
    for i in 0..20 {
        // The failing row sits in the middle of the batch.
        let key = if i == 10 {
            "fail-commit-1".to_string()
        } else {
            format!("m-{i}")
        };
        bodies.push((phq9_body(tier_values(i)), key));
    }
    let (first, rest) =
        one_batch_behind_a_lock(&app, (phq9_body(GREEN), "first".into()), bodies).await;
    assert_eq!(first.0, 201, "the batch before is not touched: {}", first.1);
    for (i, (status, body)) in rest.iter().enumerate() {
        assert_eq!(*status, 503, "{i}: {body}");
        assert_eq!(body["error"]["code"], "not_saved");
        assert_eq!(body["result"]["id"], "", "nothing stored, so no id");
        let tier = body["result"]["outcome"]["tier"].as_str().expect("a tier");
        let lines = body["result"]["crisis_lines"].as_array().expect("lines");
        match tier {
            "red" => assert!(lines.len() >= 2, "{body}"),
            "yellow" => assert_eq!(lines.len(), 1, "{body}"),
            _ => assert!(lines.is_empty(), "{body}"),
        }
    }
    let stored = stored_keys(&app).await;
    assert_eq!(
        stored.keys().collect::<std::collections::BTreeSet<_>>(),
        ["first", "warm"]
            .iter()
            .map(|k| k.to_string())
            .collect::<Vec<_>>()
            .iter()
            .collect(),
        "nothing of the failed batch is stored"
    );
    assert_eq!(
        app.alert_count().await,
        alerts_before,
        "nor any of its alerts"
    );
    let jobs: i64 = app
        .with_conn(|c| {
            careline::db::schema::jobs::table
                .count()
                .get_result(c)
                .expect("count jobs")
        })
        .await;
    assert_eq!(jobs, 0, "nor any of its pages");
    // The writer goes on.
    let (status, body) = post(&app, &phq9_body(RED), "after").await;
    assert_eq!(status, 201, "{body}");
}

async fn accepted_connections_have_tcp_nodelay(backend: Backend) {
    let app = patient_app(backend).await;
    let sockets = &app.state.sockets;
    let before = sockets.nodelay.load(Ordering::Relaxed);
    // Three fresh connections (no pooling), each answered.
    for _ in 0..3 {
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .build()
            .expect("a client");
        let r = client
            .get(app.url("/s/phq9"))
            .header("Accept-Encoding", "gzip")
            .send()
            .await
            .expect("answered");
        assert_eq!(r.status(), 200);
    }
    assert!(
        sockets.nodelay.load(Ordering::Relaxed) >= before + 3,
        "each accepted socket reads back TCP_NODELAY"
    );
    assert_eq!(
        sockets.delayed.load(Ordering::Relaxed),
        0,
        "no accepted socket without TCP_NODELAY"
    );
}

/// A real `careline serve`, killed (SIGKILL) while submissions are in flight: every one it
/// answered 201 is in the database.
async fn a_killed_process_keeps_every_submission_it_answered(backend: Backend) {
    let db = TestDb::create(&backend).await;
    let outbox = tempfile::tempdir().expect("a folder");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_careline"));
    cmd.arg("serve")
        .current_dir(crate::helpers::root())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, _) in std::env::vars() {
        if k.starts_with("CARELINE") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.envs([
        ("CARELINE__DATABASE__URL", db.url.as_str()),
        ("CARELINE__SERVER__HOST", "127.0.0.1"),
        ("CARELINE__SERVER__PORT", &port.to_string()),
        (
            "CARELINE__MAIL__OUTBOX_DIR",
            &outbox.path().display().to_string(),
        ),
        ("CARELINE__WORKER__IN_SERVE", "false"),
        ("CARELINE__ABUSE__CLUSTER_PER_SOURCE", "1000000"),
        ("CARELINE__ABUSE__CHALLENGE_PER_SOURCE", "1500000"),
        ("CARELINE__ABUSE__LIMIT_PER_SOURCE", "2000000"),
    ]);
    let mut child = cmd.spawn().expect("start careline serve");
    let log = crate::helpers::capture_log(&mut child);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("a client");
    let health = format!("{base}/healthz");
    let started = std::time::Instant::now();
    while !client
        .get(&health)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            child.try_wait().expect("wait").is_none(),
            "serve exited: {}",
            log.lock().unwrap_or_else(|e| e.into_inner())
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "serve did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let answered = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let tasks: Vec<_> = (0..400)
        .map(|i| {
            let client = client.clone();
            let url = format!("{base}/api/v1/screenings");
            let answered = std::sync::Arc::clone(&answered);
            actix_web::rt::spawn(async move {
                let Ok(r) = client
                    .post(url)
                    .header("Idempotency-Key", format!("k-{i}"))
                    .json(&phq9_body(tier_values(i)))
                    .send()
                    .await
                else {
                    return;
                };
                if r.status().as_u16() == 201
                    && let Ok(body) = r.json::<Value>().await
                    && let Some(id) = body["id"].as_str()
                {
                    answered.lock().expect("lock").push(id.to_string());
                }
            })
        })
        .collect();
    let count = || answered.lock().expect("lock").len();
    eventually(
        Duration::from_secs(60),
        "some submissions answered",
        || async { (count() >= 50).then_some(()) },
    )
    .await;
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    join_all(tasks).await;
    let answered = answered.lock().expect("lock").clone();
    assert!(answered.len() >= 50);
    let url = db.url.clone();
    let missing = tokio::task::spawn_blocking(move || {
        let mut c = own_connection(&url);
        answered
            .iter()
            .filter(|id| {
                careline::db::screenings::find(&mut c, id)
                    .expect("read")
                    .is_none()
            })
            .cloned()
            .collect::<Vec<_>>()
    })
    .await
    .expect("the check ran");
    assert!(
        missing.is_empty(),
        "answered 201 but not stored: {missing:?}"
    );
}

backend_tests!(
    a_thousand_concurrent_submissions_each_get_their_own_answer,
    a_row_the_database_refuses_does_not_fail_its_neighbours,
    a_database_failure_in_a_batch_answers_all_of_it_not_saved,
    accepted_connections_have_tcp_nodelay,
    a_killed_process_keeps_every_submission_it_answered,
);
