//! Localized strings: the three languages Careline is written in and the UI strings of pages
//! and emails. The strings live in Fluent files (`locales/<lang>/main.ftl`), compiled into the
//! binary; questionnaire text comes from the questionnaire files instead. Shared vocabulary:
//! no web framework here, so the mailer and the pages both use it.
//!
//! Layer: shared vocabulary. ARCHITECTURE.md maps the layers.

use std::borrow::Cow;
use std::collections::HashMap;

use fluent_templates::fluent_bundle::FluentValue;
use fluent_templates::{LanguageIdentifier, Loader, static_loader};

static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "zh-CN",
        // No Unicode isolation marks around placeables: they end up in `tel:` text and tests.
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

/// A language the pages are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    ZhCn,
    ZhTw,
    En,
}

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::ZhCn, Lang::ZhTw, Lang::En];
    pub const DEFAULT: Lang = Lang::ZhCn;

    /// The BCP 47 tag, as in the questionnaire files and `<html lang>`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::ZhCn => "zh-CN",
            Lang::ZhTw => "zh-TW",
            Lang::En => "en",
        }
    }

    /// The language's name in itself, for the switcher.
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::ZhCn => "简体中文",
            Lang::ZhTw => "繁體中文",
            Lang::En => "English",
        }
    }

    /// One of our codes, exactly (ASCII case-insensitive): for `?lang=`, cookies and fields.
    pub fn parse(s: &str) -> Option<Lang> {
        Lang::ALL
            .into_iter()
            .find(|l| l.code().eq_ignore_ascii_case(s.trim()))
    }

    /// Maps a language tag from `Accept-Language` (`zh`, `zh-Hant-HK`, `en-GB`, ...).
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let tag = tag.trim().to_ascii_lowercase();
        let mut parts = tag.split(['-', '_']);
        match parts.next()? {
            "zh" => {
                let traditional = parts.any(|p| matches!(p, "hant" | "tw" | "hk" | "mo"));
                Some(if traditional { Lang::ZhTw } else { Lang::ZhCn })
            }
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    fn id(self) -> LanguageIdentifier {
        self.code()
            .parse()
            .expect("the three language codes are valid identifiers")
    }
}

/// The best of our languages for an `Accept-Language` value, by quality then order.
pub fn from_accept_language(header: &str) -> Option<Lang> {
    let mut candidates: Vec<(f32, usize, Lang)> = header
        .split(',')
        .enumerate()
        .filter_map(|(i, entry)| {
            let mut parts = entry.split(';');
            let lang = Lang::from_tag(parts.next()?)?;
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (q > 0.0).then_some((q, i, lang))
        })
        .collect();
    candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    candidates.first().map(|c| c.2)
}

/// UI strings in one language. Templates call `t.tr("key")`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tr(pub Lang);

impl Tr {
    pub fn lang(&self) -> Lang {
        self.0
    }

    /// The string `key`.
    pub fn tr(&self, key: &str) -> String {
        LOCALES.lookup(&self.0.id(), key)
    }

    /// The string `key` with one numeric argument `$name`.
    pub fn tr_n(&self, key: &str, name: &'static str, n: i64) -> String {
        let args: HashMap<Cow<'static, str>, FluentValue> =
            HashMap::from([(Cow::Borrowed(name), FluentValue::from(n))]);
        LOCALES.lookup_with_args(&self.0.id(), key, &args)
    }

