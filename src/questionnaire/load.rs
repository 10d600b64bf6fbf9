//! Parsing and validating one questionnaire file. Every problem is collected (not only the
//! first), each with its line and column, so an administrator fixes a file in one pass.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use toml::de::{DeTable, DeValue};

use super::diagnostics::{Diagnostic, Diagnostics};
use super::expr::{self, Expr, ExprError, Var};
use super::model::*;
use super::reader::{self, Node, Table, as_array, as_bool, as_int, as_number, as_str};

const TOP_KEYS: &[&str] = &[
    "id",
    "version",
    "default_locale",
    "locales",
    "title",
    "plain_title",
    "instructions",
    "estimated_minutes",
    "sections",
    "options",
    "items",
    "scores",
    "bands",
    "rules",
    "examples",
    "resources",
];
const ITEM_KEYS: &[&str] = &[
    "id",
    "text",
    "options",
    "reverse",
    "optional",
    "sensitive",
    "show_if",
    "section",
];
const SCORE_KEYS: &[&str] = &["id", "label", "items", "method", "multiply", "missing"];
const MISSING_KEYS: &[&str] = &["max", "complete", "round"];
const BANDS_KEYS: &[&str] = &["score", "cuts"];
const CUT_KEYS: &[&str] = &["name", "label", "min", "tier"];
const RULE_KEYS: &[&str] = &["id", "when", "tier", "urgent", "reason"];
const EXAMPLE_KEYS: &[&str] = &[
    "name", "answers", "tier", "scores", "bands", "rules", "urgent",
];
const SCALE_KEYS: &[&str] = &["choices"];
const CHOICE_KEYS: &[&str] = &["value", "label"];
const SECTION_KEYS: &[&str] = &["title"];
const RESOURCE_TIERS: &[&str] = &["green", "yellow", "red"];
const TIER_RESOURCE_KEYS: &[&str] = &["message", "refused_message", "links"];
const LINK_KEYS: &[&str] = &["kind", "title", "url"];
const LINK_KINDS: &[&str] = &["self_help", "course", "booking", "hotline"];

/// Words CEL reserves: an item or score named so could not be used in an expression.
const RESERVED: &[&str] = &[
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
];

/// The SHA-256 of a file's bytes, as stored with every screening it scores.
pub fn content_hash(source: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(source.as_bytes())))
}

/// Parses and validates the structure of `source` (its examples are run by
/// `catalog::parse_questionnaire`, which needs scoring). `path` is used in messages;
/// `file_stem`, when given, is what `id` must equal.
pub fn parse_structure(
    path: &str,
    file_stem: Option<&str>,
    source: &str,
) -> Result<Questionnaire, Vec<Diagnostic>> {
    let mut d = Diagnostics::new(path, source);
    let root = match DeTable::parse(source) {
        Ok(root) => root,
        Err(e) => {
            let offset = e.span().map_or(0, |s| s.start);
            let message = e.message().trim().replace('\n', " ");
            d.error_at(offset, format!("TOML syntax error: {message}"));
            return Err(d.into_vec());
        }
    };
    let built = Loader {
        d: &mut d,
        declared_items: Vec::new(),
        declared_scores: Vec::new(),
        declared_rules: Vec::new(),
        unsure_scores: BTreeSet::new(),
        items_broken: false,
    }
    .questionnaire(root.span(), root.get_ref(), file_stem, source);
    match built {
        Some(q) if d.is_empty() => Ok(q),
        _ => {
            debug_assert!(
                d.count() > 0,
                "a questionnaire failed to build without a diagnostic"
            );
            Err(d.into_vec())
        }
    }
}

fn valid_id(s: &str, allow_leading_digit: bool) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_lowercase() || (allow_leading_digit && c.is_ascii_digit()) => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn valid_locale(s: &str) -> bool {
    let (lang, region) = s.split_once('-').unwrap_or((s, ""));
    (2..=3).contains(&lang.len())
        && lang.chars().all(|c| c.is_ascii_lowercase())
        && (region.is_empty()
            || (region.len() == 2 && region.chars().all(|c| c.is_ascii_uppercase())))
}

struct Loader<'a, 's> {
    d: &'a mut Diagnostics<'s>,
    /// Names declared in the file, even where the declaration itself had an error, so one
    /// mistake is reported once and not again at every use of the name.
    declared_items: Vec<String>,
    declared_scores: Vec<String>,
    declared_rules: Vec<String>,
    /// Scores whose range is unknown (an item failed) or whose bands failed to load.
    unsure_scores: BTreeSet<String>,
    /// Whether some item failed to load (so score ranges are unknown).
    items_broken: bool,
}

