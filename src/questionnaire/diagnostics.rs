//! Errors found in a questionnaire file, each with the file, line and column it points at.

use std::fmt;
use std::ops::Range;

/// One problem in a questionnaire file, printed as `path:line:col: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub path: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub col: usize,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.path, self.line, self.col, self.message
        )
    }
}

/// Collects diagnostics for one source file and turns byte offsets into line and column.
#[derive(Debug)]
pub struct Diagnostics<'s> {
    path: String,
    source: &'s str,
    line_starts: Vec<usize>,
    found: Vec<Diagnostic>,
}

impl<'s> Diagnostics<'s> {
    pub fn new(path: impl Into<String>, source: &'s str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(source.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self {
            path: path.into(),
            source,
            line_starts,
            found: Vec::new(),
        }
    }

    pub fn source(&self) -> &'s str {
        self.source
    }

    /// Line and column (both 1-based, column in characters) of a byte offset.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.source.len());
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let start = self.line_starts[line - 1];
        let col = self
            .source
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count())
            + 1;
        (line, col)
    }

    pub fn error_at(&mut self, offset: usize, message: impl Into<String>) {
        let (line, col) = self.position(offset);
        self.found.push(Diagnostic {
            path: self.path.clone(),
            line,
            col,
            message: message.into(),
        });
    }

    pub fn error(&mut self, span: &Range<usize>, message: impl Into<String>) {
        self.error_at(span.start, message);
    }

    pub fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    pub fn count(&self) -> usize {
        self.found.len()
    }

    pub fn into_vec(mut self) -> Vec<Diagnostic> {
        self.found.sort_by_key(|d| (d.line, d.col));
        self.found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters_from_one() {
        let d = Diagnostics::new("f.toml", "ab\n中文x\n");
        assert_eq!(d.position(0), (1, 1));
        assert_eq!(d.position(1), (1, 2));
        assert_eq!(d.position(3), (2, 1));
        // "中文" is 6 bytes but 2 characters.
        assert_eq!(d.position(9), (2, 3));
        assert_eq!(d.position(99), (3, 1));
    }
}
