//! The validated, in-memory form of a questionnaire file. Every value here has passed the
//! checks in `load`, so scoring can rely on it (ids unique, scales known, cut points ordered).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use super::expr::Expr;

/// Severity of a screening, from least to most: the order is what `max` relies on.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Green,
    Yellow,
    Red,
}

impl Tier {
    pub const ALL: [Tier; 3] = [Tier::Green, Tier::Yellow, Tier::Red];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Green => "green",
            Tier::Yellow => "yellow",
            Tier::Red => "red",
        }
    }

    pub fn parse(s: &str) -> Option<Tier> {
        Tier::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl std::fmt::Display for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Text in every declared locale (checked at load).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(example = json!({"zh-CN": "做事时提不起劲或没有兴趣", "en": "Little interest or pleasure in doing things"}))]
pub struct Localized(pub(crate) BTreeMap<String, String>);

impl Localized {
    /// The text in `locale`, or in `fallback` (the file's default locale) when absent.
    pub fn get<'a>(&'a self, locale: &str, fallback: &str) -> &'a str {
        self.0
            .get(locale)
            .or_else(|| self.0.get(fallback))
            .map(String::as_str)
            .unwrap_or_default()
    }

    pub fn locales(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Choice {
    pub value: i64,
    pub label: Localized,
}

/// A named response scale.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Scale {
    pub name: String,
    pub choices: Vec<Choice>,
    pub min: i64,
    pub max: i64,
}

impl Scale {
    pub fn has_value(&self, value: i64) -> bool {
        self.choices.iter().any(|c| c.value == value)
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Section {
    pub id: String,
    pub title: Localized,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Item {
    pub id: String,
    pub text: Localized,
    /// Index into `Questionnaire::scales`.
    #[serde(skip)]
    pub scale: usize,
    #[serde(rename = "options")]
    pub scale_name: String,
    pub reverse: bool,
    pub optional: bool,
    /// A question a rider may find hard to answer (self-harm): left unanswered, the rider's
    /// form comes back once with a gentle prompt before it is accepted as it is.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sensitive: bool,
    /// A CEL expression over earlier answers; the item is asked only when it holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub show_if: Option<Expr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Sum,
    Mean,
}

/// How a score is completed when some of its items are unanswered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Complete {
    /// sum x asked / answered: the mean of the answered items stands in for the missing ones.
    Prorate,
    /// Missing items add nothing (counts such as "number of yes answers").
    Skip,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MissingRule {
    pub max: usize,
    pub complete: Complete,
    pub round: Option<u32>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Band {
    pub name: String,
    /// What staff read for the band (`label`, localized); without one, the workspace's own
    /// words for common band names, else the name.
    #[serde(skip)]
    pub label: Option<Localized>,
    /// `<score>.<band>`, the id of the reason this band gives.
    #[serde(skip)]
    pub reason_id: String,
    pub min: f64,
    pub tier: Tier,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Score {
    pub id: String,
    /// What staff read for the score (`label`, localized); see `Band::label`.
    #[serde(skip)]
    pub label: Option<Localized>,
    /// Indexes into `Questionnaire::items`.
    #[serde(skip)]
    pub items: Vec<usize>,
    pub method: Method,
    pub multiply: Option<f64>,
    pub missing: Option<MissingRule>,
    /// Lowest and highest value the score can take.
    pub range: (f64, f64),
    /// Ordered cut points; empty when the score has no bands.
    pub bands: Vec<Band>,
    /// `<score>.incomplete`, the reason id of a score that could not be computed.
    #[serde(skip)]
    pub incomplete_reason_id: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Rule {
    pub id: String,
    /// A CEL expression over item values and scores.
    #[schema(value_type = String)]
    pub when: Expr,
    pub tier: Tier,
    pub urgent: bool,
    pub reason: Localized,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Link {
    pub kind: String,
    pub title: Localized,
    pub url: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TierResources {
    pub message: Localized,
    /// Said instead of `message` when the tier comes only from sensitive questions left
    /// unanswered (a refusal counts as positive, but the rider disclosed nothing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused_message: Option<Localized>,
    pub links: Vec<Link>,
}

/// A worked example from the file, run at every load.
#[derive(Debug, Clone)]
pub struct Example {
    pub name: String,
    pub answers: serde_json::Value,
    pub tier: Tier,
    pub scores: Option<BTreeMap<String, f64>>,
    pub bands: Option<BTreeMap<String, String>>,
    pub rules: Option<Vec<String>>,
    pub urgent: Option<bool>,
    /// Byte offset of the example in the file, for error positions.
    pub(crate) offset: usize,
}

/// One loaded, validated questionnaire version.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Questionnaire {
    pub id: String,
    pub version: String,
    /// `sha256:<hex>` of the file's bytes: the identity of this exact version.
    pub content_hash: String,
    pub default_locale: String,
    pub locales: Vec<String>,
    pub title: Localized,
    /// The title as the home page lists it for riders: plain words, no acronym (optional;
    /// `title` otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plain_title: Option<Localized>,
    pub instructions: Localized,
    pub estimated_minutes: Option<u32>,
    pub sections: Vec<Section>,
    pub scales: Vec<Scale>,
    pub items: Vec<Item>,
    pub scores: Vec<Score>,
    pub rules: Vec<Rule>,
    pub resources: BTreeMap<Tier, TierResources>,
    #[serde(skip)]
    pub examples: Vec<Example>,
    /// The file's text, kept so a stored screening can always be explained by its source.
    #[serde(skip)]
    pub source: Arc<str>,
    #[serde(skip)]
    pub(crate) env: super::expr::ExprEnv,
}

impl Questionnaire {
    pub fn item(&self, id: &str) -> Option<&Item> {
        self.items.iter().find(|i| i.id == id)
    }

    pub fn item_index(&self, id: &str) -> Option<usize> {
        self.items.iter().position(|i| i.id == id)
    }

    pub fn scale_of(&self, item: &Item) -> &Scale {
        &self.scales[item.scale]
    }

    pub fn score(&self, id: &str) -> Option<&Score> {
        self.scores.iter().find(|s| s.id == id)
    }

    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }
}