impl Loader<'_, '_> {
    fn questionnaire(
        &mut self,
        span: Range<usize>,
        root: &DeTable<'_>,
        file_stem: Option<&str>,
        source: &str,
    ) -> Option<Questionnaire> {
        let mut top = Table::new(span, root, "the questionnaire", TOP_KEYS);

        let id = top.req(self.d, "id").and_then(|n| {
            let id = as_str(self.d, n, "`id`")?;
            if !valid_id(id, true) {
                self.d.error(&n.span(), format!("`id` \"{id}\" must use only a-z, 0-9 and _"));
            } else if let Some(stem) = file_stem
                && stem != id
            {
                self.d.error(
                    &n.span(),
                    format!("`id` \"{id}\" must match the file name: rename the file to {id}.toml or set id = \"{stem}\""),
                );
            }
            Some(id.to_string())
        });
        let version = top.req(self.d, "version").and_then(|n| {
            let v = as_str(self.d, n, "`version`")?;
            if v.trim().is_empty() {
                self.d.error(&n.span(), "`version` must not be empty");
            }
            Some(v.to_string())
        });
        let locales = top
            .req(self.d, "locales")
            .map(|n| self.locales(n))
            .unwrap_or_default();
        let default_locale = top.req(self.d, "default_locale").and_then(|n| {
            let l = as_str(self.d, n, "`default_locale`")?;
            if !locales.is_empty() && !locales.iter().any(|x| x == l) {
                self.d.error(
                    &n.span(),
                    format!(
                        "`default_locale` \"{l}\" is not one of `locales` ({})",
                        locales.join(", ")
                    ),
                );
            }
            Some(l.to_string())
        });
        let title = top
            .req(self.d, "title")
            .and_then(|n| self.localized(n, "`title`", &locales));
        let plain_title = top
            .opt("plain_title")
            .and_then(|n| self.localized(n, "`plain_title`", &locales));
        let instructions = top
            .req(self.d, "instructions")
            .and_then(|n| self.localized(n, "`instructions`", &locales));
        let estimated_minutes = top.opt("estimated_minutes").and_then(|n| {
            let m = as_int(self.d, n, "`estimated_minutes`")?;
            if !(1..=60).contains(&m) {
                self.d
                    .error(&n.span(), "`estimated_minutes` must be between 1 and 60");
                return None;
            }
            u32::try_from(m).ok()
        });

        let sections = top
            .opt("sections")
            .map(|n| self.sections(n, &locales))
            .unwrap_or_default();
        let scales = match top.req(self.d, "options") {
            Some(n) => self.scales(n, &locales),
            None => Vec::new(),
        };
        let env = expr::new_env();
        let items = match top.req(self.d, "items") {
            Some(n) => self.items(n, &locales, &scales, &sections, &env),
            None => Vec::new(),
        };
        let mut scores = match top.req(self.d, "scores") {
            Some(n) => self.scores(n, &items, &scales, &locales),
            None => Vec::new(),
        };
        if let Some(n) = top.opt("bands") {
            self.bands(n, &mut scores, &locales);
        }
        let rules = top
            .opt("rules")
            .map(|n| self.rules(n, &locales, &env))
            .unwrap_or_default();
        let reachable_red = scores
            .iter()
            .flat_map(|s| &s.bands)
            .any(|b| b.tier == Tier::Red)
            || rules.iter().any(|r| r.tier == Tier::Red);
        let resources = match top.req(self.d, "resources") {
            Some(n) => self.resources(n, &locales, reachable_red),
            None => BTreeMap::new(),
        };
        let examples = top
            .opt("examples")
            .map(|n| self.examples(n, &scores))
            .unwrap_or_default();
        if examples.is_empty() {
            self.d.error(
                &top.span(),
                "the questionnaire has no [[examples]]: add examples covering every band and rule",
            );
        }
        top.finish(self.d);

        Some(Questionnaire {
            id: id?,
            version: version?,
            content_hash: content_hash(source),
            default_locale: default_locale?,
            locales,
            title: title?,
            plain_title,
            instructions: instructions?,
            estimated_minutes,
            sections,
            scales,
            items,
            scores,
            rules,
            resources,
            examples,
            source: Arc::from(source),
            env,
        })
    }

    fn locales(&mut self, n: &Node<'_>) -> Vec<String> {
        let Some(arr) = as_array(self.d, n, "`locales`") else {
            return Vec::new();
        };
        let mut out: Vec<String> = Vec::new();
        for el in arr.iter() {
            let Some(l) = as_str(self.d, el, "a locale") else {
                continue;
            };
            if !valid_locale(l) {
                self.d.error(
                    &el.span(),
                    format!("\"{l}\" is not a locale like \"zh-CN\" or \"en\""),
                );
            } else if out.iter().any(|x| x == l) {
                self.d
                    .error(&el.span(), format!("locale \"{l}\" is listed twice"));
            } else {
                out.push(l.to_string());
            }
        }
        if out.is_empty() && arr.iter().next().is_none() {
            self.d
                .error(&n.span(), "`locales` must list at least one locale");
        }
        out
    }

