//! The rider's pages and the staff workspace in a real headless Chromium, driven through
//! chromedriver (WebDriver): the rider's pages on a phone-sized window (390x844), the
//! counselor's queue on a desktop one. Each test starts its own chromedriver, its own server on
//! a fresh database (SQLite; the workspace test also on PostgreSQL from
//! `CARELINE_TEST_DATABASE_URL`), and one browser session; screenshots of every page go to
//! `target/screenshots/`.
//!
//! Without chromedriver (or, for the PostgreSQL test, without `CARELINE_TEST_DATABASE_URL`) the
//! tests are skipped with a message, unless `CARELINE_REQUIRE_SERVICES=1` (CI), where they fail.

mod night_duty;

mod questionnaire_admin;

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use careline::config::{Settings, Sources};
use careline::startup::Application;
use careline::state::AppState;
use diesel::{Connection, RunQueryDsl};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

mod rider_interruptions;

mod staff_pages;

const WIDTH: u32 = 390;
const HEIGHT: u32 = 844;
/// The counselor's workspace is used at a desk.
const DESKTOP_WIDTH: u32 = 1280;
const DESKTOP_HEIGHT: u32 = 900;

fn find_in_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

fn chromedriver() -> Option<PathBuf> {
    std::env::var_os("CHROMEDRIVER")
        .map(PathBuf::from)
        .or_else(|| find_in_path(&["chromedriver"]))
}

fn chromium() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("CHROME_BIN") {
        return Some(PathBuf::from(bin));
    }
    // Debian's /usr/bin/chromium is a shell wrapper; the binary behind it starts faster.
    let direct = Path::new("/usr/lib/chromium/chromium");
    if direct.is_file() {
        return Some(direct.to_path_buf());
    }
    find_in_path(&["chromium", "chromium-browser", "google-chrome"])
}

/// Skips (returns `None`) when the browser is missing, except where CI requires it.
fn skip_or_fail<T>(why: &str) -> Option<T> {
    skip_or_fail_because(
        why,
        "install chromium and chromium-driver to run the browser tests",
    )
}

#[expect(clippy::print_stderr, reason = "a skipped test says why")]
fn skip_or_fail_because<T>(why: &str, how: &str) -> Option<T> {
    if std::env::var("CARELINE_REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!("{why}, and CARELINE_REQUIRE_SERVICES=1 requires the browser tests to run");
    }
    eprintln!("SKIPPED: {why} ({how})");
    None
}

/// The database a test's server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Db {
    Sqlite,
    Postgres,
}

/// A PostgreSQL database made for one test, dropped (best effort) with it.
struct PgDb {
    admin_url: String,
    name: String,
    url: String,
}

impl PgDb {
    /// A fresh database on the server of `CARELINE_TEST_DATABASE_URL`; `None` (skipped) when it
    /// is not set or does not answer, except where CI requires it.
    async fn create() -> Option<PgDb> {
        let admin_url = std::env::var("CARELINE_TEST_DATABASE_URL").unwrap_or_default();
        if admin_url.is_empty() {
            return skip_or_fail_because(
                "CARELINE_TEST_DATABASE_URL is not set",
                "set it to a PostgreSQL server, e.g. postgres://postgres@127.0.0.1:5432/postgres",
            );
        }
        let name = format!("careline_browser_{}", uuid::Uuid::new_v4().simple());
        let (admin, create) = (admin_url.clone(), name.clone());
        let made = tokio::task::spawn_blocking(move || {
            let mut conn = diesel::PgConnection::establish(&admin).map_err(|e| e.to_string())?;
            diesel::sql_query(format!("CREATE DATABASE {create}"))
                .execute(&mut conn)
                .map_err(|e| e.to_string())
        })
        .await
        .expect("the database check ran");
        if let Err(e) = made {
            return skip_or_fail_because(
                &format!("cannot create a database through CARELINE_TEST_DATABASE_URL: {e}"),
                "start PostgreSQL",
            );
        }
        let mut url = reqwest::Url::parse(&admin_url).expect("a postgres:// URL");
        url.set_path(&format!("/{name}"));
        Some(PgDb {
            admin_url,
            name,
            url: url.to_string(),
        })
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin_url.clone(), self.name.clone());
        // Blocking work off the async runtime; FORCE: the server's pool may still be open.
        let _ = std::thread::spawn(move || {
            if let Ok(mut conn) = diesel::PgConnection::establish(&admin) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn);
            }
        })
        .join();
    }
}

/// How a test's browser and server are set up.
#[derive(Debug, Clone, Copy)]
struct Setup {
    javascript: bool,
    db: Db,
    /// A desktop window instead of a phone's.
    desktop: bool,
    /// `abuse.challenge_per_source`: screenings one source stores before a proof of work is
    /// needed (every request of a test comes from one browser).
    challenge_per_source: u32,
    /// Cookies blocked entirely, as some phones and in-app browsers do.
    block_cookies: bool,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// chromedriver in its own process group, so the browsers it starts go down with it.
struct Driver {
    child: Child,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-TERM", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A test that hangs (a browser that stops answering) must not hang the suite: after
/// `LIMIT` the browser is stopped and the test process exits as failed.
fn watchdog(name: &'static str, driver_pid: u32) {
    const LIMIT: Duration = Duration::from_secs(120);
    std::thread::spawn(move || {
        std::thread::sleep(LIMIT);
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{driver_pid}")])
            .stderr(Stdio::null())
            .status();
        #[expect(
            clippy::print_stderr,
            reason = "the only way to say why the test stopped"
        )]
        {
            eprintln!("{name}: no result after {LIMIT:?}; the browser was stopped");
        }
        std::process::exit(101);
    });
}

/// One browser session against one server.
struct Session {
    client: Client,
    base: String,
    state: actix_web::web::Data<AppState>,
    name: &'static str,
    shots: usize,
    setup: Setup,
    /// The phone's viewport (unless `setup.desktop`), in CSS pixels.
    phone: (u32, u32),
    // Dropped last: the browser, the server's folder (its SQLite file and mail outbox), the
    // database.
    _driver: Driver,
    dir: tempfile::TempDir,
    _pg: Option<PgDb>,
}

async fn session(name: &'static str, javascript: bool) -> Option<Session> {
    session_with(
        name,
        Setup {
            javascript,
            db: Db::Sqlite,
            desktop: false,
            challenge_per_source: 1_500_000,
            block_cookies: false,
        },
    )
    .await
}

async fn session_with(name: &'static str, setup: Setup) -> Option<Session> {
    session_with_dir(name, setup, None).await
}

/// As `session_with`, serving the questionnaires of `questionnaires` (a copy, for tests that
/// edit them) instead of the repository's folder.
async fn session_with_dir(
    name: &'static str,
    setup: Setup,
    questionnaires: Option<PathBuf>,
) -> Option<Session> {
    session_on(name, setup, questionnaires, (WIDTH, HEIGHT)).await
}

