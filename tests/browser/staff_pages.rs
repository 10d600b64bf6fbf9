//! Issue 13: the staff pages on a phone, in headless Chromium.
//!
//! At 390x844 and at 320x640 the header is one row and every control is reachable without
//! scrolling sideways: the links sit behind a menu (a disclosure, opened and closed by
//! keyboard), sign-out stays in view, and no page (`/queue`, an alert, `/rosters`, `/admin`,
//! `/admin/audit`) is wider than the window. The password-reset pages (ask for a link, the
//! link's form, a refusal, a used link) pass axe-core. Screenshots go to
//! `target/screenshots/staff-phone-{390,320}-*.png` and `staff-reset-*.png`.

use std::time::Duration;

use fantoccini::Locator;
use fantoccini::key::Key;
use serde_json::{Value, json};

use super::{Session, phone_session, session};

/// A box on the page: `[left, top, right, bottom]`, in CSS pixels of the viewport.
async fn rect(s: &Session, css: &str) -> [f64; 4] {
    let r = s
        .client
        .execute(
            "var e = document.querySelector(arguments[0]); if (!e) { return null; }\
             var r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom];",
            vec![json!(css)],
        )
        .await
        .expect("runs");
    let v: Vec<f64> = r
        .as_array()
        .unwrap_or_else(|| panic!("no {css} on the page"))
        .iter()
        .map(|x| x.as_f64().unwrap_or(f64::NAN))
        .collect();
    [v[0], v[1], v[2], v[3]]
}

/// `[innerWidth, innerHeight, scrollWidth]` of the page on screen.
async fn window(s: &Session) -> [f64; 3] {
    let v = s
        .client
        .execute(
            "return [window.innerWidth, window.innerHeight, document.documentElement.scrollWidth]",
            vec![],
        )
        .await
        .expect("runs");
    let v: Vec<f64> = v
        .as_array()
        .expect("three numbers")
        .iter()
        .map(|x| x.as_f64().unwrap_or(f64::NAN))
        .collect();
    [v[0], v[1], v[2]]
}

/// The page on screen (`what`) at `width`x`height`: nothing wider than the window, a header
/// of one row, the menu and sign-out inside the viewport.
async fn fits(s: &mut Session, what: &str, (width, height): (u32, u32)) {
    s.shot(what).await;
    let [inner_w, inner_h, scroll_w] = window(s).await;
    assert_eq!(
        (inner_w, inner_h),
        (f64::from(width), f64::from(height)),
        "{what}: the phone's viewport"
    );
    assert!(
        scroll_w <= inner_w,
        "{what} at {width}px: the page scrolls sideways ({scroll_w}px wide)"
    );
    let [_, top, _, bottom] = rect(s, ".ws-bar").await;
    assert!(
        bottom - top < 70.0,
        "{what} at {width}px: a header of one row, not {}px",
        bottom - top
    );
    for control in [".ws-signout button", "details.ws-menu summary"] {
        let [l, t, r, b] = rect(s, control).await;
        assert!(
            l >= 0.0 && t >= 0.0 && r <= inner_w && b <= inner_h && r > l,
            "{what} at {width}px: {control} in the viewport: {:?}",
            [l, t, r, b]
        );
        assert!(b - t >= 44.0, "{what}: {control} large enough to tap");
    }
    assert!(
        !s.displayed(".ws-bar > .ws-nav").await,
        "{what}: the links are in the menu"
    );
}

async fn active_class(s: &Session) -> Value {
    s.client
        .execute(
            "var e = document.activeElement; return e ? e.tagName + '.' + (e.parentNode.className || '') : null",
            vec![],
        )
        .await
        .expect("runs")
}

/// Presses `key` on the focused element; whether the header's menu is open after.
async fn press(s: &Session, key: Key) -> Value {
    s.client
        .active_element()
        .await
        .expect("the focus")
        .send_keys(&String::from(char::from(key)))
        .await
        .expect("the key");
    s.client
        .execute(
            "return document.querySelector('details.ws-menu').open",
            vec![],
        )
        .await
        .expect("runs")
}

