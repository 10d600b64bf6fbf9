//! The channels besides email (issue 13), on both databases: a fake server per provider on
//! loopback (WeCom, DingTalk, Feishu robots; Aliyun and Tencent SMS and voice) that records
//! every request byte for byte and answers as the test scripts it: success, the vendors'
//! error and rate-limit codes in a 200, 5xx, or silence. The signing algorithms themselves
//! are checked against the vendors' published examples in the unit tests
//! (`src/notify/channels/`); here the requests the service sends are checked exactly,
//! DingTalk's and Feishu's signatures recomputed from the fixed secrets.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use careline::config::Settings;
use careline::config::channels::{PhoneChannel, Provider, Webhook, WebhookKind};
use careline::db::jobs::JobRow;
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

use crate::helpers::{
    AppOptions, Backend, RED, TestApp, Tweak, eventually, ok, phq9_body, status_json,
};
use crate::notifier::on_duty;
use crate::notifier_smtp::TestSmtp;

const SITE: &str = "north";
const OTHER_SITE: &str = "south";
const MARKER_NAME: &str = "Zhang Markername 张标记";
const MARKER_PHONE: &str = "13987654321";
const STAFF_PHONE: &str = "+8613800138000";
const DING_SECRET: &str = "SECdingtalk-test-secret";
const FEISHU_SECRET: &str = "feishu-test-secret";

// ---------------------------------------------------------------------------------------------
// The fake vendor server

/// One request as it arrived.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    /// Path and query, as sent.
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    at: Instant,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// The query's parameters, decoded.
    fn query(&self) -> Vec<(String, String)> {
        let q = self.target.split_once('?').map_or("", |(_, q)| q);
        reqwest::Url::parse(&format!("http://x/?{q}"))
            .expect("a query")
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    fn param(&self, name: &str) -> String {
        self.query()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no {name} in {}", self.target))
    }

    fn raw(&self) -> String {
        format!(
            "{} {}\n{:?}\n{}",
            self.method,
            self.target,
            self.headers,
            String::from_utf8_lossy(&self.body)
        )
    }
}

#[derive(Debug, Clone)]
enum Reply {
    /// Status and body.
    Answer(u16, String),
    /// Read the request, never answer.
    Hang,
}

#[derive(Debug)]
struct FakeState {
    default: Reply,
    script: VecDeque<Reply>,
    requests: Vec<Request>,
}

/// A vendor on loopback.
#[derive(Debug, Clone)]
struct Fake {
    port: u16,
    state: Arc<Mutex<FakeState>>,
}

impl Fake {
    fn start(success: &str) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a fake vendor");
        let port = listener.local_addr().expect("an address").port();
        let state = Arc::new(Mutex::new(FakeState {
            default: Reply::Answer(200, success.to_string()),
            script: VecDeque::new(),
            requests: Vec::new(),
        }));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
        Fake { port, state }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The next replies, before the default one.
    fn script(&self, replies: &[Reply]) {
        self.lock().script.extend(replies.iter().cloned());
    }

    fn set_default(&self, reply: Reply) {
        self.lock().default = reply;
    }

    fn requests(&self) -> Vec<Request> {
        self.lock().requests.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn wait(&self, n: usize, what: &str) -> Vec<Request> {
        eventually(Duration::from_secs(15), what, || {
            let got = self.requests();
            async move { (got.len() >= n).then_some(got) }
        })
        .await
    }
}

fn serve(stream: TcpStream, state: &Arc<Mutex<FakeState>>) {
    let mut writer = stream.try_clone().expect("clone the stream");
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.trim_end().splitn(3, ' ');
        let method = parts.next().unwrap_or_default().to_string();
        let target = parts.next().unwrap_or_default().to_string();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((n, v)) = h.split_once(':') {
                headers.push((n.trim().to_string(), v.trim().to_string()));
            }
        }
        let length = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let reply = {
            let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
            s.requests.push(Request {
                method,
                target,
                headers,
                body,
                at: Instant::now(),
            });
            s.script.pop_front().unwrap_or_else(|| s.default.clone())
        };
        match reply {
            Reply::Hang => {
                std::thread::sleep(Duration::from_secs(60));
                return;
            }
            Reply::Answer(status, text) => {
                let response = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
                    text.len()
                );
                if writer.write_all(response.as_bytes()).is_err() {
                    return;
                }
            }
        }
    }
}

const WECOM_OK: &str = r#"{"errcode":0,"errmsg":"ok"}"#;
const DINGTALK_OK: &str = r#"{"errcode":0,"errmsg":"ok"}"#;
const FEISHU_OK: &str = r#"{"code":0,"msg":"success","data":{}}"#;
const ALIYUN_OK: &str = r#"{"Code":"OK","Message":"OK","BizId":"9006197469364984400","RequestId":"F655A8D5-B967-440B-8683-DAD6FF8DE990"}"#;
const TENCENT_SMS_OK: &str = r#"{"Response":{"SendStatusSet":[{"SerialNo":"5000:1","PhoneNumber":"+8613800138000","Fee":1,"SessionContext":"","Code":"Ok","Message":"send success","IsoCode":"CN"}],"RequestId":"a0aabda6-cf91-4f3e-a81f-9198114a2279"}}"#;
const TENCENT_VOICE_OK: &str = r#"{"Response":{"SendStatus":{"CallId":"1234","SessionContext":""},"RequestId":"b4ca5e8a-5a5a-4b9b-a4fd-1d6a2fc0b6f1"}}"#;

// ---------------------------------------------------------------------------------------------
// Helpers

fn robot(kind: WebhookKind, url: String, secret: Option<&str>, sites: Option<&[&str]>) -> Webhook {
    Webhook {
        kind,
        url,
        secret: secret.map(str::to_string),
        sites: sites.map(|s| s.iter().map(|x| x.to_string()).collect()),
        levels: None,
        per_minute: 20,
        locale: "zh-CN".into(),
        gaps: true,
    }
}

fn phone_channel(provider: Provider, endpoint: String) -> PhoneChannel {
    PhoneChannel {
        provider,
        endpoint,
        access_key_id: "test-key-id".into(),
        access_key_secret: "test-key-secret".into(),
        sign_name: "Careline".into(),
        template_id: "SMS_123".into(),
        gap_template: String::new(),
        app_id: "1400000001".into(),
        region: String::new(),
        caller_number: String::new(),
        levels: None,
        per_minute: 60,
    }
}

async fn app_with(
    backend: Backend,
    tune: impl Fn(&mut Settings) + Send + Sync + 'static,
) -> TestApp {
    let tweak = move |s: &mut Settings| {
        s.worker.poll_interval = Duration::from_millis(200);
        s.worker.backoff_base = Duration::from_millis(100);
        s.worker.backoff_max = Duration::from_millis(500);
        s.worker.max_attempts = 5;
        s.notify.timeout = Duration::from_secs(3);
        tune(s);
    };
    let app = crate::helpers::spawn_app_with(
        backend,
        AppOptions {
            tweak: Some(Tweak(Arc::new(tweak))),
            ..Default::default()
        },
    )
    .await;
    app.create_site(SITE).await;
    app.create_site(OTHER_SITE).await;
    app
}

