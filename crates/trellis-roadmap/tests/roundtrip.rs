//! Property tests: generated roadmaps survive export → import, and whatever imports exports to
//! markdown that imports to the same thing.

mod common;

use common::shape;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use trellis_roadmap::{
    Idea, Item, ItemKind, Link, Phase, Resource, ResourceGroup, Roadmap, Status, TrackerRow,
    TrackerTable, WeekSection, export, parse,
};

/// Plausible words, including non-ASCII text that must not be mistaken for mojibake and
/// characters the exporter must escape. No markdown structure: no leading '#', '-', '|', no
/// "Day"/"Week"/"Phase" keywords, no colons (labels) and no brackets (links).
const WORDS: &[&str] = &[
    "learn",
    "build",
    "Django",
    "views",
    "models",
    "API",
    "deploy",
    "tests",
    "cache",
    "forms",
    "e-commerce",
    "blog",
    "naïve",
    "café",
    "it’s",
    "—",
    "🚀",
    "日本",
    "Größe",
    "admin",
    "REST",
    "async",
    "(optional)",
    "v2.0",
    "C#",
    "x/y",
    "50%",
    "user’s",
    "a|b",
    "**bold**",
    "`code`",
    "#tag",
    "*",
    "+1",
    "1.5",
    "“quoted”",
];

fn text(min: usize, max: usize) -> impl Strategy<Value = String> {
    vec(select(WORDS), min..=max).prop_map(|w| w.join(" "))
}

/// Titles are plain text in the model (headings lose their bold markers on import), and a '*'
/// at the edge of a bold label is ambiguous, so titles carry no asterisks.
fn title(min: usize, max: usize) -> impl Strategy<Value = String> {
    text(min, max).prop_map(move |t| {
        let t = t
            .replace('*', "")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if t.is_empty() && min > 0 {
            "plan".to_string()
        } else {
            t
        }
    })
}

fn status() -> impl Strategy<Value = Status> {
    select(Status::ALL.to_vec())
}

fn link() -> impl Strategy<Value = Link> {
    (text(1, 3), "[a-z]{1,8}").prop_map(|(title, slug)| Link {
        title,
        url: format!("https://example.com/{slug}"),
    })
}

fn item(days: bool) -> impl Strategy<Value = Item> {
    (
        1u32..=7,
        0u32..=2,
        text(1, 6),
        status(),
        vec(text(1, 4), 0..3),
        vec(link(), 0..3),
    )
        .prop_map(move |(from, span, text, status, notes, resources)| Item {
            key: String::new(),
            kind: if days {
                ItemKind::Day {
                    from,
                    to: from + span,
                }
            } else {
                ItemKind::Bullet
            },
            text,
            status,
            notes,
            resources,
            line: 0,
        })
}

/// A section's title, length in weeks, items and notes; week numbers are assigned by the phase.
fn week() -> impl Strategy<Value = (String, u32, Vec<Item>, Vec<String>)> {
    (title(0, 4), 1u32..=3, any::<bool>(), vec(text(1, 6), 0..2)).prop_flat_map(
        |(title, len, days, notes)| {
            vec(item(days), 0..5).prop_map(move |items| (title.clone(), len, items, notes.clone()))
        },
    )
}

type PhaseParts = (
    String,
    bool,
    Option<String>,
    Vec<String>,
    Vec<(String, u32, Vec<Item>, Vec<String>)>,
);

fn phase() -> impl Strategy<Value = PhaseParts> {
    (
        title(0, 4),
        any::<bool>(),
        option::of(text(1, 6)),
        vec(text(1, 6), 0..2),
        vec(week(), 0..4),
    )
}

/// A row's week label, task, status and extra cells.
type RowParts = (String, String, Status, Vec<String>);
/// A table's phase, caption words, extra column names and rows.
type TableParts = (Option<u32>, String, Vec<String>, Vec<RowParts>);

fn table() -> impl Strategy<Value = TableParts> {
    (option::of(1u32..=3), title(1, 3), 0usize..=2).prop_flat_map(|(phase, title, extras)| {
        let row = (
            select(vec!["1", "2", "10-12", "", "bonus"]),
            text(1, 5),
            status(),
            vec(text(0, 2), extras..=extras),
        )
            .prop_map(|(week, task, status, extra)| (week.to_string(), task, status, extra));
        (
            Just(phase),
            Just(title),
            vec(text(1, 2), extras..=extras),
            vec(row, 0..5),
        )
    })
}

fn idea() -> impl Strategy<Value = Idea> {
    (
        title(1, 4),
        vec(text(1, 6), 0..3),
        vec(text(1, 3), 0..4),
        vec(text(1, 2), 0..3),
        vec(text(1, 4), 0..2),
    )
        .prop_map(|(title, description, features, tech_stack, notes)| Idea {
            title,
            description: description.join("\n\n"),
            features,
            tech_stack,
            notes,
            line: 0,
        })
}

