//! Issue 10 in a real phone browser (390x844, zh-CN, JavaScript on): a reload keeps the
//! answers; one part per screen; the network cut at send (a loopback relay in front of the
//! server, cut, then restored) ends with exactly one stored screening; the withdraw link;
//! axe-core finds nothing on any rider page, each one saved as a screenshot.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fantoccini::Locator;
use serde_json::json;

use super::{Db, Session, Setup, session, session_with};

/// Renames a table of the server's SQLite database: the screenings "away" make reading and
/// storing them fail, as a broken database would.
fn rename_table(s: &Session, from: &str, to: &str) {
    use diesel::RunQueryDsl;
    let mut conn = s.state.pool.get().expect("a connection");
    diesel::sql_query(format!("ALTER TABLE {from} RENAME TO {to}"))
        .execute(&mut *conn)
        .expect("the table renamed");
}

const RED: [(&str, &str); 9] = [
    ("q1", "1"),
    ("q2", "1"),
    ("q3", "0"),
    ("q4", "0"),
    ("q5", "0"),
    ("q6", "0"),
    ("q7", "0"),
    ("q8", "0"),
    ("q9", "1"),
];
const YELLOW: [(&str, &str); 9] = [
    ("q1", "3"),
    ("q2", "3"),
    ("q3", "3"),
    ("q4", "1"),
    ("q5", "0"),
    ("q6", "0"),
    ("q7", "0"),
    ("q8", "0"),
    ("q9", "0"),
];
const GREEN: [(&str, &str); 9] = [
    ("q1", "0"),
    ("q2", "0"),
    ("q3", "0"),
    ("q4", "0"),
    ("q5", "0"),
    ("q6", "0"),
    ("q7", "0"),
    ("q8", "0"),
    ("q9", "0"),
];

impl Session {
    /// axe-core on the page on screen must find nothing; a screenshot of it is saved.
    pub(crate) async fn clean(&mut self, what: &str) {
        self.shot(what).await;
        let violations = self.axe_violations().await;
        assert!(violations.is_empty(), "{what}: {violations:#?}");
    }

    pub(crate) async fn tap(&self, css: &str) {
        self.scroll_to(css).await;
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot tap {css}: {e}"));
    }

    async fn wait_for(&self, css: &str, seconds: u64) {
        self.client
            .wait()
            .at_most(Duration::from_secs(seconds))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} within {seconds}s: {e}"));
    }

    async fn js(&self, script: &str) -> serde_json::Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("{script}: {e}"))
    }

    /// How many sections of the form are on screen.
    async fn sections_shown(&self) -> i64 {
        self.js("return Array.from(document.querySelectorAll('section.section')).filter(s => s.offsetParent !== null).length")
            .await
            .as_i64()
            .expect("a number")
    }
}

