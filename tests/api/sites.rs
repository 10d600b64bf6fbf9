//! Station posters (`GET /api/v1/admin/sites/{slug}/poster.svg|.png`): the PNG's QR code
//! decodes back to the exact station link, sizes, and every refusal; and screenings with an
//! unknown station code, counted per code and listed to admins.

use std::sync::Arc;

use serde_json::json;

use crate::helpers::{
    AppOptions, Backend, GREEN, PASSWORD, RED, Tweak, assert_error, ok, phq9_body, spawn_app,
    spawn_app_with,
};

/// Decodes the one QR code in a greyscale or RGB(A) PNG with `rqrr` (an independent decoder).
fn decode_qr(png_bytes: &[u8]) -> (u32, u32, String) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes.to_vec()));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("a buffer size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let (w, h) = (info.width as usize, info.height as usize);
    let channels = info.color_type.samples();
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let grey = |x: usize, y: usize| buf[(y * w + x) * channels];
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, grey);
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code on the poster");
    let (_, content) = grids[0].decode().expect("the QR code decodes");
    (info.width, info.height, content)
}

/// Writes a poster to `target/screenshots/` to be looked at.
fn keep_for_looking(name: &str, bytes: &[u8]) {
    let dir = crate::helpers::root().join("target/screenshots");
    std::fs::create_dir_all(&dir).expect("the screenshot folder");
    std::fs::write(dir.join(name), bytes).expect("written");
}

fn public_url(url: &'static str) -> AppOptions {
    AppOptions {
        tweak: Some(Tweak(Arc::new(move |s| {
            s.server.public_url = url.into();
        }))),
        ..AppOptions::default()
    }
}

