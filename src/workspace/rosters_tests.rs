//! The roster page and the admin page's notifier section through their handlers: a real
//! `AppState` on a fresh SQLite database per test, wired as the server wires it, users signed
//! in through the sign-in form as a browser does.

use actix_web::http::{StatusCode, header};
use actix_web::test;
use chrono::{Duration, NaiveDateTime, Utc};

use crate::audit::{self, Who};

use super::tests::{Harness, harness};

/// China time as a `datetime-local` field holds it.
fn local_input(utc: NaiveDateTime) -> String {
    crate::china_time::local_input(utc)
}

impl Harness {
    fn shifts(&self) -> Vec<crate::db::rosters::ShiftRow> {
        let from = Utc::now().naive_utc() - Duration::days(30);
        crate::db::rosters::between(&mut self.conn(), from, from + Duration::days(60))
            .expect("shifts")
            .into_iter()
            .map(|(row, _)| row)
            .collect()
    }

    /// A station, a counselor and a supervisor of it, and an admin; ids.
    fn cast(&self) -> (String, String, String) {
        self.site_named("north", "望京站");
        (
            self.user("li@example.org", "李咨询", "counselor", &["north"], "zh-CN"),
            self.user(
                "wang@example.org",
                "王督导",
                "supervisor",
                &["north"],
                "zh-CN",
            ),
            self.user("root@example.org", "Root", "admin", &[], "en"),
        )
    }
}

/// Tomorrow at `hh:mm` China time, in UTC.
fn tomorrow_at(hh: u32, mm: u32) -> NaiveDateTime {
    let today = crate::china_time::local(Utc::now().naive_utc()).date();
    (today + Duration::days(1))
        .and_hms_opt(hh, mm, 0)
        .expect("a time")
        - Duration::hours(8)
}

#[actix_web::test]
async fn the_week_is_shown_in_china_time_with_who_is_on_duty_now() {
    let h = harness().await;
    let (counselor, _, _) = h.cast();
    let supervisor = h.login("wang@example.org").await;
    // Tomorrow 09:00-17:00 China time (01:00-09:00 UTC), and a shift running now.
    let nine = tomorrow_at(9, 0);
    let five = tomorrow_at(17, 0);
    let now = Utc::now().naive_utc();
    for (from, to) in [
        (nine, five),
        (now - Duration::hours(1), now + Duration::hours(1)),
    ] {
        let answer = h
            .post(
                &supervisor,
                "/rosters",
                &[
                    ("user_id", &counselor),
                    ("starts_at", &local_input(from)),
                    ("ends_at", &local_input(to)),
                ],
            )
            .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        assert_eq!(answer.location(), "/rosters?done=added");
    }
    let stored: Vec<_> = h.shifts().into_iter().map(|s| s.starts_at).collect();
    assert!(stored.contains(&nine), "{stored:?}");

    let page = h.get(&supervisor, "/rosters?done=added").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("班次已添加"), "{}", page.body);
    let day = crate::china_time::local(nine)
        .date()
        .format("%Y-%m-%d")
        .to_string();
    let block = &page.body[page
        .body
        .find(&format!("id=\"day-{day}\""))
        .expect("tomorrow")..];
    let row = &block[..block.find("</tr>\n</tbody>").expect("its table")];
    assert!(
        row.contains(&format!(
            "<time datetime=\"{}Z\">09:00</time> – <time datetime=\"{}Z\">17:00</time>",
            nine.format("%Y-%m-%dT%H:%M:%S"),
            five.format("%Y-%m-%dT%H:%M:%S"),
        )),
        "{row}"
    );
    assert!(row.contains("李咨询 · 咨询师"), "{row}");
    assert!(row.contains("望京站"), "{row}");
    // On duty now: the counselor, until China time.
    let duty = &page.body[page.body.find("on-duty-counselors").expect("the box")..];
    let until = crate::china_time::local(now + Duration::hours(1));
    assert!(duty.contains("李咨询"), "{duty}");
    assert!(
        duty.contains(&format!("至 {}", until.format("%H:%M")))
            || duty.contains(&format!("至 {}", until.format("%m-%d %H:%M"))),
        "{duty}"
    );
    assert!(page.body.contains("on-duty-supervisors empty"));
    // Seven days, today first.
    assert_eq!(page.body.matches("<h3 id=\"day-").count(), 7);
    assert!(page.body.contains("(今天)"));
}

