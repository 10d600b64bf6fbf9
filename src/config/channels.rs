//! `[notify]`: the channels a red alert's page goes out on besides email (issue 13): group
//! robots (`[[notify.webhooks]]`: WeCom, DingTalk, Feishu), SMS and voice calls
//! (`[notify.sms]`, `[notify.voice]`: Aliyun or Tencent Cloud). Plain data, validated once at
//! start like the rest of `Settings`; the adapters live in `notify::channels`.
//!
//! Levels are counted from 1 (the first escalation level), as administrators read them.

use std::time::Duration;

use serde::Deserialize;

use super::SettingsError;

/// `[notify]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifySettings {
    /// The outer limit on one channel send (connect, request, answer). At most 1m, and
    /// shorter than `worker.lease`.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// The sliding window the channels' `per_minute` limits count in, shared by every
    /// instance through the database (1s to 1h; keep the default `1m`: the vendors count per
    /// minute; tests shorten it).
    #[serde(with = "humantime_serde")]
    pub rate_window: Duration,
    pub webhooks: Vec<Webhook>,
    pub sms: Option<PhoneChannel>,
    pub voice: Option<PhoneChannel>,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            timeout: Duration::from_secs(10),
            rate_window: Duration::from_secs(60),
            webhooks: Vec::new(),
            sms: None,
            voice: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookKind {
    /// WeCom (企业微信) group robot: the key is in the URL.
    Wecom,
    /// DingTalk (钉钉) custom robot, signed ("加签"): timestamp and signature as query params.
    Dingtalk,
    /// Feishu / Lark (飞书) custom bot, signed: timestamp and signature in the body.
    Feishu,
}

impl WebhookKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookKind::Wecom => "wecom",
            WebhookKind::Dingtalk => "dingtalk",
            WebhookKind::Feishu => "feishu",
        }
    }
}

/// One group robot.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    pub kind: WebhookKind,
    /// The robot's address as the vendor shows it (WeCom `...?key=`, DingTalk
    /// `...?access_token=`, Feishu `.../open-apis/bot/v2/hook/<id>`).
    pub url: String,
    /// The signing secret (DingTalk `SEC...`, Feishu): required for those two.
    #[serde(default)]
    pub secret: Option<String>,
    /// Site slugs whose alerts the robot carries; not set: every site (and alerts without one).
    #[serde(default)]
    pub sites: Option<Vec<String>>,
    /// The escalation levels (from 1) the robot is called at; not set: every level.
    #[serde(default)]
    pub levels: Option<Vec<u32>>,
    /// Messages a minute at most (the vendors allow about 20); more wait their turn.
    #[serde(default = "default_webhook_rate")]
    pub per_minute: u32,
    /// The language of the message: zh-CN (default), zh-TW or en.
    #[serde(default = "default_locale")]
    pub locale: String,
    /// Whether the robot also gets the daily roster-gap message of its sites (default true);
    /// `false` keeps a crisis group's robot for pages only.
    #[serde(default = "default_gaps")]
    pub gaps: bool,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL carries the robot's key or token; the secret signs.
        f.debug_struct("Webhook")
            .field("kind", &self.kind)
            .field("sites", &self.sites)
            .field("levels", &self.levels)
            .finish_non_exhaustive()
    }
}

fn default_gaps() -> bool {
    true
}

fn default_webhook_rate() -> u32 {
    20
}

fn default_phone_rate() -> u32 {
    60
}

fn default_locale() -> String {
    "zh-CN".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Aliyun (阿里云) SMS `SendSms` / voice `SingleCallByTts`, signed ACS3-HMAC-SHA256.
    Aliyun,
    /// Tencent Cloud (腾讯云) SMS `SendSms` / voice `SendTtsVoice`, signed TC3-HMAC-SHA256.
    Tencent,
}