/// Opens the header's menu from the keyboard, checks each link is inside the viewport, and
/// closes it with Escape (the focus back on its button).
async fn menu_by_keyboard(s: &mut Session, width: u32) {
    s.client
        .execute(
            "document.querySelector('details.ws-menu summary').focus(); return true",
            vec![],
        )
        .await
        .expect("runs");
    let open = press(s, Key::Enter).await;
    assert_eq!(open, json!(true), "Enter opens the menu");
    let links = s
        .client
        .find_all(Locator::Css("details.ws-menu nav a"))
        .await
        .expect("the menu's links");
    assert!(links.len() >= 3, "the links are in the menu");
    let [inner_w, inner_h, scroll_w] = window(s).await;
    assert!(scroll_w <= inner_w, "the open menu fits the width");
    for link in &links {
        let (x, y, w, h) = link.rectangle().await.expect("a box");
        assert!(
            x >= 0.0 && x + w <= inner_w && y >= 0.0 && y + h <= inner_h && h >= 44.0,
            "a link of the menu in the viewport at {width}px: {:?}",
            (x, y, w, h)
        );
        assert!(link.is_displayed().await.expect("shown"));
    }
    s.shot("menu-open").await;
    let violations = s.axe_violations().await;
    assert!(violations.is_empty(), "the open menu: {violations:#?}");
    let open = press(s, Key::Escape).await;
    assert_eq!(open, json!(false), "Escape closes the menu");
    assert_eq!(
        active_class(s).await,
        json!("SUMMARY.ws-menu"),
        "the focus is back on the menu's button"
    );
}

/// The staff pages at one phone size: a supervisor's (the queue, an alert, the rosters, the
/// menu by keyboard and by tap, sign-out), then an admin's (users and sites, the audit log).
async fn staff_pages_fit(name: &'static str, phone: (u32, u32)) {
    let Some(mut s) = phone_session(name, phone).await else {
        return;
    };
    let width = phone.0;
    s.create_site("north", "北站");
    s.staff("supervisor", "supervisor@example.org", "值班督导", &[]);
    s.staff("admin", "admin@example.org", "管理员", &[]);
    s.submit_red("north", json!({})).await;
    let alert = format!("/queue/{}", s.alerts().remove(0).reference);

    s.open("/queue").await;
    s.sign_in("supervisor@example.org", "#queue").await;
    for (path, ready, what) in [
        ("/queue", "#queue", "queue"),
        (alert.as_str(), "#night-call", "alert"),
        ("/rosters", "main h1", "rosters"),
    ] {
        s.open(path).await;
        s.client
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::Css(ready))
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        fits(&mut s, what, phone).await;
        let violations = s.axe_violations().await;
        assert!(
            violations.is_empty(),
            "{what} at {width}px: {violations:#?}"
        );
    }
    menu_by_keyboard(&mut s, width).await;
    // A link of the menu, tapped, takes the user there.
    s.tap_menu_link("/queue").await;
    s.client
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css("#queue"))
        .await
        .expect("the queue through the menu");

    // Sign-out, tapped where it is, ends the session.
    s.client
        .find(Locator::Css(".ws-signout button"))
        .await
        .expect("sign-out")
        .click()
        .await
        .expect("tapped");
    s.client
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css("form.ws-login"))
        .await
        .expect("signed out");

    s.open("/admin").await;
    s.sign_in("admin@example.org", "main h1").await;
    for (path, what) in [("/admin", "admin"), ("/admin/audit", "audit")] {
        s.open(path).await;
        s.client
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::Css("main h1"))
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        fits(&mut s, what, phone).await;
        let violations = s.axe_violations().await;
        assert!(
            violations.is_empty(),
            "{what} at {width}px: {violations:#?}"
        );
    }
    // The users' table reflows: each person's edit button is in reach, and the form it opens
    // fits the width.
    s.open("/admin").await;
    s.tap("table.users tr[data-user] td.col-edit summary").await;
    let [inner_w, _, scroll_w] = window(&s).await;
    for css in [
        "table.users tr[data-user] td.col-edit summary",
        "table.users details[open] form.edit-user button[type='submit']",
    ] {
        let [left, _, right, _] = rect(&s, css).await;
        assert!(
            left >= 0.0 && right <= inner_w,
            "{css} at {width}px: within the width, not behind a sideways scroll: {left}..{right}"
        );
    }
    assert!(scroll_w <= inner_w, "the open form fits at {width}px");
    s.shot("admin-user-edit").await;
    s.close().await;
}