/// As `session`, on a phone whose viewport is `phone` (width, height) instead of 390x844.
async fn phone_session(name: &'static str, phone: (u32, u32)) -> Option<Session> {
    session_on(
        name,
        Setup {
            javascript: true,
            db: Db::Sqlite,
            desktop: false,
            challenge_per_source: 1_500_000,
            block_cookies: false,
        },
        None,
        phone,
    )
    .await
}

async fn session_on(
    name: &'static str,
    setup: Setup,
    questionnaires: Option<PathBuf>,
    phone: (u32, u32),
) -> Option<Session> {
    let (driver, driver_port) = start_driver(name).await?;

    let dir = tempfile::tempdir().expect("a temporary folder");
    let pg = match setup.db {
        Db::Sqlite => None,
        Db::Postgres => Some(PgDb::create().await?),
    };
    let database_url = match &pg {
        Some(pg) => pg.url.clone(),
        None => format!("sqlite://{}/t.db", dir.path().display()),
    };
    let vars = HashMap::from([
        ("CARELINE__DATABASE__URL".to_string(), database_url),
        // Mail (none goes out by SMTP here) as .eml files in the test's own folder.
        (
            "CARELINE__MAIL__OUTBOX_DIR".to_string(),
            dir.path().join("outbox").display().to_string(),
        ),
        ("CARELINE__SERVER__PORT".to_string(), "0".to_string()),
        // Every request of a page test comes from one client: the flood guard's own tests
        // are in tests/api/flood.rs.
        (
            "CARELINE__ABUSE__CLUSTER_PER_SOURCE".to_string(),
            "1000000".to_string(),
        ),
        (
            "CARELINE__ABUSE__CLUSTER_PER_SITE".to_string(),
            "1000000".to_string(),
        ),
        (
            "CARELINE__ABUSE__CHALLENGE_PER_SOURCE".to_string(),
            setup.challenge_per_source.to_string(),
        ),
        (
            "CARELINE__ABUSE__CHALLENGE_PER_SITE".to_string(),
            "1500000".to_string(),
        ),
        (
            "CARELINE__ABUSE__LIMIT_PER_SOURCE".to_string(),
            "2000000".to_string(),
        ),
        (
            "CARELINE__ABUSE__LIMIT_PER_SITE".to_string(),
            "2000000".to_string(),
        ),
        (
            "CARELINE__QUESTIONNAIRES__DIR".to_string(),
            questionnaires.map_or_else(
                || concat!(env!("CARGO_MANIFEST_DIR"), "/questionnaires").to_string(),
                |d| d.display().to_string(),
            ),
        ),
    ]);
    let settings = Settings::load_from(&Sources {
        config_dir: "/nonexistent".into(),
        env_name: None,
        vars,
    })
    .expect("settings");
    let app = Application::build(settings).await.expect("the app builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let state = app.state();
    actix_web::rt::spawn(app.run_until_stopped());

    let client = open_browser(driver_port, &dir.path().join("profile"), setup, phone).await;
    Some(Session {
        client,
        base,
        state,
        name,
        shots: 0,
        setup,
        phone,
        _driver: driver,
        dir,
        _pg: pg,
    })
}

/// chromedriver on a free port, listening; `None` (skipped) when it or the browser is missing.
async fn start_driver(name: &'static str) -> Option<(Driver, u16)> {
    let Some(driver_bin) = chromedriver() else {
        return skip_or_fail("chromedriver is not installed");
    };
    if chromium().is_none() {
        return skip_or_fail("chromium is not installed");
    }
    let driver_port = free_port();
    let mut command = Command::new(&driver_bin);
    command
        .arg(format!("--port={driver_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let driver = Driver {
        child: command.spawn().expect("chromedriver starts"),
    };
    watchdog(name, driver.child.id());
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(("127.0.0.1", driver_port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not start listening"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Some((driver, driver_port))
}

/// A Chromium of `setup`'s kind through the chromedriver on `driver_port`, its profile in
/// `profile`; a phone's viewport is `phone` (width, height).
async fn open_browser(driver_port: u16, profile: &Path, setup: Setup, phone: (u32, u32)) -> Client {
    let javascript = setup.javascript;
    let browser_bin = chromium().expect("chromium is installed");
    let mut prefs = json!({ "intl.accept_languages": "zh-CN,zh" });
    if !javascript {
        prefs["profile.managed_default_content_settings.javascript"] = json!(2);
    }
    if setup.block_cookies {
        prefs["profile.default_content_setting_values.cookies"] = json!(2);
        prefs["profile.block_third_party_cookies"] = json!(true);
    }
    let (width, height) = if setup.desktop {
        (DESKTOP_WIDTH, DESKTOP_HEIGHT)
    } else {
        phone
    };
    let mut caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": browser_bin,
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--lang=zh-CN",
                format!("--window-size={width},{height}"),
                format!("--user-data-dir={}", profile.display()),
            ],
            "prefs": prefs,
            // A phone's viewport (a desktop window cannot be narrower than 500px), with the
            // viewport meta tag honoured as on a phone. Taps stay mouse clicks: with touch
            // emulation and JavaScript off, chromedriver's clicks never return.
            "mobileEmulation": {
                "deviceMetrics": { "width": phone.0, "height": phone.1, "pixelRatio": 1.0, "mobile": true, "touch": false },
            },
        }
    });
    if setup.desktop {
        caps["goog:chromeOptions"]
            .as_object_mut()
            .expect("options")
            .remove("mobileEmulation");
    }
    let Value::Object(caps) = caps else {
        unreachable!("a JSON object")
    };
    ClientBuilder::native()
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .expect("a browser session")
}

impl Session {
    /// A second browser (its own chromedriver and profile, the same kind as this one) on this
    /// session's server: another person at another device.
    async fn beside(&self, name: &'static str) -> Session {
        let (driver, driver_port) = start_driver(name)
            .await
            .expect("chromedriver ran for the first browser");
        let dir = tempfile::tempdir().expect("a temporary folder");
        let client = open_browser(
            driver_port,
            &dir.path().join("profile"),
            self.setup,
            self.phone,
        )
        .await;
        Session {
            client,
            base: self.base.clone(),
            state: self.state.clone(),
            name,
            shots: 0,
            setup: self.setup,
            phone: self.phone,
            _driver: driver,
            dir,
            _pg: None,
        }
    }

    async fn open(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .expect("the page opens");
    }

