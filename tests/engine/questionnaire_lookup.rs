//! Where `careline` finds the shipped questionnaires when `questionnaires.dir` is not set:
//! `./questionnaires`, then `questionnaires` next to the binary, then in the data directory
//! (the SQLite file's folder); and an error naming every place when none exists. Each case
//! runs the real binary from a working directory of its own.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn run(binary: &Path, cwd: &Path, env: &[(&str, String)], args: &[&str]) -> Output {
    let mut cmd = Command::new(binary);
    cmd.args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars() {
        if k.starts_with("CARELINE") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("careline ran")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A folder `questionnaires` under `parent` holding only `file` of the shipped ones.
fn questionnaires_with(parent: &Path, file: &str) -> PathBuf {
    let dir = parent.join("questionnaires");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        crate::root().join("questionnaires").join(file),
        dir.join(file),
    )
    .unwrap();
    dir
}

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_careline"))
}

/// A database URL in a folder of its own (nothing is created by `check`).
fn database_in(dir: &Path) -> (&'static str, String) {
    (
        "CARELINE__DATABASE__URL",
        format!("sqlite://{}", dir.join("careline.db").display()),
    )
}

#[test]
fn the_working_directory_comes_first_then_the_binary_then_the_data_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path().join("cwd");
    let bin = tmp.path().join("bin");
    let data = tmp.path().join("data");
    for d in [&cwd, &bin, &data] {
        std::fs::create_dir_all(d).unwrap();
    }
    // A copy of the binary (a hard link: the same file, its own folder).
    let exe = bin.join("careline");
    std::fs::hard_link(binary(), &exe)
        .or_else(|_| std::fs::copy(binary(), &exe).map(|_| ()))
        .unwrap();
    let in_cwd = questionnaires_with(&cwd, "phq9.toml");
    let beside = questionnaires_with(&bin, "gad7.toml");
    let in_data = questionnaires_with(&data, "k6.toml");
    let env = [database_in(&data)];

    let o = run(&exe, &cwd, &env, &["check"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains(&format!("{}: ok phq9", in_cwd.join("phq9.toml").display())),
        "{out}"
    );
    assert!(out.contains("1 ok, 0 failed"), "{out}");

    std::fs::remove_dir_all(&in_cwd).unwrap();
    let o = run(&exe, &cwd, &env, &["check"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains(&format!("{}: ok gad7", beside.join("gad7.toml").display())),
        "{out}"
    );

    std::fs::remove_dir_all(&beside).unwrap();
    let o = run(&exe, &cwd, &env, &["check"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains(&format!("{}: ok k6", in_data.join("k6.toml").display())),
        "{out}"
    );
    // Scoring works from there too.
    let o = run(
        &exe,
        &cwd,
        &env,
        &[
            "score",
            "k6",
            "--answers",
            r#"{"q1":0,"q2":0,"q3":0,"q4":0,"q5":0,"q6":0}"#,
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("\"tier\":\"green\""), "{}", text(&o));
    assert!(!cwd.join("careline.db").exists() && !data.join("careline.db").exists());
}

#[test]
fn a_configured_folder_wins() {
    let tmp = tempfile::tempdir().unwrap();
    questionnaires_with(tmp.path(), "phq9.toml");
    let configured = tempfile::tempdir().unwrap();
    let chosen = questionnaires_with(configured.path(), "who5.toml");
    let env = [
        database_in(tmp.path()),
        (
            "CARELINE__QUESTIONNAIRES__DIR",
            chosen.display().to_string(),
        ),
    ];
    let o = run(&binary(), tmp.path(), &env, &["check"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("ok who5") && !out.contains("phq9"), "{out}");
}

#[test]
fn when_no_folder_is_found_the_error_names_every_place_looked() {
    let cwd = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let env = [database_in(data.path())];
    let beside = binary().parent().unwrap().join("questionnaires");
    assert!(
        !beside.exists(),
        "the test needs no questionnaires folder beside {}",
        binary().display()
    );
    for args in [&["check"][..], &["score", "phq9", "--answers", "{}"][..]] {
        let o = run(&binary(), cwd.path(), &env, args);
        let out = text(&o);
        assert_eq!(o.status.code(), Some(1), "{out}");
        let cwd = std::fs::canonicalize(cwd.path()).unwrap();
        for place in [
            cwd.join("questionnaires"),
            beside.clone(),
            data.path().join("questionnaires"),
        ] {
            assert!(
                out.contains(&place.display().to_string()),
                "{} missing from: {out}",
                place.display()
            );
        }
        assert!(out.contains("CARELINE__QUESTIONNAIRES__DIR"), "{out}");
    }
}