#[actix_web::test]
async fn the_form_needs_its_csrf_token_and_this_origin() {
    let h = harness().await;
    let (counselor, _, _) = h.cast();
    let admin = h.login("root@example.org").await;
    let starts = local_input(tomorrow_at(8, 0));
    let ends = local_input(tomorrow_at(20, 0));
    let fields = [
        ("user_id", counselor.as_str()),
        ("starts_at", starts.as_str()),
        ("ends_at", ends.as_str()),
        ("sites", "north"),
    ];
    let refused = [
        h.post_with(&admin, "/rosters", None, None, &fields).await,
        h.post_with(&admin, "/rosters", Some("forged"), None, &fields)
            .await,
        h.post_with(
            &admin,
            "/rosters",
            Some(&admin.csrf),
            Some("https://evil.example"),
            &fields,
        )
        .await,
    ];
    for answer in refused {
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
        assert!(
            answer.body.contains("Nothing was changed"),
            "{}",
            answer.body
        );
    }
    assert!(h.shifts().is_empty());
    assert_eq!(h.audit_count("shift.created"), 0);

    // The admin's page has the form, in English.
    let page = h.get(&admin, "/rosters").await;
    assert!(page.body.contains("action=\"/rosters\""), "{}", page.body);
    assert!(page.body.contains("type=\"datetime-local\""));
    assert!(page.body.contains("value=\"north\""));
    assert!(
        page.body
            .contains(&format!("<option value=\"{counselor}\""))
    );
    // Counselors and supervisors only: not the admin.
    assert_eq!(page.body.matches("<option value=").count(), 2);

    let answer = h.post(&admin, "/rosters", &fields).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let shifts = h.shifts();
    assert_eq!(shifts.len(), 1);
    assert_eq!(shifts[0].starts_at, tomorrow_at(8, 0));
    assert_eq!(h.audit_count("shift.created"), 1);
    let id = shifts[0].id.clone();

    // A refused input keeps what was typed and says why, in the user's language.
    let answer = h
        .post(
            &admin,
            "/rosters",
            &[
                ("user_id", counselor.as_str()),
                ("starts_at", ends.as_str()),
                ("ends_at", starts.as_str()),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(answer.body.contains("The end must be after the start."));
    assert!(answer.body.contains(&format!("value=\"{ends}\"")));
    let answer = h
        .post(
            &admin,
            "/rosters",
            &[
                ("user_id", counselor.as_str()),
                ("starts_at", "soon"),
                ("ends_at", ends.as_str()),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(answer.body.contains("as a date and a time"));
    assert_eq!(h.shifts().len(), 1);

    // Deleting: refused without the token, then done with it; an unknown shift is 404.
    let path = format!("/rosters/{id}/delete");
    let answer = h.post_with(&admin, &path, None, None, &[]).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(h.shifts().len(), 1);
    let page = h.get(&admin, "/rosters").await;
    assert!(page.body.contains(&format!("action=\"{path}\"")));
    let answer = h.post(&admin, &path, &[]).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(answer.location(), "/rosters?done=deleted");
    assert!(h.shifts().is_empty());
    assert_eq!(h.audit_count("shift.deleted"), 1);
    let answer = h.post(&admin, &path, &[]).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn counselors_see_the_rosters_without_the_form_and_cannot_post() {
    let h = harness().await;
    let (counselor_id, _, _) = h.cast();
    let supervisor = h.login("wang@example.org").await;
    let starts = local_input(tomorrow_at(9, 0));
    let ends = local_input(tomorrow_at(18, 0));
    let answer = h
        .post(
            &supervisor,
            "/rosters",
            &[
                ("user_id", counselor_id.as_str()),
                ("starts_at", starts.as_str()),
                ("ends_at", ends.as_str()),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let id = h.shifts()[0].id.clone();

    let counselor = h.login("li@example.org").await;
    let page = h.get(&counselor, "/rosters").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("李咨询"));
    assert!(
        page.body
            .contains("href=\"/rosters\" aria-current=\"page\"")
    );
    assert!(!page.body.contains("action=\"/rosters\""), "{}", page.body);
    assert!(!page.body.contains("/delete"));
    assert!(!page.body.contains("datetime-local"));

    for (path, fields) in [
        (
            "/rosters".to_string(),
            vec![
                ("user_id", counselor_id.as_str()),
                ("starts_at", starts.as_str()),
                ("ends_at", ends.as_str()),
            ],
        ),
        (format!("/rosters/{id}/delete"), vec![]),
    ] {
        let answer = h.post(&counselor, &path, &fields).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(h.shifts().len(), 1);

    // Not signed in: to the sign-in page, and back here afterwards.
    let answer = h.call(test::TestRequest::get().uri("/rosters")).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(answer.location(), "/login?next=/rosters");
    let answer = h
        .call(
            test::TestRequest::post()
                .uri("/rosters")
                .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
                .set_payload("user_id=x"),
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(answer.location(), "/login");
}

#[actix_web::test]
async fn the_admin_page_shows_failed_jobs_and_escalation_gaps() {
    let h = harness().await;
    h.cast();
    let admin = h.login("root@example.org").await;
    let page = h.get(&admin, "/admin").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("no-jobs") && page.body.contains("no-gaps"));

    let now = Utc::now().naive_utc();
    let mut job = crate::db::jobs::JobRow::new(
        "email",
        "test:failed".into(),
        None,
        serde_json::json!({"delivery": {"to": "hidden-recipient@example.org"}}),
        now,
        now,
    );
    job.status = "failed".into();
    job.attempts = 1;
    job.last_error = Some("550 5.1.1 mailbox <li@example.org> unavailable".into());
    job.finished_at = Some(now);
    let mut conn = h.conn();
    crate::db::jobs::enqueue(&mut conn, &job).expect("a job");
    audit::record(
        &mut conn,
        &Who::system(),
        "alert.escalation_gap",
        Some("alert-id"),
        serde_json::json!({"reference": "A-GAP1", "level": 0, "round": 1, "notify": "on_duty_counselors"}),
    )
    .expect("an audit row");
    audit::record(
        &mut conn,
        &Who::system(),
        "alert.nobody_to_page",
        Some("alert-id"),
        serde_json::json!({"reference": "A-NONE"}),
    )
    .expect("an audit row");
    drop(conn);

    let page = h.get(&admin, "/admin").await;
    let section = &page.body[page
        .body
        .find("id=\"notifier-title\"")
        .expect("the section")..];
    assert!(
        section.contains(&format!("data-job=\"{}\"", job.id)),
        "{section}"
    );
    assert!(
        section.contains("mailbox &#60;li@example.org&#62; unavailable")
            || section.contains("mailbox &lt;li@example.org&gt; unavailable"),
        "{section}"
    );
    assert!(!page.body.contains("hidden-recipient"));
    assert!(section.contains("A-GAP1"));
    assert!(
        section.contains("Nobody on duty at level 1 (round 2): skipped."),
        "{section}"
    );
    assert!(section.contains("A-NONE"));
    assert!(section.contains("Nobody at any level could be paged."));
    // Newest first.
    assert!(section.find("A-NONE") < section.find("A-GAP1"));
    let local = crate::china_time::local(now)
        .format("%Y-%m-%d %H:%M")
        .to_string();
    assert!(section.contains(&local), "{section}");
}

#[::core::prelude::v1::test]
fn every_roster_string_exists_in_every_language() {
    use crate::i18n::{Lang, Tr};
    let root = env!("CARGO_MANIFEST_DIR");
    let keys = |lang: &str| -> Vec<String> {
        let text = std::fs::read_to_string(format!("{root}/locales/{lang}/rosters.ftl"))
            .expect("the Fluent file");
        let mut keys: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with("roster-") || l.starts_with("notifier-"))
            .filter_map(|l| l.split_once(" =").map(|(k, _)| k.trim().to_string()))
            .collect();
        keys.sort();
        keys
    };
    let zh_cn = keys("zh-CN");
    assert!(zh_cn.len() > 50, "{}", zh_cn.len());
    assert_eq!(zh_cn, keys("zh-TW"));
    assert_eq!(zh_cn, keys("en"));

    let mut used: Vec<String> = (1..=7).map(|d| format!("roster-weekday-{d}")).collect();
    for file in [
        "src/workspace/rosters.rs",
        "src/workspace/notifier.rs",
        "src/workspace/views.rs",
        "templates/workspace/rosters.html",
        "templates/workspace/admin.html",
    ] {
        let text = std::fs::read_to_string(format!("{root}/{file}")).expect("a file");
        // Rust names keys as string literals; templates in `tr("...")` calls.
        let call = if file.ends_with(".html") { "tr(" } else { "" };
        for prefix in ["\"roster-", "\"notifier-"] {
            for part in text.split(&format!("{call}{prefix}")).skip(1) {
                let rest: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
                    .collect();
                if part[rest.len()..].starts_with('"') {
                    used.push(format!("{}{rest}", &prefix[1..]));
                }
            }
        }
    }
    assert!(used.len() > 50, "{used:?}");
    for key in &used {
        assert!(zh_cn.contains(key), "{key} is used but not in rosters.ftl");
    }
    // The loader serves them, without falling back to another language.
    for lang in Lang::ALL {
        for key in &zh_cn {
            let text = Tr(lang).tr(key);
            assert!(!text.is_empty() && text != *key, "{key} in {}", lang.code());
        }
    }
    assert_eq!(Tr(Lang::ZhTw).tr("roster-title"), "值班表");
    assert_eq!(Tr(Lang::En).tr("roster-nav"), "Duty rosters");
}
