//! The pages as data: one askama template per page (in `templates/`), each filled from a plain
//! view model so the templates stay free of logic. Everything the rider reads comes from
//! Fluent (`Tr`) or from the questionnaire file's localized text.

use askama::Template;

use crate::i18n::{Lang, Tr};
use crate::questionnaire::{Questionnaire, Tier};
use crate::screening::{CrisisLineView, ScreeningResponse};

/// What every page has: language, title, assets and the language switcher.
#[derive(Debug)]
pub struct Base {
    pub t: Tr,
    pub title: String,
    pub css: String,
    /// The script, only on pages that use one.
    pub js: Option<String>,
    pub home: String,
    pub switcher: Switcher,
}

impl Base {
    pub fn html_lang(&self) -> &'static str {
        self.t.lang().code()
    }
}

/// The language switcher: links on pages that can be fetched again, a small form on pages that
/// answer a form (the result), so switching language keeps the rider on the same result.
#[derive(Debug)]
pub struct Switcher {
    pub links: Vec<LangOption>,
    pub form: Option<SwitchForm>,
}

#[derive(Debug)]
pub struct LangOption {
    pub code: &'static str,
    pub name: &'static str,
    pub href: String,
    pub current: bool,
}

#[derive(Debug)]
pub struct SwitchForm {
    pub action: String,
    pub csrf: String,
    pub token: String,
    pub view: &'static str,
}

impl Switcher {
    /// Links to `path` with `?lang=` (and the other `params`, which must be URL-safe).
    pub fn links(current: Lang, path: &str, params: &[(&str, &str)]) -> Switcher {
        let links = Lang::ALL
            .into_iter()
            .map(|l| {
                let mut href = format!("{path}?lang={}", l.code());
                for (k, v) in params {
                    href.push_str(&format!("&{k}={v}"));
                }
                LangOption {
                    code: l.code(),
                    name: l.native_name(),
                    href,
                    current: l == current,
                }
            })
            .collect();
        Switcher { links, form: None }
    }

    pub fn form(current: Lang, form: SwitchForm) -> Switcher {
        let mut s = Switcher::links(current, "/", &[]);
        s.form = Some(form);
        s
    }
}

// ---- the list of screenings -------------------------------------------------------------

#[derive(Debug)]
pub struct IndexEntry {
    pub href: String,
    pub title: String,
    pub minutes: Option<String>,
    pub recommended: bool,
}

#[derive(Template, Debug)]
#[template(path = "index.html")]
pub struct IndexPage {
    pub base: Base,
    pub entries: Vec<IndexEntry>,
}

// ---- the form ---------------------------------------------------------------------------

#[derive(Debug)]
pub struct ChoiceView {
    pub input_id: String,
    pub value: String,
    pub label: String,
    pub checked: bool,
}

#[derive(Debug)]
pub struct ItemView {
    pub id: String,
    /// Questions asked of everyone are numbered; follow-up questions (`show_if`) are not, so
    /// the numbers do not jump when a follow-up is hidden.
    pub number: Option<usize>,
    pub text: String,
    /// The `show_if` expression, for the page's script (the server decides in the end).
    pub show_if: Option<String>,
    pub choices: Vec<ChoiceView>,
    pub error: Option<String>,
}

#[derive(Debug)]
pub struct SectionView {
    pub title: Option<String>,
    pub items: Vec<ItemView>,
}

#[derive(Debug)]
pub struct ErrorLink {
    pub href: String,
    pub text: String,
}

#[derive(Template, Debug)]
#[template(path = "form.html")]
pub struct FormPage {
    pub base: Base,
    pub title: String,
    pub instructions: String,
    pub action: String,
    pub csrf: String,
    pub key: String,
    pub site: Option<String>,
    pub total: usize,
    pub answered: usize,
    pub sections: Vec<SectionView>,
    pub error_links: Vec<ErrorLink>,
    pub general_errors: Vec<String>,
    /// Crisis lines at the very top: the form came back and the answers sent score red.
    pub crisis: Vec<CrisisLineView>,
    /// The hotline under the problems, when the form came back and the answers are not red.
    pub hotline: Vec<CrisisLineView>,
    /// The rider has seen the prompt about sensitive questions: the next send is accepted as
    /// it is, and the script takes unanswered for what the server does (a refusal).
    pub decided: bool,
    /// The gentle prompt, with links to the questions left unanswered.
    pub prompt: Option<SoftPromptView>,
    /// Where the script keeps the answers on the phone while the rider fills the form
    /// (`<id>@<version>`: answers of another version are never put back).
    pub storage_key: String,
    /// Every crisis line, for the panel the script shows at once when the network drops at
    /// send (hidden otherwise; without JavaScript the server's pages show them).
    pub offline: Vec<CrisisLineView>,
}

/// What `form_parts` is given for the prompt: its text and the unanswered items' ids.
#[derive(Debug)]
pub struct SoftPrompt {
    pub text: String,
    pub items: Vec<String>,
}