    fn localized(&mut self, n: &Node<'_>, what: &str, locales: &[String]) -> Option<Localized> {
        let DeValue::Table(t) = n.get_ref() else {
            self.d.error(
                &n.span(),
                format!(
                    "{what} must be a table of translations like {{ zh-CN = \"...\", en = \"...\" }}, not {}",
                    reader::type_name(n.get_ref())
                ),
            );
            return None;
        };
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (k, v) in t.iter() {
            let key = k.get_ref().as_ref();
            if !locales.iter().any(|l| l == key) {
                self.d.error(
                    &k.span(),
                    format!("{what} has text in \"{key}\", which is not declared in `locales`"),
                );
                ok = false;
                continue;
            }
            match as_str(self.d, v, &format!("the \"{key}\" text of {what}")) {
                Some(s) if !s.trim().is_empty() => {
                    out.insert(key.to_string(), s.to_string());
                }
                Some(_) => {
                    self.d
                        .error(&v.span(), format!("the \"{key}\" text of {what} is empty"));
                    ok = false;
                }
                None => ok = false,
            }
        }
        for l in locales {
            if !out.contains_key(l) && t.get(l.as_str()).is_none() {
                self.d.error(
                    &n.span(),
                    format!("{what} is missing the \"{l}\" translation"),
                );
                ok = false;
            }
        }
        ok.then_some(Localized(out))
    }