/// A loopback relay in front of the server that can be cut (new connections dropped and the
/// open ones shut, as when a phone loses the network) and restored. Plain threads: a
/// connection is two copies, one each way.
struct Relay {
    port: u16,
    cut: Arc<AtomicBool>,
    open: Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Relay {
    fn start(target: u16) -> Relay {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a relay port");
        let port = listener.local_addr().expect("an address").port();
        let cut = Arc::new(AtomicBool::new(false));
        let open = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (is_cut, streams) = (Arc::clone(&cut), Arc::clone(&open));
        std::thread::spawn(move || {
            for inbound in listener.incoming() {
                let Ok(inbound) = inbound else { continue };
                if is_cut.load(Ordering::SeqCst) {
                    let _ = inbound.shutdown(std::net::Shutdown::Both);
                    continue;
                }
                let Ok(outbound) = std::net::TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                {
                    let mut list = streams.lock().expect("the list");
                    list.extend(inbound.try_clone().ok());
                    list.extend(outbound.try_clone().ok());
                }
                for (from, to) in [
                    (inbound.try_clone(), outbound.try_clone()),
                    (outbound.try_clone(), inbound.try_clone()),
                ] {
                    if let (Ok(mut from), Ok(mut to)) = (from, to) {
                        std::thread::spawn(move || {
                            let _ = std::io::copy(&mut from, &mut to);
                            let _ = to.shutdown(std::net::Shutdown::Write);
                        });
                    }
                }
            }
        });
        Relay { port, cut, open }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for stream in self.open.lock().expect("the list").drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

fn port_of(base: &str) -> u16 {
    base.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port")
}

#[actix_web::test]
async fn a_reload_or_a_rescan_brings_the_answers_back() {
    let Some(mut s) = session("reload-keeps", true).await else {
        return;
    };
    s.open("/s/phq9?site=station-7").await;
    s.answer_all(&RED[..4]).await;
    // A reload, then the same QR code scanned again (the same URL, a new page).
    s.client.refresh().await.expect("reloads");
    s.wait_for("p.restored", 10).await;
    for (item, value) in &RED[..4] {
        assert!(
            s.selected(&format!("#{item}-{value}")).await,
            "{item} kept after a reload"
        );
    }
    assert!(!s.selected("#q5-0").await, "nothing invented");
    s.open("/s/phq9?site=station-7").await;
    s.wait_for("p.restored", 10).await;
    assert!(s.selected("#q1-1").await, "kept after a rescan");
    assert_eq!(
        s.client
            .find(Locator::Css("input[name='site']"))
            .await
            .expect("the station field")
            .attr("value")
            .await
            .expect("value")
            .as_deref(),
        Some("station-7"),
        "the station is kept"
    );
    assert_eq!(s.text("#progress-text").await, "4 / 9");
    s.clean("restored").await;
    // Nothing of it left the phone: nothing is stored until the rider sends.
    assert_eq!(s.count(), (0, 0));
    s.answer_all(&RED[4..]).await;
    s.submit("form.screening", ".result").await;
    assert_eq!(s.count(), (1, 0));
    let kept = s
        .js("return Object.keys(sessionStorage).filter(k => k.indexOf('careline:phq9@') === 0).length")
        .await;
    assert_eq!(kept, json!(0), "cleared after a successful send");
    // A fresh form is empty again.
    s.open("/s/phq9").await;
    assert!(!s.selected("#q1-1").await);
    s.close().await;
}

#[actix_web::test]
async fn a_long_form_can_be_shown_one_part_per_screen() {
    let Some(mut s) = session("one-part-per-screen", true).await else {
        return;
    };
    s.open("/s/rider_wellbeing").await;
    let all = s.sections_shown().await;
    assert!(all >= 4, "every part on one page by default: {all}");
    s.tap("button.paged-toggle").await;
    assert_eq!(s.sections_shown().await, 1, "one part on screen");
    assert!(!s.displayed("form.screening button[type='submit']").await);
    assert!(
        !s.displayed("button.paged-back").await,
        "no Back on the first part"
    );
    s.clean("part-1").await;
    s.answer_all(&[("anx1", "0"), ("anx2", "0"), ("dep1", "0"), ("dep2", "0")])
        .await;
    s.tap("button.paged-next").await;
    assert_eq!(s.sections_shown().await, 1);
    assert!(s.displayed("button.paged-back").await);
    s.answer_all(&[("sh1", "0"), ("sh2", "0"), ("sh3", "0"), ("sh4", "0")])
        .await;
    s.tap("button.paged-back").await;
    assert!(s.displayed("#item-anx1").await, "back on the first part");
    assert!(s.selected("#anx1-0").await, "its answers still there");
    s.tap("button.paged-next").await;
    s.tap("button.paged-next").await;
    s.answer_all(&[
        ("sleep_short", "0"),
        ("sleep_drowsy", "0"),
        ("sleep_exhausted", "0"),
    ])
    .await;
    s.tap("button.paged-next").await;
    s.answer_all(&[
        ("work_time", "0"),
        ("work_ratings", "0"),
        ("work_income", "0"),
        ("work_traffic", "0"),
        ("work_lonely", "0"),
    ])
    .await;
    assert!(
        !s.displayed("button.paged-next").await,
        "the last part has no Next"
    );
    assert!(s.displayed("form.screening button[type='submit']").await);
    s.clean("last-part").await;
    s.submit("form.screening", ".result").await;
    assert_eq!(s.count(), (1, 0), "one POST of the whole form");
    assert_eq!(s.latest().await.tier, "green");
    s.close().await;
}

#[actix_web::test]
async fn the_network_cut_at_send_shows_the_crisis_lines_and_ends_with_one_stored_screening() {
    let Some(mut s) = session("network-cut", true).await else {
        return;
    };
    let relay = Relay::start(port_of(&s.base));
    s.base = format!("http://127.0.0.1:{}", relay.port);
    s.open("/s/phq9?site=station-7").await;
    s.answer_all(&RED).await;
    // Let the proof of work (fetched at load) settle, so the send is the only request.
    tokio::time::sleep(Duration::from_millis(500)).await;
    relay.cut();
    s.tap("form.screening button[type='submit']").await;
    s.wait_for("#offline-panel:not([hidden])", 10).await;
    assert!(s.displayed("#offline-panel a[href='tel:12356']").await);
    assert!(s.displayed("#offline-panel a[href='tel:110']").await);
    assert!(s.displayed("#offline-panel a[href='tel:120']").await);
    assert!(
        s.selected("#q9-1").await,
        "the answers are still on the page"
    );
    s.clean("offline").await;
    assert_eq!(s.count(), (0, 0), "nothing reached the server");
    // Still cut for a couple of retries, then the network is back.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(s.count(), (0, 0));
    relay.restore();
    s.wait_for(".result", 20).await;
    let first = s.first_text().await;
    assert!(first.starts_with("12356"), "crisis lines first: {first:?}");
    // A few more seconds: no retry sends it again.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(s.count(), (1, 0), "exactly one stored screening");
    let row = s.latest().await;
    assert_eq!(row.tier, "red");
    assert_eq!(row.site, None, "station-7 is not a known site here");
    s.clean("after-reconnect").await;
    s.close().await;
}

#[actix_web::test]
async fn the_withdraw_link_deletes_the_contact_and_every_rider_page_passes_axe() {
    let Some(mut s) = session_with(
        "rider-pages",
        Setup {
            javascript: true,
            db: Db::Sqlite,
            desktop: false,
            challenge_per_source: 1_500_000,
            block_cookies: false,
        },
    )
    .await
    else {
        return;
    };
    s.open("/").await;
    s.clean("home").await;
    s.open("/s/phq9").await;
    s.clean("form").await;
    // Read aloud: a button per question, shown exactly when the browser has a voice for the
    // page's language (headless Chromium usually has none).
    let read = s
        .js("var b = document.querySelectorAll('button.read-aloud'); \
             var voices = (window.speechSynthesis ? speechSynthesis.getVoices() : []) \
               .filter(v => v.lang.replace('_', '-').toLowerCase() === 'zh-cn'); \
             return [b.length, Array.from(b).filter(x => !x.hidden).length, voices.length];")
        .await;
    let read: Vec<i64> = read
        .as_array()
        .expect("three numbers")
        .iter()
        .map(|v| v.as_i64().expect("a number"))
        .collect();
    assert_eq!(read[0], 9, "one button per question: {read:?}");
    assert_eq!(
        read[1] > 0,
        read[2] > 0,
        "shown only with a voice: {read:?}"
    );

    for (answers, what) in [(GREEN, "result-green"), (YELLOW, "result-yellow")] {
        s.open("/s/phq9").await;
        s.answer_all(&answers).await;
        s.submit("form.screening", ".result").await;
        s.clean(what).await;
        if what == "result-green" {
            assert!(s.displayed("details.contact-fold").await, "folded on green");
            assert!(!s.displayed("#phone").await, "until opened");
            assert!(s.displayed(".hotline-small a[href='tel:12356']").await);
        } else {
            assert!(s.displayed("#phone").await, "open on yellow");
        }
    }
    s.open("/s/phq9").await;
    s.answer_all(&RED).await;
    s.submit("form.screening", ".result").await;
    s.clean("result-red").await;
    s.client
        .find(Locator::Css("#phone"))
        .await
        .expect("the phone field")
        .send_keys("13800000000")
        .await
        .expect("typed");
    s.tap("label[for='consent']").await;
    s.submit("form.contact", "a.own-data").await;
    s.clean("thanks").await;
    assert_eq!(s.count(), (3, 1));
    s.tap("a.own-data").await;
    s.wait_for("form.withdraw", 10).await;
    s.clean("withdraw").await;
    s.submit("form.withdraw", "a[href='tel:12356']").await;
    assert!(
        s.first_text().await.contains("已删除"),
        "{}",
        s.first_text().await
    );
    s.clean("withdrawn").await;
    assert_eq!(s.count(), (3, 0), "the contact row is deleted");

    // Error pages: unknown page, and a form whose token no longer verifies.
    s.open("/no-such-page").await;
    s.clean("error-404").await;
    s.open("/s/phq9").await;
    s.answer_all(&GREEN).await;
    s.js("document.querySelector('input[name=\"csrf-token\"]').value = 'v1.0.forged'; return 0")
        .await;
    s.submit("form.screening", ".error-summary").await;
    s.clean("error-403-resend").await;
    assert_eq!(s.count(), (3, 0), "nothing stored from the forged form");
    s.close().await;
}

/// The rider's error pages pass axe-core: 500 (a result
/// that cannot be read back: its language switched while the screenings are unreadable), 503
/// (answers that cannot be stored), both with the crisis lines first, and 413 (a form body
/// over the limit) with the hotline. Each page is told by its heading; the refused sends
/// store nothing.
#[actix_web::test]
async fn the_rider_error_pages_pass_axe() {
    let Some(mut s) = session("rider-errors", true).await else {
        return;
    };
    s.open("/s/phq9").await;
    s.answer_all(&GREEN).await;
    s.submit("form.screening", ".result").await;
    assert_eq!(s.count(), (1, 0));

    rename_table(&s, "screenings", "screenings_away");
    s.tap("form.langs button[value='en']").await;
    s.wait_for("p.message", 15).await;
    let heading = s.text("h1").await;
    assert_eq!(heading, "Something went wrong", "the 500 page");
    assert!(s.first_text().await.starts_with("12356"), "lines first");
    s.clean("error-500").await;

    s.open("/s/phq9").await;
    s.answer_all(&RED).await;
    s.submit("form.screening", "p.message").await;
    assert_eq!(s.text("h1").await, "你的回答暂时没能保存", "the 503 page");
    assert!(s.first_text().await.starts_with("12356"), "lines first");
    s.clean("error-503").await;
    rename_table(&s, "screenings_away", "screenings");
    assert_eq!(s.count(), (1, 0), "nothing stored while away");

    s.open("/s/phq9").await;
    s.answer_all(&GREEN).await;
    s.js(
        "var i = document.createElement('input'); i.type = 'hidden'; i.name = 'padding'; \
          i.value = 'x'.repeat(70 * 1024); \
          document.querySelector('form.screening').appendChild(i); return 0",
    )
    .await;
    s.submit("form.screening", "p.message").await;
    assert_eq!(s.text("h1").await, "表格没有收到", "the 413 page");
    assert!(
        s.displayed("a[href='tel:12356']").await,
        "the hotline in reach"
    );
    s.clean("error-413").await;
    assert_eq!(s.count(), (1, 0), "nothing stored from the oversized form");
    s.close().await;
}
