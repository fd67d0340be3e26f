//! Reading an uploaded dataset: a CSV file with a `text` column and an optional `label` column.
//!
//! All or nothing: a file with any bad row is refused whole, with every problem listed by line number (up
//! to [`MAX_REPORTED`]), so a user fixes the file once instead of finding half of it stored.

use super::MAX_CHARS;

/// Problems listed before the rest are summarized.
pub const MAX_REPORTED: usize = 20;

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Line in the file where the record starts (the header is line 1).
    pub line: i32,
    pub text: String,
    /// `Some(true)` positive, `Some(false)` negative, `None` unlabelled.
    pub label: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub rows: Vec<Row>,
    pub labeled: usize,
    pub positive: usize,
}

/// Reads a label the way people write them in spreadsheets; empty is "unlabelled".
pub fn parse_label(raw: &str) -> Result<Option<bool>, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "positive" | "pos" | "1" | "+1" | "+" | "true" => Ok(Some(true)),
        "negative" | "neg" | "0" | "-1" | "-" | "false" => Ok(Some(false)),
        _ => Err(format!(
            "label `{}` is not positive or negative (or 1/0)",
            raw.trim()
        )),
    }
}

/// Decodes and parses `bytes`; on failure returns the problems, each naming its line where it has one.
pub fn parse(bytes: &[u8], max_rows: usize) -> Result<Parsed, Vec<String>> {
    let text = decode(bytes).map_err(|e| vec![e])?;
    if text.trim().is_empty() {
        return Err(vec!["is empty".into()]);
    }
    let first_line = text.lines().next().unwrap_or("");
    // Spreadsheets in many locales save `;`-separated "CSV"; tabs come from TSV exports.
    let delimiter = if first_line.contains(',') {
        b','
    } else if first_line.contains(';') {
        b';'
    } else if first_line.contains('\t') {
        b'\t'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| vec![format!("line 1: {}", csv_message(&e))])?
        .clone();
    let names: Vec<String> = headers
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let Some(text_col) = names.iter().position(|n| n == "text") else {
        return Err(vec![format!(
            "has no `text` column: the first line must name the columns, e.g. `text,label` (found {})",
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )]);
    };
    let label_col = names.iter().position(|n| n == "label");

    let mut rows = Vec::new();
    let mut problems = Vec::new();
    let mut extra = 0usize;
    let mut note = |problems: &mut Vec<String>, msg: String| {
        if problems.len() < MAX_REPORTED {
            problems.push(msg);
        } else {
            extra += 1;
        }
    };
    let (mut labeled, mut positive) = (0, 0);
    let mut lines = Lines::new(text.as_bytes());
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| lines.at(p.byte())).unwrap_or(0);
                note(&mut problems, format!("line {line}: {}", csv_message(&e)));
                continue;
            }
        };
        let line = record.position().map(|p| lines.at(p.byte())).unwrap_or(0) as i32;
        if record.iter().all(|f| f.trim().is_empty()) {
            continue; // blank lines at the end of spreadsheet exports
        }
        if rows.len() >= max_rows {
            return Err(vec![format!(
                "has more than {max_rows} rows (the limit per dataset)"
            )]);
        }
        let text = record.get(text_col).unwrap_or("").trim().to_string();
        if text.is_empty() {
            note(&mut problems, format!("line {line}: text is empty"));
            continue;
        }
        // PostgreSQL cannot store NUL; refuse it on every database alike.
        if text.contains('\0') {
            note(
                &mut problems,
                format!("line {line}: text contains a NUL character"),
            );
            continue;
        }
        if text.chars().count() > MAX_CHARS {
            note(
                &mut problems,
                format!("line {line}: text is longer than {MAX_CHARS} characters"),
            );
            continue;
        }
        let raw_label = label_col.and_then(|c| record.get(c)).unwrap_or("");
        let label = match parse_label(raw_label) {
            Ok(l) => l,
            Err(msg) => {
                note(&mut problems, format!("line {line}: {msg}"));
                continue;
            }
        };
        if let Some(l) = label {
            labeled += 1;
            positive += usize::from(l);
        }
        rows.push(Row { line, text, label });
    }
    if extra > 0 {
        problems.push(format!("…and {extra} more problems"));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    if rows.is_empty() {
        return Err(vec!["has a header but no rows".into()]);
    }
    Ok(Parsed {
        rows,
        labeled,
        positive,
    })
}

/// UTF-8, with or without a byte-order mark; anything else is named so the user knows how to re-save.
/// Line numbers from byte offsets. The csv crate counts lines itself, but in a file that mixes CRLF and LF
/// endings (or ends lines with a lone CR) two records can get the same number, and rows are stored by line.
struct Lines<'a> {
    text: &'a [u8],
    /// Offset up to which line breaks are counted, and the line that offset is on.
    offset: usize,
    line: u64,
}

impl<'a> Lines<'a> {
    fn new(text: &'a [u8]) -> Self {
        Lines {
            text,
            offset: 0,
            line: 1,
        }
    }