    /// A PNG of the window, `target/screenshots/<test>-<n>-<what>.png`.
    async fn shot(&mut self, what: &str) {
        self.shots += 1;
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).expect("the screenshot folder");
        let png = self.client.screenshot().await.expect("a screenshot");
        let file = dir.join(format!("{}-{:02}-{what}.png", self.name, self.shots));
        std::fs::write(&file, png).expect("the screenshot is written");
    }

    async fn scroll_to(&self, css: &str) {
        self.client
            .execute(
                "document.querySelector(arguments[0]).scrollIntoView({block: 'center'})",
                vec![json!(css)],
            )
            .await
            .expect("scrolls");
    }

    /// Taps the answer `value` of `item`, as a finger would: on its label.
    async fn answer(&self, item: &str, value: &str) {
        self.scroll_to(&format!("label[for='{item}-{value}']"))
            .await;
        self.client
            .find(Locator::Css(&format!("label[for='{item}-{value}']")))
            .await
            .unwrap_or_else(|e| panic!("no choice {item}={value}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot tap {item}={value}: {e}"));
    }

    async fn answer_all(&self, answers: &[(&str, &str)]) {
        for (item, value) in answers {
            self.answer(item, value).await;
        }
    }

    async fn submit(&self, form_css: &str, wait_for: &str) {
        self.client
            .find(Locator::Css(&format!("{form_css} button[type='submit']")))
            .await
            .expect("a submit button")
            .click()
            .await
            .expect("the button is tapped");
        self.client
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::Css(wait_for))
            .await
            .unwrap_or_else(|e| panic!("no {wait_for} after sending {form_css}: {e}"));
    }

    /// The element's text. A live page (the alert page swaps its parts when the alert
    /// changes) may replace the element between finding and reading it: found again then.
    async fn text(&self, css: &str) -> String {
        let mut last = None;
        for _ in 0..5 {
            let element = self
                .client
                .find(Locator::Css(css))
                .await
                .unwrap_or_else(|e| panic!("no {css}: {e}"));
            match element.text().await {
                Ok(text) => return text,
                Err(fantoccini::error::CmdError::Standard(e))
                    if e.error == fantoccini::error::ErrorStatus::StaleElementReference =>
                {
                    last = Some(e);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("text of {css}: {e}"),
            }
        }
        panic!("text of {css}: replaced five times: {last:?}")
    }

    async fn displayed(&self, css: &str) -> bool {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .is_displayed()
            .await
            .expect("displayed")
    }

    async fn selected(&self, css: &str) -> bool {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .is_selected()
            .await
            .expect("selected")
    }

    /// The first text a rider sees on the page (in document order, rendered text only).
    async fn first_text(&self) -> String {
        let text = self
            .client
            .execute("return document.body.innerText.trim()", vec![])
            .await
            .expect("runs");
        text.as_str().unwrap_or_default().to_string()
    }

    fn count(&self) -> (i64, i64) {
        let mut conn = self.state.pool.get().expect("a connection");
        (
            careline::db::screenings::count(&mut conn).expect("count"),
            careline::db::screenings::count_contacts(&mut conn).expect("count"),
        )
    }

    /// The stored screening of the result page on screen (its id is in the switcher's form).
    async fn latest(&self) -> careline::db::screenings::ScreeningRow {
        let action = self
            .client
            .find(Locator::Css("form.langs"))
            .await
            .expect("the result's language switcher")
            .attr("action")
            .await
            .expect("action")
            .unwrap_or_default();
        let id = action.trim_start_matches("/r/");
        let mut conn = self.state.pool.get().expect("a connection");
        careline::db::screenings::find(&mut conn, id)
            .expect("find")
            .expect("the row")
    }

    async fn close(self) {
        self.client.close().await.expect("the browser closes");
    }
}

#[actix_web::test]
async fn phq9_with_item_9_endorsed_shows_the_hotline_before_anything_else() {
    let Some(mut s) = session("phq9-red", true).await else {
        return;
    };
    s.open("/").await;
    let width = s
        .client
        .execute("return window.innerWidth", vec![])
        .await
        .expect("runs");
    assert_eq!(width, json!(WIDTH), "a phone-sized viewport");
    s.shot("list").await;
    assert_eq!(
        s.client
            .find(Locator::Css("html"))
            .await
            .expect("html")
            .attr("lang")
            .await
            .expect("lang")
            .as_deref(),
        Some("zh-CN"),
        "Chinese from the browser's Accept-Language"
    );
    // PHQ-9 is not among the screenings offered to riders (`rider.public_questionnaires`):
    // a counselor sends its link.
    assert!(
        s.client
            .find(Locator::Css("a[href='/s/phq9']"))
            .await
            .is_err(),
        "phq9 is not on the list"
    );
    s.open("/s/phq9").await;
    s.client
        .wait()
        .for_element(Locator::Css("form.screening"))
        .await
        .expect("the form");
    assert_eq!(s.text("#progress-text").await, "0 / 9");
    s.shot("form").await;

    let answers = [
        ("q1", "1"),
        ("q2", "1"),
        ("q3", "0"),
        ("q4", "1"),
        ("q5", "0"),
        ("q6", "0"),
        ("q7", "0"),
        ("q8", "0"),
        ("q9", "1"),
    ];
    s.answer_all(&answers).await;
    assert_eq!(s.text("#progress-text").await, "9 / 9", "progress follows");
    s.scroll_to("#item-q9").await;
    s.shot("form-filled").await;

    s.submit("form.screening", ".result").await;
    s.shot("result").await;
    let first = s.first_text().await;
    assert!(
        first.starts_with("12356"),
        "the hotline comes first: {first:?}"
    );
    let tel: Vec<String> = {
        let links = s
            .client
            .find_all(Locator::Css("a[href^='tel:']"))
            .await
            .expect("links");
        let mut out = Vec::new();
        for l in links {
            out.push(l.attr("href").await.expect("href").unwrap_or_default());
        }
        out
    };
    assert_eq!(&tel[..3], ["tel:12356", "tel:110", "tel:120"]);
    let (_, top, _, height) = s
        .client
        .find(Locator::Css("a[href='tel:12356']"))
        .await
        .expect("the hotline")
        .rectangle()
        .await
        .expect("a box");
    assert!(
        top < 40.0 && height >= 44.0,
        "at the top and large: {top} {height}"
    );
    let text = s.first_text().await;
    assert!(!text.to_lowercase().contains("red"), "no tier name shown");
    assert_eq!(s.count(), (1, 0));
    assert_eq!(s.latest().await.tier, "red");

    // Asking to be contacted: the consent box is separate and unticked.
    assert!(!s.selected("#consent").await);
    s.scroll_to("form.contact").await;
    s.shot("contact-offer").await;
    s.client
        .find(Locator::Css("#phone"))
        .await
        .expect("the phone field")
        .send_keys("13800000000")
        .await
        .expect("typed");
    s.submit("form.contact", "#consent-error").await;
    s.scroll_to("form.contact").await;
    s.shot("contact-without-consent").await;
    assert_eq!(s.count(), (1, 0), "nothing stored without consent");
    s.client
        .find(Locator::Css("label[for='consent']"))
        .await
        .expect("the consent box")
        .click()
        .await
        .expect("ticked");
    s.submit("form.contact", "a[href='tel:12356']").await;
    s.shot("thanks").await;
    assert!(s.first_text().await.starts_with("12356"));
    assert!(s.first_text().await.contains("谢谢，我们收到了"));
    assert_eq!(s.count(), (1, 1));
    s.close().await;
}

