//! Bad files are refused whole, with a line number.

use trellis_roadmap::{ParseError, parse, parse_bytes};

const HEAD: &str = "## Phase 1: A (Weeks 1-2)\n\n### Week 1\n";

#[test]
fn a_backwards_day_range_is_an_error_at_its_line() {
    let err = parse(&format!(
        "{HEAD}- **Day 1**: ok\n- **Day 5-3**: backwards\n"
    ))
    .unwrap_err();
    assert_eq!(
        err,
        ParseError::BackwardsRange {
            line: 5,
            what: "day",
            from: 5,
            to: 3
        }
    );
    assert_eq!(err.to_string(), "line 5: day range 5-3 runs backwards");
}

#[test]
fn backwards_week_ranges_are_errors_in_headings_and_tables() {
    let err = parse("## Phase 1: A (Weeks 10-5)\n").unwrap_err();
    assert_eq!(
        err,
        ParseError::BackwardsRange {
            line: 1,
            what: "week",
            from: 10,
            to: 5
        }
    );
    let err = parse(&format!("{HEAD}- a\n### Weeks 14-11: b\n")).unwrap_err();
    assert_eq!(err.line(), 5);
    let err = parse(&format!(
        "{HEAD}- a\n\n| Week | Task | Status |\n|---|---|---|\n| 4-2 | t | |\n"
    ))
    .unwrap_err();
    assert_eq!(
        err,
        ParseError::BackwardsRange {
            line: 8,
            what: "week",
            from: 4,
            to: 2
        }
    );
}

#[test]
fn a_tracker_row_with_the_wrong_number_of_cells_is_an_error() {
    let table = "| Week | Task | Status |\n|------|------|--------|\n| 1 | ok | ✅ |\n| 2 | missing status |\n";
    let err = parse(&format!("{HEAD}- a\n\n{table}")).unwrap_err();
    assert_eq!(
        err,
        ParseError::TableCells {
            line: 9,
            expected: 3,
            found: 2
        }
    );
    assert_eq!(
        err.to_string(),
        "line 9: tracker table row has 2 cells but the header has 3"
    );
    let err = parse(&format!(
        "{HEAD}- a\n\n| Week | Task | Status |\n|---|---|\n"
    ))
    .unwrap_err();
    assert_eq!(err.line(), 7, "the delimiter row counts too");
}

#[test]
fn other_tables_with_ragged_rows_are_kept_as_notes() {
    let r = parse(&format!("{HEAD}- a\n\n| x | y |\n|---|\n| 1 |\n")).unwrap();
    assert_eq!(r.phases[0].weeks[0].notes, ["| x | y |\n|---|\n| 1 |"]);
}

#[test]
fn an_empty_document_is_an_error() {
    assert_eq!(parse("").unwrap_err(), ParseError::NoPhases { line: 1 });
    assert_eq!(
        parse(" \n\n\t\n").unwrap_err(),
        ParseError::NoPhases { line: 3 }
    );
    assert_eq!(
        parse_bytes(b"").unwrap_err(),
        ParseError::NoPhases { line: 1 }
    );
}

#[test]
fn a_document_without_phases_or_weeks_is_an_error() {
    let err = parse("# Shopping list\n\n- eggs\n- milk\n").unwrap_err();
    assert_eq!(err, ParseError::NoPhases { line: 4 });
    assert!(err.to_string().contains("no phase or week headings"));
}

#[test]
fn binary_data_is_not_text() {
    let png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR";
    let err = parse_bytes(png).unwrap_err();
    assert_eq!(
        err,
        ParseError::NotText {
            line: 3,
            column: 1,
            code: 0
        }
    );
    let err = parse("## Phase 1\n\0").unwrap_err();
    assert_eq!(
        err,
        ParseError::NotText {
            line: 2,
            column: 1,
            code: 0
        }
    );
}

#[test]
fn invalid_utf8_is_an_error_with_its_line() {
    let err = parse_bytes(b"## Phase 1\n### Week 1\n- caf\xC3\n").unwrap_err();
    assert_eq!(
        err,
        ParseError::InvalidUtf8 {
            line: 3,
            column: 6,
            offset: 27
        }
    );
}

#[test]
fn an_error_after_valid_content_yields_nothing_partial() {
    // The error is the whole result: no Roadmap is returned alongside it.
    let result = parse(&format!(
        "{HEAD}- **Day 1**: fine\n\n## Phase 2: B\n### Week 3\n- **Day 9-8**: bad\n"
    ));
    assert!(matches!(
        result,
        Err(ParseError::BackwardsRange { line: 8, .. })
    ));
}