#[derive(Debug)]
pub struct SoftPromptView {
    pub text: String,
    pub links: Vec<ErrorLink>,
}

impl FormPage {
    pub fn has_errors(&self) -> bool {
        !self.error_links.is_empty() || !self.general_errors.is_empty()
    }

    pub fn errors_title(&self) -> String {
        let n = self.error_links.len().max(self.general_errors.len());
        self.base
            .t
            .tr_n("form-errors-title", "count", i64::try_from(n).unwrap_or(0))
    }
}

/// The form's answers as the rider left them, and the problems found, by item id.
#[derive(Debug, Default)]
pub struct Kept<'a> {
    pub values: Vec<(&'a str, &'a str)>,
    pub item_errors: Vec<(String, String)>,
    pub general_errors: Vec<String>,
}

impl Kept<'_> {
    fn value(&self, item: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(k, v)| *k == item && !v.trim().is_empty())
            .map(|(_, v)| v.trim())
    }
}

/// Everything the form page needs besides the questionnaire.
#[derive(Debug)]
pub struct FormParts {
    pub base: Base,
    pub csrf: String,
    pub key: String,
    pub site: Option<String>,
    pub crisis: Vec<CrisisLineView>,
    pub hotline: Vec<CrisisLineView>,
    pub decided: bool,
    pub prompt: Option<SoftPrompt>,
    /// Every crisis line, for the script's offline panel.
    pub offline: Vec<CrisisLineView>,
}

pub fn form_page(q: &Questionnaire, parts: FormParts, kept: &Kept<'_>) -> FormPage {
    let t = parts.base.t;
    let locale = crate::screening::pick_locale(q, Some(t.lang().code()));
    let text = |l: &crate::questionnaire::Localized| l.get(&locale, &q.default_locale).to_string();
    let mut sections: Vec<SectionView> = Vec::new();
    let mut current: Option<&str> = None;
    let mut error_links = Vec::new();
    let mut answered = 0;
    let mut prompt_links = Vec::new();
    let mut asked = 0;
    let mut numbered = 0;
    for item in &q.items {
        let number = item.show_if.is_none().then(|| {
            numbered += 1;
            numbered
        });
        let section = item.section.as_deref();
        if sections.is_empty() || section != current {
            current = section;
            let title = section
                .and_then(|s| q.sections.iter().find(|x| x.id == s))
                .map(|s| text(&s.title));
            sections.push(SectionView {
                title,
                items: Vec::new(),
            });
        }
        if let Some(p) = &parts.prompt
            && p.items.contains(&item.id)
        {
            prompt_links.push(ErrorLink {
                href: format!("#item-{}", item.id),
                text: match number {
                    Some(n) => t.tr_n("form-error-link", "number", i64::try_from(n).unwrap_or(0)),
                    None => text(&item.text),
                },
            });
        }
        let value = kept.value(&item.id);
        if value.is_some() {
            answered += 1;
        }
        // Questions asked: of everyone, and follow-ups already answered (the script counts
        // a follow-up once an earlier answer calls for it).
        if item.show_if.is_none() || value.is_some() {
            asked += 1;
        }
        let error = kept
            .item_errors
            .iter()
            .find(|(id, _)| *id == item.id)
            .map(|(_, m)| m.clone());
        if error.is_some() {
            error_links.push(ErrorLink {
                href: format!("#item-{}", item.id),
                text: match number {
                    Some(n) => t.tr_n("form-error-link", "number", i64::try_from(n).unwrap_or(0)),
                    None => {
                        let text = text(&item.text);
                        let mut short: String = text.chars().take(24).collect();
                        if short.len() < text.len() {
                            short.push('…');
                        }
                        short
                    }
                },
            });
        }
        let choices = q
            .scale_of(item)
            .choices
            .iter()
            .map(|c| {
                let v = c.value.to_string();
                ChoiceView {
                    input_id: format!("{}-{}", item.id, v),
                    checked: value == Some(v.as_str()),
                    label: text(&c.label),
                    value: v,
                }
            })
            .collect();
        if let Some(s) = sections.last_mut() {
            s.items.push(ItemView {
                id: item.id.clone(),
                number,
                text: text(&item.text),
                show_if: item.show_if.as_ref().map(|e| e.source().to_string()),
                choices,
                error,
            });
        }
    }
    FormPage {
        title: text(&q.title),
        instructions: text(&q.instructions),
        action: format!("/s/{}", q.id),
        csrf: parts.csrf,
        key: parts.key,
        site: parts.site,
        total: asked,
        answered,
        sections,
        error_links,
        general_errors: kept.general_errors.clone(),
        crisis: parts.crisis,
        hotline: parts.hotline,
        decided: parts.decided,
        prompt: parts.prompt.map(|p| SoftPromptView {
            text: p.text,
            links: prompt_links,
        }),
        storage_key: format!("{}@{}", q.id, q.version),
        offline: parts.offline,
        base: parts.base,
    }
}