#[actix_web::test]
async fn rider_wellbeing_in_chinese_hides_the_follow_up_question_when_it_does_not_apply() {
    let Some(mut s) = session("rider-wellbeing", true).await else {
        return;
    };
    // A station's QR code names a known site (an unknown one is stored without a site).
    s.create_site("station-7", "七号站");
    s.open("/s/rider_wellbeing?site=station-7").await;
    s.shot("form").await;
    // The acuity question waits until an earlier answer calls for it; the count is of the
    // questions asked.
    assert!(!s.displayed("#item-sh5").await, "not at load");
    assert_eq!(s.text("#progress-text").await, "0 / 16");
    s.answer_all(&[
        ("anx1", "2"),
        ("anx2", "2"),
        ("dep1", "1"),
        ("dep2", "1"),
        ("sh1", "0"),
        ("sh2", "0"),
        ("sh3", "0"),
    ])
    .await;
    assert!(
        !s.displayed("#item-sh5").await,
        "a question still open is not a yes"
    );
    s.answer("sh4", "0").await;
    assert!(!s.displayed("#item-sh5").await, "all four no: not asked");
    assert_eq!(s.text("#progress-text").await, "8 / 16");
    s.scroll_to("#item-sh4").await;
    s.shot("self-harm-section").await;
    s.answer("sh2", "1").await;
    assert!(s.displayed("#item-sh5").await, "a yes asks the follow-up");
    assert_eq!(s.text("#progress-text").await, "8 / 17");
    s.answer("sh2", "0").await;
    assert!(!s.displayed("#item-sh5").await);

    s.answer_all(&[
        ("sleep_short", "1"),
        ("sleep_drowsy", "1"),
        ("sleep_exhausted", "1"),
        ("work_time", "2"),
        ("work_ratings", "1"),
        ("work_income", "2"),
        ("work_traffic", "1"),
        ("work_lonely", "1"),
    ])
    .await;
    assert_eq!(s.text("#progress-text").await, "16 / 16");
    s.scroll_to("form.screening button[type='submit']").await;
    s.shot("form-filled").await;
    s.submit("form.screening", ".result").await;
    s.shot("result").await;

    // Anxiety 4 of 6: a yellow result. The message first, then the offer and the hotline.
    let first = s.first_text().await;
    assert!(
        !first.starts_with("12356"),
        "no crisis block on top: {first:?}"
    );
    assert!(first.contains("谢谢你愿意说出自己的感受"), "{first}");
    assert!(s.displayed("form.contact").await);
    assert!(s.displayed("a[href='tel:12356']").await);
    s.scroll_to("a[href='tel:12356']").await;
    s.shot("result-hotline").await;
    let row = s.latest().await;
    assert_eq!(row.tier, "yellow");
    assert_eq!(row.site.as_deref(), Some("station-7"));
    assert_eq!(row.locale, "zh-CN");
    assert!(!row.answers.contains("sh5"));
    s.close().await;
}

#[actix_web::test]
async fn with_javascript_off_the_form_still_works() {
    let Some(mut s) = session("no-javascript", false).await else {
        return;
    };
    s.open("/s/rider_wellbeing").await;
    // No script ran: the follow-up question and its hint are on the page.
    assert!(s.displayed("#item-sh5").await);
    assert!(s.displayed("#item-sh5 .cond").await);
    s.scroll_to("#item-sh5").await;
    s.shot("form").await;
    s.answer_all(&[
        ("anx1", "0"),
        ("anx2", "1"),
        ("dep1", "0"),
        ("dep2", "1"),
        ("sh1", "0"),
        ("sh2", "0"),
        ("sh3", "0"),
        ("sh4", "0"),
        // Answered although it does not apply: set aside by the server.
        ("sh5", "0"),
        ("sleep_short", "1"),
        ("sleep_drowsy", "0"),
        ("sleep_exhausted", "1"),
        ("work_time", "1"),
        ("work_ratings", "1"),
        ("work_income", "1"),
        ("work_traffic", "0"),
        ("work_lonely", "0"),
    ])
    .await;
    assert!(
        !s.displayed("#progress-text").await,
        "no script, no live count"
    );
    s.submit("form.screening", ".result").await;
    s.shot("result").await;
    assert!(s.first_text().await.contains("你最近的状态总体不错"));
    assert!(
        s.displayed("a[href='https://careline.example/self-help/mood']")
            .await
    );
    let row = s.latest().await;
    assert_eq!(row.tier, "green");
    assert!(!row.answers.contains("sh5"), "{}", row.answers);
    s.close().await;
}

/// Issue 11: while this browser's source is over its soft limit, the form's script solves the
/// proof-of-work challenge unseen and the screening is stored as usual.
#[actix_web::test]
async fn over_the_soft_limit_the_script_solves_the_challenge_unseen() {
    let Some(mut s) = session_with(
        "proof-of-work",
        Setup {
            javascript: true,
            db: Db::Sqlite,
            desktop: false,
            challenge_per_source: 1,
            block_cookies: false,
        },
    )
    .await
    else {
        return;
    };
    let answers = [
        ("q1", "1"),
        ("q2", "2"),
        ("q3", "1"),
        ("q4", "2"),
        ("q5", "1"),
        ("q6", "1"),
        ("q7", "1"),
        ("q8", "1"),
        ("q9", "0"),
    ];
    for n in 1..=2 {
        let opened = Instant::now();
        s.open("/s/phq9").await;
        s.wait_until("the challenge solved", Duration::from_secs(20), || async {
            let seen = s
                .client
                .execute(
                    "return document.querySelector('form.screening').getAttribute('data-pow')",
                    vec![],
                )
                .await
                .map(|v| v.to_string())
                .unwrap_or_default();
            (seen == "\"solved\"", seen)
        })
        .await;
        #[expect(clippy::print_stderr, reason = "the measured figure goes in the log")]
        {
            eprintln!(
                "proof of work fetched and solved {:?} after the form opened",
                opened.elapsed()
            );
        }
        s.answer_all(&answers).await;
        s.shot(if n == 1 {
            "first-answered"
        } else {
            "second-answered"
        })
        .await;
        s.submit("form.screening", ".result").await;
        if n == 2 {
            s.shot("result").await;
        }
        assert_eq!(s.count().0, n, "screening {n} stored");
    }
    s.close().await;
}