fn resource_group() -> impl Strategy<Value = ResourceGroup> {
    let resource = prop_oneof![
        link().prop_map(|l| Resource {
            title: l.title,
            url: Some(l.url),
            line: 0
        }),
        text(1, 4).prop_map(|t| Resource {
            title: t,
            url: None,
            line: 0
        }),
    ];
    (title(1, 3), vec(resource, 0..3)).prop_map(|(title, resources)| ResourceGroup {
        title,
        resources,
        line: 0,
    })
}

prop_compose! {
    fn roadmap()(
        title in option::of(title(1, 4)),
        intro in vec(text(1, 8), 0..2),
        phases in vec(phase(), 1..4),
        tables in vec(table(), 0..3),
        resources in vec(resource_group(), 0..3),
        project_ideas in vec(idea(), 0..3),
        notes in vec(text(1, 6), 0..2),
    ) -> Roadmap {
        let mut next_week = 1;
        let phases = phases
            .into_iter()
            .enumerate()
            .map(|(i, (title, declares_range, goal, notes, weeks))| {
                let start = next_week;
                let weeks: Vec<WeekSection> = weeks
                    .into_iter()
                    .map(|(title, len, items, notes)| {
                        let range = (next_week, next_week + len - 1);
                        next_week += len;
                        WeekSection { weeks: range, title, items, notes, line: 0 }
                    })
                    .collect();
                let end = next_week.max(start + 1) - 1;
                next_week = end + 1;
                Phase {
                    number: i as u32 + 1,
                    title,
                    week_range: declares_range.then_some((start, end)),
                    goal,
                    weeks,
                    notes,
                    line: 0,
                }
            })
            .collect();
        let tracker = tables
            .into_iter()
            .map(|(phase, words, extra_columns, rows)| TrackerTable {
                // Captions name their phase, as the seed's do; the parser reads the number back.
                title: match phase {
                    Some(n) => format!("Phase {n}: {words}"),
                    None => words,
                },
                phase,
                extra_columns,
                rows: rows
                    .into_iter()
                    .map(|(week, task, status, extra)| TrackerRow {
                        key: String::new(),
                        weeks: match week.as_str() {
                            "1" => Some((1, 1)),
                            "2" => Some((2, 2)),
                            "10-12" => Some((10, 12)),
                            _ => None,
                        },
                        week,
                        task,
                        status,
                        extra,
                        line: 0,
                    })
                    .collect(),
                line: 0,
            })
            .collect();
        let mut r = Roadmap { title, intro, phases, tracker, resources, project_ideas, notes, ..Roadmap::default() };
        r.assign_keys();
        r
    }
}

/// A status chosen from the key alone, so the test can predict it after import.
fn status_for(key: &str) -> Option<Status> {
    let sum: usize = key.bytes().map(usize::from).sum();
    (!sum.is_multiple_of(3)).then(|| Status::ALL[sum % 5])
}

proptest! {
    // No regression files: test runs must not write into the source tree.
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_generated_roadmap_survives_export_and_import(r in roadmap()) {
        let md = export(&r, &|_| None);
        let back = parse(&md).map_err(|e| TestCaseError::fail(format!("{e}\n{md}")))?;
        prop_assert_eq!(back.repaired_encoding, None);
        prop_assert_eq!(shape(&back), shape(&r), "markdown:\n{}", md);
        prop_assert_eq!(export(&back, &|_| None), md);
    }

    #[test]
    fn statuses_from_the_lookup_come_back_on_import(r in roadmap()) {
        let md = export(&r, &status_for);
        let back = parse(&md).map_err(|e| TestCaseError::fail(format!("{e}\n{md}")))?;
        for item in back.items() {
            let own = r.item(&item.key).map(|i| i.status).unwrap_or_default();
            prop_assert_eq!(item.status, status_for(&item.key).unwrap_or(own), "{}", item.key);
        }
        for row in back.tracker_rows() {
            let own = r.tracker_row(&row.key).map(|t| t.status).unwrap_or_default();
            prop_assert_eq!(row.status, status_for(&row.key).unwrap_or(own), "{}", row.key);
        }
        prop_assert_eq!(back.counts(), r.counts());
    }
}

