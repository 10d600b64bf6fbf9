//! `careline user add`, run as the real binary against the test's own database (SQLite file
//! or PostgreSQL database), and the user it makes signing in through HTTP.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::helpers::{Backend, TestApp, assert_error, ok, spawn_app};

pub(crate) struct Run {
    pub(crate) code: Option<i32>,
    /// stdout and stderr together.
    pub(crate) output: String,
}

/// Runs `careline user add ARGS` on the app's database. `stdin`: `Some` pipes that text in,
/// `None` gives the process an empty, closed stdin (nothing piped in).
pub(crate) async fn user_add(app: &TestApp, args: &[&str], stdin: Option<&str>) -> Run {
    let url = app.database_url().to_string();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let stdin = stdin.map(str::to_string);
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_careline"));
        cmd.args(["user", "add"])
            .args(&args)
            .current_dir(crate::helpers::root())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, _) in std::env::vars() {
            if k.starts_with("CARELINE") {
                cmd.env_remove(k);
            }
        }
        cmd.env("CARELINE__DATABASE__URL", &url);
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = cmd.spawn().expect("run careline");
        if let Some(text) = stdin {
            let mut pipe = child.stdin.take().expect("stdin");
            pipe.write_all(text.as_bytes()).expect("write stdin");
        }
        let out = child.wait_with_output().expect("careline ran");
        Run {
            code: out.status.code(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    })
    .await
    .expect("the command ran")
}

async fn a_password_on_stdin_makes_a_user_who_can_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_site("north").await;
    let password = "piped in through stdin";
    let run = user_add(
        &app,
        &[
            "--email",
            "Wang.Fang@Example.org",
            "--name",
            "王芳",
            "--role",
            "supervisor",
            "--site",
            "north",
            "--locale",
            "en",
        ],
        Some(&format!("{password}\n")),
    )
    .await;
    assert_eq!(run.code, Some(0), "{}", run.output);
    assert!(
        run.output
            .contains("created supervisor wang.fang@example.org ("),
        "{}",
        run.output
    );
    assert!(!run.output.contains(password), "the password is not echoed");
    assert!(
        !run.output.contains("shown once"),
        "no password is generated"
    );
    let token = app.sign_in("wang.fang@example.org", password).await;
    let me = ok(app.get_as(&token, "/api/v1/auth/me").await).await;
    assert_eq!(me["role"], "supervisor");
    assert_eq!(me["name"], "王芳");
    assert_eq!(me["sites"], serde_json::json!(["north"]));
    assert_eq!(me["locale"], "en");
    let created = app
        .audit_entries()
        .await
        .into_iter()
        .find(|e| e.action == "user.created")
        .expect("audited");
    assert_eq!(created.actor, "cli");
    assert!(!created.detail.contains(password));
}

async fn with_nothing_piped_in_a_password_is_generated_and_printed_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let run = user_add(
        &app,
        &[
            "--email",
            "admin@example.org",
            "--name",
            "Admin",
            "--role",
            "admin",
        ],
        None,
    )
    .await;
    assert_eq!(run.code, Some(0), "{}", run.output);
    let marker = "password (shown once, keep it safe): ";
    assert_eq!(run.output.matches(marker).count(), 1, "{}", run.output);
    let password = run
        .output
        .lines()
        .find_map(|l| l.strip_prefix(marker))
        .expect("the password line")
        .trim()
        .to_string();
    assert!(password.chars().count() >= 12, "{password}");
    let token = app.sign_in("admin@example.org", &password).await;
    ok(app.get_as(&token, "/api/v1/admin/users").await).await;
    // An empty line piped in is nothing piped in: generated too.
    let run = user_add(
        &app,
        &[
            "--email",
            "c@example.org",
            "--name",
            "C",
            "--role",
            "counselor",
        ],
        Some("\n"),
    )
    .await;
    assert_eq!(run.code, Some(0), "{}", run.output);
    assert!(run.output.contains(marker), "{}", run.output);
}

async fn bad_arguments_exit_1_with_a_message_and_create_nobody(backend: Backend) {
    let app = spawn_app(backend).await;
    let existing = app.create_user("counselor", &[]).await;
    let before = app.user_count().await;
    let good_password = Some("a good long password\n");
    let cases: [(Vec<&str>, Option<&str>, &str); 6] = [
        (
            vec!["--email", "x@example.org", "--name", "X", "--role", "root"],
            good_password,
            "role: must be counselor, supervisor or admin",
        ),
        (
            vec![
                "--email",
                "not-an-email",
                "--name",
                "X",
                "--role",
                "counselor",
            ],
            good_password,
            "email: must be an email address",
        ),
        (
            vec![
                "--email",
                "x@example.org",
                "--name",
                "X",
                "--role",
                "counselor",
            ],
            Some("tooshort\n"),
            "password: a password needs at least 12 characters",
        ),
        (
            vec![
                "--email",
                "x@example.org",
                "--name",
                "X",
                "--role",
                "counselor",
                "--site",
                "nowhere",
            ],
            good_password,
            "no site `nowhere`",
        ),
        (
            vec![
                "--email",
                &existing.email,
                "--name",
                "X",
                "--role",
                "counselor",
            ],
            good_password,
            "exists",
        ),
        (
            vec![
                "--email",
                "x@example.org",
                "--name",
                "X",
                "--role",
                "counselor",
                "--locale",
                "fr",
            ],
            good_password,
            "locale: must be zh-CN, zh-TW or en",
        ),
    ];
    for (args, stdin, message) in cases {
        let run = user_add(&app, &args, stdin).await;
        assert_eq!(run.code, Some(1), "{args:?}: {}", run.output);
        assert!(
            run.output.contains(message),
            "{args:?}: expected {message:?} in {}",
            run.output
        );
        assert!(
            !run.output.contains("tooshort"),
            "the password is not echoed"
        );
    }
    let run = user_add(
        &app,
        &["--email", "x@example.org", "--name", "X"],
        good_password,
    )
    .await;
    assert_ne!(run.code, Some(0), "--role is required: {}", run.output);
    assert_eq!(app.user_count().await, before, "nobody was created");
    assert_error(
        app.login("x@example.org", "a good long password").await,
        401,
        "bad_credentials",
    )
    .await;
}

backend_tests!(
    a_password_on_stdin_makes_a_user_who_can_sign_in,
    with_nothing_piped_in_a_password_is_generated_and_printed_once,
    bad_arguments_exit_1_with_a_message_and_create_nobody,
);
