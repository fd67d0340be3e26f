//! Roadmaps shaped differently from the seed: other heading levels, no Day lines, week ranges,
//! no phases, inline trackers, and text that fits no structure.

mod common;

use common::shape;
use trellis_roadmap::{ItemKind, Status, export, parse};

/// Every word (3+ letters) of the input must appear somewhere in the import: nothing silently
/// disappears. Structural keywords the model stores as numbers are exempt.
fn assert_nothing_lost(input: &str) {
    let r = parse(input).unwrap();
    let kept = format!("{r:?}").to_lowercase();
    for word in input
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3)
    {
        let structural = [
            "Phase",
            "Week",
            "Weeks",
            "Day",
            "Days",
            "Goal",
            "Features",
            "Tech",
            "Stack",
            "Status",
            "Task",
            "Resources",
            "Notes",
            "Progress",
            "Tracker",
            "Project",
            "Ideas",
        ];
        if structural.contains(&word) {
            continue;
        }
        assert!(kept.contains(&word.to_lowercase()), "{word:?} was lost");
    }
}

fn round_trips(input: &str) {
    let r = parse(input).unwrap();
    let again = parse(&export(&r, &|_| None)).unwrap();
    assert_eq!(
        shape(&again),
        shape(&r),
        "export:\n{}",
        export(&r, &|_| None)
    );
}

const NO_DAYS_H1_PHASES: &str = "\
# Phase 1 - Foundations (Weeks 1-3)

Goal: get comfortable.

## Week 1: Tooling
* Install Rust
* Read chapter one
    * take notes on ownership
* Build hello world

## Weeks 2-3: Core language
1. Structs and enums
2. Traits
";

#[test]
fn an_outline_with_h1_phases_and_no_day_lines_imports_bullets_as_items() {
    let r = parse(NO_DAYS_H1_PHASES).unwrap();
    let c = r.counts();
    assert_eq!(
        (c.phases, c.weeks, c.items, c.day_items, c.bullet_items),
        (1, 2, 5, 0, 5)
    );
    let p = &r.phases[0];
    assert_eq!(
        (p.number, p.title.as_str(), p.week_range),
        (1, "Foundations", Some((1, 3)))
    );
    assert_eq!(p.goal.as_deref(), Some("get comfortable."));
    assert_eq!(p.weeks[0].items[1].notes, ["take notes on ownership"]);
    assert_eq!(p.weeks[1].weeks, (2, 3));
    assert_eq!(p.weeks[1].items[1].text, "Traits");
    assert_eq!(p.weeks[1].items[1].key, "p1-w2-3-b2");
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_nothing_lost(NO_DAYS_H1_PHASES);
    round_trips(NO_DAYS_H1_PHASES);
}

const DEEP_HEADINGS: &str = "\
#### Phase 2 — Web (Week 8-10)
##### Week 8-10 — Axum
- Day 1 - 2: Routing
- Day 3: ✅ Extractors
- [x] Day 4: Middleware
- 🚧 **Day 5**: State
";

#[test]
fn deep_heading_levels_and_plain_day_labels_import() {
    let r = parse(DEEP_HEADINGS).unwrap();
    let p = &r.phases[0];
    assert_eq!(
        (p.number, p.title.as_str(), p.week_range),
        (2, "Web", Some((8, 10)))
    );
    let w = &p.weeks[0];
    assert_eq!((w.weeks, w.title.as_str()), ((8, 10), "Axum"));
    let items: Vec<(ItemKind, &str, Status)> = w
        .items
        .iter()
        .map(|i| (i.kind, i.text.as_str(), i.status))
        .collect();
    assert_eq!(
        items,
        [
            (
                ItemKind::Day { from: 1, to: 2 },
                "Routing",
                Status::NotStarted
            ),
            (ItemKind::Day { from: 3, to: 3 }, "Extractors", Status::Done),
            (ItemKind::Day { from: 4, to: 4 }, "Middleware", Status::Done),
            (ItemKind::Day { from: 5, to: 5 }, "State", Status::Learning),
        ]
    );
    round_trips(DEEP_HEADINGS);
}

const NO_PHASES: &str = "\
# My plan

Short intro.