    fn sections(&mut self, n: &Node<'_>, locales: &[String]) -> Vec<Section> {
        let Some(t) = Table::from_node(self.d, n, "`sections`", &[]) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, v) in t.entries().iter() {
            let name = k.get_ref().to_string();
            if !valid_id(&name, false) {
                self.d.error(
                    &k.span(),
                    format!("section name \"{name}\" must use only a-z, 0-9 and _"),
                );
            }
            let Some(mut st) =
                Table::from_node(self.d, v, format!("section `{name}`"), SECTION_KEYS)
            else {
                continue;
            };
            let title = st.req(self.d, "title").and_then(|n| {
                self.localized(n, &format!("the title of section `{name}`"), locales)
            });
            st.finish(self.d);
            if let Some(title) = title {
                out.push(Section { id: name, title });
            }
        }
        out
    }

    fn scales(&mut self, n: &Node<'_>, locales: &[String]) -> Vec<Scale> {
        let Some(t) = Table::from_node(self.d, n, "`options`", &[]) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, v) in t.entries().iter() {
            let name = k.get_ref().to_string();
            let Some(mut st) = Table::from_node(self.d, v, format!("scale `{name}`"), SCALE_KEYS)
            else {
                continue;
            };
            let mut choices: Vec<Choice> = Vec::new();
            if let Some(cn) = st.req(self.d, "choices")
                && let Some(arr) = as_array(self.d, cn, &format!("the choices of scale `{name}`"))
            {
                for c in arr.iter() {
                    let Some(mut ct) = Table::from_node(
                        self.d,
                        c,
                        format!("a choice of scale `{name}`"),
                        CHOICE_KEYS,
                    ) else {
                        continue;
                    };
                    let value = ct.req(self.d, "value").and_then(|vn| {
                        let value = as_int(self.d, vn, "`value`")?;
                        if choices.iter().any(|c| c.value == value) {
                            self.d.error(
                                &vn.span(),
                                format!("value {value} appears twice in scale `{name}`"),
                            );
                            return None;
                        }
                        Some(value)
                    });
                    let label = ct.req(self.d, "label").and_then(|ln| {
                        self.localized(
                            ln,
                            &format!("the label of a choice of scale `{name}`"),
                            locales,
                        )
                    });
                    ct.finish(self.d);
                    if let (Some(value), Some(label)) = (value, label) {
                        choices.push(Choice { value, label });
                    }
                }
                if arr.iter().next().is_none() {
                    self.d
                        .error(&cn.span(), format!("scale `{name}` has no choices"));
                }
            }
            st.finish(self.d);
            if let (Some(min), Some(max)) = (
                choices.iter().map(|c| c.value).min(),
                choices.iter().map(|c| c.value).max(),
            ) {
                out.push(Scale {
                    name,
                    choices,
                    min,
                    max,
                });
            }
        }
        out
    }

    fn expr_error(&mut self, node: &Node<'_>, expr_src: &str, err: &ExprError) {
        let span = node.span();
        let raw = self.d.source().get(span.clone()).unwrap_or_default();
        let quote = if raw.starts_with("\"\"\"") || raw.starts_with("'''") {
            3
        } else if raw.starts_with('"') || raw.starts_with('\'') {
            1
        } else {
            0
        };
        let inner = raw
            .get(quote..raw.len().saturating_sub(quote))
            .unwrap_or_default();
        let offset = if quote > 0 && inner == expr_src {
            let byte = expr_src
                .char_indices()
                .nth(err.offset)
                .map_or(expr_src.len(), |(i, _)| i);
            span.start + quote + byte
        } else {
            span.start
        };
        self.d.error_at(offset, err.message.clone());
    }

    fn compile(
        &mut self,
        node: &Node<'_>,
        what: &str,
        env: &expr::ExprEnv,
        lookup: &dyn Fn(&str) -> Option<Var>,
        hint: &dyn Fn(&str) -> String,
    ) -> Option<Expr> {
        let src = as_str(self.d, node, what)?;
        match Expr::compile(env, src, lookup, hint) {
            Ok(e) => Some(e),
            Err(errs) => {
                for e in &errs {
                    self.expr_error(node, src, e);
                }
                None
            }
        }
    }

    fn items(
        &mut self,
        n: &Node<'_>,
        locales: &[String],
        scales: &[Scale],
        sections: &[Section],
        env: &expr::ExprEnv,
    ) -> Vec<Item> {
        let Some(arr) = as_array(self.d, n, "`items`") else {
            return Vec::new();
        };
        let mut items: Vec<Item> = Vec::new();
        let mut all_ids: Vec<String> = Vec::new();
        for (idx, node) in arr.iter().enumerate() {
            let Some(mut t) =
                Table::from_node(self.d, node, format!("item #{}", idx + 1), ITEM_KEYS)
            else {
                continue;
            };
            let id = t
                .req(self.d, "id")
                .and_then(|n| self.new_name(n, "item", &all_ids));
            if let Some(id) = &id {
                all_ids.push(id.clone());
                self.declared_items.push(id.clone());
            }
            let label = id
                .clone()
                .map_or_else(|| format!("item #{}", idx + 1), |i| format!("item `{i}`"));
            t.rename(label.clone());
            let text = t
                .req(self.d, "text")
                .and_then(|n| self.localized(n, &format!("the text of {label}"), locales));
            let scale = t.req(self.d, "options").and_then(|n| {
                let name = as_str(self.d, n, "`options`")?;
                match scales.iter().position(|s| s.name == name) {
                    Some(i) => Some(i),
                    None => {
                        let known: Vec<&str> = scales.iter().map(|s| s.name.as_str()).collect();
                        self.d.error(
                            &n.span(),
                            format!("{label} uses the unknown scale `{name}`; declare [options.{name}] or use one of: {}", known.join(", ")),
                        );
                        None
                    }
                }
            });
            let reverse = t
                .opt("reverse")
                .and_then(|n| as_bool(self.d, n, "`reverse`"))
                .unwrap_or(false);
            let optional = t
                .opt("optional")
                .and_then(|n| as_bool(self.d, n, "`optional`"))
                .unwrap_or(false);
            let sensitive = t.opt("sensitive").is_some_and(|n| {
                let sensitive = as_bool(self.d, n, "`sensitive`").unwrap_or(false);
                if sensitive && !optional {
                    self.d.error(
                        &n.span(),
                        format!("{label} is sensitive but not optional; a rider may always decline a sensitive question: add `optional = true` (the form then asks once, gently, before accepting it unanswered)"),
                    );
                }
                sensitive
            });
            let section = t.opt("section").and_then(|n| {
                let s = as_str(self.d, n, "`section`")?;
                if !sections.iter().any(|x| x.id == s) {
                    self.d.error(
                        &n.span(),
                        format!("{label} names the unknown section `{s}`; declare [sections.{s}]"),
                    );
                }
                Some(s.to_string())
            });
            let earlier: Vec<String> = all_ids
                .iter()
                .take(all_ids.len().saturating_sub(usize::from(id.is_some())))
                .cloned()
                .collect();
            let later: Vec<&str> = arr
                .iter()
                .skip(idx)
                .filter_map(|n| n.get_ref().get("id").and_then(|v| v.get_ref().as_str()))
                .collect();
            let show_if = t.opt("show_if").and_then(|n| {
                let lookup = |name: &str| earlier.iter().any(|e| e == name).then_some(Var::Item);
                let hint = |name: &str| {
                    if later.contains(&name) {
                        format!("`{name}` is asked after (or is) this item; show_if may only use items asked before it")
                    } else {
                        "not an item asked before this one".to_string()
                    }
                };
                self.compile(n, "`show_if`", env, &lookup, &hint)
            });
            t.finish(self.d);
            if id.is_none() || text.is_none() || scale.is_none() {
                self.items_broken = true;
            }
            if let (Some(id), Some(text), Some(scale)) = (id, text, scale) {
                items.push(Item {
                    id,
                    text,
                    scale_name: scales[scale].name.clone(),
                    scale,
                    reverse,
                    optional,
                    sensitive,
                    show_if,
                    section,
                });
            }
        }
        if arr.iter().next().is_none() {
            self.d.error(
                &n.span(),
                "`items` is empty: a questionnaire needs at least one item",
            );
        }
        items
    }

    /// Reads a new id, checking its form and that it is not taken.
    fn new_name(&mut self, n: &Node<'_>, kind: &str, taken: &[String]) -> Option<String> {
        let id = as_str(self.d, n, &format!("the {kind} `id`"))?;
        if !valid_id(id, false) {
            self.d.error(
                &n.span(),
                format!("{kind} id \"{id}\" must start with a-z and use only a-z, 0-9 and _"),
            );
            return None;
        }
        if RESERVED.contains(&id) {
            self.d.error(
                &n.span(),
                format!("{kind} id \"{id}\" is a reserved word in expressions; choose another"),
            );
            return None;
        }
        if taken.iter().any(|t| t == id) {
            self.d
                .error(&n.span(), format!("duplicate {kind} id \"{id}\""));
            return None;
        }
        Some(id.to_string())
    }

    fn scores(
        &mut self,
        n: &Node<'_>,
        items: &[Item],
        scales: &[Scale],
        locales: &[String],
    ) -> Vec<Score> {
        let Some(arr) = as_array(self.d, n, "`scores`") else {
            return Vec::new();
        };
        let mut taken: Vec<String> = items.iter().map(|i| i.id.clone()).collect();
        let mut out = Vec::new();
        for (idx, node) in arr.iter().enumerate() {
            let Some(mut t) =
                Table::from_node(self.d, node, format!("score #{}", idx + 1), SCORE_KEYS)
            else {
                continue;
            };
            let id = t.req(self.d, "id").and_then(|n| {
                let id = as_str(self.d, n, "the score `id`")?;
                if items.iter().any(|i| i.id == id) {
                    self.d.error(&n.span(), format!("score id \"{id}\" is already an item id: scores and items share one namespace"));
                    return None;
                }
                self.new_name(n, "score", &taken)
            });
            if let Some(id) = &id {
                taken.push(id.clone());
                self.declared_scores.push(id.clone());
            }
            let label = id
                .clone()
                .map_or_else(|| format!("score #{}", idx + 1), |i| format!("score `{i}`"));
            t.rename(label.clone());
            let title = t
                .opt("label")
                .and_then(|n| self.localized(n, &format!("the `label` of {label}"), locales));
            let members = t
                .req(self.d, "items")
                .and_then(|n| self.score_items(n, items, &label));
            let method =
                t.req(self.d, "method")
                    .and_then(|n| match as_str(self.d, n, "`method`")? {
                        "sum" => Some(Method::Sum),
                        "mean" => Some(Method::Mean),
                        other => {
                            self.d.error(
                                &n.span(),
                                format!("`method` \"{other}\" must be \"sum\" or \"mean\""),
                            );
                            None
                        }
                    });
            let multiply = t.opt("multiply").and_then(|n| {
                let m = as_number(self.d, n, "`multiply`")?;
                if m <= 0.0 {
                    self.d.error(&n.span(), "`multiply` must be greater than 0");
                    return None;
                }
                Some(m)
            });
            let count = members.as_ref().map_or(0, |(m, _)| m.len());
            let missing = t
                .opt("missing")
                .and_then(|n| self.missing(n, count, &label));
            t.finish(self.d);
            if let (Some(id), Some((_, true)), Some(_)) = (&id, &members, method) {
                self.unsure_scores.insert(id.clone());
            }
            if let (Some(id), Some((members, _)), Some(method)) = (id, members, method) {
                let range = score_range(&members, items, scales, method, multiply, missing);
                out.push(Score {
                    incomplete_reason_id: format!("{id}.incomplete"),
                    label: title,
                    id,
                    items: members,
                    method,
                    multiply,
                    missing,
                    range,
                    bands: Vec::new(),
                });
            }
        }
        out
    }

    /// The score's item indexes, and whether a member item failed to load.
    fn score_items(
        &mut self,
        n: &Node<'_>,
        items: &[Item],
        label: &str,
    ) -> Option<(Vec<usize>, bool)> {
        let broken_items = self.items_broken;
        if let DeValue::String(s) = n.get_ref() {
            if s == "all" {
                return Some(((0..items.len()).collect(), broken_items));
            }
            self.d.error(
                &n.span(),
                format!("`items` of {label} must be \"all\" or a list of item ids"),
            );
            return None;
        }
        let arr = as_array(self.d, n, &format!("`items` of {label}"))?;
        let mut out = Vec::new();
        let mut broken = false;
        for el in arr.iter() {
            let Some(id) = as_str(self.d, el, "an item id") else {
                continue;
            };
            match items.iter().position(|i| i.id == id) {
                Some(i) if out.contains(&i) => {
                    self.d.error(
                        &el.span(),
                        format!("item `{id}` is listed twice in {label}"),
                    );
                }
                Some(i) => out.push(i),
                None if self.items_broken => broken = true,
                None => self
                    .d
                    .error(&el.span(), format!("{label} names the unknown item `{id}`")),
            }
        }
        if arr.iter().next().is_none() {
            self.d.error(&n.span(), format!("{label} has no items"));
        }
        Some((out, broken))
    }

    fn missing(&mut self, n: &Node<'_>, count: usize, label: &str) -> Option<MissingRule> {
        let mut t = Table::from_node(self.d, n, format!("`missing` of {label}"), MISSING_KEYS)?;
        let max = t.req(self.d, "max").and_then(|n| {
            let m = as_int(self.d, n, "`max`")?;
            if m < 0 || (count > 0 && m as usize > count) {
                self.d.error(
                    &n.span(),
                    format!("`max` must be between 0 and the number of items ({count})"),
                );
                return None;
            }
            Some(m as usize)
        });
        let complete =
            t.req(self.d, "complete")
                .and_then(|n| match as_str(self.d, n, "`complete`")? {
                    "prorate" => Some(Complete::Prorate),
                    "skip" => Some(Complete::Skip),
                    other => {
                        self.d.error(
                            &n.span(),
                            format!("`complete` \"{other}\" must be \"prorate\" or \"skip\""),
                        );
                        None
                    }
                });
        let round = t.opt("round").and_then(|n| {
            let r = as_int(self.d, n, "`round`")?;
            if !(0..=6).contains(&r) {
                self.d
                    .error(&n.span(), "`round` is a number of decimals from 0 to 6");
                return None;
            }
            u32::try_from(r).ok()
        });
        t.finish(self.d);
        Some(MissingRule {
            max: max?,
            complete: complete?,
            round,
        })
    }

    fn bands(&mut self, n: &Node<'_>, scores: &mut [Score], locales: &[String]) {
        let Some(arr) = as_array(self.d, n, "`bands`") else {
            return;
        };
        let mut seen: BTreeSet<usize> = BTreeSet::new();
        for (idx, node) in arr.iter().enumerate() {
            let Some(mut t) =
                Table::from_node(self.d, node, format!("bands #{}", idx + 1), BANDS_KEYS)
            else {
                continue;
            };
            let score = t.req(self.d, "score").and_then(|n| {
                let name = as_str(self.d, n, "`score`")?;
                match scores.iter().position(|s| s.id == name) {
                    Some(i) if !seen.insert(i) => {
                        self.d.error(
                            &n.span(),
                            format!(
                                "score `{name}` already has bands; merge the two [[bands]] blocks"
                            ),
                        );
                        None
                    }
                    Some(i) => Some(i),
                    None if self.declared_scores.iter().any(|s| s == name) => None,
                    None => {
                        self.d
                            .error(&n.span(), format!("bands for the unknown score `{name}`"));
                        None
                    }
                }
            });
            let cuts = t.req(self.d, "cuts");
            t.finish(self.d);
            let (Some(si), Some(cuts)) = (score, cuts) else {
                continue;
            };
            let Some(cut_arr) = as_array(self.d, cuts, "`cuts`") else {
                continue;
            };
            let score_id = scores[si].id.clone();
            let (lo, hi) = scores[si].range;
            let range_known = !self.unsure_scores.contains(&score_id);
            let mut bands: Vec<Band> = Vec::new();
            let mut ok = true;
            for (ci, cn) in cut_arr.iter().enumerate() {
                let Some(mut ct) =
                    Table::from_node(self.d, cn, format!("a cut of score `{score_id}`"), CUT_KEYS)
                else {
                    ok = false;
                    continue;
                };
                let name = ct.req(self.d, "name").and_then(|n| {
                    let name = as_str(self.d, n, "the band `name`")?;
                    if !valid_id(name, false) {
                        self.d.error(&n.span(), format!("band name \"{name}\" must start with a-z and use only a-z, 0-9 and _"));
                        return None;
                    }
                    if name == "incomplete" {
                        self.d.error(&n.span(), "\"incomplete\" is reserved for a score that could not be computed");
                        return None;
                    }
                    if bands.iter().any(|b| b.name == name) {
                        self.d.error(&n.span(), format!("duplicate band name \"{name}\" in score `{score_id}`"));
                        return None;
                    }
                    Some(name.to_string())
                });
                let min = ct.req(self.d, "min").and_then(|n| {
                    let min = as_number(self.d, n, "`min`")?;
                    if let Some(prev) = bands.last()
                        && min <= prev.min
                    {
                        self.d.error(&n.span(), format!("cut points must increase: {} is not above the previous band's min {}", num(min), num(prev.min)));
                        return None;
                    }
                    if range_known && ci == 0 && min > lo {
                        self.d.error(&n.span(), format!("the first band must start at or below the lowest possible score of `{score_id}` ({}), so every score has a band", num(lo)));
                        return None;
                    }
                    if range_known && (min > hi || (ci > 0 && min < lo)) {
                        self.d.error(&n.span(), format!("cut point {} is outside the possible range of `{score_id}` ({} to {})", num(min), num(lo), num(hi)));
                        return None;
                    }
                    Some(min)
                });
                let tier = ct.req(self.d, "tier").and_then(|n| self.tier(n));
                let label = ct.opt("label").and_then(|n| {
                    self.localized(
                        n,
                        &format!("the `label` of a band of score `{score_id}`"),
                        locales,
                    )
                });
                ct.finish(self.d);
                match (name, min, tier) {
                    (Some(name), Some(min), Some(tier)) => bands.push(Band {
                        reason_id: format!("{score_id}.{name}"),
                        name,
                        label,
                        min,
                        tier,
                    }),
                    _ => ok = false,
                }
            }
            if cut_arr.iter().next().is_none() {
                self.d.error(
                    &cuts.span(),
                    format!("bands of `{score_id}` have no cut points"),
                );
            }
            if ok {
                scores[si].bands = bands;
            } else {
                self.unsure_scores.insert(score_id);
            }
        }
    }

    fn tier(&mut self, n: &Node<'_>) -> Option<Tier> {
        let s = as_str(self.d, n, "`tier`")?;
        let t = Tier::parse(s);
        if t.is_none() {
            self.d.error(
                &n.span(),
                format!("tier \"{s}\" must be \"green\", \"yellow\" or \"red\""),
            );
        }
        t
    }

    fn rules(&mut self, n: &Node<'_>, locales: &[String], env: &expr::ExprEnv) -> Vec<Rule> {
        let Some(arr) = as_array(self.d, n, "`rules`") else {
            return Vec::new();
        };
        let mut out: Vec<Rule> = Vec::new();
        let mut taken: Vec<String> = Vec::new();
        let declared_items = self.declared_items.clone();
        let declared_scores = self.declared_scores.clone();
        let lookup = move |name: &str| {
            if declared_items.iter().any(|i| i == name) {
                Some(Var::Item)
            } else if declared_scores.iter().any(|s| s == name) {
                Some(Var::Score)
            } else {
                None
            }
        };
        for (idx, node) in arr.iter().enumerate() {
            let Some(mut t) =
                Table::from_node(self.d, node, format!("rule #{}", idx + 1), RULE_KEYS)
            else {
                continue;
            };
            let id = t
                .req(self.d, "id")
                .and_then(|n| self.new_name(n, "rule", &taken));
            if let Some(id) = &id {
                taken.push(id.clone());
                self.declared_rules.push(id.clone());
            }
            let label = id
                .clone()
                .map_or_else(|| format!("rule #{}", idx + 1), |i| format!("rule `{i}`"));
            t.rename(label.clone());
            let when = t.req(self.d, "when").and_then(|n| {
                self.compile(n, "`when`", env, &lookup, &|_| {
                    "not an item or score of this questionnaire".to_string()
                })
            });
            let tier = t.req(self.d, "tier").and_then(|n| self.tier(n));
            let urgent_node = t.opt("urgent");
            let urgent = urgent_node
                .and_then(|n| as_bool(self.d, n, "`urgent`"))
                .unwrap_or(false);
            if let (true, Some(tier), Some(un)) = (urgent, tier, urgent_node)
                && tier != Tier::Red
            {
                self.d.error(
                    &un.span(),
                    format!("{label}: only a red rule can be urgent"),
                );
            }
            let reason = t
                .req(self.d, "reason")
                .and_then(|n| self.localized(n, &format!("the reason of {label}"), locales));
            t.finish(self.d);
            if let (Some(id), Some(when), Some(tier), Some(reason)) = (id, when, tier, reason) {
                out.push(Rule {
                    id,
                    when,
                    tier,
                    urgent,
                    reason,
                });
            }
        }
        out
    }

    fn resources(
        &mut self,
        n: &Node<'_>,
        locales: &[String],
        reachable_red: bool,
    ) -> BTreeMap<Tier, TierResources> {
        let mut out = BTreeMap::new();
        let Some(mut t) = Table::from_node(self.d, n, "`resources`", RESOURCE_TIERS) else {
            return out;
        };
        for tier in Tier::ALL {
            let node = if tier == Tier::Red && !reachable_red {
                t.opt(tier.as_str())
            } else {
                t.req(self.d, tier.as_str())
            };
            let Some(node) = node else { continue };
            let what = format!("[resources.{tier}]");
            let Some(mut rt) = Table::from_node(self.d, node, what.clone(), TIER_RESOURCE_KEYS)
            else {
                continue;
            };
            let message = rt
                .req(self.d, "message")
                .and_then(|n| self.localized(n, &format!("the message of {what}"), locales));
            let refused_message = rt.opt("refused_message").and_then(|n| {
                self.localized(n, &format!("the refused_message of {what}"), locales)
            });
            let mut links = Vec::new();
            if let Some(ln) = rt.opt("links")
                && let Some(arr) = as_array(self.d, ln, &format!("the links of {what}"))
            {
                for l in arr.iter() {
                    let Some(mut lt) =
                        Table::from_node(self.d, l, format!("a link of {what}"), LINK_KEYS)
                    else {
                        continue;
                    };
                    let kind = lt.req(self.d, "kind").and_then(|n| {
                        let k = as_str(self.d, n, "`kind`")?;
                        if !LINK_KINDS.contains(&k) {
                            self.d.error(
                                &n.span(),
                                format!(
                                    "link kind \"{k}\" must be one of: {}",
                                    LINK_KINDS.join(", ")
                                ),
                            );
                            return None;
                        }
                        Some(k.to_string())
                    });
                    let title = lt.req(self.d, "title").and_then(|n| {
                        self.localized(n, &format!("the title of a link of {what}"), locales)
                    });
                    let url = lt.req(self.d, "url").and_then(|n| {
                        let u = as_str(self.d, n, "`url`")?;
                        let ok = (u.starts_with("https://") || u.starts_with("http://") || u.starts_with("tel:") || u.starts_with('/'))
                            && !u.chars().any(|c| c.is_whitespace() || c == '"' || c == '<' || c == '>');
                        if !ok {
                            self.d.error(&n.span(), format!("url \"{u}\" must start with https://, http://, tel: or / and contain no spaces or quotes"));
                            return None;
                        }
                        Some(u.to_string())
                    });
                    lt.finish(self.d);
                    if let (Some(kind), Some(title), Some(url)) = (kind, title, url) {
                        links.push(Link { kind, title, url });
                    }
                }
            }
            rt.finish(self.d);
            if let Some(message) = message {
                out.insert(
                    tier,
                    TierResources {
                        message,
                        refused_message,
                        links,
                    },
                );
            }
        }
        t.finish(self.d);
        out
    }

    fn examples(&mut self, n: &Node<'_>, scores: &[Score]) -> Vec<Example> {
        let Some(arr) = as_array(self.d, n, "`examples`") else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut names: Vec<String> = Vec::new();
        for (idx, node) in arr.iter().enumerate() {
            let Some(mut t) =
                Table::from_node(self.d, node, format!("example #{}", idx + 1), EXAMPLE_KEYS)
            else {
                continue;
            };
            let name = t.req(self.d, "name").and_then(|n| {
                let s = as_str(self.d, n, "the example `name`")?;
                if names.iter().any(|x| x == s) {
                    self.d
                        .error(&n.span(), format!("two examples are named \"{s}\""));
                }
                names.push(s.to_string());
                Some(s.to_string())
            });
            let answers = t.req(self.d, "answers").and_then(|n| {
                if !n.get_ref().is_table() {
                    self.d.error(
                        &n.span(),
                        "`answers` must be a table like { q1 = 0, q2 = 1 }",
                    );
                    return None;
                }
                Some(reader::to_json(n.get_ref()))
            });
            let tier = t.req(self.d, "tier").and_then(|n| self.tier(n));
            let expected_scores = t.opt("scores").and_then(|n| {
                let tbl = Table::from_node(self.d, n, "`scores` of an example", &[])?;
                let mut m = BTreeMap::new();
                for (k, v) in tbl.entries().iter() {
                    let key = k.get_ref().to_string();
                    if !self.declared_scores.contains(&key) {
                        self.d.error(
                            &k.span(),
                            format!("the example expects the unknown score `{key}`"),
                        );
                        continue;
                    }
                    if let Some(x) = as_number(self.d, v, &format!("the expected `{key}`")) {
                        m.insert(key, x);
                    }
                }
                Some(m)
            });
            let expected_bands = t.opt("bands").and_then(|n| {
                let tbl = Table::from_node(self.d, n, "`bands` of an example", &[])?;
                let mut m = BTreeMap::new();
                for (k, v) in tbl.entries().iter() {
                    let key = k.get_ref().to_string();
                    let Some(band) = as_str(self.d, v, &format!("the expected band of `{key}`"))
                    else {
                        continue;
                    };
                    let unsure = self.unsure_scores.contains(&key);
                    match scores.iter().find(|s| s.id == key) {
                        None if self.declared_scores.contains(&key) => {}
                        None => self.d.error(
                            &k.span(),
                            format!("the example expects a band of the unknown score `{key}`"),
                        ),
                        Some(s)
                            if !unsure
                                && band != "incomplete"
                                && !s.bands.iter().any(|b| b.name == band) =>
                        {
                            self.d
                                .error(&v.span(), format!("score `{key}` has no band \"{band}\""));
                        }
                        Some(_) => {
                            m.insert(key, band.to_string());
                        }
                    }
                }
                Some(m)
            });
            let expected_rules = t.opt("rules").and_then(|n| {
                let arr = as_array(self.d, n, "`rules` of an example")?;
                let mut v = Vec::new();
                for el in arr.iter() {
                    let Some(r) = as_str(self.d, el, "a rule id") else {
                        continue;
                    };
                    if !self.declared_rules.iter().any(|x| x == r) {
                        self.d.error(
                            &el.span(),
                            format!("the example expects the unknown rule `{r}`"),
                        );
                    }
                    v.push(r.to_string());
                }
                Some(v)
            });
            let urgent = t.opt("urgent").and_then(|n| as_bool(self.d, n, "`urgent`"));
            t.finish(self.d);
            if let (Some(name), Some(answers), Some(tier)) = (name, answers, tier) {
                out.push(Example {
                    name,
                    answers,
                    tier,
                    scores: expected_scores,
                    bands: expected_bands,
                    rules: expected_rules,
                    urgent,
                    offset: node.span().start,
                });
            }
        }
        out
    }
}

