//! Every shipped questionnaire says in its header, for each locale it declares, where the
//! wording comes from, how sure we are of it, whether it is a validated translation, and under
//! what licence it may be used (the convention of questionnaires/README.md, "Sources and
//! licences"). A deployment reads these lines to know what it may show and what it must clear.

/// The fields every declared locale needs, in the order the README lists them.
const FIELDS: [&str; 4] = ["Source", "Confidence", "Validated", "Licence"];
/// The words a `Confidence` text may start with.
const CONFIDENCE: [&str; 6] = ["high", "medium-high", "medium", "low", "n/a", "mixed"];
/// The words a `Validated` text may start with.
const VALIDATED: [&str; 4] = ["yes", "no", "partly", "unconfirmed"];

/// One `# Field (locale, ...): text` entry of a header, with its continuation lines.
#[derive(Debug)]
struct Entry {
    field: String,
    locales: Vec<String>,
    text: String,
}

/// The leading comment block: the lines before the first one that does not start with `#`,
/// numbered from 1.
fn header(source: &str) -> Vec<(usize, &str)> {
    source
        .lines()
        .enumerate()
        .take_while(|(_, l)| l.starts_with('#'))
        .map(|(i, l)| (i + 1, l))
        .collect()
}

/// Parses a field line (`# Source (zh-CN, en): text`); `None` if the line is not one.
/// `Err` if it starts like one but is malformed.
fn field_line(line: &str) -> Option<Result<Entry, String>> {
    let rest = line.strip_prefix("# ")?;
    let word: String = rest.chars().take_while(char::is_ascii_alphabetic).collect();
    if word == "License" {
        return Some(Err(
            "write `Licence`, the spelling the convention uses".into()
        ));
    }
    if !FIELDS.contains(&word.as_str()) {
        return None;
    }
    let after = &rest[word.len()..];
    let malformed = || {
        Err(format!(
            "a `{word}` line must read `# {word} (<locale>, ...): <text>`"
        ))
    };
    let Some(inner) = after.strip_prefix(" (") else {
        return Some(malformed());
    };
    let Some((locales, text)) = inner.split_once("):") else {
        return Some(malformed());
    };
    Some(Ok(Entry {
        locales: locales.split(',').map(|l| l.trim().to_string()).collect(),
        text: text.trim().to_string(),
        field: word,
    }))
}

/// The problems with the header of a file that declares `declared`; empty when every declared
/// locale has exactly one non-empty entry of every field.
fn header_problems(source: &str, declared: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut entries: Vec<Entry> = Vec::new();
    // Whether the last entry may still take continuation lines.
    let mut open = false;
    for (n, line) in header(source) {
        match field_line(line) {
            Some(Ok(entry)) => {
                entries.push(entry);
                open = true;
            }
            Some(Err(why)) => {
                problems.push(format!("line {n}: {why}"));
                open = false;
            }
            None => match (line.strip_prefix("#  "), entries.last_mut()) {
                // A continuation: indented by two or more spaces after the `#`.
                (Some(more), Some(last)) if open => {
                    last.text.push(' ');
                    last.text.push_str(more.trim());
                }
                // Anything else ends the entry.
                _ => open = false,
            },
        }
    }
    for e in &entries {
        for locale in &e.locales {
            if !declared.contains(locale) {
                problems.push(format!(
                    "`{}` names the locale `{locale}`, which the file does not declare (locales: {})",
                    e.field,
                    declared.join(", ")
                ));
            }
        }
        let text = e.text.trim();
        if text.is_empty() {
            problems.push(format!(
                "{}: the `{}` entry is empty",
                e.locales.join(", "),
                e.field
            ));
            continue;
        }
        let first = text
            .split(|c: char| c.is_whitespace() || matches!(c, ':' | ',' | ';' | '.'))
            .next()
            .unwrap_or_default();
        let allowed: &[&str] = match e.field.as_str() {
            "Confidence" => &CONFIDENCE,
            "Validated" => &VALIDATED,
            _ => &[],
        };
        if !allowed.is_empty() && !allowed.contains(&first) {
            problems.push(format!(
                "{}: `{}` must start with one of {}, not `{first}`",
                e.locales.join(", "),
                e.field,
                allowed.join(", ")
            ));
        }
    }
    for locale in declared {
        for field in FIELDS {
            let count = entries
                .iter()
                .filter(|e| e.field == field && e.locales.contains(locale))
                .count();
            match count {
                0 => problems.push(format!(
                    "{locale}: no `# {field} ({locale}): ...` line in the header"
                )),
                1 => {}
                n => problems.push(format!(
                    "{locale}: {n} `{field}` entries in the header; give exactly one"
                )),
            }
        }
    }
    problems
}

/// The `locales` a questionnaire file declares.
fn declared_locales(source: &str) -> Result<Vec<String>, String> {
    let table: toml::Table = source.parse().map_err(|e| format!("not TOML: {e}"))?;
    let locales = table
        .get("locales")
        .and_then(toml::Value::as_array)
        .ok_or("no `locales` list")?;
    locales
        .iter()
        .map(|l| {
            l.as_str()
                .map(str::to_string)
                .ok_or_else(|| "a locale that is not a string".to_string())
        })
        .collect()
}

