//! A reader over the spanned TOML tree that reports every problem it meets (missing keys,
//! unknown keys, wrong types) instead of stopping at the first one, as serde would.

use std::collections::BTreeSet;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

use super::diagnostics::Diagnostics;

pub(crate) type Node<'i> = Spanned<DeValue<'i>>;

pub(crate) fn type_name(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "a whole number",
        DeValue::Float(_) => "a decimal number",
        DeValue::Boolean(_) => "true or false",
        DeValue::Datetime(_) => "a date",
        DeValue::Array(_) => "a list",
        DeValue::Table(_) => "a table",
    }
}

/// A table being read: every key asked for is marked, and `finish` reports the rest.
pub(crate) struct Table<'t, 'i> {
    span: Range<usize>,
    entries: &'t DeTable<'i>,
    what: String,
    known: &'static [&'static str],
    used: BTreeSet<&'static str>,
}

impl<'t, 'i> Table<'t, 'i> {
    pub(crate) fn new(
        span: Range<usize>,
        entries: &'t DeTable<'i>,
        what: impl Into<String>,
        known: &'static [&'static str],
    ) -> Self {
        Self {
            span,
            entries,
            what: what.into(),
            known,
            used: BTreeSet::new(),
        }
    }

    /// Reads `node` as a table, or reports that it is not one.
    pub(crate) fn from_node(
        d: &mut Diagnostics<'_>,
        node: &'t Node<'i>,
        what: impl Into<String>,
        known: &'static [&'static str],
    ) -> Option<Self> {
        let what = what.into();
        match node.get_ref() {
            DeValue::Table(t) => Some(Self::new(node.span(), t, what, known)),
            other => {
                d.error(
                    &node.span(),
                    format!("{what} must be a table, not {}", type_name(other)),
                );
                None
            }
        }
    }

    pub(crate) fn span(&self) -> Range<usize> {
        self.span.clone()
    }

    /// Names the table in later messages, once its id is known.
    pub(crate) fn rename(&mut self, what: String) {
        self.what = what;
    }

    fn mark(&mut self, key: &'static str) {
        debug_assert!(self.known.contains(&key), "{key} is not a known key");
        self.used.insert(key);
    }

    pub(crate) fn opt(&mut self, key: &'static str) -> Option<&'t Node<'i>> {
        self.mark(key);
        self.entries.get(key)
    }

    pub(crate) fn req(
        &mut self,
        d: &mut Diagnostics<'_>,
        key: &'static str,
    ) -> Option<&'t Node<'i>> {
        let found = self.opt(key);
        if found.is_none() {
            d.error(
                &self.span,
                format!("{} is missing the required key `{key}`", self.what),
            );
        }
        found
    }

    /// Reports every key that was never asked for.
    pub(crate) fn finish(self, d: &mut Diagnostics<'_>) {
        for (key, _) in self.entries.iter() {
            if !self.known.contains(&key.get_ref().as_ref()) {
                let expected = self.known.join("`, `");
                d.error(
                    &key.span(),
                    format!(
                        "unknown key `{}` in {}; expected one of `{expected}`",
                        key.get_ref(),
                        self.what
                    ),
                );
            }
        }
    }

    /// The table's own entries, for tables keyed by user-chosen names.
    pub(crate) fn entries(&self) -> &'t DeTable<'i> {
        self.entries
    }
}

pub(crate) fn as_str<'a>(
    d: &mut Diagnostics<'_>,
    node: &'a Node<'_>,
    what: &str,
) -> Option<&'a str> {
    match node.get_ref() {
        DeValue::String(s) => Some(s.as_ref()),
        other => {
            d.error(
                &node.span(),
                format!("{what} must be a string, not {}", type_name(other)),
            );
            None
        }
    }
}

pub(crate) fn as_bool(d: &mut Diagnostics<'_>, node: &Node<'_>, what: &str) -> Option<bool> {
    match node.get_ref() {
        DeValue::Boolean(b) => Some(*b),
        other => {
            d.error(
                &node.span(),
                format!("{what} must be true or false, not {}", type_name(other)),
            );
            None
        }
    }
}

pub(crate) fn as_int(d: &mut Diagnostics<'_>, node: &Node<'_>, what: &str) -> Option<i64> {
    match node.get_ref() {
        DeValue::Integer(i) => match i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()) {
            Ok(v) => Some(v),
            Err(_) => {
                d.error(&node.span(), format!("{what} is too large"));
                None
            }
        },
        other => {
            d.error(
                &node.span(),
                format!("{what} must be a whole number, not {}", type_name(other)),
            );
            None
        }
    }
}

/// A whole or decimal number.
pub(crate) fn as_number(d: &mut Diagnostics<'_>, node: &Node<'_>, what: &str) -> Option<f64> {
    match node.get_ref() {
        DeValue::Integer(_) => as_int(d, node, what).map(|v| v as f64),
        DeValue::Float(f) => match f.as_str().replace('_', "").parse::<f64>() {
            Ok(v) if v.is_finite() => Some(v),
            _ => {
                d.error(&node.span(), format!("{what} must be a finite number"));
                None
            }
        },
        other => {
            d.error(
                &node.span(),
                format!("{what} must be a number, not {}", type_name(other)),
            );
            None
        }
    }
}

pub(crate) fn as_array<'a, 'i>(
    d: &mut Diagnostics<'_>,
    node: &'a Node<'i>,
    what: &str,
) -> Option<&'a DeArray<'i>> {
    match node.get_ref() {
        DeValue::Array(a) => Some(a),
        other => {
            d.error(
                &node.span(),
                format!("{what} must be a list, not {}", type_name(other)),
            );
            None
        }
    }
}

/// Converts a TOML value to JSON, for example answers (which go through the same parser as a
/// rider's answers).
pub(crate) fn to_json(node: &DeValue<'_>) -> serde_json::Value {
    use serde_json::Value as J;
    match node {
        DeValue::String(s) => J::String(s.to_string()),
        DeValue::Integer(i) => i64::from_str_radix(&i.as_str().replace('_', ""), i.radix())
            .map(J::from)
            .unwrap_or(J::Null),
        DeValue::Float(f) => f
            .as_str()
            .replace('_', "")
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(J::Null, J::Number),
        DeValue::Boolean(b) => J::Bool(*b),
        DeValue::Datetime(dt) => J::String(dt.to_string()),
        DeValue::Array(a) => J::Array(a.iter().map(|v| to_json(v.get_ref())).collect()),
        DeValue::Table(t) => J::Object(
            t.iter()
                .map(|(k, v)| (k.get_ref().to_string(), to_json(v.get_ref())))
                .collect(),
        ),
    }
}