    /// The string `key` with text arguments.
    pub fn tr_args(&self, key: &str, args: &[(&'static str, String)]) -> String {
        let args: HashMap<Cow<'static, str>, FluentValue> = args
            .iter()
            .map(|(k, v)| (Cow::Borrowed(*k), FluentValue::from(v.clone())))
            .collect();
        LOCALES.lookup_with_args(&self.0.id(), key, &args)
    }

    /// Whether `key` exists in this language (without falling back to another).
    pub fn has(&self, key: &str) -> bool {
        // With every argument the strings use, so only a missing message is an error.
        let args: HashMap<&str, FluentValue> = [
            "minutes",
            "days",
            "count",
            "number",
            "n",
            "date",
            "deadline",
            "level",
            "lines",
            "link",
            "reference",
            "round",
            "site",
            "tier",
            "time",
        ]
        .into_iter()
        .map(|a| (a, FluentValue::from(1)))
        .collect();
        LOCALES
            .lookup_single_language(&self.0.id(), key, Some(&args))
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_best_supported_language() {
        assert_eq!(from_accept_language("en-US,en;q=0.9"), Some(Lang::En));
        assert_eq!(from_accept_language("zh-TW,zh;q=0.9"), Some(Lang::ZhTw));
        assert_eq!(from_accept_language("zh-Hant-HK"), Some(Lang::ZhTw));
        assert_eq!(from_accept_language("zh-HK"), Some(Lang::ZhTw));
        assert_eq!(from_accept_language("zh"), Some(Lang::ZhCn));
        assert_eq!(from_accept_language("zh-Hans-CN"), Some(Lang::ZhCn));
        assert_eq!(
            from_accept_language("fr-FR, en;q=0.5, zh;q=0.8"),
            Some(Lang::ZhCn)
        );
        assert_eq!(from_accept_language("de, fr"), None);
        assert_eq!(
            from_accept_language("en;q=0, zh-TW;q=0.1"),
            Some(Lang::ZhTw)
        );
        assert_eq!(from_accept_language(""), None);
        assert_eq!(from_accept_language("*"), None);
    }

    #[test]
    fn lang_codes_parse_case_insensitively_and_only_ours() {
        assert_eq!(Lang::parse("zh-cn"), Some(Lang::ZhCn));
        assert_eq!(Lang::parse("EN"), Some(Lang::En));
        assert_eq!(Lang::parse("fr"), None);
        assert_eq!(Lang::parse("zh"), None);
    }

    #[test]
    fn strings_take_arguments_without_isolation_marks() {
        let s = Tr(Lang::En).tr_n("index-minutes", "minutes", 3);
        assert!(s.contains('3') && !s.contains('\u{2068}'), "{s}");
    }

    #[test]
    fn every_language_has_every_string() {
        let keys = |lang: &str| -> Vec<String> {
            let path = format!("{}/locales/{lang}/main.ftl", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&path).expect("the Fluent file");
            let mut keys: Vec<String> = text
                .lines()
                .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
                .filter_map(|l| l.split_once(" =").map(|(k, _)| k.trim().to_string()))
                .collect();
            keys.sort();
            keys
        };
        let zh_cn = keys("zh-CN");
        assert!(zh_cn.len() > 40);
        assert_eq!(zh_cn, keys("zh-TW"));
        assert_eq!(zh_cn, keys("en"));

        // Every key the templates and handlers use exists, in every language (no fallback).
        let mut used = Vec::new();
        // Pages, mails and the handlers behind them, every folder below them too.
        let mut files = Vec::new();
        let mut dirs: Vec<std::path::PathBuf> =
            ["templates", "src/web", "src/workspace", "src/notify"]
                .iter()
                .map(|d| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(d))
                .collect();
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("a folder").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    files.push(path);
                }
            }
        }
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            for marker in [
                "tr(\"",
                "tr_n(\"",
                "error_page(\n        req,\n        lang,\n        \"",
            ] {
                for part in text.split(marker).skip(1) {
                    let key = part.split('"').next().unwrap_or_default();
                    if key
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c == '-' || c == '_')
                        && !key.is_empty()
                    {
                        used.push(key.to_string());
                    }
                }
            }
        }
        assert!(used.len() > 30, "{used:?}");
        for lang in Lang::ALL {
            for key in &used {
                if key == "key" {
                    continue;
                }
                assert!(Tr(lang).has(key), "{key} missing in {}", lang.code());
            }
        }
        for key in zh_cn.iter().filter(|k| k.starts_with("error-")) {
            for lang in Lang::ALL {
                assert!(Tr(lang).has(key));
            }
        }
    }
}
