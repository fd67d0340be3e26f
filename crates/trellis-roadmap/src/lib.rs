//! Markdown learning-roadmap import and export, with mojibake repair.
//!
//! A pure library: no I/O, no web or database types. [`parse`] / [`parse_bytes`] turn a markdown
//! roadmap into a [`Roadmap`]; [`export`] writes one back in the same layout with statuses
//! filled in from a caller's lookup.
//!
//! # What is recognised
//!
//! * Phases: headings `Phase N: Title (Weeks A-B)` at any level, bold or not.
//! * Week sections: `Week N: Title` / `Weeks A-B: Title` headings inside a phase (any deeper or
//!   equal level). Week sections before any phase go into an implicit Phase 1, with a warning.
//! * Items: top-level bullets `**Day 3-4**: text` (or `Day 3: text`) are Day items; in a section
//!   without Day lines, plain bullets are items too. Sub-bullets become the item's notes, and
//!   their links its resources. A leading ✅/🚧/❌/⏭️ or `[x]` sets the item's status.
//! * Goals: `**Goal**: ...` anywhere in a phase (the first one; later ones are notes).
//! * Sections by exact heading name: "Progress Tracker", "Resources", "Project Ideas", "Notes"
//!   (and a few synonyms). Deeper headings inside them caption tables, title resource groups
//!   and start ideas.
//! * Tracker tables: any table whose header has Task and Status columns (Week optional, extra
//!   columns kept). Status cells: empty = not started, ✅ done, 🚧 in progress (`Learning`),
//!   ❌ not done (`Pending`), ⏭️ skipped; the words ("done", "in progress", …) work too.
//!   Tables are kept grouped ([`TrackerTable`]) as the document groups them.
//! * Everything else is kept as notes of the nearest enclosing node (item, week, phase, idea)
//!   or of the document, so nothing disappears. Fenced code and other tables are kept with
//!   their markup.
//!
//! # Errors and warnings
//!
//! Errors refuse the whole import ([`ParseError`], always with a line): NUL or other control
//! characters (not a text file), invalid UTF-8 ([`parse_bytes`]), backwards ranges ("Day 5-3",
//! "Weeks 14-11", a tracker Week cell "4-2"), a tracker row whose cell count differs from its
//! header, and a document with no phase or week heading at all (which includes an empty one).
//! These mean the file is not what it claims to be, or a person must decide what was meant.
//!
//! Warnings ([`Warning`], with a line) keep the import: weeks of a phase's declared range with
//! no section, sections outside the range or overlapping each other, weeks between phases that
//! belong to neither, duplicate phase numbers, empty sections, an unrecognised status cell
//! (counted as not started), and the implicit phase. A plan with a hole is still a plan.
//!
//! # Keys
//!
//! Every item and tracker row gets a key built from the structure, not from positions:
//! `p1-w3-d4` (phase 1, week 3, Day 4), `p1-w1-d3-4` (Days 3-4), `p3-w11-14-b2` (second bullet
//! of Weeks 11-14), `p1-w1-t2` (second tracker row for week 1 in Phase 1's table). Duplicates get
//! `.2`, `.3`. A web app stores per-user progress by key and passes it to [`export`]; see
//! [`Roadmap::assign_keys`].
//!
//! # Round trip
//!
//! `parse(&export(&r, &|_| None))` has the same structure, keys and statuses as `r`. The export
//! normalises layout: headings get the seed's bold style, each section's notes follow its items,
//! the tracker and resource sections are written after the phases, document notes go under a
//! `## Notes` heading, and `repaired_encoding` is not written (the export is clean UTF-8).
//! Titles are plain text (bold markers are dropped on import). Tracker tables are stored in the
//! order the export writes them (see [`Roadmap::tracker`]). Line numbers and warnings are
//! recomputed on import.
//!
//! # Not supported
//!
//! Setext (underlined) headings, tables without a leading `|`, and HTML blocks are read as plain
//! text (and kept as notes). Mojibake is repaired per document, choosing one encoding.

mod error;
mod export;
mod model;
mod mojibake;
mod parser;
mod text;
mod validate;

pub use error::ParseError;
pub use export::export;
pub use model::{
    Counts, Idea, Item, ItemKind, Link, Phase, Resource, ResourceGroup, Roadmap, Status, Summary,
    TrackerRow, TrackerTable, Warning, WeekSection,
};
pub use mojibake::{Encoding, repair_mojibake};