#[actix_web::test]
async fn at_390x844_the_staff_header_is_one_row_and_nothing_scrolls_sideways() {
    staff_pages_fit("staff-phone-390", (390, 844)).await;
}

#[actix_web::test]
async fn at_320x640_the_staff_header_is_one_row_and_nothing_scrolls_sideways() {
    staff_pages_fit("staff-phone-320", (320, 640)).await;
}

impl Session {
    /// Opens the header's menu with a tap and taps its link to `href`.
    async fn tap_menu_link(&self, href: &str) {
        self.client
            .find(Locator::Css("details.ws-menu summary"))
            .await
            .expect("the menu")
            .click()
            .await
            .expect("opened");
        self.client
            .find(Locator::Css(&format!(
                "details.ws-menu nav a[href='{href}']"
            )))
            .await
            .unwrap_or_else(|e| panic!("no {href} in the menu: {e}"))
            .click()
            .await
            .expect("tapped");
    }

    /// The link of the one password-reset mail in the server's outbox, as a path.
    async fn reset_link(&self) -> String {
        use base64::Engine as _;
        let outbox = self.dir.path().join("outbox");
        let mut mail = None;
        for _ in 0..100 {
            let files: Vec<_> = std::fs::read_dir(&outbox)
                .map(|d| {
                    d.filter_map(Result::ok)
                        .map(|e| e.path())
                        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                        .collect()
                })
                .unwrap_or_default();
            if let [one] = files.as_slice() {
                mail = Some(std::fs::read_to_string(one).expect("the mail"));
                break;
            }
            assert!(files.len() < 2, "one mail: {files:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mail = mail.expect("the reset mail is written within 10 s");
        let (head, body) = mail.split_once("\r\n\r\n").expect("headers, then a body");
        let head = head.to_ascii_lowercase();
        let text = if head.contains("content-transfer-encoding: base64") {
            let packed: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(packed)
                    .expect("base64"),
            )
            .expect("UTF-8")
        } else {
            // 7bit or quoted-printable: the link is ASCII; undo soft breaks and `=3D`.
            body.replace("=\r\n", "").replace("=3D", "=")
        };
        let start = text
            .find("/login/reset?token=")
            .expect("the link in the mail");
        text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '?' | '=' | '-' | '_'))
            .collect()
    }
}

#[actix_web::test]
async fn the_password_reset_pages_have_no_axe_violations() {
    let Some(mut s) = session("staff-reset", true).await else {
        return;
    };
    s.staff("counselor", "li@example.org", "李咨询", &[]);
    s.open("/login").await;
    s.client
        .find(Locator::Css("#forgot-link"))
        .await
        .expect("the way to a reset")
        .click()
        .await
        .expect("followed");
    s.client
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css("form[action='/login/forgot']"))
        .await
        .expect("the request form");
    s.clean("ask").await;
    s.type_into("#email", "li@example.org").await;
    s.submit("form[action='/login/forgot']", "#forgot-sent")
        .await;
    s.clean("asked").await;

    let link = s.reset_link().await;
    s.open(&link).await;
    s.client
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css("form[action='/login/reset']"))
        .await
        .expect("the link's form");
    s.clean("new-password").await;
    s.type_into("#new_password", "a brand new long password")
        .await;
    s.type_into("#repeat_password", "not the same long password")
        .await;
    s.submit("form[action='/login/reset']", "#reset-error")
        .await;
    s.clean("mismatch").await;
    s.type_into("#new_password", "a brand new long password")
        .await;
    s.type_into("#repeat_password", "a brand new long password")
        .await;
    s.submit("form[action='/login/reset']", "form.ws-login")
        .await;
    s.clean("reset-done").await;
    // The link works once.
    s.open(&link).await;
    s.client
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css("#reset-dead"))
        .await
        .expect("a used link");
    s.clean("used-link").await;
    s.close().await;
}