#[actix_web::test]
async fn with_cookies_blocked_the_red_path_still_stores_one_screening_and_shows_the_crisis_lines_first()
 {
    let Some(mut s) = session_with(
        "no-cookies",
        Setup {
            javascript: true,
            db: Db::Sqlite,
            desktop: false,
            block_cookies: true,
            challenge_per_source: 1_500_000,
        },
    )
    .await
    else {
        return;
    };
    s.open("/s/phq9?site=station-7").await;
    let cookies = s.client.get_all_cookies().await.expect("cookies");
    assert!(cookies.is_empty(), "the browser keeps none: {cookies:?}");
    let stored = s
        .client
        .execute(
            "document.cookie = 'probe=1'; return document.cookie",
            vec![],
        )
        .await
        .expect("runs");
    assert_eq!(stored, json!(""), "cookies are really blocked");
    s.shot("form").await;
    s.answer_all(&[
        ("q1", "1"),
        ("q2", "1"),
        ("q3", "0"),
        ("q4", "0"),
        ("q5", "0"),
        ("q6", "0"),
        ("q7", "0"),
        ("q8", "0"),
        ("q9", "2"),
    ])
    .await;
    s.submit("form.screening", ".result").await;
    s.shot("result").await;
    let first = s.first_text().await;
    assert!(first.starts_with("12356"), "crisis lines first: {first:?}");
    assert_eq!(s.count(), (1, 0), "one screening stored");
    assert_eq!(s.latest().await.tier, "red");
    // The contact form needs no cookie either.
    s.client
        .find(Locator::Css("#phone"))
        .await
        .expect("the phone field")
        .send_keys("13800000000")
        .await
        .expect("typed");
    s.scroll_to("label[for='consent']").await;
    s.client
        .find(Locator::Css("label[for='consent']"))
        .await
        .expect("the consent box")
        .click()
        .await
        .expect("ticked");
    s.submit("form.contact", "a[href='tel:12356']").await;
    s.shot("thanks").await;
    assert!(s.first_text().await.contains("谢谢，我们收到了"));
    assert_eq!(s.count(), (1, 1));
    assert!(
        s.client
            .get_all_cookies()
            .await
            .expect("cookies")
            .is_empty(),
        "still none"
    );
    s.close().await;
}

#[actix_web::test]
async fn skipping_the_self_harm_questions_brings_a_gentle_prompt_once_and_the_second_send_is_stored()
 {
    let Some(mut s) = session("soft-prompt", true).await else {
        return;
    };
    s.open("/s/rider_wellbeing").await;
    assert!(!s.displayed("#item-sh5").await, "the acuity question waits");
    s.answer_all(&[
        ("anx1", "0"),
        ("anx2", "1"),
        ("dep1", "0"),
        ("dep2", "0"),
        ("sleep_short", "1"),
        ("sleep_drowsy", "0"),
        ("sleep_exhausted", "1"),
        ("work_time", "1"),
        ("work_ratings", "0"),
        ("work_income", "1"),
        ("work_traffic", "0"),
        ("work_lonely", "0"),
    ])
    .await;
    assert!(
        !s.displayed("#item-sh5").await,
        "unanswered is not a yes while filling"
    );
    assert_eq!(s.text("#progress-text").await, "12 / 16");
    s.submit("form.screening", "#soft-prompt").await;
    s.shot("prompt").await;
    assert_eq!(s.count(), (0, 0), "nothing stored on the prompt");
    let prompt = s.text("#soft-prompt").await;
    assert!(prompt.contains("你可以跳过这些问题，但"), "{prompt}");
    assert!(
        !s.first_text().await.starts_with("12356"),
        "a refusal is not an alarm"
    );
    assert!(
        s.displayed("a[href='tel:12356']").await,
        "the hotline in reach"
    );
    assert!(s.selected("#anx2-1").await, "the answers kept");
    // Sent as it is: the server counts the refusals, so the acuity question is asked now.
    assert!(s.displayed("#item-sh5").await);
    s.submit("form.screening", ".result").await;
    s.shot("result").await;
    assert_eq!(s.count(), (1, 0), "the second send is stored");
    let row = s.latest().await;
    assert_eq!(row.tier, "red", "a refusal counts as positive");
    let text = s.first_text().await;
    assert!(text.starts_with("12356"), "{text}");
    assert!(text.contains("有几个关于安全的问题你没有回答"), "{text}");
    assert!(!text.contains("谢谢你如实告诉我们"), "{text}");
    s.close().await;
}

#[actix_web::test]
async fn a_validation_error_keeps_the_answers_and_points_at_the_question() {
    let Some(mut s) = session("validation", true).await else {
        return;
    };
    s.open("/s/rider_wellbeing").await;
    s.answer_all(&[
        ("anx1", "3"),
        ("dep1", "2"),
        ("sh1", "0"),
        ("sh2", "0"),
        ("sh3", "0"),
        ("sh4", "0"),
    ])
    .await;
    s.submit("form.screening", "#error-summary").await;
    s.shot("errors").await;
    assert_eq!(s.count(), (0, 0));
    assert!(s.selected("#anx1-3").await && s.selected("#dep1-2").await);
    assert!(s.selected("#sh4-0").await);
    assert!(s.displayed("#err-anx2").await);
    assert!(s.text("#err-anx2").await.contains("请选一个答案"));
    assert!(
        !s.displayed("#item-sh5").await,
        "the script runs on the returned page"
    );
    let focused = s
        .client
        .active_element()
        .await
        .expect("focus")
        .attr("id")
        .await
        .expect("id");
    assert_eq!(focused.as_deref(), Some("error-summary"));
    // The summary links to the question.
    s.client
        .find(Locator::Css("#error-summary a[href='#item-anx2']"))
        .await
        .expect("a link to the question")
        .click()
        .await
        .expect("follows");
    s.shot("error-at-item").await;

    s.answer_all(&[
        ("anx2", "0"),
        ("dep2", "0"),
        ("sleep_short", "0"),
        ("sleep_drowsy", "0"),
        ("sleep_exhausted", "0"),
        ("work_time", "0"),
        ("work_ratings", "0"),
        ("work_income", "0"),
        ("work_traffic", "0"),
        ("work_lonely", "0"),
    ])
    .await;
    s.submit("form.screening", ".result").await;
    s.shot("result").await;
    assert_eq!(s.count(), (1, 0));
    s.close().await;
}

// ---- the counselor's workspace ------------------------------------------------------------

/// The password of every staff account the browser tests make (`Session::staff`).
const STAFF_PASSWORD: &str = "a long enough password";

impl Session {
    /// A staff account signing in with `STAFF_PASSWORD`, in Chinese: `role` (`counselor`,
    /// `supervisor`, `admin`) at `sites` (none: every site). Answers its user id.
    fn staff(&self, role: &str, email: &str, name: &str, sites: &[&str]) -> String {
        let mut conn = self.state.pool.get().expect("a connection");
        let (user, _) = careline::accounts::create_user(
            &mut conn,
            &careline::audit::Who::system(),
            &careline::accounts::NewUser {
                email: email.into(),
                name: name.into(),
                role: role.into(),
                sites: sites.iter().map(|s| (*s).to_string()).collect(),
                password: Some(STAFF_PASSWORD.into()),
                locale: Some("zh-CN".into()),
                phone: None,
            },
        )
        .unwrap_or_else(|e| panic!("a {role}: {e:?}"));
        user.id
    }

