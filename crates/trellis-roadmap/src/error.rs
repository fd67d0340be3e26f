//! Why an import was refused. Every variant names a 1-based line so a person can fix the file.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// NUL or another control character that text files do not contain.
    #[error(
        "line {line}, column {column}: control character U+{code:04X}; this is not a text file"
    )]
    NotText {
        line: usize,
        column: usize,
        code: u32,
    },

    #[error("line {line}, column {column}: invalid UTF-8 (byte offset {offset})")]
    InvalidUtf8 {
        line: usize,
        column: usize,
        offset: usize,
    },

    /// "Day 5-3", "Weeks 14-11".
    #[error("line {line}: {what} range {from}-{to} runs backwards")]
    BackwardsRange {
        line: usize,
        what: &'static str,
        from: u32,
        to: u32,
    },

    #[error("line {line}: tracker table row has {found} cells but the header has {expected}")]
    TableCells {
        line: usize,
        expected: usize,
        found: usize,
    },

    /// Nothing that looks like a roadmap: no phase and no week headings. `line` is the last line
    /// read, i.e. the whole document was searched.
    #[error("no phase or week headings found (read to line {line}); is this a roadmap?")]
    NoPhases { line: usize },
}

impl ParseError {
    pub fn line(&self) -> usize {
        match *self {
            ParseError::NotText { line, .. }
            | ParseError::InvalidUtf8 { line, .. }
            | ParseError::BackwardsRange { line, .. }
            | ParseError::TableCells { line, .. }
            | ParseError::NoPhases { line } => line,
        }
    }
}
