//! The `careline` binary, run as a user would.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn careline(args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_careline"));
    cmd.args(args)
        .current_dir(crate::root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars() {
        if k.starts_with("CARELINE") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd.spawn().unwrap();
    let mut pipe = child.stdin.take().unwrap();
    if let Some(input) = stdin {
        pipe.write_all(input.as_bytes()).unwrap();
    }
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

const PHQ9_MODERATE: &str = r#"{"q1":2,"q2":2,"q3":1,"q4":2,"q5":1,"q6":1,"q7":1,"q8":1,"q9":0}"#;

#[test]
fn check_with_no_path_checks_the_configured_folder_and_passes() {
    let o = careline(&["check"], None);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("questionnaires/phq9.toml: ok phq9 1.1.2 (9 items, "),
        "{out}"
    );
    assert!(out.trim_end().ends_with("9 ok, 0 failed"), "{out}");
    assert!(
        out.contains("examples, sensitive: sh1 sh2 sh3 sh4)"),
        "rider_wellbeing names its sensitive items: {out}"
    );
    assert!(
        out.contains("examples, sensitive: q1 q2 q3 q4)"),
        "asq: {out}"
    );
}

#[test]
fn check_refuses_a_sensitive_item_that_is_not_optional() {
    let bad = "tests/fixtures/invalid/sensitive_not_optional.toml";
    let o = careline(&["check", bad], None);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "{bad}:18:13: item `a` is sensitive but not optional"
        )),
        "{out}"
    );
}

#[test]
fn check_reports_every_error_as_path_line_col_and_exits_1() {
    let bad = "tests/fixtures/invalid/duplicate_names.toml";
    let o = careline(&["check", "questionnaires/gad7.toml", bad], None);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("questionnaires/gad7.toml: ok gad7"), "{out}");
    assert!(
        out.contains(&format!("{bad}:21:6: duplicate item id \"a\"")),
        "{out}"
    );
    assert!(
        out.contains(&format!("{bad}:47:6: duplicate rule id \"b_yes\"")),
        "{out}"
    );
    assert!(out.contains("1 ok, 1 failed"), "{out}");
}

#[test]
fn check_refuses_missing_paths_and_empty_folders() {
    let empty = tempfile::tempdir().unwrap();
    let o = careline(
        &["check", "no/such/file.toml", empty.path().to_str().unwrap()],
        None,
    );
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        out.contains("no/such/file.toml: no such file or folder"),
        "{out}"
    );
    assert!(out.contains("no questionnaire files"), "{out}");
}

#[test]
fn score_prints_the_outcome_json_of_the_contract() {
    let o = careline(&["score", "phq9", "--answers", PHQ9_MODERATE], None);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = stdout(&o);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let hash = careline::questionnaire::content_hash(
        &std::fs::read_to_string(crate::shipped_dir().join("phq9.toml")).unwrap(),
    );
    let expected = format!(
        r#"{{"questionnaire":"phq9","version":"1.1.2","content_hash":"{hash}","scores":{{"total":11}},"bands":{{"total":"moderate"}},"tier":"yellow","urgent":false,"reasons":[{{"kind":"band","id":"total.moderate","tier":"yellow"}}]}}"#
    );
    assert_eq!(out.trim_end(), expected);
    assert_eq!(v["tier"], "yellow");
}

#[test]
fn score_reads_answers_from_stdin_with_a_dash() {
    let o = careline(
        &["score", "asq", "--answers", "-"],
        Some(r#"{"q1":1,"q2":0,"q3":0,"q4":0,"q5":1}"#),
    );
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["tier"], "red");
    assert_eq!(v["urgent"], true);
}