    /// Signs in as `email` on the sign-in form this browser is on or is sent to, then waits
    /// for `wait_for` on the page it lands on.
    async fn sign_in(&self, email: &str, wait_for: &str) {
        self.client
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::Css("form.ws-login"))
            .await
            .expect("the sign-in form");
        self.type_into("#email", email).await;
        self.type_into("#password", STAFF_PASSWORD).await;
        self.submit("form.ws-login", wait_for).await;
    }

    /// Polls `check` (every 100 ms) until it holds or `within` has passed; then fails with
    /// `what` and the last value seen.
    async fn wait_until<F, Fut>(&self, what: &str, within: Duration, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = (bool, String)>,
    {
        let deadline = Instant::now() + within;
        loop {
            let (ok, seen) = check().await;
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not within {within:?}; last seen: {seen}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn title(&self) -> String {
        self.client.title().await.expect("the title")
    }

    async fn type_into(&self, css: &str, text: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("cannot type into {css}: {e}"));
    }

    fn create_site(&self, slug: &str, name: &str) {
        let mut conn = self.state.pool.get().expect("a connection");
        careline::accounts::create_site(
            &mut conn,
            &careline::audit::Who::system(),
            &careline::accounts::Site {
                slug: slug.into(),
                name: name.into(),
            },
        )
        .expect("a site");
    }

    /// A rider's red PHQ-9 (item 9 answered) at `site`, sent through the API as the form
    /// would; `extra` adds fields (a contact and its consent). Asserts it was stored.
    async fn submit_red(&self, site: &str, extra: serde_json::Value) {
        let mut body = json!({
            "questionnaire": "phq9",
            "answers": {"q1": 1, "q2": 2, "q3": 1, "q4": 1, "q5": 0, "q6": 1, "q7": 0, "q8": 0, "q9": 1},
            "locale": "zh-CN",
            "site": site,
        });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        let response = reqwest::Client::new()
            .post(format!("{}/api/v1/screenings", self.base))
            .json(&body)
            .send()
            .await
            .expect("the screening is sent");
        assert_eq!(response.status(), reqwest::StatusCode::CREATED);
    }

    fn alerts(&self) -> Vec<careline::db::alerts::AlertRow> {
        let mut conn = self.state.pool.get().expect("a connection");
        careline::db::alerts::list(
            &mut conn,
            &careline::db::alerts::Filter {
                statuses: Vec::new(),
                tiers: Vec::new(),
                site: None,
                visible_sites: None,
                limit: 100,
                after: None,
                cluster: None,
            },
        )
        .expect("the alerts")
    }
}

/// Signs in as a counselor, watches a red alert arrive without reloading, takes it, adds a
/// note and resolves it.
async fn counselor_works_a_red_alert(name: &'static str, db: Db) {
    let Some(mut s) = session_with(
        name,
        Setup {
            javascript: true,
            db,
            desktop: true,
            challenge_per_source: 1_500_000,
            block_cookies: false,
        },
    )
    .await
    else {
        return;
    };
    s.create_site("north", "北站");
    s.staff("counselor", "li@example.org", "李咨询", &["north"]);

    // Not signed in: the queue sends the browser to the sign-in page, and back after it.
    s.open("/queue").await;
    s.client
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css("form.ws-login"))
        .await
        .expect("the sign-in form");
    s.shot("sign-in").await;
    s.sign_in("li@example.org", "#queue").await;
    assert!(
        s.client
            .current_url()
            .await
            .expect("url")
            .path()
            .ends_with("/queue")
    );
    let title = s.title().await;
    assert!(title.starts_with("(0) 预警队列"), "{title}");
    // The event stream is connected (its first event refreshes the rows).
    s.wait_until("the live indicator", Duration::from_secs(15), || async {
        let class = s
            .client
            .find(Locator::Css("#live"))
            .await
            .expect("#live")
            .attr("class")
            .await
            .expect("class")
            .unwrap_or_default();
        (class.contains("on"), class)
    })
    .await;
    // A mark that a reload would wipe out.
    s.client
        .execute("window.careline_marker = 'still here'; return true", vec![])
        .await
        .expect("runs");
    s.shot("queue-empty").await;

    // A rider's red result arrives through the API.
    s.submit_red("north", json!({})).await;
    let alerts = s.alerts();
    assert_eq!(alerts.len(), 1);
    let reference = alerts[0].reference.clone();

    // It appears without a reload, and the title counts it.
    let row = format!("#queue-rows tr[data-ref='{reference}']");
    s.wait_until("the new alert's row", Duration::from_secs(15), || async {
        let found = s.client.find(Locator::Css(&row)).await.is_ok();
        (found, s.title().await)
    })
    .await;
    s.wait_until("the title's count", Duration::from_secs(15), || async {
        let title = s.title().await;
        (title.starts_with("(1) 预警队列"), title)
    })
    .await;
    let marker = s
        .client
        .execute("return window.careline_marker || null", vec![])
        .await
        .expect("runs");
    assert_eq!(marker, json!("still here"), "the page was not reloaded");
    assert_eq!(s.text("#open-red").await, "1");
    let row_text = s.text(&row).await;
    assert!(
        row_text.contains("红色") && row_text.contains("还剩"),
        "{row_text}"
    );
    s.shot("queue-new-alert").await;
    // A narrow window (a desktop window cannot be narrower than 500px): rows become cards.
    s.client
        .set_window_size(500, DESKTOP_HEIGHT)
        .await
        .expect("resized");
    s.shot("queue-narrow").await;
    s.client
        .set_window_size(DESKTOP_WIDTH, DESKTOP_HEIGHT)
        .await
        .expect("resized");

    // Take the next alert: it opens, taken by this counselor.
    s.submit("form.take-next", "form.act-resolve").await;
    assert!(
        s.client
            .current_url()
            .await
            .expect("url")
            .path()
            .ends_with(&format!("/queue/{reference}"))
    );
    assert_eq!(s.text("#alert-assignee").await, "李咨询");
    assert_eq!(s.text("#alert-status").await, "处理中");
    let page = s.first_text().await;
    assert!(
        page.contains("有不如死掉或用某种方式伤害自己的念头"),
        "item text"
    );
    assert!(page.contains("好几天 (1)"), "the chosen answer's label");
    s.shot("alert-taken").await;

    // A note, then the resolution.
    s.scroll_to("form.act-note").await;
    s.type_into("#note-text", "已电话联系骑手，情绪平稳，愿意预约咨询")
        .await;
    s.submit("form.act-note", ".event-text").await;
    assert!(
        s.text("#timeline")
            .await
            .contains("已电话联系骑手，情绪平稳，愿意预约咨询")
    );
    s.scroll_to("form.act-resolve").await;
    s.client
        .find(Locator::Css("#outcome"))
        .await
        .expect("the outcome")
        .select_by_value("contacted_safe")
        .await
        .expect("an outcome chosen");
    s.type_into("#resolve-note", "已联系，安全；下周回访").await;
    s.shot("alert-resolving").await;
    s.submit("form.act-resolve", "#alert-outcome").await;
    assert_eq!(s.text("#alert-outcome").await, "已联系，安全");
    assert_eq!(s.text("#alert-status").await, "已结案");
    s.shot("alert-resolved").await;
    s.scroll_to("#timeline").await;
    s.shot("alert-timeline").await;
    let row = &s.alerts()[0];
    assert_eq!(row.status, "resolved");
    assert_eq!(row.outcome.as_deref(), Some("contacted_safe"));

    // Back on the queue: nothing open.
    s.client
        .find(Locator::Css(".crumbs a"))
        .await
        .expect("the way back")
        .click()
        .await
        .expect("followed");
    s.client
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css("#queue"))
        .await
        .expect("the queue");
    assert!(s.title().await.starts_with("(0) 预警队列"));
    s.shot("queue-after").await;
    s.close().await;
}