/// Fragments of markdown, structural and not, to build messy documents from.
const FRAGMENTS: &[&str] = &[
    "## Phase 1: A (Weeks 1-3)",
    "## **Phase 2**",
    "# Phase 3 - C (Week 9)",
    "### Week 1: x",
    "### Weeks 2-3",
    "#### Week 4",
    "- **Day 1**: do",
    "- Day 2-3: more",
    "- plain bullet",
    "  - sub note",
    "  - [L](https://e.x/a)",
    "  - see [M](https://e.x/m) first",
    "    - deep",
    "1. ordered",
    "**Goal**: g",
    "Goal: h",
    "text line",
    "continued text",
    "",
    "",
    "---",
    "| Week | Task | Status |",
    "|---|---|---|",
    "| 1 | t | ✅ |",
    "| 2 | u |  |",
    "| x | y |",
    "```",
    "code # x",
    "## Progress Tracker",
    "### Phase 1: cap",
    "## Resources",
    "- **Docs**:",
    "- [Site](https://s.x)",
    "- Books:",
    "## Project Ideas",
    "### 1. **Blog**",
    "- **Features**: a, b.",
    "- Tech Stack: c",
    "## Notes",
    "## Random",
    "> quote",
    "- ✅ done thing",
    "- [x] Day 5: check",
    "\\# escaped",
    "    indented text",
    "- ",
    "#",
    "Phase 9: not heading",
    "## Week 12: after",
    "### Subheading",
    "* star",
    "+ plus",
    "- **Bold** by x",
    "  continuation",
    "trailing hard break  ",
    "# Title",
    "~~~",
    "- a|b",
    "12. numbered",
    "Week 5: plain text",
    "### 2) Idea two",
    "- ❌",
    "| Task | Status | Note |",
    "|:--|--:|---|",
    "| do | 🚧 | n |",
    "Day 1: as paragraph",
    "- **Goal**: bullet goal",
    "#### Goal: heading goal",
    "  1. nested ordered",
    "- [ ] Day 6: box",
    "\t- tab bullet",
    "- **Resources**: [R](https://r.x)",
    "### Books",
    "- **Videos**:",
    "  - <https://v.x>",
    "  - Resources: https://bare.x",
    "***",
    "- **Day 3** – dash label",
    "## Weeks 11-14: y",
    "| 11-14 | big | ⏭️ |",
    "- **Tech Stack**:",
    "  - Rust",
    "## Phase 1: dup",
    "    ```",
    "- - nested marker",
    "Here’s a note",
    "- ‚úÖ mojibake",
    "## **Notes**",
    "__Goal__: g2",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn whatever_imports_exports_to_markdown_that_imports_the_same(
        lines in vec(select(FRAGMENTS), 0..40)
    ) {
        let input = lines.join("\n");
        // Invalid documents (ragged tracker rows, no phases) are refused; that is their own test.
        let Ok(first) = parse(&input) else { return Ok(()) };
        let md = export(&first, &|_| None);
        let second = parse(&md).map_err(|e| TestCaseError::fail(format!("{e}\ninput:\n{input}\nexport:\n{md}")))?;
        prop_assert_eq!(second.counts(), first.counts(), "input:\n{}\nexport:\n{}", input, md);
        prop_assert_eq!(shape(&second), shape(&first), "input:\n{}\nexport:\n{}", input, md);
        prop_assert_eq!(export(&second, &|_| None), md);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]

    /// What the cargo-fuzz target checks, on stable: arbitrary bytes never panic, and whatever
    /// imports survives export → import.
    #[test]
    fn arbitrary_bytes_never_panic_and_valid_ones_round_trip(
        prefix in select(FRAGMENTS),
        bytes in vec(any::<u8>(), 0..300),
        chars in vec(any::<char>(), 0..100),
    ) {
        let mut data = format!("{prefix}\n## Phase 1\n").into_bytes();
        data.extend_from_slice(&bytes);
        data.extend(chars.iter().collect::<String>().bytes());
        let _ = trellis_roadmap::repair_mojibake(&String::from_utf8_lossy(&data));
        if let Ok(first) = trellis_roadmap::parse_bytes(&data) {
            let md = export(&first, &|_| None);
            let second = parse(&md).map_err(|e| TestCaseError::fail(format!("{e}\n{md}")))?;
            prop_assert_eq!(second.counts(), first.counts());
        }
    }
}

/// Found by the fuzzer: a bullet that is only `[ ]` has empty text; its export must stay an item.
#[test]
fn an_empty_task_bullet_survives_the_round_trip() {
    let doc = "## Phase 1\n\n### Week 1: Start\n\n- first\n- [ ]\n- last\n";
    let first = trellis_roadmap::parse(doc).unwrap();
    let md = trellis_roadmap::export(&first, &|_| None);
    let second = trellis_roadmap::parse(&md).unwrap();
    assert_eq!(first.counts(), second.counts(), "{md}");
    assert_eq!(second.counts().items, 3);
}