/// `[notify.sms]` or `[notify.voice]`: one provider account.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhoneChannel {
    pub provider: Provider,
    /// The API's base URL; empty: the vendor's (Aliyun `https://dysmsapi.aliyuncs.com`,
    /// `https://dyvmsapi.aliyuncs.com`; Tencent `https://sms.tencentcloudapi.com`,
    /// `https://vms.tencentcloudapi.com`).
    #[serde(default)]
    pub endpoint: String,
    /// Aliyun AccessKey ID / Tencent SecretId.
    pub access_key_id: String,
    /// Aliyun AccessKey Secret / Tencent SecretKey.
    pub access_key_secret: String,
    /// The approved SMS signature (签名); SMS only.
    #[serde(default)]
    pub sign_name: String,
    /// The approved template: Aliyun `TemplateCode` / `TtsCode`, Tencent `TemplateId`.
    pub template_id: String,
    /// SMS only: the approved template of the daily roster-gap message (variables `count`,
    /// `site`, `from`, `to`); empty: supervisors get it by email and robots only.
    #[serde(default)]
    pub gap_template: String,
    /// Tencent `SmsSdkAppId` / `VoiceSdkAppid` (required for Tencent).
    #[serde(default)]
    pub app_id: String,
    /// Tencent region (`X-TC-Region`); empty: ap-guangzhou.
    #[serde(default)]
    pub region: String,
    /// Aliyun voice: the number shown to the called person (`CalledShowNumber`); optional.
    #[serde(default)]
    pub caller_number: String,
    /// The escalation levels (from 1) that text or call; not set: SMS every level, voice the
    /// last level.
    #[serde(default)]
    pub levels: Option<Vec<u32>>,
    /// Sends a minute at most through this account.
    #[serde(default = "default_phone_rate")]
    pub per_minute: u32,
}

impl std::fmt::Debug for PhoneChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhoneChannel")
            .field("provider", &self.provider)
            .field("levels", &self.levels)
            .finish_non_exhaustive()
    }
}

impl Webhook {
    /// Whether the robot is called at `level` (0-based) for an alert at `site`.
    pub fn serves(&self, level: usize, site: Option<&str>) -> bool {
        let level_ok = self
            .levels
            .as_ref()
            .is_none_or(|l| l.iter().any(|n| *n as usize == level + 1));
        let site_ok = self
            .sites
            .as_ref()
            .is_none_or(|s| site.is_some_and(|site| s.iter().any(|x| x == site)));
        level_ok && site_ok
    }

    /// A stable name for this robot (jobs refer to it across restarts and reorderings):
    /// its kind and a hash of its URL, never the URL itself.
    pub fn id(&self) -> String {
        use sha2::{Digest, Sha256};
        let hash = hex::encode(Sha256::digest(self.url.as_bytes()));
        format!("{}-{}", self.kind.as_str(), &hash[..12])
    }
}

impl PhoneChannel {
    /// Whether this channel texts or calls at `level` (0-based) of a chain of `levels`;
    /// `default_last` (voice): without `levels`, only the last one.
    pub fn at(&self, level: usize, levels: usize, default_last: bool) -> bool {
        match &self.levels {
            Some(l) => l.iter().any(|n| *n as usize == level + 1),
            None => !default_last || level + 1 == levels,
        }
    }
}

fn bad(key: &'static str, message: String) -> Result<(), SettingsError> {
    Err(SettingsError::Invalid { key, message })
}