#[actix_web::test]
async fn a_counselor_sees_a_red_alert_arrive_and_works_it_on_sqlite() {
    counselor_works_a_red_alert("workspace-sqlite", Db::Sqlite).await;
}

#[actix_web::test]
async fn a_counselor_sees_a_red_alert_arrive_and_works_it_on_postgresql() {
    counselor_works_a_red_alert("workspace-postgres", Db::Postgres).await;
}

// ---- the programme reports dashboard ---------------------------------------------------------

/// axe-core 4.14.1 (Deque Systems, MPL-2.0; `vendor/axe-core-LICENSE.txt`), from the npm
/// package, kept here so the test needs no network. Injected through WebDriver, which the
/// page's Content-Security-Policy does not govern.
const AXE: &str = include_str!("vendor/axe.min.js");

impl Session {
    /// Runs axe-core on the page: every violation as "rule (impact): help: targets".
    async fn axe_violations(&self) -> Vec<String> {
        let script = format!(
            "{AXE}\nreturn axe.run(document, {{resultTypes: ['violations']}}).then(r => r.violations.map(v => v.id + ' (' + v.impact + '): ' + v.help + ': ' + v.nodes.slice(0, 5).map(n => n.target.join(' ')).join(', ')));"
        );
        let out = self
            .client
            .execute(&script, vec![])
            .await
            .expect("axe runs");
        out.as_array()
            .expect("a list of violations")
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// `n` stored screenings of `tier` at `site`, `days_ago` days back.
    fn seed(&self, n: usize, q: &str, tier: &str, site: &str, days_ago: i64) {
        use careline::db::screenings;
        let mut conn = self.state.pool.get().expect("a connection");
        let at = chrono::Utc::now().naive_utc() - chrono::Duration::days(days_ago);
        let hash = format!("sha256:seed-{q}");
        for i in 0..n {
            let version = screenings::NewVersion {
                content_hash: &hash,
                questionnaire_id: q,
                version: "1",
                source: "",
                first_used_at: at,
            };
            let row = screenings::ScreeningRow {
                id: uuid::Uuid::new_v4().to_string(),
                questionnaire_id: q.into(),
                content_hash: hash.clone(),
                answers: "{}".into(),
                scores: "{}".into(),
                bands: "{}".into(),
                reasons: "[]".into(),
                tier: tier.into(),
                urgent: false,
                locale: "zh-CN".into(),
                site: Some(site.into()),
                submitted_at: at + chrono::Duration::seconds(i as i64),
                idempotency_key: None,
                request_hash: None,
                response: None,
                contact_token_hash: None,
                source_fp: None,
            };
            screenings::insert(&mut conn, &version, &row, None, &|_, _| Ok(()))
                .expect("a seeded screening");
        }
    }
}

async fn the_reports_dashboard(name: &'static str, desktop: bool) {
    let Some(mut s) = session_with(
        name,
        Setup {
            javascript: true,
            db: Db::Sqlite,
            desktop,
            challenge_per_source: 1_500_000,
            block_cookies: false,
        },
    )
    .await
    else {
        return;
    };
    if desktop {
        // A viewport of 1280x800: the window's size less what its frame takes.
        s.client.set_window_size(1280, 800).await.expect("a window");
        let inner = s
            .client
            .execute("return [window.innerWidth, window.innerHeight]", vec![])
            .await
            .expect("runs");
        let dw = 1280 - inner[0].as_u64().unwrap_or(1280) as u32;
        let dh = 800 - inner[1].as_u64().unwrap_or(800) as u32;
        s.client
            .set_window_size(1280 + dw, 800 + dh)
            .await
            .expect("a 1280x800 viewport");
    }
    s.create_site("north", "北站");
    s.create_site("south", "南站");
    s.create_site("east", "东站");
    s.create_site("west", "西站");
    // Three finished weeks: three big stations and a small one (folded into "other sites").
    for week in 1..=3 {
        let days = 7 * week;
        s.seed(
            18 + week as usize,
            "rider_wellbeing",
            "green",
            "north",
            days,
        );
        s.seed(12, "rider_wellbeing", "yellow", "north", days);
        s.seed(11, "phq9", "red", "north", days);
        s.seed(15, "phq9", "green", "south", days);
        s.seed(10, "phq9", "yellow", "south", days);
        s.seed(10, "phq9", "red", "south", days);
        s.seed(14, "gad7", "green", "west", days);
        s.seed(11, "gad7", "yellow", "west", days);
        s.seed(12, "phq9", "red", "west", days);
        s.seed(3, "phq9", "red", "east", days);
    }
    s.staff("admin", "admin@example.org", "管理员", &[]);

    s.open("/reports").await;
    s.sign_in("admin@example.org", "#rep-screenings").await;
    assert!(
        s.client
            .current_url()
            .await
            .expect("url")
            .path()
            .ends_with("/reports")
    );
    let viewport = s
        .client
        .execute("return [window.innerWidth, window.innerHeight]", vec![])
        .await
        .expect("runs");
    let expected = if desktop { [1280, 800] } else { [390, 844] };
    assert_eq!(viewport, json!(expected), "the viewport");
    // The chart is server-rendered SVG with a title, and its numbers are in tables.
    assert!(s.displayed("figure.chart svg.chart").await);
    let axis = s
        .client
        .execute(
            "return document.querySelector('figure.chart svg').textContent",
            vec![],
        )
        .await
        .expect("runs");
    let axis = axis.as_str().unwrap_or_default();
    assert!(
        axis.contains('W') && !axis.contains("-W"),
        "12 weeks are labelled without the year, so the labels do not overlap: {axis}"
    );
    let tables = s.text("section[aria-labelledby='rep-screenings']").await;
    assert!(
        tables.contains("north") && tables.contains("2026-W"),
        "{tables}"
    );
    assert!(
        !tables.contains("east") && tables.contains("其他站点"),
        "the small station is folded into other sites: {tables}"
    );
    assert!(
        tables.contains("<10"),
        "small counts are shown as <10: {tables}"
    );
    // Nothing wider than the window: no sideways scrolling of the page itself.
    let overflow = s
        .client
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
            vec![],
        )
        .await
        .expect("runs");
    assert_eq!(overflow.as_i64(), Some(0), "the page scrolls sideways");
    s.shot("reports-top").await;
    s.scroll_to("#rep-alerts").await;
    s.shot("reports-alerts").await;
    s.scroll_to("#rep-coverage").await;
    s.shot("reports-coverage").await;