    /// The line of the record at `offset`: one more than the line breaks before it (LF, CRLF or a lone CR).
    /// Records come in order, so each call only counts from where the last one stopped.
    fn at(&mut self, offset: u64) -> u64 {
        let mut offset = (offset as usize).min(self.text.len());
        // After a CRLF the csv crate may give the offset of its LF; no record starts with a line break.
        while matches!(self.text.get(offset), Some(b'\r' | b'\n')) {
            offset += 1;
        }
        if offset < self.offset {
            (self.offset, self.line) = (0, 1);
        }
        for i in self.offset..offset {
            let b = self.text[i];
            if b == b'\n' || (b == b'\r' && self.text.get(i + 1) != Some(&b'\n')) {
                self.line += 1;
            }
        }
        self.offset = offset;
        self.line
    }
}

fn decode(bytes: &[u8]) -> Result<&str, String> {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err("is UTF-16 encoded; save it as CSV UTF-8".into());
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        format!(
            "is not UTF-8 (line {line} has a byte that is not); save it as CSV UTF-8 — \
             files from older spreadsheet programs are often Windows-1252 or Latin-1"
        )
    })
}

fn csv_message(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("expected {expected_len} fields like the header, found {len}"),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_keep_their_own_lines_whatever_the_line_endings() {
        for (file, want) in [
            (&b"text\r\na\r\nb\nc\n"[..], [2, 3, 4]),
            (b"text\na\rb\nc", [2, 3, 4]),
            (b"text\r\n\"two\nlines\"\r\nb\r\n\nc", [2, 4, 6]),
        ] {
            let lines: Vec<i32> = ok(file).rows.iter().map(|r| r.line).collect();
            assert_eq!(lines, want, "{:?}", String::from_utf8_lossy(file));
        }
    }

    fn ok(s: &[u8]) -> Parsed {
        parse(s, 100).unwrap()
    }

    fn err(s: &[u8]) -> Vec<String> {
        parse(s, 100).unwrap_err()
    }

    #[test]
    fn reads_text_and_labels_with_their_line_numbers() {
        let p = ok(b"text,label\n\"Great, really\",positive\nawful,0\nno idea,\n");
        assert_eq!(p.rows.len(), 3);
        assert_eq!(p.rows[0].text, "Great, really");
        assert_eq!(p.rows[0].label, Some(true));
        assert_eq!(p.rows[1].line, 3);
        assert_eq!(p.rows[1].label, Some(false));
        assert_eq!(p.rows[2].label, None);
        assert_eq!((p.labeled, p.positive), (2, 1));
    }

    #[test]
    fn a_byte_order_mark_and_extra_columns_are_fine() {
        let p = ok(b"\xEF\xBB\xBFid,Text\n1,hello\n2,world\n");
        assert_eq!(p.rows.len(), 2);
        assert_eq!(p.labeled, 0);
    }

    #[test]
    fn a_multi_line_quoted_text_keeps_the_line_where_it_starts() {
        let p = ok(b"text,label\n\"one\ntwo\",pos\nthree,neg\n");
        assert_eq!(p.rows[0].text, "one\ntwo");
        assert_eq!(p.rows[1].line, 4);
    }

    #[test]
    fn semicolons_and_tabs_are_recognized() {
        assert_eq!(ok(b"text;label\nfine;1\n").rows[0].label, Some(true));
        assert_eq!(ok(b"label\ttext\n0\tbad\n").rows[0].text, "bad");
    }

    #[test]
    fn bad_rows_are_named_by_line_and_nothing_is_returned() {
        let e = err(b"text,label\ngood,1\n,1\nfine,maybe\nx,1,extra\n");
        assert_eq!(
            e,
            vec![
                "line 3: text is empty".to_string(),
                "line 4: label `maybe` is not positive or negative (or 1/0)".to_string(),
                "line 5: expected 2 fields like the header, found 3".to_string(),
            ]
        );
    }

    #[test]
    fn other_encodings_are_refused_with_a_clear_message() {
        let e = err(b"text\ncaf\xE9\n");
        assert!(e[0].starts_with("is not UTF-8 (line 2"), "{e:?}");
        assert!(err(b"\xFF\xFEt\0e\0")[0].contains("UTF-16"));
    }

    #[test]
    fn nul_characters_in_a_text_are_named_by_line() {
        let e = err(b"text,label\nfine,1\nbad\0text,0\n");
        assert_eq!(e, vec!["line 3: text contains a NUL character".to_string()]);
    }

    #[test]
    fn a_missing_text_column_names_what_was_found() {
        let e = err(b"review,label\nok,1\n");
        assert!(e[0].contains("`review`, `label`"), "{e:?}");
    }

    #[test]
    fn row_and_emptiness_limits_hold() {
        assert!(parse(b"text\na\nb\nc\n", 2).unwrap_err()[0].contains("more than 2 rows"));
        assert_eq!(err(b""), vec!["is empty".to_string()]);
        assert_eq!(err(b"text\n"), vec!["has a header but no rows".to_string()]);
    }

    #[test]
    fn many_problems_are_summarized() {
        let mut csv = String::from("text,label\n");
        for _ in 0..30 {
            csv.push_str(",1\n");
        }
        csv.push_str("ok,1\n");
        let e = err(csv.as_bytes());
        assert_eq!(e.len(), MAX_REPORTED + 1);
        assert_eq!(e.last().unwrap(), "…and 10 more problems");
    }
}
