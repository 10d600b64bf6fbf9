//! Issue 12: the sign-in throttle is shared by every instance. Two real `careline serve`
//! processes on one PostgreSQL database: failures counted on one are counted on the other,
//! and a successful sign-in clears only its own account's count.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use careline::config::DatabaseSettings;
use careline::db;

use crate::helpers::{Backend, PASSWORD, TEST_CONTACT_KEY, TestDb, eventually};

/// A running `careline serve` on a port of its own; killed when dropped.
struct Serve {
    child: Child,
    log: Arc<Mutex<String>>,
    port: u16,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let _ = writeln!(
                std::io::stderr(),
                "---- log of careline serve :{} ----\n{}",
                self.port,
                self.log.lock().unwrap_or_else(|e| e.into_inner())
            );
        }
    }
}

async fn serve(database_url: &str) -> Serve {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_careline"));
    cmd.arg("serve")
        .current_dir(crate::helpers::root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars() {
        if k.starts_with("CARELINE") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    let outbox = std::env::temp_dir().join(format!("careline-outbox-{}", uuid::Uuid::new_v4()));
    cmd.envs([
        ("CARELINE__DATABASE__URL", database_url.to_string()),
        ("CARELINE__SERVER__PORT", "0".into()),
        ("CARELINE__PRIVACY__CONTACT_KEY", TEST_CONTACT_KEY.into()),
        ("CARELINE__MAIL__OUTBOX_DIR", outbox.display().to_string()),
        ("CARELINE__LOG__FORMAT", "json".into()),
    ]);
    let mut child = cmd.spawn().expect("start careline serve");
    let log = crate::helpers::capture_log(&mut child);
    let mut serve = Serve {
        child,
        log,
        port: 0,
    };
    serve.port = eventually(Duration::from_secs(60), "careline serve to listen", || {
        let log = serve.log.lock().unwrap_or_else(|e| e.into_inner()).clone();
        async move {
            log.lines()
                .filter(|l| l.contains("careline is listening"))
                .find_map(|l| {
                    let v: serde_json::Value = serde_json::from_str(l).ok()?;
                    v["fields"]["port"].as_u64().or_else(|| v["port"].as_u64())
                })
                .and_then(|p| u16::try_from(p).ok())
        }
    })
    .await;
    serve
}

async fn login(client: &reqwest::Client, port: u16, email: &str, password: &str) -> u16 {
    client
        .post(format!("http://127.0.0.1:{port}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await
        .expect("sent")
        .status()
        .as_u16()
}

/// The database, migrated, with `emails` as counselors (password `PASSWORD`).
async fn database(backend: &Backend, emails: &[&str]) -> TestDb {
    let test_db = TestDb::create(backend).await;
    let settings = DatabaseSettings {
        url: test_db.url.clone(),
        pool_size: 1,
        timeout: Duration::from_secs(10),
    };
    let emails: Vec<String> = emails.iter().map(|e| e.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let pool = db::connect(&settings).expect("connect");
        let mut conn = pool.get().expect("a connection");
        db::migrate(&mut conn).expect("migrate");
        for email in emails {
            careline::accounts::create_user(
                &mut conn,
                &careline::audit::Who::system(),
                &careline::accounts::NewUser {
                    email,
                    name: "Test Person".into(),
                    role: "counselor".into(),
                    sites: vec![],
                    password: Some(PASSWORD.into()),
                    locale: None,
                    phone: None,
                },
            )
            .expect("a user");
        }
    })
    .await
    .expect("set up");
    test_db
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a client")
}

/// Five wrong passwords split across instances A and B, then a sixth on either: 429.
#[actix_web::test]
async fn postgres_failures_on_two_instances_count_together() {
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let victim = "victim@example.org";
    let db = database(&backend, &[victim]).await;
    let a = serve(&db.url).await;
    let b = serve(&db.url).await;
    let client = client();
    let mut answers = Vec::new();
    for i in 0..5 {
        let port = if i % 2 == 0 { a.port } else { b.port };
        answers.push(login(&client, port, victim, "wrong password guess").await);
    }
    assert_eq!(answers, [401; 5], "five free failures");
    assert_eq!(login(&client, b.port, victim, "another guess").await, 429);
    assert_eq!(login(&client, a.port, victim, "another guess").await, 429);
    // The right password is refused alike while throttled.
    assert_eq!(login(&client, a.port, victim, PASSWORD).await, 429);
}

/// Four wrong guesses at a victim, then a correct sign-in to an account one owns, repeated:
/// the success must not clear the address's count, so the sixth guess is throttled.
#[actix_web::test]
async fn postgres_a_success_on_another_account_does_not_reset_the_address() {
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let victim = "victim@example.org";
    let mine = "attacker@example.org";
    let db = database(&backend, &[victim, mine]).await;
    let a = serve(&db.url).await;
    let b = serve(&db.url).await;
    let client = client();
    let mut guesses = Vec::new();
    'rounds: for round in 0..5 {
        for _ in 0..4 {
            let status = login(&client, a.port, victim, "a guess").await;
            guesses.push(status);
            if status == 429 {
                break 'rounds;
            }
        }
        let own = login(&client, b.port, mine, PASSWORD).await;
        if own == 429 {
            break;
        }
        assert_eq!(own, 200, "round {round}: the attacker's own account");
    }
    let evaluated = guesses.iter().filter(|s| **s == 401).count();
    assert_eq!(
        evaluated, 5,
        "five guesses evaluated, then 429: {guesses:?}"
    );
    assert_eq!(guesses.last(), Some(&429), "{guesses:?}");
}