#[test]
fn every_shipped_file_names_source_confidence_validation_and_licence_per_locale() {
    let dir = crate::shipped_dir();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("the questionnaires folder")
        .map(|e| e.expect("a folder entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 9, "the nine shipped files: {files:?}");
    let mut problems = Vec::new();
    for path in &files {
        let name = format!(
            "questionnaires/{}",
            path.file_name().unwrap().to_string_lossy()
        );
        let source = std::fs::read_to_string(path).expect("read a questionnaire");
        match declared_locales(&source) {
            Ok(locales) => problems.extend(
                header_problems(&source, &locales)
                    .into_iter()
                    .map(|p| format!("{name}: {p}")),
            ),
            Err(e) => problems.push(format!("{name}: {e}")),
        }
    }
    assert!(
        problems.is_empty(),
        "headers that do not follow questionnaires/README.md, \"Sources and licences\":\n{}",
        problems.join("\n")
    );
}

fn locales(list: &[&str]) -> Vec<String> {
    list.iter().map(ToString::to_string).collect()
}

const COMPLETE: &str = "\
# X-1: an instrument.
#
# Source (zh-CN): a published text, adopted verbatim
#   (continued on an indented line).
# Confidence (zh-CN): medium: convergent copies.
# Validated (zh-CN): unconfirmed: the study's text was not seen.
# Source (zh-TW): a character conversion of zh-CN.
# Confidence (zh-TW): low.
# Validated (zh-TW): no.
# Source (en): the developers' wording.
# Confidence (en): medium-high.
# Validated (en): yes: Someone 2001.
# Licence (zh-CN, zh-TW, en): the owner: \"free\".

id = \"x1\"
";

#[test]
fn a_complete_header_passes() {
    let declared = locales(&["zh-CN", "zh-TW", "en"]);
    assert_eq!(header_problems(COMPLETE, &declared), Vec::<String>::new());
}

#[test]
fn a_header_missing_one_locale_fails_naming_that_locale() {
    let declared = locales(&["zh-CN", "zh-TW", "en"]);
    let source = COMPLETE.replace("# Source (zh-TW): a character conversion of zh-CN.\n", "");
    assert_eq!(
        header_problems(&source, &declared),
        ["zh-TW: no `# Source (zh-TW): ...` line in the header"]
    );
    // A licence line that leaves out a declared locale.
    let source = COMPLETE.replace("(zh-CN, zh-TW, en): the owner", "(zh-CN, en): the owner");
    assert_eq!(
        header_problems(&source, &declared),
        ["zh-TW: no `# Licence (zh-TW): ...` line in the header"]
    );
    // A file that declares a locale its header never mentions.
    let problems = header_problems(COMPLETE, &locales(&["zh-CN", "zh-TW", "en", "ug"]));
    assert_eq!(problems.len(), 4, "{problems:?}");
    assert!(
        problems.iter().all(|p| p.starts_with("ug: ")),
        "{problems:?}"
    );
}

#[test]
fn only_the_leading_comment_block_counts() {
    let declared = locales(&["zh-CN", "zh-TW", "en"]);
    let moved = COMPLETE.replace("# Validated (en): yes: Someone 2001.\n", "")
        + "# Validated (en): yes: Someone 2001.\n";
    assert_eq!(
        header_problems(&moved, &declared),
        ["en: no `# Validated (en): ...` line in the header"]
    );
}

#[test]
fn undeclared_locales_duplicates_empty_texts_and_unknown_words_fail() {
    let declared = locales(&["zh-CN", "zh-TW", "en"]);
    let typo = COMPLETE.replace("# Confidence (zh-TW): low.", "# Confidence (zh_TW): low.");
    let problems = header_problems(&typo, &declared);
    assert!(
        problems.iter().any(|p| p.contains("`zh_TW`"))
            && problems
                .iter()
                .any(|p| p.starts_with("zh-TW: no `# Confidence")),
        "{problems:?}"
    );

    let twice = COMPLETE.replace(
        "# Confidence (en): medium-high.",
        "# Confidence (en): medium-high.\n# Confidence (en): high.",
    );
    assert_eq!(
        header_problems(&twice, &declared),
        ["en: 2 `Confidence` entries in the header; give exactly one"]
    );

    let empty = COMPLETE.replace("# Validated (zh-TW): no.", "# Validated (zh-TW):");
    assert_eq!(
        header_problems(&empty, &declared),
        ["zh-TW: the `Validated` entry is empty"]
    );

    let vague = COMPLETE.replace("# Confidence (zh-TW): low.", "# Confidence (zh-TW): good.");
    assert_eq!(
        header_problems(&vague, &declared),
        [
            "zh-TW: `Confidence` must start with one of high, medium-high, medium, low, n/a, \
             mixed, not `good`"
        ]
    );
}

#[test]
fn malformed_field_lines_fail() {
    let declared = locales(&["zh-CN", "zh-TW", "en"]);
    let no_locale = COMPLETE.replace("# Source (en):", "# Source:");
    let problems = header_problems(&no_locale, &declared);
    assert!(
        problems.contains(
            &"line 10: a `Source` line must read `# Source (<locale>, ...): <text>`".to_string()
        ) && problems.contains(&"en: no `# Source (en): ...` line in the header".to_string()),
        "{problems:?}"
    );
    let spelling = COMPLETE.replace("# Licence (", "# License (");
    let problems = header_problems(&spelling, &declared);
    assert!(
        problems.iter().any(|p| p.contains("write `Licence`")),
        "{problems:?}"
    );
}

#[test]
fn declared_locales_are_read_from_the_file() {
    assert_eq!(
        declared_locales("id = \"x1\"\n").err(),
        Some("no `locales` list".to_string())
    );
    assert_eq!(
        declared_locales("id = \"x\"\nlocales = [\"zh-CN\", \"en\"]\n"),
        Ok(locales(&["zh-CN", "en"]))
    );
}