async fn posters_carry_the_exact_station_link(backend: Backend) {
    let app = spawn_app_with(backend, public_url("https://care.union.cn/")).await;
    app.create_site("station-1").await;
    let admin = app.staff("admin", &[]).await;
    let expected = "https://care.union.cn/s/rider_wellbeing?site=station-1";

    for (query, size) in [
        ("", (1240, 1754)),
        ("?size=a4", (1240, 1754)),
        ("?size=a6", (620, 874)),
    ] {
        let r = app
            .get_as(
                &admin.token,
                &format!("/api/v1/admin/sites/station-1/poster.png{query}"),
            )
            .await;
        assert_eq!(r.status(), 200, "{query}");
        assert_eq!(r.headers()["content-type"], "image/png");
        let bytes = r.bytes().await.expect("a body");
        keep_for_looking(
            &format!("poster{}.png", query.replace("?size=", "-")),
            &bytes,
        );
        let (w, h, content) = decode_qr(&bytes);
        assert_eq!((w, h), size, "{query}");
        assert_eq!(content, expected, "{query}");
    }

    let r = app
        .get_as(
            &admin.token,
            "/api/v1/admin/sites/station-1/poster.svg?size=a6",
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/svg+xml; charset=utf-8");
    let svg = r.text().await.expect("a body");
    keep_for_looking("poster-a6.svg", svg.as_bytes());
    assert!(svg.contains("width=\"105mm\" height=\"148mm\""), "{svg}");
    assert!(svg.contains("Station station-1"), "the station's name");
    assert!(svg.contains(expected), "the link in words");
    assert!(
        svg.contains("全国心理援助热线 12356"),
        "the first crisis line"
    );
    assert!(svg.contains(careline::poster::PRIVACY_LINE));
}

async fn poster_refusals(backend: Backend) {
    let app = spawn_app_with(backend, AppOptions::default()).await;
    app.create_site("station-1").await;
    let admin = app.staff("admin", &[]).await;
    let counselor = app.staff("counselor", &[]).await;
    let supervisor = app.staff("supervisor", &[]).await;
    let audit = app.audit_count(None).await;
    for ext in ["svg", "png"] {
        let path = format!("/api/v1/admin/sites/station-1/poster.{ext}");
        assert_error(app.get(&path).await, 401, "unauthorized").await;
        assert_error(app.get_as(&counselor.token, &path).await, 403, "forbidden").await;
        assert_error(app.get_as(&supervisor.token, &path).await, 403, "forbidden").await;
        for size in ["a5", "A3", "x"] {
            assert_error(
                app.get_as(&admin.token, &format!("{path}?size={size}"))
                    .await,
                400,
                "bad_request",
            )
            .await;
        }
        assert_error(
            app.get_as(&admin.token, &format!("{path}?sise=a4")).await,
            400,
            "bad_request",
        )
        .await;
        assert_error(
            app.get_as(
                &admin.token,
                &format!("/api/v1/admin/sites/nowhere/poster.{ext}"),
            )
            .await,
            404,
            "not_found",
        )
        .await;
    }
    assert_eq!(app.site_count().await, 1);
    assert_eq!(
        app.audit_count(None).await,
        audit,
        "a poster changes nothing"
    );
}

async fn unknown_station_codes_are_counted_and_listed_to_admins(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_site("station-1").await;
    let admin = app.staff("admin", &[]).await;
    let supervisor = app.staff("supervisor", &[]).await;
    let empty = ok(app
        .get_as(&admin.token, "/api/v1/admin/sites/unknown")
        .await)
    .await;
    assert_eq!(empty, json!({"codes": []}));

    let at = |site: &str, values| {
        let mut body = phq9_body(values);
        body["site"] = site.into();
        body
    };
    for (site, values) in [
        ("statoin-1", GREEN),
        ("old-7", RED),
        ("statoin-1", RED),
        ("station-1", GREEN),
        // Not of the slug alphabet, or too long: dropped and not counted.
        ("Bad Code!", GREEN),
        (&"x".repeat(65), GREEN),
    ] {
        let r = app.post_screening(&at(site, values)).await;
        assert_eq!(
            r.status(),
            201,
            "a bad station code never blocks a rider: {site}"
        );
    }
    assert_eq!(app.rows().await.screenings, 6, "every screening stored");
    let sites: Vec<Option<String>> = app
        .with_conn(|c| {
            use diesel::prelude::*;
            careline::db::schema::screenings::table
                .select(careline::db::schema::screenings::site)
                .load::<Option<String>>(c)
        })
        .await
        .expect("sites");
    assert_eq!(
        sites.iter().filter(|s| s.is_some()).count(),
        1,
        "only the known site is stored: {sites:?}"
    );

    let list = ok(app
        .get_as(&admin.token, "/api/v1/admin/sites/unknown")
        .await)
    .await;
    let codes = list["codes"].as_array().expect("codes");
    let pairs: Vec<(String, i64)> = codes
        .iter()
        .map(|c| {
            (
                c["code"].as_str().expect("code").to_string(),
                c["count"].as_i64().expect("count"),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        [("statoin-1".to_string(), 2), ("old-7".to_string(), 1)],
        "most recently seen first: {list}"
    );
    assert!(
        codes[0]["last_seen"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    assert!(
        codes[0]["last_seen_local"]
            .as_str()
            .is_some_and(|t| t.ends_with("+08:00"))
    );
    assert_error(
        app.get_as(&supervisor.token, "/api/v1/admin/sites/unknown")
            .await,
        403,
        "forbidden",
    )
    .await;

    // The admin page lists them.
    let session = app.cookie_session(&admin.email, PASSWORD).await;
    let page = app
        .client
        .get(app.url("/admin"))
        .header("Cookie", &session.cookie)
        .send()
        .await
        .expect("the admin page")
        .text()
        .await
        .expect("a body");
    assert!(page.contains("data-code=\"statoin-1\""), "{page}");
    assert!(page.contains("data-code=\"old-7\""));

    // Once the station exists, its code is no longer unknown.
    app.create_site("statoin-1").await;
    let list = ok(app
        .get_as(&admin.token, "/api/v1/admin/sites/unknown")
        .await)
    .await;
    assert_eq!(list["codes"].as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list["codes"][0]["code"], "old-7");
}

async fn at_most_a_hundred_new_unknown_codes_a_day(backend: Backend) {
    let app = spawn_app(backend).await;
    let now = chrono::Utc::now().naive_utc();
    app.with_conn(move |c| {
        for i in 0..105 {
            careline::db::accounts::count_unknown_site(c, &format!("made-up-{i}"), now)?;
        }
        // A code already counted today still counts.
        careline::db::accounts::count_unknown_site(c, "made-up-0", now)
    })
    .await
    .expect("counted");
    let rows = app
        .with_conn(move |c| careline::accounts::unknown_sites(c, now))
        .await
        .expect("listed");
    assert_eq!(rows.len(), 100);
    assert_eq!(rows.iter().map(|r| r.count).sum::<i64>(), 101);
}

backend_tests!(
    posters_carry_the_exact_station_link,
    poster_refusals,
    unknown_station_codes_are_counted_and_listed_to_admins,
    at_most_a_hundred_new_unknown_codes_a_day,
);