// ---- the result -------------------------------------------------------------------------

#[derive(Debug)]
pub struct LinkView {
    pub title: String,
    pub url: String,
    pub kind: Option<String>,
}

#[derive(Debug, Default)]
pub struct ContactForm {
    pub action: String,
    pub csrf: String,
    pub token: String,
    pub phone: String,
    pub name: String,
    pub consent: bool,
    pub phone_error: Option<String>,
    pub name_error: Option<String>,
    pub consent_error: Option<String>,
    pub retention_days: i64,
}

impl ContactForm {
    pub fn has_errors(&self) -> bool {
        self.phone_error.is_some() || self.name_error.is_some() || self.consent_error.is_some()
    }
}

#[derive(Template, Debug)]
#[template(path = "result.html")]
pub struct ResultPage {
    pub base: Base,
    /// Crisis lines at the very top (the most serious results, and failures).
    pub urgent: bool,
    pub crisis: Vec<CrisisLineView>,
    /// The message's first line.
    pub message: String,
    /// Its further lines, shown as short steps (a file writes them one per line).
    pub steps: Vec<String>,
    pub resources: Vec<LinkView>,
    /// The contact form, when the result offers one and this browser may use it.
    pub contact: Option<ContactForm>,
    /// The result offers a contact but this browser has no token for it (a replayed request).
    pub contact_unavailable: bool,
    /// A class for the page's accent colour (never shown as text).
    pub accent: &'static str,
    /// Said above the result when a form of this page was not accepted as sent.
    pub notice: Option<String>,
    /// On the most serious results: when a counselor calls, and from which number.
    pub callback_hint: Option<String>,
    /// On the mildest results: the hotline, small, for a rider who wants to talk anyway.
    pub small_hotline: Vec<CrisisLineView>,
    /// On the mildest results the contact form is folded (a `<details>`), smaller.
    pub contact_folded: bool,
    /// The rider's private link to withdraw consent and delete their contact details.
    pub withdraw: Option<String>,
}

pub fn result_page(
    base: Base,
    response: &ScreeningResponse,
    contact: Option<ContactForm>,
) -> ResultPage {
    let t = base.t;
    let tier = response.outcome.tier;
    // A `tel:` resource for a number already shown as a crisis line would say it twice.
    let resources = response
        .resources
        .iter()
        .filter(|r| {
            !r.url
                .strip_prefix("tel:")
                .is_some_and(|n| response.crisis_lines.iter().any(|l| l.number == n))
        })
        .map(|r| {
            let key = format!("kind-{}", r.kind);
            LinkView {
                title: r.title.clone(),
                url: r.url.clone(),
                kind: t.has(&key).then(|| t.tr(&key)),
            }
        })
        .collect();
    let lines: Vec<String> = response
        .message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    ResultPage {
        urgent: tier == Tier::Red,
        crisis: response.crisis_lines.clone(),
        message: lines.first().cloned().unwrap_or_default(),
        steps: lines.into_iter().skip(1).collect(),
        resources,
        contact_unavailable: response.contact_offer && contact.is_none(),
        contact_folded: tier == Tier::Green,
        contact,
        withdraw: None,
        accent: match tier {
            Tier::Green => "accent-calm",
            Tier::Yellow => "accent-care",
            Tier::Red => "accent-urgent",
        },
        notice: None,
        callback_hint: None,
        small_hotline: Vec::new(),
        base,
    }
}

#[derive(Template, Debug)]
#[template(path = "thanks.html")]
pub struct ThanksPage {
    pub base: Base,
    pub urgent: bool,
    pub callback_hint: Option<String>,
    pub crisis: Vec<CrisisLineView>,
    pub already: bool,
    /// The rider's private link to withdraw consent and delete their contact details.
    pub withdraw: String,
}

// ---- the rider's own data -----------------------------------------------------------------

/// The form of the withdraw page.
#[derive(Debug)]
pub struct WithdrawForm {
    pub action: String,
    pub csrf: String,
    pub token: String,
}

/// `/r/{id}/withdraw`: what withdrawing does and a button (`form`), or what happened.
#[derive(Template, Debug)]
#[template(path = "withdraw.html")]
pub struct WithdrawPage {
    pub base: Base,
    pub heading: String,
    pub body: String,
    pub notice: Option<String>,
    pub form: Option<WithdrawForm>,
    pub hotline: Vec<CrisisLineView>,
}

// ---- errors -----------------------------------------------------------------------------

#[derive(Template, Debug)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub base: Base,
    pub heading: String,
    pub body: String,
    /// Crisis lines first, when the failure may have kept a result from the rider.
    pub crisis: Vec<CrisisLineView>,
    /// The hotline, below the text, when the crisis lines are not at the top.
    pub hotline: Vec<CrisisLineView>,
    pub back: Option<(String, String)>,
}