#[test]
fn score_uses_the_questionnaires_option() {
    let dir = crate::fixtures().join("valid");
    let o = careline(
        &[
            "score",
            "mini",
            "--questionnaires",
            dir.to_str().unwrap(),
            "--answers",
            r#"{"a":1,"b":1}"#,
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains(r#""tier":"red""#));
}

#[test]
fn score_refuses_bad_answers_naming_the_item() {
    // (answers, a phrase the message must contain, why)
    let cases = [
        (
            r#"{"q1":0,"q2":0,"q3":0,"q4":0,"q5":0,"q6":0,"q7":0,"q8":0,"q9":0,"q10":1}"#,
            "q10: `q10` is not an item of phq9",
            "unknown item",
        ),
        (
            r#"{"q1":7}"#,
            "q1: 7 is not one of the choices (0, 1, 2, 3)",
            "value out of range",
        ),
        (
            r#"{"q1":1.5}"#,
            "q1: the answer must be the whole-number value of a choice, not 1.5",
            "not an integer",
        ),
        (
            r#"{"q1":"2"}"#,
            "q1: the answer must be the whole-number value of a choice, not a string",
            "string",
        ),
        (
            r#"{"q1":1,"q1":2}"#,
            "q1: answered more than once",
            "duplicate key",
        ),
        ("[1,2,3]", "must be a JSON object", "not an object"),
        ("{\"q1\":", "must be a JSON object", "truncated JSON"),
        ("", "must be a JSON object", "empty input"),
    ];
    for (answers, phrase, why) in cases {
        let o = careline(&["score", "phq9", "--answers", answers], None);
        let out = stdout(&o);
        assert_eq!(o.status.code(), Some(1), "{why}: {out}");
        assert!(out.contains(phrase), "{why}: {out}");
        assert!(
            !String::from_utf8_lossy(&o.stderr).contains("panicked"),
            "{why}"
        );
    }
}

#[test]
fn score_refuses_a_missing_required_item_and_an_answer_to_a_hidden_one() {
    let o = careline(&["score", "gad7", "--answers", r#"{"q1":0}"#], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("q2: an answer is required"),
        "{}",
        stdout(&o)
    );
    let o = careline(
        &[
            "score",
            "asq",
            "--answers",
            r#"{"q1":0,"q2":0,"q3":0,"q4":0,"q5":1}"#,
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("q5: answered, but this question is not asked"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn score_refuses_unknown_questionnaires_and_path_tricks() {
    for id in ["nope", "../questionnaires/phq9", "PHQ9", ""] {
        let o = careline(&["score", id, "--answers", "{}"], None);
        assert_eq!(o.status.code(), Some(1), "{id}");
        let out = stdout(&o);
        assert!(
            out.contains("unknown questionnaire") && out.contains("available: asq, gad7"),
            "{id}: {out}"
        );
    }
}

#[test]
fn usage_errors_exit_2_with_help() {
    let o = careline(&["score", "phq9"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--answers"));
    let o = careline(&["frobnicate"], None);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn a_bad_configuration_stops_the_command_with_the_key_named() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_careline"));
    cmd.args(["check"])
        .current_dir(crate::root())
        .env("CARELINE__LOG__FORAMT", "json");
    let o = cmd.output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("foramt"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `careline serve`/`worker` outside development, with keys of its own and a fresh SQLite
/// database in `dir`, plus `vars`.
fn staging(args: &[&str], dir: &std::path::Path, vars: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_careline"));
    cmd.args(args)
        .current_dir(crate::root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars() {
        if k.starts_with("CARELINE") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.env("CARELINE_ENV", "staging")
        .env(
            "CARELINE__AUTH__JWT_KEY",
            "a staging key that is long enough to be accepted",
        )
        .env(
            "CARELINE__PRIVACY__CONTACT_KEY",
            "c3RhZ2luZyBrZXk6IDMyIGJ5dGVzIG9mIG5vdGhpbmc=",
        )
        .env(
            "CARELINE__DATABASE__URL",
            format!("sqlite://{}", dir.join("careline.db").display()),
        )
        .env("CARELINE__MAIL__OUTBOX_DIR", dir.join("outbox"))
        .env("CARELINE__SERVER__PORT", "0");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd
}

/// A fresh install has no supervisor: unless backup_emails is set, a red alert's last level
/// would page nobody, so `serve` and `worker` refuse to start (outside development), saying
/// what to set.
#[test]
fn serve_and_worker_refuse_a_chain_that_pages_nobody() {
    let dir = tempfile::tempdir().unwrap();
    for command in ["serve", "worker"] {
        let o = staging(&[command], dir.path(), &[]).output().unwrap();
        let out = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(o.status.code(), Some(1), "{command}: {out}");
        assert!(
            out.contains(
                "`escalation.backup_emails`: there is no active supervisor and no backup address"
            ) && out.contains("CARELINE__ESCALATION__BACKUP_EMAILS="),
            "{command}: {out}"
        );
    }
    // With a backup address it starts and listens.
    let mut child = staging(
        &["serve"],
        dir.path(),
        &[(
            "CARELINE__ESCALATION__BACKUP_EMAILS",
            "duty-desk@example.org".into(),
        )],
    )
    .spawn()
    .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    for pipe in [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    drop(tx);
    let mut log = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let listening = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                log.push_str(&line);
                log.push('\n');
                if line.contains("careline is listening") {
                    break true;
                }
            }
            Err(_) => break false,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(listening, "{log}");
    assert!(!log.contains("no backup address"), "{log}");
}

/// With no SMTP URL, mail is written to mail.outbox_dir: a folder that cannot be written stops
/// the start, naming the key.
#[test]
fn serve_refuses_an_outbox_it_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a folder").unwrap();
    let o = staging(
        &["serve"],
        dir.path(),
        &[
            (
                "CARELINE__ESCALATION__BACKUP_EMAILS",
                "duty-desk@example.org".into(),
            ),
            (
                "CARELINE__MAIL__OUTBOX_DIR",
                file.join("outbox").display().to_string(),
            ),
        ],
    )
    .output()
    .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("`mail.outbox_dir`: cannot write to")
            && out.contains("set mail.outbox_dir to a folder"),
        "{out}"
    );
}