## Week 1: Start
- read
## Week 3: Later
- write
";

#[test]
fn weeks_without_a_phase_go_into_an_implicit_phase_with_a_warning() {
    let r = parse(NO_PHASES).unwrap();
    assert_eq!(r.title.as_deref(), Some("My plan"));
    assert_eq!(r.intro, ["Short intro."]);
    assert_eq!(r.phases.len(), 1);
    assert_eq!(r.phases[0].weeks.len(), 2);
    assert_eq!(r.warnings.len(), 1);
    assert_eq!(r.warnings[0].line, 5);
    assert!(r.warnings[0].message.contains("before any phase heading"));
    round_trips(NO_PHASES);
}

const LOOSE_ENDS: &str = "\
Intro line one
continues here.

## Phase 1: Mixed (Weeks 1-2)
**Goal**: first goal
**Goal**: a second goal is a note

A phase paragraph.

### Week 1: Days and remarks
- **Day 1**: Do a thing
  - see [Docs](https://example.com/docs) before starting
  - Resources: [Book](https://example.com/book), [Video](https://example.com/video)
  - plain note
- Remember to stretch
  - even on weekends

Some closing words for week one.

#### Extra heading inside week

```rust
fn main() {
    // ## not a heading
}
```

| Name | Link |
|------|------|
| a    | b    |

| Week | Task | Status | Hours |
|------|------|--------|-------|
| 1 | Setup | done | 3 |
| 1 | Read | maybe | 2 |

## Appendix

Closing paragraph.
- loose bullet
";

#[test]
fn text_that_fits_no_structure_is_kept_as_notes_where_it_was() {
    let r = parse(LOOSE_ENDS).unwrap();
    assert_eq!(r.intro, ["Intro line one continues here."]);
    let p = &r.phases[0];
    assert_eq!(p.goal.as_deref(), Some("first goal"));
    assert_eq!(
        p.notes,
        ["**Goal**: a second goal is a note", "A phase paragraph."]
    );
    let w = &p.weeks[0];
    assert_eq!(
        w.items.len(),
        1,
        "a plain bullet among Day lines is a remark, not an item"
    );
    let day1 = &w.items[0];
    assert_eq!(
        day1.notes,
        [
            "see [Docs](https://example.com/docs) before starting",
            "plain note"
        ]
    );
    let urls: Vec<&str> = day1.resources.iter().map(|l| l.url.as_str()).collect();
    assert_eq!(
        urls,
        [
            "https://example.com/docs",
            "https://example.com/book",
            "https://example.com/video"
        ]
    );
    assert_eq!(w.notes[0], "Some closing words for week one.");
    assert_eq!(w.notes[1], "Extra heading inside week");
    assert!(w.notes[2].starts_with("```rust\nfn main() {\n    // ## not a heading"));
    assert_eq!(
        w.notes[3],
        "| Name | Link |\n|------|------|\n| a    | b    |"
    );
    assert_eq!(&w.notes[4..], ["Remember to stretch", "even on weekends"]);
    let t = &r.tracker[0];
    assert_eq!((t.title.as_str(), t.phase), ("", Some(1)));
    assert_eq!(t.extra_columns, ["Hours"]);
    assert_eq!(t.rows[0].status, Status::Done);
    assert_eq!(t.rows[1].extra, ["2"]);
    assert_eq!(r.notes, ["Appendix", "Closing paragraph.", "loose bullet"]);
    let warnings: Vec<(usize, &str)> = r
        .warnings
        .iter()
        .map(|w| (w.line, w.message.as_str()))
        .collect();
    assert_eq!(
        warnings,
        [
            (4, "Phase 1 covers weeks 1–2 but week 2 has no section"),
            (
                35,
                "status \"maybe\" not recognised; counted as not started"
            ),
        ]
    );
    assert_nothing_lost(LOOSE_ENDS);
    round_trips(LOOSE_ENDS);
}

const IDEAS_AS_BULLETS: &str = "\
## Phase 1: Only (Week 1)
### Week 1
- a

## Project Ideas
- **Shop**: a small store with a cart
  - Features: catalog, checkout
  - Tech Stack: Django
- **Notes app**
  - tags
  - search

## Resources
### Books
- *The Book*
- [Site](https://example.com)
- **Videos**:
  - <https://example.com/v>
";

#[test]
fn ideas_written_as_bullets_and_resources_under_headings_import() {
    let r = parse(IDEAS_AS_BULLETS).unwrap();
    let shop = &r.project_ideas[0];
    assert_eq!(
        (shop.title.as_str(), shop.description.as_str()),
        ("Shop", "a small store with a cart")
    );
    assert_eq!(shop.features, ["catalog", "checkout"]);
    assert_eq!(shop.tech_stack, ["Django"]);
    assert_eq!(shop.app_hint(), Some("shop"));
    assert_eq!(r.project_ideas[1].notes, ["tags", "search"]);
    let groups: Vec<(&str, usize)> = r
        .resources
        .iter()
        .map(|g| (g.title.as_str(), g.resources.len()))
        .collect();
    assert_eq!(groups, [("Books", 2), ("Videos", 1)]);
    assert_eq!(
        r.resources[1].resources[0].url.as_deref(),
        Some("https://example.com/v")
    );
    round_trips(IDEAS_AS_BULLETS);
}

#[test]
fn a_tracker_before_the_phases_and_textual_statuses_import() {
    let text = "\
| Task | Status |
|---|---|
| Warm up | in progress |
| Skip me | skipped |
| Nope | ❌ not done |

## Phase 1: After (Week 1)
### Week 1
- go
";
    let r = parse(text).unwrap();
    let rows: Vec<(&str, Status)> = r
        .tracker_rows()
        .map(|row| (row.task.as_str(), row.status))
        .collect();
    assert_eq!(
        rows,
        [
            ("Warm up", Status::Learning),
            ("Skip me", Status::Skipped),
            ("Nope", Status::Pending)
        ]
    );
    assert_eq!(r.tracker[0].rows[0].key, "t1-wx-t1");
    round_trips(text);
}

#[test]
fn mojibake_of_each_encoding_is_repaired_in_a_roadmap() {
    // Real-world renderings of ’ ✅ 🚧 ❌ é under each mis-decoding.
    let cases = [
        ("Mac Roman", "‚Äô", "‚úÖ", "\u{F8FF}üöß", "‚ùå", "√©"),
        ("Windows-1252", "â€™", "âœ…", "ðŸš§", "â\u{9D}Œ", "Ã©"),
        (
            "Latin-1",
            "â\u{80}\u{99}",
            "â\u{9C}\u{85}",
            "ð\u{9F}\u{9A}§",
            "â\u{9D}\u{8C}",
            "Ã©",
        ),
    ];
    for (name, apostrophe, done, learning, pending, e_acute) in cases {
        let text = format!(
            "## Phase 1: It{apostrophe}s caf{e_acute} time (Week 1)\n### Week 1\n- **Day 1**: {done} go\n\n\
             | Week | Task | Status ({done}/{learning}/{pending}) |\n|---|---|---|\n\
             | 1 | a | {done} |\n| 1 | b | {learning} |\n| 1 | c | {pending} |\n| 1 | d |  |\n"
        );
        let r = parse(&text).unwrap();
        assert_eq!(r.repaired_encoding.map(|e| e.name()), Some(name));
        assert_eq!(r.phases[0].title, "It’s café time", "{name}");
        assert_eq!(r.items().next().unwrap().status, Status::Done, "{name}");
        let statuses: Vec<Status> = r.tracker_rows().map(|row| row.status).collect();
        assert_eq!(
            statuses,
            [
                Status::Done,
                Status::Learning,
                Status::Pending,
                Status::NotStarted
            ],
            "{name}"
        );
    }
}

#[test]
fn clean_input_is_not_repaired() {
    let text = "## Phase 1: Café “naïve” — Größe ✅ 🚧 ❌ 日本 (Week 1)\n### Week 1\n- **Day 1**: ÉTÉ» ok\n";
    let r = parse(text).unwrap();
    assert_eq!(r.repaired_encoding, None);
    assert_eq!(r.phases[0].title, "Café “naïve” — Größe ✅ 🚧 ❌ 日本");
    assert_eq!(r.items().next().unwrap().text, "ÉTÉ» ok");
}