/// The lowest and highest value a score can take, for checking cut points.
fn score_range(
    members: &[usize],
    items: &[Item],
    scales: &[Scale],
    method: Method,
    multiply: Option<f64>,
    missing: Option<MissingRule>,
) -> (f64, f64) {
    let mut mins: Vec<f64> = members
        .iter()
        .map(|&i| scales[items[i].scale].min as f64)
        .collect();
    let maxs: Vec<f64> = members
        .iter()
        .map(|&i| scales[items[i].scale].max as f64)
        .collect();
    let (lo, hi) = match method {
        Method::Sum => {
            let skip = missing
                .filter(|m| m.complete == Complete::Skip)
                .map_or(0, |m| m.max);
            mins.sort_by(f64::total_cmp);
            // With "skip", missing items add nothing: drop the largest minimums, and the low end
            // can also be 0 when every item may be missing.
            let kept = mins.len().saturating_sub(skip);
            let lo: f64 = mins[..kept].iter().sum();
            let lo = if skip > 0 { lo.min(0.0) } else { lo };
            (lo, maxs.iter().sum())
        }
        Method::Mean => (
            mins.iter().copied().fold(f64::INFINITY, f64::min),
            maxs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        ),
    };
    let m = multiply.unwrap_or(1.0);
    if lo.is_finite() && hi.is_finite() {
        (lo * m, hi * m)
    } else {
        (0.0, 0.0)
    }
}

/// A number for messages: `5`, not `5.0`, and never `-0`.
fn num(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}