/// A counselor of `SITE` on duty now, with `STAFF_PHONE`.
async fn counselor_with_phone(app: &TestApp) -> careline::accounts::UserView {
    let user = app.create_user("counselor", &[SITE]).await;
    let id = user.id.clone();
    app.with_conn(move |c| {
        careline::db::accounts::update_user(
            c,
            &id,
            &careline::db::accounts::UserChanges {
                phone: Some(Some(STAFF_PHONE.into())),
                ..Default::default()
            },
        )
    })
    .await
    .expect("a phone");
    on_duty(app, &user.id).await;
    user
}

/// A red screening at `SITE` from a rider who left the marker name and phone.
fn red_with_marker() -> Value {
    let mut body = phq9_body(RED);
    body["site"] = SITE.into();
    body["contact"] = json!({"name": MARKER_NAME, "phone": MARKER_PHONE});
    body["consent_to_contact"] = true.into();
    body
}

async fn channel_jobs(app: &TestApp, alert_id: &str) -> Vec<JobRow> {
    let id = alert_id.to_string();
    app.with_conn(move |c| careline::db::jobs::list_for_alert(c, &id))
        .await
        .expect("read the jobs")
        .into_iter()
        .filter(|j| j.kind == "channel.send")
        .collect()
}

fn hmac_b64(key: &[u8], message: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("a key");
    mac.update(message);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// An Aliyun `SendSms` request carries the ACS3 signature recomputed over what was sent (its
/// query, date and nonce) with the test credentials.
fn assert_aliyun_sms_signed(r: &Request, host: &str) {
    let query = r.query();
    let query: Vec<(&str, String)> = query.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let acs = careline::notify::channels::aliyun::Acs3 {
        host,
        action: "SendSms",
        version: "2017-05-25",
        date: r.header("x-acs-date").expect("x-acs-date"),
        nonce: r.header("x-acs-signature-nonce").expect("a nonce"),
        query: &query,
        body: b"",
    };
    assert_eq!(
        r.header("authorization").map(str::to_string),
        Some(careline::notify::channels::aliyun::authorization(
            "test-key-id",
            "test-key-secret",
            &acs
        )),
        "the ACS3 signature over what was sent"
    );
}

fn assert_no_rider_data(requests: &[Request]) {
    for r in requests {
        let raw = r.raw();
        for secret in [MARKER_NAME, "Markername", "张标记", MARKER_PHONE, "98765"] {
            assert!(!raw.contains(secret), "`{secret}` left the service: {raw}");
        }
        for answer in ["q9", "self_harm", "phq9", "\"answers\"", "score"] {
            assert!(!raw.contains(answer), "`{answer}` left the service: {raw}");
        }
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

// ---------------------------------------------------------------------------------------------
// 1. Every configured channel of the site, each request exact, no rider data

async fn a_red_screening_reaches_every_configured_channel_of_its_site(backend: Backend) {
    let wecom = Fake::start(WECOM_OK);
    let wecom_elsewhere = Fake::start(WECOM_OK);
    let dingtalk = Fake::start(DINGTALK_OK);
    let feishu = Fake::start(FEISHU_OK);
    let aliyun = Fake::start(ALIYUN_OK);
    let tencent = Fake::start(TENCENT_VOICE_OK);
    let urls = (
        wecom.url("/cgi-bin/webhook/send?key=wecom-key-1"),
        wecom_elsewhere.url("/cgi-bin/webhook/send?key=wecom-key-2"),
        dingtalk.url("/robot/send?access_token=ding-token"),
        feishu.url("/open-apis/bot/v2/hook/feishu-hook-id"),
        aliyun.url(""),
        tencent.url(""),
    );
    let app = app_with(backend, move |s| {
        s.notify.webhooks = vec![
            robot(WebhookKind::Wecom, urls.0.clone(), None, Some(&[SITE])),
            robot(
                WebhookKind::Wecom,
                urls.1.clone(),
                None,
                Some(&[OTHER_SITE]),
            ),
            robot(
                WebhookKind::Dingtalk,
                urls.2.clone(),
                Some(DING_SECRET),
                None,
            ),
            robot(
                WebhookKind::Feishu,
                urls.3.clone(),
                Some(FEISHU_SECRET),
                Some(&[SITE]),
            ),
        ];
        s.notify.sms = Some(phone_channel(Provider::Aliyun, urls.4.clone()));
        let mut voice = phone_channel(Provider::Tencent, urls.5.clone());
        voice.levels = Some(vec![1]);
        s.notify.voice = Some(voice);
    })
    .await;
    let counselor = counselor_with_phone(&app).await;

    let before = now_ms();
    let alert_id = app
        .submit(&red_with_marker())
        .await
        .alert_id
        .expect("an alert");
    let alert = app.alert_row(&alert_id).await;
    let link = format!("http://127.0.0.1:8080/queue/{}", alert.reference);
    let deadline = careline::china_time::shanghai_time(alert.deadline_at);

    // WeCom: the URL as configured (its key), a text message.
    let got = wecom.wait(1, "the WeCom robot called").await;
    let r = &got[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.target, "/cgi-bin/webhook/send?key=wecom-key-1");
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let body = r.json();
    assert_eq!(body["msgtype"], "text", "{body}");
    assert_eq!(body.as_object().map(|o| o.len()), Some(2), "{body}");
    let text = body["text"]["content"]
        .as_str()
        .expect("a text")
        .to_string();
    for part in [
        &alert.reference,
        "Station north",
        &deadline,
        &link,
        "红色预警",
    ] {
        assert!(text.contains(part), "`{part}` in {text}");
    }
    assert!(
        !text.contains(SITE) || text.contains("Station north"),
        "{text}"
    );

    // DingTalk: timestamp and signature in the query, recomputed from the fixed secret.
    let got = dingtalk.wait(1, "the DingTalk robot called").await;
    let r = &got[0];
    assert_eq!(r.method, "POST");
    assert!(
        r.target
            .starts_with("/robot/send?access_token=ding-token&timestamp="),
        "{}",
        r.target
    );
    let ts: i64 = r
        .param("timestamp")
        .parse()
        .expect("a millisecond timestamp");
    assert!(
        ts >= before - 1000 && ts <= now_ms() + 1000,
        "timestamp {ts}"
    );
    let expected = hmac_b64(
        DING_SECRET.as_bytes(),
        format!("{ts}\n{DING_SECRET}").as_bytes(),
    );
    assert_eq!(r.param("sign"), expected, "the DingTalk signature");
    assert_eq!(r.query().len(), 3, "{}", r.target);
    let body = r.json();
    assert_eq!(body["msgtype"], "text");
    assert_eq!(body["text"]["content"].as_str(), Some(text.as_str()));

    // Feishu: timestamp and signature in the body.
    let got = feishu.wait(1, "the Feishu bot called").await;
    let r = &got[0];
    assert_eq!(r.target, "/open-apis/bot/v2/hook/feishu-hook-id");
    let body = r.json();
    let ts: i64 = body["timestamp"]
        .as_str()
        .expect("a timestamp string")
        .parse()
        .expect("seconds");
    assert!(
        ts >= before / 1000 - 1 && ts <= now_ms() / 1000 + 1,
        "timestamp {ts}"
    );
    let expected = hmac_b64(format!("{ts}\n{FEISHU_SECRET}").as_bytes(), b"");
    assert_eq!(body["sign"], expected, "the Feishu signature");
    assert_eq!(body["msg_type"], "text");
    assert_eq!(body["content"]["text"].as_str(), Some(text.as_str()));
    assert_eq!(body.as_object().map(|o| o.len()), Some(4), "{body}");

    // Aliyun SMS to the counselor's phone: parameters in the query, signed ACS3.
    let got = aliyun.wait(1, "the Aliyun SMS sent").await;
    let r = &got[0];
    assert_eq!(r.method, "POST");
    assert!(r.body.is_empty());
    let params = r.query();
    let names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        ["PhoneNumbers", "SignName", "TemplateCode", "TemplateParam"]
    );
    assert_eq!(r.param("PhoneNumbers"), STAFF_PHONE);
    assert_eq!(r.param("SignName"), "Careline");
    assert_eq!(r.param("TemplateCode"), "SMS_123");
    let template: Value = serde_json::from_str(&r.param("TemplateParam")).expect("JSON");
    assert_eq!(template["reference"], alert.reference.as_str());
    assert_eq!(template["site"], "Station north");
    assert_eq!(template["tier"], "红色预警");
    assert_eq!(template.as_object().map(|o| o.len()), Some(4), "{template}");
    assert_eq!(r.header("x-acs-action"), Some("SendSms"));
    assert_eq!(r.header("x-acs-version"), Some("2017-05-25"));
    let host = format!("127.0.0.1:{}", aliyun.port);
    assert_eq!(r.header("host"), Some(host.as_str()));
    assert_aliyun_sms_signed(r, &host);

    // Tencent voice (configured for level 1 here) to the same phone, signed TC3.
    let got = tencent.wait(1, "the Tencent call placed").await;
    let r = &got[0];
    assert_eq!(r.target, "/");
    assert_eq!(r.header("x-tc-action"), Some("SendTtsVoice"));
    assert_eq!(r.header("x-tc-version"), Some("2020-09-02"));
    assert_eq!(r.header("x-tc-region"), Some("ap-guangzhou"));
    let body = r.json();
    assert_eq!(body["CalledNumber"], STAFF_PHONE);
    assert_eq!(body["TemplateId"], "SMS_123");
    assert_eq!(body["VoiceSdkAppid"], "1400000001");
    assert_eq!(body["TemplateParamSet"][1], alert.reference.as_str());
    let ts: i64 = r
        .header("x-tc-timestamp")
        .expect("a timestamp")
        .parse()
        .expect("seconds");
    let host = format!("127.0.0.1:{}", tencent.port);
    assert_eq!(
        r.header("authorization").map(str::to_string),
        Some(careline::notify::channels::tencent::authorization(
            "test-key-id",
            "test-key-secret",
            "vms",
            &host,
            ts,
            &r.body
        )),
        "the TC3 signature over what was sent"
    );

    // Each delivery is on the timeline; the other site's robot heard nothing.
    let id = alert_id.clone();
    let sent = eventually(Duration::from_secs(10), "five channel_sent entries", || {
        let (app, id) = (&app, id.clone());
        async move {
            let events: Vec<Value> = app
                .alert_events_all(&id)
                .await
                .into_iter()
                .filter(|e| e.kind == "channel_sent")
                .map(|e| serde_json::from_str(&e.detail).expect("JSON"))
                .collect();
            (events.len() >= 5).then_some(events)
        }
    })
    .await;
    let mut channels: Vec<String> = sent
        .iter()
        .map(|d| d["channel"].as_str().unwrap_or_default().to_string())
        .collect();
    channels.sort();
    assert_eq!(channels, ["dingtalk", "feishu", "sms", "voice", "wecom"]);
    for d in &sent {
        assert_eq!(d.as_object().map(|o| o.len()), Some(3), "{d}");
    }
    assert!(
        wecom_elsewhere.requests().is_empty(),
        "the other site's robot"
    );
    // One request each: nothing sent twice.
    for (name, fake) in [
        ("wecom", &wecom),
        ("dingtalk", &dingtalk),
        ("feishu", &feishu),
        ("aliyun", &aliyun),
        ("tencent", &tencent),
    ] {
        assert_eq!(fake.requests().len(), 1, "{name}");
    }
    let mut all = Vec::new();
    for fake in [&wecom, &dingtalk, &feishu, &aliyun, &tencent] {
        all.extend(fake.requests());
    }
    assert_no_rider_data(&all);
    let logs = crate::helpers::captured_logs();
    for secret in [
        MARKER_NAME,
        MARKER_PHONE,
        "wecom-key-1",
        "ding-token",
        DING_SECRET,
    ] {
        assert!(!logs.contains(secret), "`{secret}` in the logs");
    }
    let _ = counselor;
}

backend_tests!(a_red_screening_reaches_every_configured_channel_of_its_site);

// ---------------------------------------------------------------------------------------------
// 2. Errors inside a 200: retried when temporary, failed (and shown to admins) when not

async fn an_error_code_in_a_200_is_retried_and_a_permanent_one_is_shown_to_admins(
    backend: Backend,
) {
    let wecom = Fake::start(WECOM_OK);
    let dingtalk = Fake::start(DINGTALK_OK);
    let feishu = Fake::start(FEISHU_OK);
    let tencent = Fake::start(TENCENT_SMS_OK);
    // WeCom: rate-limited once (45009 in a 200), then fine. Feishu: a 5xx, then its rate-limit
    // code, then fine. Tencent SMS: its rate-limit error inside a 200, then fine. DingTalk: a
    // bad signature, which no retry mends.
    wecom.script(&[Reply::Answer(
        200,
        r#"{"errcode":45009,"errmsg":"api freq out of limit"}"#.into(),
    )]);
    feishu.script(&[
        Reply::Answer(502, "bad gateway".into()),
        Reply::Answer(200, r#"{"code":11232,"msg":"frequency limited"}"#.into()),
    ]);
    tencent.script(&[Reply::Answer(
        200,
        r#"{"Response":{"Error":{"Code":"RequestLimitExceeded","Message":"too many"},"RequestId":"x"}}"#.into(),
    )]);
    dingtalk.set_default(Reply::Answer(
        200,
        r#"{"errcode":310000,"errmsg":"sign not match"}"#.into(),
    ));
    let urls = (
        wecom.url("/cgi-bin/webhook/send?key=k"),
        dingtalk.url("/robot/send?access_token=t"),
        feishu.url("/open-apis/bot/v2/hook/h"),
        tencent.url(""),
    );
    let app = app_with(backend, move |s| {
        s.notify.webhooks = vec![
            robot(WebhookKind::Wecom, urls.0.clone(), None, None),
            robot(
                WebhookKind::Dingtalk,
                urls.1.clone(),
                Some(DING_SECRET),
                None,
            ),
            robot(
                WebhookKind::Feishu,
                urls.2.clone(),
                Some(FEISHU_SECRET),
                None,
            ),
        ];
        s.notify.sms = Some(phone_channel(Provider::Tencent, urls.3.clone()));
    })
    .await;
    counselor_with_phone(&app).await;
    let alert_id = app
        .submit(&red_with_marker())
        .await
        .alert_id
        .expect("an alert");

    let id = alert_id.clone();
    let jobs = eventually(Duration::from_secs(20), "every channel job settled", || {
        let (app, id) = (&app, id.clone());
        async move {
            let jobs = channel_jobs(app, &id).await;
            (jobs.len() == 4
                && jobs
                    .iter()
                    .all(|j| j.status == "done" || j.status == "failed"))
            .then_some(jobs)
        }
    })
    .await;
    assert_eq!(wecom.requests().len(), 2, "retried once after 45009");
    assert_eq!(feishu.requests().len(), 3, "after a 502 and 11232");
    assert_eq!(tencent.requests().len(), 2, "after RequestLimitExceeded");
    assert_eq!(
        dingtalk.requests().len(),
        1,
        "a permanent code is not retried"
    );
    // (channel, status, attempts): a webhook's id starts with its kind.
    let mut statuses: Vec<(String, String, i32)> = jobs
        .iter()
        .map(|j| {
            let p: Value = serde_json::from_str(&j.payload).expect("JSON");
            let channel = match p["target"]["to"].as_str() {
                Some("webhook") => p["target"]["id"]
                    .as_str()
                    .and_then(|id| id.split('-').next())
                    .unwrap_or_default()
                    .to_string(),
                other => other.unwrap_or_default().to_string(),
            };
            (channel, j.status.clone(), j.attempts)
        })
        .collect();
    statuses.sort();
    let expected: Vec<(String, String, i32)> = [
        ("dingtalk", "failed", 1),
        ("feishu", "done", 3),
        ("sms", "done", 2),
        ("wecom", "done", 2),
    ]
    .into_iter()
    .map(|(c, s, n)| (c.to_string(), s.to_string(), n))
    .collect();
    assert_eq!(statuses, expected);
    let failed = jobs
        .iter()
        .find(|j| j.status == "failed")
        .expect("the DingTalk job");
    assert!(
        failed
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("310000"),
        "{:?}",
        failed.last_error
    );
    // Shown to admins like a failed email: the job list and the alert's timeline.
    let admin = app.staff("admin", &[]).await;
    let list = ok(app.get_as(&admin.token, "/api/v1/admin/jobs").await).await;
    let listed = list["jobs"].as_array().expect("jobs");
    assert!(
        listed
            .iter()
            .any(|j| j["id"] == failed.id.as_str() && j["status"] == "failed"),
        "{list}"
    );
    let events = app.alert_events_all(&alert_id).await;
    assert_eq!(
        events
            .iter()
            .filter(|e| e.kind == "delivery_failed")
            .count(),
        1
    );
    assert_eq!(
        events.iter().filter(|e| e.kind == "channel_sent").count(),
        3
    );
    // Every retry carried the same message; nothing of the rider's.
    let texts: Vec<Value> = wecom.requests().iter().map(Request::json).collect();
    assert_eq!(texts[0], texts[1]);
    let mut all = wecom.requests();
    all.extend(feishu.requests());
    all.extend(dingtalk.requests());
    all.extend(tencent.requests());
    assert_no_rider_data(&all);
}

backend_tests!(an_error_code_in_a_200_is_retried_and_a_permanent_one_is_shown_to_admins);

// ---------------------------------------------------------------------------------------------
// 3. A channel that never answers delays no email

async fn a_hanging_channel_does_not_delay_email(backend: Backend) {
    let smtp = TestSmtp::start();
    let wecom = Fake::start(WECOM_OK);
    wecom.script(&[Reply::Hang]);
    let url = wecom.url("/cgi-bin/webhook/send?key=k");
    let smtp_url = smtp.url();
    let app = app_with(backend, move |s| {
        s.mail.smtp_url = smtp_url.clone();
        s.mail.timeout = Duration::from_secs(2);
        s.notify.timeout = Duration::from_secs(4);
        s.notify.webhooks = vec![robot(WebhookKind::Wecom, url.clone(), None, None)];
    })
    .await;
    let counselor = counselor_with_phone(&app).await;
    let alert_id = app
        .submit(&red_with_marker())
        .await
        .alert_id
        .expect("an alert");

    let hung = wecom.wait(1, "the robot called (it will not answer)").await;
    let mails = smtp
        .wait_accepted(Duration::from_secs(10), "the page email", |m| !m.is_empty())
        .await;
    // The mail went out while the robot's request still hung: before notify.timeout ended it.
    assert!(
        mails[0].answered < hung[0].at + Duration::from_secs(4),
        "the email waited for the robot"
    );
    assert!(mails[0].to.contains(&counselor.email.to_ascii_lowercase()));
    let jobs = channel_jobs(&app, &alert_id).await;
    assert_eq!(jobs.len(), 1);
    assert_ne!(
        jobs[0].status, "done",
        "still hanging when the mail was accepted"
    );
    // The outer timeout ends the hang; the retry gets through.
    let got = wecom
        .wait(2, "the robot called again after the timeout")
        .await;
    assert!(
        got[1].at >= got[0].at + Duration::from_secs(3),
        "retried only after the timeout"
    );
    let id = alert_id.clone();
    eventually(Duration::from_secs(10), "the robot's job done", || {
        let (app, id) = (&app, id.clone());
        async move {
            let jobs = channel_jobs(app, &id).await;
            jobs.iter().all(|j| j.status == "done").then_some(())
        }
    })
    .await;
    assert_eq!(smtp.accepted().len(), 1, "one page, not re-sent");
}

backend_tests!(a_hanging_channel_does_not_delay_email);

// ---------------------------------------------------------------------------------------------
// 4. Acknowledgement stops further channel pages

async fn acknowledgement_stops_further_channel_pages(backend: Backend) {
    let wecom = Fake::start(WECOM_OK);
    let url = wecom.url("/cgi-bin/webhook/send?key=k");
    let app = app_with(backend, move |s| {
        // Short levels, so the chain would climb within the test.
        for level in &mut s.escalation.levels {
            level.timeout = Duration::from_millis(1500);
        }
        s.escalation.urgent_first_timeout = Duration::from_millis(1500);
        s.escalation.backup_emails = vec!["backup@example.org".into()];
        s.notify.webhooks = vec![robot(WebhookKind::Wecom, url.clone(), None, None)];
    })
    .await;
    let counselor = counselor_with_phone(&app).await;
    let token = app
        .sign_in(&counselor.email, crate::helpers::PASSWORD)
        .await;
    let alert_id = app
        .submit(&red_with_marker())
        .await
        .alert_id
        .expect("an alert");
    wecom.wait(1, "the first level's robot message").await;
    ok(app
        .post_as(
            &token,
            &format!("/api/v1/alerts/{alert_id}/acknowledge"),
            None,
        )
        .await)
    .await;
    // Well past the next levels' timeouts: nothing more on the robot.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        wecom.requests().len(),
        1,
        "no page after the acknowledgement"
    );
    let jobs = channel_jobs(&app, &alert_id).await;
    assert!(jobs.iter().all(|j| j.status != "pending"), "{jobs:?}");

    // Without the acknowledgement the same chain climbs: the robot hears each level.
    // Another rider (no contact, so it does not attach to the first alert).
    let mut body = phq9_body(RED);
    body["site"] = SITE.into();
    let other = app.submit(&body).await.alert_id.expect("a second alert");
    assert_ne!(other, alert_id);
    let got = wecom
        .wait(4, "the robot at the next levels of the second alert")
        .await;
    assert!(got.len() >= 4);
    let levels: Vec<u64> = app
        .alert_events_all(&other)
        .await
        .into_iter()
        .filter(|e| e.kind == "channel_sent")
        .map(|e| {
            serde_json::from_str::<Value>(&e.detail).expect("JSON")["level"]
                .as_u64()
                .unwrap_or(9)
        })
        .collect();
    assert!(
        levels.contains(&0) && levels.iter().any(|l| *l > 0),
        "{levels:?}"
    );
}

backend_tests!(acknowledgement_stops_further_channel_pages);

// ---------------------------------------------------------------------------------------------
// 5. Bad settings and bad phone numbers are refused, changing nothing

async fn a_robot_for_an_unknown_site_is_refused_at_start(backend: Backend) {
    let db = crate::helpers::TestDb::create(&backend).await;
    let mut settings =
        crate::helpers::test_settings(&db.url, &crate::helpers::shipped_questionnaires());
    settings.notify.webhooks = vec![robot(
        WebhookKind::Wecom,
        "http://127.0.0.1:9/cgi-bin/webhook/send?key=k".into(),
        None,
        Some(&["no-such-site"]),
    )];
    // Outside development (in development it is a warning: sites are made after the start).
    settings.environment = Some("staging".into());
    settings.auth.jwt_key = "a staging key that is long enough to be accepted".into();
    settings.escalation.backup_emails = vec!["backup@example.org".into()];
    let err = careline::startup::Application::build(settings)
        .await
        .expect_err("refused");
    let text = err.to_string();
    assert!(
        text.contains("notify.webhooks") && text.contains("no-such-site"),
        "{text}"
    );
}

backend_tests!(a_robot_for_an_unknown_site_is_refused_at_start);

async fn staff_phones_are_e164_through_the_admin_api(backend: Backend) {
    let app = app_with(backend, |_| {}).await;
    let admin = app.staff("admin", &[]).await;
    let before = user_count(&app).await;
    for (phone, why) in [
        ("13800138000", "no country code"),
        ("+86 138 0013 8000", "spaces"),
        ("+0861380013800", "a leading zero"),
        ("+1234567", "too short"),
        ("+1234567890123456", "too long"),
        ("+86138oo138000", "letters"),
    ] {
        let (status, body) = status_json(
            app.post_as(
                &admin.token,
                "/api/v1/admin/users",
                Some(&json!({"email": "p@example.org", "name": "P", "role": "counselor", "phone": phone})),
            )
            .await,
        )
        .await;
        assert_eq!(status, 422, "{why}: {body}");
        assert!(body.to_string().contains("E.164"), "{why}: {body}");
        assert_eq!(user_count(&app).await, before, "{why}: nothing stored");
    }
    let (status, body) = status_json(
        app.post_as(
            &admin.token,
            "/api/v1/admin/users",
            Some(&json!({"email": "p@example.org", "name": "P", "role": "counselor", "phone": STAFF_PHONE})),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["user"]["phone"], STAFF_PHONE);
    let id = body["user"]["id"].as_str().expect("an id").to_string();
    // A bad change changes nothing; an empty one removes the number.
    let (status, _) = status_json(
        app.patch_as(
            &admin.token,
            &format!("/api/v1/admin/users/{id}"),
            &json!({"phone": "12345"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    let list = ok(app.get_as(&admin.token, "/api/v1/admin/users").await).await;
    let user = list["users"]
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["id"] == id.as_str())
        .cloned()
        .expect("the user");
    assert_eq!(user["phone"], STAFF_PHONE);
    let body = ok(app
        .patch_as(
            &admin.token,
            &format!("/api/v1/admin/users/{id}"),
            &json!({"phone": ""}),
        )
        .await)
    .await;
    assert_eq!(body["phone"], Value::Null, "{body}");
}

async fn user_count(app: &TestApp) -> usize {
    app.with_conn(|c| careline::db::accounts::list_users(c).expect("users").len())
        .await
}

backend_tests!(staff_phones_are_e164_through_the_admin_api);

async fn careline_user_add_takes_a_phone_and_refuses_a_bad_one(backend: Backend) {
    let app = app_with(backend, |_| {}).await;
    let before = user_count(&app).await;
    let run = crate::cli_user::user_add(
        &app,
        &[
            "--email",
            "night@example.org",
            "--name",
            "Night",
            "--role",
            "counselor",
            "--phone",
            "138 0013 8000",
        ],
        Some("a long enough passphrase\n"),
    )
    .await;
    assert_eq!(run.code, Some(1), "{}", run.output);
    assert!(run.output.contains("E.164"), "{}", run.output);
    assert_eq!(user_count(&app).await, before, "nothing stored");
    let run = crate::cli_user::user_add(
        &app,
        &[
            "--email",
            "night@example.org",
            "--name",
            "Night",
            "--role",
            "counselor",
            "--phone",
            STAFF_PHONE,
        ],
        Some("a long enough passphrase\n"),
    )
    .await;
    assert_eq!(run.code, Some(0), "{}", run.output);
    assert!(
        !run.output.contains(STAFF_PHONE),
        "the number is not echoed: {}",
        run.output
    );
    let phone = app
        .with_conn(|c| {
            careline::db::accounts::find_user_by_email(c, "night@example.org")
                .expect("read")
                .and_then(|u| u.phone)
        })
        .await;
    assert_eq!(phone.as_deref(), Some(STAFF_PHONE));
}

backend_tests!(careline_user_add_takes_a_phone_and_refuses_a_bad_one);

// ---------------------------------------------------------------------------------------------
// 6. The daily roster gaps on the robots and by text (issue 13)

const EAST_SITE: &str = "east";
const SOUTH_SUPERVISOR_PHONE: &str = "+8613900139000";

fn china(t: chrono::NaiveDateTime) -> String {
    careline::china_time::shanghai_time(t)
}

async fn shift(
    app: &TestApp,
    user_id: &str,
    from: chrono::NaiveDateTime,
    to: chrono::NaiveDateTime,
) {
    let user = user_id.to_string();
    app.with_conn(move |c| {
        careline::db::rosters::insert(
            c,
            &careline::db::rosters::ShiftRow {
                id: uuid::Uuid::new_v4().to_string(),
                user_id: user,
                starts_at: from,
                ends_at: to,
                created_by: None,
                created_at: from,
            },
            &[],
        )
    })
    .await
    .expect("a shift");
}

async fn set_phone(app: &TestApp, user_id: &str, phone: &str) {
    let (id, phone) = (user_id.to_string(), phone.to_string());
    app.with_conn(move |c| {
        careline::db::accounts::update_user(
            c,
            &id,
            &careline::db::accounts::UserChanges {
                phone: Some(Some(phone)),
                ..Default::default()
            },
        )
    })
    .await
    .expect("a phone");
}

/// The jobs of the day's gap message on the channels besides email.
async fn gap_channel_jobs(app: &TestApp) -> Vec<JobRow> {
    app.with_conn(|c| {
        use careline::db::schema::jobs;
        use diesel::prelude::*;
        jobs::table
            .filter(jobs::kind.eq("channel.send"))
            .filter(jobs::unique_key.like("gaps-channel:%"))
            .select(JobRow::as_select())
            .load(c)
    })
    .await
    .expect("read the jobs")
}

async fn the_daily_gap_message_reaches_the_robots_of_its_sites_and_supervisors_phones(
    backend: Backend,
) {
    let everywhere = Fake::start(WECOM_OK);
    let north_robot = Fake::start(DINGTALK_OK);
    let south_robot = Fake::start(FEISHU_OK);
    let aliyun = Fake::start(ALIYUN_OK);
    // A crisis group's robot for every site that takes pages only (`gaps = false`).
    let pages_only = Fake::start(WECOM_OK);
    let urls = (
        everywhere.url("/cgi-bin/webhook/send?key=wecom-gaps"),
        north_robot.url("/robot/send?access_token=ding-gaps"),
        south_robot.url("/open-apis/bot/v2/hook/feishu-gaps"),
        aliyun.url(""),
        pages_only.url("/cgi-bin/webhook/send?key=wecom-pages-only"),
    );
    let app = app_with(backend, move |s| {
        let mut everywhere = robot(WebhookKind::Wecom, urls.0.clone(), None, None);
        everywhere.locale = "en".into();
        s.notify.webhooks = vec![
            everywhere,
            robot(
                WebhookKind::Dingtalk,
                urls.1.clone(),
                Some(DING_SECRET),
                Some(&[SITE]),
            ),
            robot(
                WebhookKind::Feishu,
                urls.2.clone(),
                Some(FEISHU_SECRET),
                Some(&[OTHER_SITE]),
            ),
            {
                let mut crisis = robot(WebhookKind::Wecom, urls.4.clone(), None, None);
                crisis.gaps = false;
                crisis
            },
        ];
        let mut sms = phone_channel(Provider::Aliyun, urls.3.clone());
        sms.gap_template = "SMS_GAPS".into();
        s.notify.sms = Some(sms);
    })
    .await;
    app.create_site(EAST_SITE).await;
    let now = chrono::Utc::now().naive_utc();
    let hours = |h: i64| now + chrono::Duration::hours(h);
    // north: covered for the next two hours and from 30 to 40 hours ahead; south: covered
    // for more than the whole week; east: never.
    let north_counselor = app.create_user("counselor", &[SITE]).await;
    set_phone(&app, &north_counselor.id, STAFF_PHONE).await;
    shift(&app, &north_counselor.id, hours(-1), hours(2)).await;
    shift(&app, &north_counselor.id, hours(30), hours(40)).await;
    let south_counselor = app.create_user("counselor", &[OTHER_SITE]).await;
    shift(&app, &south_counselor.id, hours(-1), hours(24 * 8)).await;
    let north_supervisor = app.create_user("supervisor", &[SITE]).await;
    set_phone(&app, &north_supervisor.id, "+8613700137000").await;
    let south_supervisor = app.create_user("supervisor", &[OTHER_SITE]).await;
    set_phone(&app, &south_supervisor.id, SOUTH_SUPERVISOR_PHONE).await;

    let date = "2026-12-04";
    let first = app
        .with_conn(move |c| careline::jobs::schedule_gaps(c, date, chrono::Utc::now().naive_utc()))
        .await
        .expect("schedule");
    assert!(first);
    app.state.wake.notify_one();

    let north_lines = [
        format!(
            "- Station north: {} to {}",
            china(hours(2)),
            china(hours(30))
        ),
        format!("- Station north: {} to ", china(hours(40))),
    ];
    // The robot for every site: every gap (north's and east's), each hour in China time.
    let got = everywhere
        .wait(1, "the gaps on the robot for every site")
        .await;
    let text = got[0].json()["text"]["content"]
        .as_str()
        .expect("a text")
        .to_string();
    for line in &north_lines {
        assert!(text.contains(line.as_str()), "`{line}` in {text}");
    }
    assert!(text.contains("- Station east: "), "{text}");
    assert!(!text.contains("Station south"), "south is covered: {text}");
    assert!(text.contains("http://127.0.0.1:8080/rosters"), "{text}");
    assert!(text.contains("3 roster gaps"), "{text}");

    // The north robot: north's gaps only, its signature as DingTalk checks it.
    let got = north_robot.wait(1, "the gaps on the north robot").await;
    let r = &got[0];
    let ts: i64 = r
        .param("timestamp")
        .parse()
        .expect("a millisecond timestamp");
    let expected = hmac_b64(
        DING_SECRET.as_bytes(),
        format!("{ts}\n{DING_SECRET}").as_bytes(),
    );
    assert_eq!(r.param("sign"), expected, "the DingTalk signature");
    let north_text = r.json()["text"]["content"]
        .as_str()
        .expect("a text")
        .to_string();
    // In the robot's language (zh-CN by default).
    for line in [
        format!(
            "- Station north：{} 至 {}",
            china(hours(2)),
            china(hours(30))
        ),
        format!("- Station north：{} 至 ", china(hours(40))),
    ] {
        assert!(
            north_text.contains(line.as_str()),
            "`{line}` in {north_text}"
        );
    }
    assert!(!north_text.contains("east"), "{north_text}");
    assert!(north_text.contains("有 2 个无人值班时段"), "{north_text}");

    // The north supervisor's phone: the gap template with the first gap; signed ACS3.
    let got = aliyun.wait(1, "the gap text to the north supervisor").await;
    let r = &got[0];
    assert_eq!(r.param("PhoneNumbers"), "+8613700137000");
    assert_eq!(r.param("TemplateCode"), "SMS_GAPS");
    let template: Value = serde_json::from_str(&r.param("TemplateParam")).expect("JSON");
    let short = |t: chrono::NaiveDateTime| {
        t.and_utc()
            .with_timezone(&careline::china_time::shanghai())
            .format("%m-%d %H:%M")
            .to_string()
    };
    assert_eq!(
        template,
        json!({"count": "2", "site": "Station north", "from": short(hours(2)), "to": short(hours(30))})
    );
    assert_aliyun_sms_signed(r, &format!("127.0.0.1:{}", aliyun.port));

    // Every gap delivery settled: one robot for every site, one for north, one text.
    let jobs = eventually(Duration::from_secs(15), "the gap deliveries done", || {
        let app = &app;
        async move {
            let jobs = gap_channel_jobs(app).await;
            (jobs.len() == 3 && jobs.iter().all(|j| j.status == "done")).then_some(jobs)
        }
    })
    .await;
    assert!(jobs.iter().all(|j| j.alert_id.is_none()));
    // The south robot and the south supervisor (south has no gap) got nothing, nor did the
    // counselor's phone (supervisors only); nothing was sent twice.
    assert!(south_robot.requests().is_empty(), "the south robot");
    assert!(
        pages_only.requests().is_empty(),
        "the robot with gaps = false"
    );
    assert_eq!(everywhere.requests().len(), 1);
    assert_eq!(north_robot.requests().len(), 1);
    assert_eq!(
        aliyun.requests().len(),
        1,
        "one text: {:?}",
        aliyun.requests()
    );

    // Once a day: scheduling again, or running the day's message again (another instance,
    // a restart before the job was marked done), adds nothing.
    let again = app
        .with_conn(move |c| careline::jobs::schedule_gaps(c, date, chrono::Utc::now().naive_utc()))
        .await
        .expect("schedule again");
    assert!(!again, "one job per day");
    let notify = app.state.settings.notify.clone();
    let rerun = app
        .with_conn(move |c| {
            careline::jobs::roster_gaps(c, &notify, date, chrono::Utc::now().naive_utc())
        })
        .await
        .expect("run again");
    assert_eq!(rerun, 0, "nothing new enqueued");
    assert_eq!(gap_channel_jobs(&app).await.len(), 3);
}

backend_tests!(the_daily_gap_message_reaches_the_robots_of_its_sites_and_supervisors_phones);

async fn without_a_gap_template_no_gap_text_is_sent(backend: Backend) {
    let everywhere = Fake::start(WECOM_OK);
    let aliyun = Fake::start(ALIYUN_OK);
    let urls = (
        everywhere.url("/cgi-bin/webhook/send?key=wecom-gaps"),
        aliyun.url(""),
    );
    let app = app_with(backend, move |s| {
        s.notify.webhooks = vec![robot(WebhookKind::Wecom, urls.0.clone(), None, None)];
        s.notify.sms = Some(phone_channel(Provider::Aliyun, urls.1.clone()));
    })
    .await;
    let supervisor = app.create_user("supervisor", &[SITE]).await;
    set_phone(&app, &supervisor.id, "+8613700137000").await;
    app.with_conn(|c| {
        careline::jobs::schedule_gaps(c, "2026-12-04", chrono::Utc::now().naive_utc())
    })
    .await
    .expect("schedule");
    app.state.wake.notify_one();
    everywhere.wait(1, "the gaps on the robot").await;
    let jobs = eventually(Duration::from_secs(15), "the robot's job done", || {
        let app = &app;
        async move {
            let jobs = gap_channel_jobs(app).await;
            jobs.iter().all(|j| j.status == "done").then_some(jobs)
        }
    })
    .await;
    assert_eq!(jobs.len(), 1, "the robot only: {jobs:?}");
    assert!(
        aliyun.requests().is_empty(),
        "no approved template, no text"
    );
}

backend_tests!(without_a_gap_template_no_gap_text_is_sent);

// ---------------------------------------------------------------------------------------------
// 7. A channel page of an open red alert never dies (like a page email)

async fn a_channel_page_retries_past_max_attempts_until_the_alert_is_acknowledged(
    backend: Backend,
) {
    let wecom = Fake::start(WECOM_OK);
    wecom.set_default(Reply::Answer(500, "internal error".into()));
    let url = wecom.url("/cgi-bin/webhook/send?key=k");
    let app = app_with(backend, move |s| {
        s.worker.max_attempts = 2;
        let mut w = robot(WebhookKind::Wecom, url.clone(), None, None);
        w.per_minute = 600;
        s.notify.webhooks = vec![w];
    })
    .await;
    let counselor = counselor_with_phone(&app).await;
    let token = app
        .sign_in(&counselor.email, crate::helpers::PASSWORD)
        .await;
    let alert_id = app
        .submit(&red_with_marker())
        .await
        .alert_id
        .expect("an alert");
    // The day's gap message on the same robot (the other site has nobody on duty): no alert,
    // so it ends after max_attempts like any job.
    app.with_conn(|c| {
        careline::jobs::schedule_gaps(c, "2026-12-04", chrono::Utc::now().naive_utc())
    })
    .await
    .expect("schedule");
    app.state.wake.notify_one();

    // Well past max_attempts (2), the page is still trying.
    wecom.wait(6, "the robot asked again and again").await;
    let id = alert_id.clone();
    let page = eventually(
        Duration::from_secs(15),
        "the page past max_attempts",
        || {
            let (app, id) = (&app, id.clone());
            async move {
                let jobs = channel_jobs(app, &id).await;
                jobs.into_iter().find(|j| j.attempts > 3)
            }
        },
    )
    .await;
    assert_eq!(page.status, "pending", "{page:?}");
    assert!(
        page.last_error
            .as_deref()
            .unwrap_or_default()
            .contains("500"),
        "{:?}",
        page.last_error
    );
    let gap = eventually(Duration::from_secs(15), "the gap message given up", || {
        let app = &app;
        async move {
            gap_channel_jobs(app)
                .await
                .into_iter()
                .find(|j| j.status == "dead")
        }
    })
    .await;
    assert_eq!(gap.attempts, 2, "{gap:?}");
    assert_eq!(
        app.alert_events_all(&alert_id)
            .await
            .iter()
            .filter(|e| e.kind == "delivery_failed")
            .count(),
        0,
        "the page has not failed"
    );

    // Acknowledged: the page stops.
    ok(app
        .post_as(
            &token,
            &format!("/api/v1/alerts/{alert_id}/acknowledge"),
            None,
        )
        .await)
    .await;
    let id = alert_id.clone();
    eventually(Duration::from_secs(10), "the page cancelled", || {
        let (app, id) = (&app, id.clone());
        async move {
            let jobs = channel_jobs(app, &id).await;
            jobs.iter().all(|j| j.status == "cancelled").then_some(())
        }
    })
    .await;
    // One send may have been on its way when the acknowledgement committed; then nothing.
    let at_cancel = wecom.requests().len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let settled = wecom.requests().len();
    assert!(settled <= at_cancel + 1, "{at_cancel} then {settled}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        wecom.requests().len(),
        settled,
        "no page after the acknowledgement"
    );
}

backend_tests!(a_channel_page_retries_past_max_attempts_until_the_alert_is_acknowledged);

// ---------------------------------------------------------------------------------------------
// 8. A channel's rate limit holds across instances (`careline worker` processes)

/// Queues, at once, one gap message per `n` to the robot `robot_id`, each with its own date
/// (`2031-01-01`, ...) so every request can be told apart.
async fn enqueue_robot_messages(
    jobs: &crate::worker_process::Jobs,
    robot_id: &str,
    n: std::ops::Range<usize>,
) {
    use careline::notify::channels::{Gaps, Message, Target};
    let robot_id = robot_id.to_string();
    jobs.run(move |c| {
        careline::db::write_transaction(c, |c| -> Result<(), careline::db::DbError> {
            let now = chrono::Utc::now().naive_utc();
            for i in n {
                let payload = careline::jobs::ChannelPayload {
                    target: Target::Webhook {
                        id: robot_id.clone(),
                    },
                    level: 0,
                    round: 0,
                    message: Message::Gaps(Gaps {
                        date: format!("2031-01-{:02}", i + 1),
                        gaps: vec![careline::notify::GapLine {
                            site_name: "Station north".into(),
                            from: now,
                            to: now + chrono::Duration::hours(1),
                        }],
                    }),
                };
                let job = JobRow::new(
                    careline::jobs::CHANNEL,
                    format!("rate:{i}"),
                    None,
                    serde_json::to_value(&payload).expect("JSON"),
                    now,
                    now,
                );
                assert!(careline::db::jobs::enqueue(c, &job)?, "a new unique key");
            }
            Ok(())
        })
    })
    .await
    .expect("enqueue the messages");
}

async fn robot_jobs(jobs: &crate::worker_process::Jobs) -> Vec<JobRow> {
    jobs.run(|c| {
        use careline::db::schema::jobs;
        use diesel::prelude::*;
        jobs::table
            .filter(jobs::unique_key.like("rate:%"))
            .order(jobs::unique_key.asc())
            .select(JobRow::as_select())
            .load(c)
    })
    .await
    .expect("read the jobs")
}

/// With a limit of N a window, worker A sends N; worker B, another process on the same
/// database, then gets N more within that window and sends none of them: it puts each back
/// until a slot frees (the slots are in the database, not in either process), without using up
/// an attempt, and sends them once the window has passed.
async fn a_channels_rate_limit_holds_across_worker_processes(backend: Backend) {
    use crate::worker_process::{Jobs, Smtp, WorkerProcess};
    const N: usize = 3;
    // Long enough that the first phase is judged well inside it on a loaded machine.
    const WINDOW: Duration = Duration::from_secs(20);
    let wecom = Fake::start(WECOM_OK);
    let url = wecom.url("/cgi-bin/webhook/send?key=shared-limit");
    let robot_id = robot(WebhookKind::Wecom, url.clone(), None, None).id();
    let smtp = Smtp::start();
    let jobs = Jobs::open(&backend).await;
    let config = tempfile::tempdir().expect("a config folder");
    std::fs::copy(
        crate::helpers::root().join("config/default.toml"),
        config.path().join("default.toml"),
    )
    .expect("copy the shipped configuration");
    std::fs::write(
        config.path().join("development.toml"),
        format!(
            "[notify]\ntimeout = \"3s\"\nrate_window = \"{}s\"\n\n[[notify.webhooks]]\nkind = \"wecom\"\nurl = \"{url}\"\nper_minute = {N}\nlocale = \"en\"\n",
            WINDOW.as_secs()
        ),
    )
    .expect("write the robot's configuration");
    let dir = config.path().to_string_lossy().into_owned();
    let vars = [
        ("CARELINE_CONFIG_DIR", dir.as_str()),
        ("CARELINE_ENV", "development"),
    ];
    let lease = Duration::from_secs(20);

    // Worker A sends the first N: the whole limit of the window.
    let mut a = WorkerProcess::start_with("a", &jobs.url, &smtp, lease, &vars);
    enqueue_robot_messages(&jobs, &robot_id, 0..N).await;
    let first = wecom.wait(N, "worker a's sends").await;
    eventually(Duration::from_secs(15), "worker a's jobs done", || async {
        let rows = robot_jobs(&jobs).await;
        rows.iter().all(|j| j.status == "done").then_some(())
    })
    .await;
    a.kill();

    // Worker B gets N more within the window: every one is deferred, none sent.
    let b = WorkerProcess::start_with("b", &jobs.url, &smtp, lease, &vars);
    enqueue_robot_messages(&jobs, &robot_id, N..2 * N).await;
    let deferred = eventually(
        Duration::from_secs(15),
        "worker b deferring them",
        || async {
            let rows: Vec<JobRow> = robot_jobs(&jobs).await.into_iter().skip(N).collect();
            rows.iter()
                .all(|j| {
                    j.status == "pending"
                        && j.locked_until.is_none()
                        && j.last_error
                            .as_deref()
                            .is_some_and(|e| e.contains("rate limit"))
                })
                .then_some(rows)
        },
    )
    .await;
    assert!(
        Instant::now() + Duration::from_secs(2) < first[0].at + WINDOW,
        "judged too late to tell (the window had nearly passed): raise WINDOW"
    );
    assert_eq!(
        wecom.requests().len(),
        N,
        "no send over the limit within the window"
    );
    for j in &deferred {
        assert_eq!(j.attempts, 0, "waiting its turn is not an attempt: {j:?}");
    }

    // Once the window has passed, B sends them: a deferral is a wait, not a failure.
    let done = eventually(
        WINDOW + Duration::from_secs(30),
        "worker b's sends",
        || async {
            let rows = robot_jobs(&jobs).await;
            rows.iter().all(|j| j.status != "pending").then_some(rows)
        },
    )
    .await;
    assert!(done.iter().all(|j| j.status == "done"), "{done:?}");
    assert!(done.iter().all(|j| j.attempts == 1), "{done:?}");
    assert!(done[N..].iter().all(|j| b.claimed(j)), "{done:?}");
    let requests = wecom.requests();
    assert_eq!(requests.len(), 2 * N, "each message once");
    for i in 0..2 * N {
        let date = format!("2031-01-{:02}", i + 1);
        let with = requests
            .iter()
            .filter(|r| String::from_utf8_lossy(&r.body).contains(&date))
            .count();
        assert_eq!(with, 1, "{date}");
    }
}

backend_tests!(a_channels_rate_limit_holds_across_worker_processes);