fn slug_ok(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// `http(s)://host[:port]/...`: the authority and whether it is https.
fn parse_url(url: &str) -> Option<(bool, &str, &str)> {
    let (https, rest) = match url.strip_prefix("https://") {
        Some(r) => (true, r),
        None => (false, url.strip_prefix("http://")?),
    };
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let host_ok = !authority.is_empty()
        && authority
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    let tail_ok = !tail.contains([' ', '#']) && tail.chars().all(|c| !c.is_control());
    (host_ok && tail_ok).then_some((https, authority, tail))
}

fn query_has(tail: &str, name: &str) -> bool {
    tail.split_once('?').is_some_and(|(_, q)| {
        q.split('&').any(|p| {
            p.split_once('=')
                .is_some_and(|(k, v)| k == name && !v.is_empty())
        })
    })
}

fn check_levels(
    key: &'static str,
    what: &str,
    levels: Option<&Vec<u32>>,
    chain: usize,
) -> Result<(), SettingsError> {
    let Some(levels) = levels else {
        return Ok(());
    };
    if levels.is_empty() {
        return bad(
            key,
            format!(
                "{what}: `levels` is empty; leave it out for the default, or list levels from 1 to {chain}"
            ),
        );
    }
    if let Some(n) = levels.iter().find(|n| **n == 0 || **n as usize > chain) {
        return bad(
            key,
            format!(
                "{what}: level {n} is out of range: escalation.levels has {chain} levels, counted from 1"
            ),
        );
    }
    let mut sorted = levels.clone();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != levels.len() {
        return bad(key, format!("{what}: a level is listed twice"));
    }
    Ok(())
}

impl NotifySettings {
    /// Checks every channel. `chain` is how many escalation levels there are; `lease` the
    /// worker's lease (a send must end before it); `production` refuses plain http.
    pub fn validate(
        &self,
        chain: usize,
        lease: Duration,
        production: bool,
    ) -> Result<(), SettingsError> {
        if self.timeout.is_zero() || self.timeout > Duration::from_secs(60) {
            return bad(
                "notify.timeout",
                "must be more than 0s and at most 1m (the default is \"10s\")".into(),
            );
        }
        if self.rate_window < Duration::from_secs(1) || self.rate_window > Duration::from_secs(3600)
        {
            return bad(
                "notify.rate_window",
                "must be 1s to 1h (the default is \"1m\": the vendors count per minute)".into(),
            );
        }
        let any = !self.webhooks.is_empty() || self.sms.is_some() || self.voice.is_some();
        // Only a configured channel sends (a short lease without channels is fine).
        if any && self.timeout >= lease {
            return bad(
                "notify.timeout",
                format!(
                    "must be shorter than worker.lease ({}), or a slow send is taken over and sent twice",
                    humantime::format_duration(lease)
                ),
            );
        }
        for (i, w) in self.webhooks.iter().enumerate() {
            let what = format!("entry {} ({})", i + 1, w.kind.as_str());
            let key = "notify.webhooks";
            let Some((https, _, tail)) = parse_url(&w.url) else {
                return bad(
                    key,
                    format!(
                        "{what}: url \"{}\" is not an http(s) address",
                        redact(&w.url)
                    ),
                );
            };
            if production && !https {
                return bad(
                    key,
                    format!("{what}: url must start with https:// in production"),
                );
            }
            match w.kind {
                WebhookKind::Wecom if !query_has(tail, "key") => {
                    return bad(
                        key,
                        format!(
                            "{what}: a WeCom robot's url carries its key: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=..."
                        ),
                    );
                }
                WebhookKind::Dingtalk if !query_has(tail, "access_token") => {
                    return bad(
                        key,
                        format!(
                            "{what}: a DingTalk robot's url carries its token: https://oapi.dingtalk.com/robot/send?access_token=..."
                        ),
                    );
                }
                WebhookKind::Feishu if !tail.contains("/hook/") => {
                    return bad(
                        key,
                        format!(
                            "{what}: a Feishu bot's url is https://open.feishu.cn/open-apis/bot/v2/hook/<id>"
                        ),
                    );
                }
                _ => {}
            }
            let secret = w.secret.as_deref().map(str::trim).unwrap_or_default();
            match w.kind {
                WebhookKind::Wecom if !secret.is_empty() => {
                    return bad(
                        key,
                        format!(
                            "{what}: a WeCom robot has no secret (its key is in the url); remove `secret`"
                        ),
                    );
                }
                WebhookKind::Dingtalk | WebhookKind::Feishu if secret.is_empty() => {
                    return bad(
                        key,
                        format!(
                            "{what}: `secret` is required: turn on signing (加签 / 签名校验) in the robot's security settings and copy its secret here"
                        ),
                    );
                }
                _ => {}
            }
            if let Some(sites) = &w.sites {
                if sites.is_empty() {
                    return bad(
                        key,
                        format!("{what}: `sites` is empty; leave it out for every site"),
                    );
                }
                if let Some(s) = sites.iter().find(|s| !slug_ok(s)) {
                    return bad(
                        key,
                        format!(
                            "{what}: \"{}\" is not a site slug (a-z, 0-9, - and _)",
                            s.chars().take(64).collect::<String>()
                        ),
                    );
                }
            }
            check_levels(key, &what, w.levels.as_ref(), chain)?;
            if !(1..=600).contains(&w.per_minute) {
                return bad(key, format!("{what}: per_minute must be 1 to 600"));
            }
            if !["zh-CN", "zh-TW", "en"].contains(&w.locale.as_str()) {
                return bad(key, format!("{what}: locale must be zh-CN, zh-TW or en"));
            }
        }
        for (key, channel) in [("notify.sms", &self.sms), ("notify.voice", &self.voice)] {
            let Some(c) = channel else {
                continue;
            };
            let what = match c.provider {
                Provider::Aliyun => "aliyun",
                Provider::Tencent => "tencent",
            };
            if !c.endpoint.is_empty() {
                match parse_url(&c.endpoint) {
                    None => {
                        return bad(
                            key,
                            format!("endpoint \"{}\" is not an http(s) base URL", c.endpoint),
                        );
                    }
                    Some((false, _, _)) if production => {
                        return bad(
                            key,
                            "endpoint must start with https:// in production".into(),
                        );
                    }
                    Some((_, _, tail)) if tail.contains('?') => {
                        return bad(key, "endpoint is a base URL, without a query".into());
                    }
                    _ => {}
                }
            }
            if c.access_key_id.trim().is_empty() || c.access_key_secret.trim().is_empty() {
                return bad(
                    key,
                    format!("{what}: access_key_id and access_key_secret are required"),
                );
            }
            if c.template_id.trim().is_empty() {
                return bad(
                    key,
                    format!("{what}: template_id (the approved template) is required"),
                );
            }
            if key == "notify.voice" && !c.gap_template.trim().is_empty() {
                return bad(
                    key,
                    format!(
                        "{what}: gap_template belongs in [notify.sms]: the daily gap message is not a call"
                    ),
                );
            }
            if key == "notify.sms" && c.sign_name.trim().is_empty() {
                return bad(
                    key,
                    format!("{what}: sign_name (the approved SMS signature) is required"),
                );
            }
            if c.provider == Provider::Tencent && c.app_id.trim().is_empty() {
                return bad(
                    key,
                    "tencent: app_id (SmsSdkAppId / VoiceSdkAppid) is required".into(),
                );
            }
            check_levels(key, what, c.levels.as_ref(), chain)?;
            if !(1..=6000).contains(&c.per_minute) {
                return bad(key, format!("{what}: per_minute must be 1 to 6000"));
            }
        }
        Ok(())
    }

    /// The site slugs the robots name (checked against the sites table at start).
    pub fn named_sites(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .webhooks
            .iter()
            .flat_map(|w| w.sites.iter().flatten().cloned())
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// A URL for an error message: scheme and host only (the rest may hold a key).
fn redact(url: &str) -> String {
    match parse_url(url) {
        Some((https, authority, _)) => {
            format!("{}://{authority}/…", if https { "https" } else { "http" })
        }
        None => url.chars().take(12).collect::<String>() + "…",
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Settings, Sources};
    use super::*;

    /// The shipped defaults with `extra` appended, loaded as a deployment would.
    fn load(extra: &str) -> Result<Settings, String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("default.toml"),
            // The shipped `[notify]` table is left out: `extra` declares its own.
            format!(
                "{}\n{extra}",
                super::super::DEFAULTS
                    .replace("\n[notify]\n", "\n")
                    .replace(
                        "\ntimeout = \"10s\"\n# Each channel's",
                        "\n# Each channel's"
                    )
                    .replace("\nrate_window = \"1m\"\n", "\n")
            ),
        )
        .unwrap();
        Settings::load_from(&Sources {
            config_dir: dir.path().into(),
            env_name: None,
            vars: Default::default(),
        })
        .map_err(|e| e.to_string())
    }

    fn refused(extra: &str) -> String {
        load(extra).expect_err(&format!("refused:\n{extra}"))
    }

    const WECOM: &str = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc";
    const DINGTALK: &str = "https://oapi.dingtalk.com/robot/send?access_token=tok";
    const FEISHU: &str = "https://open.feishu.cn/open-apis/bot/v2/hook/xyz";

    #[test]
    fn every_channel_kind_loads_with_its_defaults() {
        let s = load(&format!(
            r#"
[notify]
timeout = "5s"
[[notify.webhooks]]
kind = "wecom"
url = "{WECOM}"
[[notify.webhooks]]
kind = "dingtalk"
url = "{DINGTALK}"
secret = "SECabc"
sites = ["north"]
levels = [2, 3]
[[notify.webhooks]]
kind = "feishu"
url = "{FEISHU}"
secret = "s"
locale = "en"
[notify.sms]
provider = "aliyun"
access_key_id = "id"
access_key_secret = "secret"
sign_name = "Careline"
template_id = "SMS_1"
[notify.voice]
provider = "tencent"
access_key_id = "id"
access_key_secret = "secret"
template_id = "1"
app_id = "1400000000"
"#
        ))
        .unwrap();
        let n = &s.notify;
        assert_eq!(n.timeout, Duration::from_secs(5));
        assert_eq!(n.rate_window, Duration::from_secs(60), "the default window");
        assert_eq!(n.webhooks.len(), 3);
        // Without `levels` a robot joins every level; without `sites`, every site.
        assert!((0..3).all(|l| n.webhooks[0].serves(l, Some("any"))));
        assert!(n.webhooks[0].serves(0, None));
        assert!(!n.webhooks[1].serves(0, Some("north")));
        assert!(n.webhooks[1].serves(1, Some("north")));
        assert!(!n.webhooks[1].serves(1, Some("south")));
        assert!(!n.webhooks[1].serves(1, None));
        assert_eq!(n.webhooks[0].per_minute, 20);
        // SMS every level by default; voice the last one.
        let sms = n.sms.as_ref().unwrap();
        assert!(sms.gap_template.is_empty(), "no gap text by default");
        let voice = n.voice.as_ref().unwrap();
        assert!((0..3).all(|l| sms.at(l, 3, false)));
        assert_eq!(
            (0..3).map(|l| voice.at(l, 3, true)).collect::<Vec<_>>(),
            [false, false, true]
        );
        // The escalation policy carries them.
        assert_eq!(*s.escalation.channels, s.notify);
        // Ids are stable and do not show the URL's key.
        assert_eq!(n.webhooks[0].id(), n.webhooks[0].clone().id());
        assert!(!n.webhooks[0].id().contains("abc"));
        assert!(!format!("{:?}", n.webhooks[0]).contains("abc"));
        assert!(!format!("{:?}", sms).contains("secret"));
    }

    #[test]
    fn bad_channel_settings_are_refused_with_a_clear_message() {
        let webhook = |body: &str| format!("[[notify.webhooks]]\n{body}\n");
        let sms = |body: &str| format!("[notify.sms]\n{body}\n");
        let aliyun = "provider = \"aliyun\"\naccess_key_id = \"id\"\naccess_key_secret = \"k\"\ntemplate_id = \"T\"\n";
        let cases: Vec<(String, &str, &str)> = vec![
            (
                webhook(&format!("kind = \"slack\"\nurl = \"{WECOM}\"")),
                "variant constructor slack",
                "an unknown kind",
            ),
            (
                webhook("kind = \"wecom\"\nurl = \"ftp://x/y?key=1\""),
                "is not an http(s) address",
                "a URL that is not http(s)",
            ),
            (
                webhook(
                    "kind = \"wecom\"\nurl = \"https://qyapi.weixin.qq.com/cgi-bin/webhook/send\"",
                ),
                "carries its key",
                "a WeCom URL without its key",
            ),
            (
                webhook(
                    "kind = \"dingtalk\"\nurl = \"https://oapi.dingtalk.com/robot/send\"\nsecret = \"s\"",
                ),
                "carries its token",
                "a DingTalk URL without its token",
            ),
            (
                webhook(
                    "kind = \"feishu\"\nurl = \"https://open.feishu.cn/elsewhere\"\nsecret = \"s\"",
                ),
                "open-apis/bot/v2/hook",
                "a Feishu URL that is not a hook",
            ),
            (
                webhook(&format!("kind = \"dingtalk\"\nurl = \"{DINGTALK}\"")),
                "`secret` is required",
                "a DingTalk robot without its secret",
            ),
            (
                webhook(&format!(
                    "kind = \"feishu\"\nurl = \"{FEISHU}\"\nsecret = \" \""
                )),
                "`secret` is required",
                "a Feishu bot with a blank secret",
            ),
            (
                webhook(&format!(
                    "kind = \"wecom\"\nurl = \"{WECOM}\"\nsecret = \"s\""
                )),
                "has no secret",
                "a secret on a WeCom robot (it would be ignored)",
            ),
            (
                webhook(&format!(
                    "kind = \"wecom\"\nurl = \"{WECOM}\"\nlevels = [4]"
                )),
                "level 4 is out of range",
                "a level past the chain",
            ),
            (
                webhook(&format!(
                    "kind = \"wecom\"\nurl = \"{WECOM}\"\nlevels = [0]"
                )),
                "level 0 is out of range",
                "levels count from 1",
            ),
            (
                webhook(&format!("kind = \"wecom\"\nurl = \"{WECOM}\"\nlevels = []")),
                "`levels` is empty",
                "an empty list would mean never",
            ),
            (
                webhook(&format!(
                    "kind = \"wecom\"\nurl = \"{WECOM}\"\nlevels = [1, 1]"
                )),
                "listed twice",
                "a level twice",
            ),
            (
                webhook(&format!(
                    "kind = \"wecom\"\nurl = \"{WECOM}\"\nsites = [\"North Station\"]"
                )),
                "is not a site slug",
                "a site name instead of its slug",
            ),
            (
                webhook(&format!("kind = \"wecom\"\nurl = \"{WECOM}\"\nsites = []")),
                "`sites` is empty",
                "an empty site list would mean never",
            ),
            (
                webhook(&format!(
                    "kind = \"wecom\"\nurl = \"{WECOM}\"\nper_minute = 0"
                )),
                "per_minute must be 1 to 600",
                "a rate limit of nothing",
            ),
            (
                webhook(&format!(
                    "kind = \"wecom\"\nurl = \"{WECOM}\"\nlocale = \"fr\""
                )),
                "locale must be zh-CN, zh-TW or en",
                "a language we have no strings for",
            ),
            (
                webhook(&format!(
                    "kind = \"wecom\"\nurl = \"{WECOM}\"\ncolour = \"red\""
                )),
                "unknown field",
                "a typo in a key",
            ),
            (
                sms(aliyun),
                "sign_name",
                "SMS without its approved signature",
            ),
            (
                sms(&aliyun.replace("access_key_secret = \"k\"", "access_key_secret = \"\"")),
                "access_key_id and access_key_secret are required",
                "no credentials",
            ),
            (
                sms(&format!(
                    "{}sign_name = \"S\"",
                    aliyun.replace("template_id = \"T\"", "template_id = \"\"")
                )),
                "template_id",
                "no template",
            ),
            (
                sms(&format!(
                    "{}sign_name = \"S\"",
                    aliyun.replace("aliyun", "twilio")
                )),
                "variant constructor twilio",
                "an unknown provider",
            ),
            (
                sms(&format!(
                    "{}sign_name = \"S\"",
                    aliyun.replace("aliyun", "tencent")
                )),
                "app_id",
                "Tencent without its SDK app id",
            ),
            (
                sms(&format!(
                    "{aliyun}sign_name = \"S\"\nendpoint = \"dysmsapi.aliyuncs.com\""
                )),
                "is not an http(s) base URL",
                "an endpoint without a scheme",
            ),
            (
                sms(&format!(
                    "{aliyun}sign_name = \"S\"\nendpoint = \"https://x.cn/?a=1\""
                )),
                "without a query",
                "an endpoint with a query",
            ),
            (
                format!("[notify.voice]\n{aliyun}levels = [9]\n"),
                "level 9 is out of range",
                "a voice level past the chain",
            ),
            (
                format!("[notify.voice]\n{aliyun}gap_template = \"T2\"\n"),
                "gap_template belongs in [notify.sms]",
                "the gap message is never a call",
            ),
            (
                "[notify]\nrate_window = \"0s\"\n".into(),
                "notify.rate_window",
                "a window of nothing counts nothing",
            ),
            (
                "[notify]\nrate_window = \"2h\"\n".into(),
                "must be 1s to 1h",
                "a window longer than the vendors count",
            ),
            (
                "[notify]\ntimeout = \"0s\"\n".into(),
                "notify.timeout",
                "no time at all to send",
            ),
            (
                "[notify]\ntimeout = \"2m\"\n".into(),
                "at most 1m",
                "a send longer than the limit",
            ),
        ];
        for (extra, expected, why) in cases {
            let err = refused(&extra);
            assert!(
                err.contains(expected),
                "{why}: expected {expected:?} in {err:?}"
            );
            assert!(err.contains("notify"), "{why}: the key is named: {err}");
        }
    }

    #[test]
    fn plain_http_channels_are_refused_in_production() {
        let mut s = load("").unwrap();
        s.notify.webhooks.push(Webhook {
            kind: WebhookKind::Wecom,
            url: "http://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc".into(),
            secret: None,
            sites: None,
            levels: None,
            per_minute: 20,
            locale: "zh-CN".into(),
            gaps: true,
        });
        assert!(s.notify.validate(3, Duration::from_secs(60), false).is_ok());
        let err = s
            .notify
            .validate(3, Duration::from_secs(60), true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("https:// in production"), "{err}");
        // And a send that could outlive its lease.
        s.notify.webhooks.truncate(1);
        s.notify.webhooks[0].url =
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc".into();
        s.notify.timeout = Duration::from_secs(30);
        let err = s
            .notify
            .validate(3, Duration::from_secs(20), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("shorter than worker.lease"), "{err}");
    }
}