/// Parses a markdown roadmap, repairing mojibake first.
pub fn parse(input: &str) -> Result<Roadmap, ParseError> {
    reject_controls(input)?;
    let input = input.strip_prefix('\u{FEFF}').unwrap_or(input);
    let (text, encoding) = repair_mojibake(input);
    // A BOM that was itself mangled ("ï»¿") only shows up after repair.
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(&text);
    let mut roadmap = parser::parse_text(text)?;
    roadmap.repaired_encoding = encoding;
    Ok(roadmap)
}

/// Parses raw file contents: strips a UTF-8 byte order mark and refuses binary or non-UTF-8
/// data with the position of the first bad byte.
pub fn parse_bytes(bytes: &[u8]) -> Result<Roadmap, ParseError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    // Checked before UTF-8 so a binary file is called binary rather than "invalid UTF-8".
    if let Some(offset) = bytes.iter().position(|&b| b == 0) {
        let (line, column) = position(bytes, offset);
        return Err(ParseError::NotText {
            line,
            column,
            code: 0,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let offset = e.valid_up_to();
        let (line, column) = position(bytes, offset);
        ParseError::InvalidUtf8 {
            line,
            column,
            offset,
        }
    })?;
    parse(text)
}

/// Tab, line feed, carriage return and form feed are the only control characters text files
/// carry; anything else below 0x20 means binary data.
fn reject_controls(text: &str) -> Result<(), ParseError> {
    let bytes = text.as_bytes();
    match bytes
        .iter()
        .position(|&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0C))
    {
        Some(offset) => {
            let (line, column) = position(bytes, offset);
            Err(ParseError::NotText {
                line,
                column,
                code: u32::from(bytes[offset]),
            })
        }
        None => Ok(()),
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn position(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset];
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    // Lossy decoding counts each invalid byte as one column, as an editor shows it.
    let column = 1 + String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count();
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = "## Phase 1: Start (Week 1)\n\n### Week 1: Go\n- **Day 1**: begin\n";

    #[test]
    fn a_byte_order_mark_is_ignored() {
        let mut bytes = b"\xEF\xBB\xBF".to_vec();
        bytes.extend_from_slice(SMALL.as_bytes());
        assert_eq!(parse_bytes(&bytes).unwrap().counts().items, 1);
        assert_eq!(
            parse(&format!("\u{FEFF}{SMALL}")).unwrap().counts().items,
            1
        );
    }

    #[test]
    fn invalid_utf8_is_an_error_with_its_position() {
        let mut bytes = SMALL.as_bytes().to_vec();
        bytes.extend_from_slice(b"- caf\xE9 au lait\n");
        let err = parse_bytes(&bytes).unwrap_err();
        assert_eq!(
            err,
            ParseError::InvalidUtf8 {
                line: 5,
                column: 6,
                offset: SMALL.len() + 5
            }
        );
        assert_eq!(err.line(), 5);
    }

    #[test]
    fn nul_bytes_mean_not_text() {
        let err = parse_bytes(b"## Phase 1\n\x89PNG\x00\x00").unwrap_err();
        assert_eq!(
            err,
            ParseError::NotText {
                line: 2,
                column: 5,
                code: 0
            }
        );
        assert!(err.to_string().contains("not a text file"));
    }

    #[test]
    fn other_control_characters_mean_not_text_too() {
        let err = parse("## Phase 1\n\n### Week 1\n- a\u{1}b\n").unwrap_err();
        assert_eq!(
            err,
            ParseError::NotText {
                line: 4,
                column: 4,
                code: 1
            }
        );
    }

    #[test]
    fn tabs_crlf_and_form_feeds_are_text() {
        let text = "## Phase 1: A\r\n\r\n### Week 1\r\n-\tDay 1: tab\r\n\u{c}\r\n";
        let r = parse(text).unwrap();
        assert_eq!(r.counts().day_items, 1);
        assert_eq!(r.items().next().unwrap().text, "tab");
    }

    #[test]
    fn mojibake_is_repaired_before_parsing_and_reported() {
        let r = parse("## Phase 1: It‚Äôs (Week 1)\n### Week 1\n- **Day 1**: ‚úÖ done\n").unwrap();
        assert_eq!(r.repaired_encoding, Some(Encoding::MacRoman));
        assert_eq!(r.phases[0].title, "It’s");
        assert_eq!(r.items().next().unwrap().status, Status::Done);
    }
}