    let violations = s.axe_violations().await;
    assert!(
        violations.is_empty(),
        "axe-core found violations:\n{}",
        violations.join("\n")
    );
    // The check can fail: an image without a text alternative is a violation.
    s.client
        .execute(
            "const i = document.createElement('img'); i.src = '/static/none.png'; document.querySelector('main').appendChild(i); return true",
            vec![],
        )
        .await
        .expect("runs");
    let planted = s.axe_violations().await;
    assert!(
        planted.iter().any(|v| v.starts_with("image-alt")),
        "axe-core runs and reports: {planted:?}"
    );
    s.close().await;
}

#[actix_web::test]
async fn the_reports_dashboard_at_1280x800_has_no_axe_violations() {
    the_reports_dashboard("reports-desktop", true).await;
}

#[actix_web::test]
async fn the_reports_dashboard_at_390x844_has_no_axe_violations() {
    the_reports_dashboard("reports-phone", false).await;
}

// ---- a suspected flood, as a supervisor works it -----------------------------------------------

/// Issue 11: a supervisor signs in on a phone, finds the flood as one row after the queue's
/// alerts, opens it (the rider who left a number first), moves that alert back to the queue
/// and resolves the rest as false positives. Screenshots of each page; axe-core finds nothing.
#[actix_web::test]
async fn a_supervisor_works_a_suspected_flood_on_a_phone() {
    use careline::db::AnyConnection;
    use careline::db::schema::{alerts, flood_clusters};
    let Some(mut s) = session("flood-cluster", true).await else {
        return;
    };
    s.create_site("north", "北站");
    let now = chrono::Utc::now().naive_utc();
    let cluster_id = uuid::Uuid::now_v7().to_string();
    {
        let mut conn = s.state.pool.get().expect("a connection");
        let cluster = careline::db::abuse::ClusterRow {
            id: cluster_id.clone(),
            kind: "source".into(),
            source_key: "0".repeat(32),
            site: Some("north".into()),
            status: "active".into(),
            first_at: now - chrono::Duration::minutes(4),
            last_at: now,
            alert_count: 8,
            paged_at: Some(now),
            paged_count: 8,
        };
        let rows: Vec<careline::db::alerts::AlertRow> = (0..9)
            .map(|i| careline::db::alerts::AlertRow {
                id: uuid::Uuid::now_v7().to_string(),
                reference: format!("A-FL{i:02}"),
                tier: "red".into(),
                urgent: i < 8,
                priority: if i < 8 { 0 } else { 1 },
                site: Some("north".into()),
                reasons: "[]".into(),
                status: "open".into(),
                assignee_id: None,
                // The one real rider in the flood left a number.
                rider_key: (i == 5).then(|| "a".repeat(64)),
                created_at: now,
                deadline_at: now + chrono::Duration::minutes(5 + i),
                acknowledged_at: None,
                resolved_at: None,
                outcome: None,
                updated_at: now,
                policy: None,
                // The ninth is an ordinary alert outside the flood.
                cluster_id: (i < 8).then(|| cluster_id.clone()),
            })
            .collect();
        match &mut *conn {
            AnyConnection::Sqlite(c) => {
                diesel::insert_into(flood_clusters::table)
                    .values(&cluster)
                    .execute(c)
                    .expect("a cluster");
                diesel::insert_into(alerts::table)
                    .values(&rows)
                    .execute(c)
                    .expect("alerts");
            }
            AnyConnection::Postgresql(_) => unreachable!("this test runs on SQLite"),
        }
    }
    s.staff("supervisor", "supervisor@example.org", "督导", &[]);

    s.open("/queue").await;
    s.sign_in("supervisor@example.org", "#queue").await;
    // The ordinary alert is a row of its own; the flood one row after it.
    // The rows are refreshed live (the body replaced): read them in one go.
    let rows = s
        .client
        .execute(
            "return document.querySelector('#queue-rows').textContent",
            vec![],
        )
        .await
        .expect("runs");
    let rows = rows.as_str().unwrap_or_default().to_string();
    assert!(rows.contains("A-FL08"), "{rows}");
    assert!(
        rows.contains("疑似刷量：北站，8 条预警（红色 8 条）"),
        "{rows}"
    );
    s.shot("queue").await;
    assert_eq!(s.axe_violations().await, Vec::<String>::new(), "the queue");
    let href = s
        .client
        .execute(
            "return document.querySelector('tr.cluster a').getAttribute('href')",
            vec![],
        )
        .await
        .expect("runs");
    assert_eq!(href, json!(format!("/queue/clusters/{cluster_id}")));
    s.open(&format!("/queue/clusters/{cluster_id}")).await;
    s.client
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css("#resolve-all"))
        .await
        .expect("the cluster page");
    s.shot("cluster").await;
    assert_eq!(
        s.axe_violations().await,
        Vec::<String>::new(),
        "the cluster page"
    );
    let first = s
        .client
        .execute(
            "return document.querySelector('form#release tbody tr a').textContent",
            vec![],
        )
        .await
        .expect("runs");
    assert_eq!(first, json!("A-FL05"), "the rider who left a number first");

    // Move that one back, then resolve the rest.
    s.client
        .find(Locator::Css("#pick-1"))
        .await
        .expect("its box")
        .click()
        .await
        .expect("ticked");
    s.submit("form#release", "p.ws-info").await;
    assert!(s.text("p.ws-info").await.contains('1'));
    s.type_into("#cluster-note", "同一来源四分钟内提交，判断为脚本")
        .await;
    s.submit("form#resolve-all", "p.ws-info").await;
    s.shot("resolved").await;
    let all = s.alerts();
    let by_ref = |r: &str| all.iter().find(|a| a.reference == r).expect("an alert");
    assert_eq!(by_ref("A-FL05").status, "open", "moved back, still open");
    assert_eq!(by_ref("A-FL05").cluster_id, None);
    assert_eq!(
        by_ref("A-FL08").status,
        "open",
        "the ordinary one untouched"
    );
    let resolved = all
        .iter()
        .filter(|a| a.outcome.as_deref() == Some("false_positive"))
        .count();
    assert_eq!(resolved, 7);
    s.close().await;
}
