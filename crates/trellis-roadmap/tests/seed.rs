//! The real input: the seed roadmap, which arrived as Mac Roman mojibake.

mod common;

use std::collections::HashMap;

use common::{seed, shape};
use trellis_roadmap::{Counts, Encoding, ItemKind, Status, export, parse, parse_bytes};

#[test]
fn the_seed_imports_into_exactly_the_counted_structure() {
    let r = parse(&seed()).unwrap();
    assert_eq!(
        r.counts(),
        Counts {
            phases: 3,
            weeks: 10,
            items: 42,
            day_items: 33,
            bullet_items: 9,
            tracker_rows: 22,
            project_ideas: 4,
        }
    );
    let per_phase: Vec<(u32, usize, usize)> = r
        .phases
        .iter()
        .map(|p| {
            (
                p.number,
                p.weeks.len(),
                p.weeks.iter().map(|w| w.items.len()).sum(),
            )
        })
        .collect();
    assert_eq!(per_phase, [(1, 4, 20), (2, 3, 13), (3, 3, 9)]);
    let per_table: Vec<(Option<u32>, usize)> =
        r.tracker.iter().map(|t| (t.phase, t.rows.len())).collect();
    assert_eq!(per_table, [(Some(1), 11), (Some(2), 8), (Some(3), 3)]);
}

#[test]
fn the_seed_is_repaired_from_mac_roman() {
    let r = parse(&seed()).unwrap();
    assert_eq!(r.repaired_encoding, Some(Encoding::MacRoman));
    assert!(r.intro[0].starts_with("Here’s a **6-7 month structured roadmap**"));
    let day1_week4 = &r.phases[0].weeks[3].items[0];
    assert_eq!(
        day1_week4.text,
        "Study Django’s built-in authentication system."
    );
    let debug = format!("{r:?}");
    for marker in ["‚Äô", "‚úÖ", "üöß", "‚ùå", "\u{F8FF}"] {
        assert!(!debug.contains(marker), "{marker} left in the import");
    }
}

#[test]
fn parse_bytes_reads_the_seed_like_parse() {
    let text = seed();
    assert_eq!(parse_bytes(text.as_bytes()).unwrap(), parse(&text).unwrap());
}

#[test]
fn phases_have_titles_week_ranges_and_goals() {
    let r = parse(&seed()).unwrap();
    let p: Vec<(&str, Option<(u32, u32)>)> = r
        .phases
        .iter()
        .map(|p| (p.title.as_str(), p.week_range))
        .collect();
    assert_eq!(
        p,
        [
            ("Basics of Django", Some((1, 4))),
            ("Django REST Framework", Some((5, 10))),
            ("Applied Learning and Advanced Topics", Some((11, 24))),
        ]
    );
    assert_eq!(
        r.phases[1].goal.as_deref(),
        Some(
            "Learn DRF fundamentals, create REST APIs, and integrate them with frontend or mobile apps."
        )
    );
    assert!(r.phases.iter().all(|p| p.goal.is_some()));
}

#[test]
fn week_sections_keep_their_ranges_and_titles() {
    let r = parse(&seed()).unwrap();
    let weeks: Vec<(u32, u32)> = r
        .phases
        .iter()
        .flat_map(|p| &p.weeks)
        .map(|w| w.weeks)
        .collect();
    assert_eq!(
        weeks,
        [
            (1, 1),
            (2, 2),
            (3, 3),
            (4, 4),
            (5, 5),
            (6, 6),
            (7, 7),
            (11, 14),
            (15, 18),
            (19, 24)
        ]
    );
    assert_eq!(
        r.phases[2].weeks[0].title,
        "Real-World Project (E.g., E-commerce API)"
    );
}

#[test]
fn day_lines_become_day_ranges_and_multi_week_bullets_become_bullets() {
    let r = parse(&seed()).unwrap();
    let week1: Vec<ItemKind> = r.phases[0].weeks[0].items.iter().map(|i| i.kind).collect();
    assert_eq!(
        week1,
        [
            ItemKind::Day { from: 1, to: 1 },
            ItemKind::Day { from: 2, to: 2 },
            ItemKind::Day { from: 3, to: 4 },
            ItemKind::Day { from: 5, to: 6 },
            ItemKind::Day { from: 7, to: 7 },
        ]
    );
    assert_eq!(
        r.phases[1].weeks[2].items[0].kind,
        ItemKind::Day { from: 1, to: 3 }
    );
    assert!(
        r.phases[2]
            .weeks
            .iter()
            .flat_map(|w| &w.items)
            .all(|i| i.kind == ItemKind::Bullet)
    );
    assert_eq!(
        r.phases[2].weeks[2].items[0].text,
        "Pick a machine learning use case (e.g., sentiment analysis)."
    );
}

#[test]
fn sub_bullets_become_notes_and_resources() {
    let r = parse(&seed()).unwrap();
    let day1 = &r.phases[0].weeks[0].items[0];
    assert!(day1.notes.is_empty());
    assert_eq!(day1.resources.len(), 1);
    assert_eq!(day1.resources[0].title, "Official Installation Guide");
    assert_eq!(
        day1.resources[0].url,
        "https://docs.djangoproject.com/en/stable/topics/install/"
    );
    let day2 = &r.phases[0].weeks[0].items[1];
    assert_eq!(
        day2.notes,
        ["Command walkthrough (`django-admin`, `startproject`, `startapp`)."]
    );
}

#[test]
fn the_seeds_status_emoji_are_recognised_in_its_tables() {
    // The seed's Status cells are empty (not started); its header shows the three markers. Fill
    // three cells with those markers exactly as the seed encodes them (Mac Roman mojibake).
    let text = seed();
    let header = text.lines().find(|l| l.contains("| Status (")).unwrap();
    let open = header.find('(').unwrap();
    let markers: Vec<&str> = header[open + 1..header.rfind(')').unwrap()]
        .split('/')
        .collect();
    assert_eq!(markers.len(), 3);
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    for (line_no, marker) in [(122, markers[0]), (123, markers[1]), (124, markers[2])] {
        let line = &mut lines[line_no - 1];
        let cell = line.rfind("|                  |").unwrap();
        line.replace_range(cell.., &format!("| {marker} |"));
    }
    let r = parse(&lines.join("\n")).unwrap();
    let statuses: Vec<Status> = r.tracker[0]
        .rows
        .iter()
        .take(4)
        .map(|row| row.status)
        .collect();
    assert_eq!(
        statuses,
        [
            Status::Done,
            Status::Learning,
            Status::Pending,
            Status::NotStarted
        ]
    );
    assert_eq!(r.tracker[0].rows[0].line, 122);
    assert!(
        r.tracker_rows()
            .skip(3)
            .all(|row| row.status == Status::NotStarted)
    );
}

#[test]
fn empty_status_cells_in_the_seed_are_not_started() {
    let r = parse(&seed()).unwrap();
    assert!(r.tracker_rows().all(|row| row.status == Status::NotStarted));
    let last = r.tracker[2].rows.last().unwrap();
    assert_eq!(
        (last.week.as_str(), last.weeks, last.task.as_str()),
        (
            "19-24",
            Some((19, 24)),
            "Final Project: ML-Powered Django App"
        )
    );
}

#[test]
fn the_only_warning_is_phase_two_missing_weeks_8_to_10() {
    let r = parse(&seed()).unwrap();
    assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    assert_eq!(r.warnings[0].line, 54);
    assert_eq!(
        r.warnings[0].message,
        "Phase 2 covers weeks 5–10 but weeks 8–10 have no section"
    );
}

#[test]
fn resources_and_project_ideas_are_structured() {
    let r = parse(&seed()).unwrap();
    let groups: Vec<(&str, usize)> = r
        .resources
        .iter()
        .map(|g| (g.title.as_str(), g.resources.len()))
        .collect();
    assert_eq!(groups, [("Documentation", 2), ("Books", 2)]);
    assert_eq!(
        r.resources[0].resources[1].url.as_deref(),
        Some("https://www.django-rest-framework.org/")
    );
    assert_eq!(
        r.resources[1].resources[0].title,
        "*Django for Beginners* by William S. Vincent"
    );
    assert_eq!(r.resources[1].resources[0].url, None);

    let ideas = &r.project_ideas;
    assert_eq!(ideas[0].title, "Simple Blog (Phase 1)");
    assert_eq!(
        ideas[0].features,
        [
            "CRUD for blog posts",
            "user authentication",
            "file uploads",
            "role-based permissions"
        ]
    );
    assert_eq!(ideas[0].tech_stack, ["Django", "SQLite", "Bootstrap"]);
    assert_eq!(ideas[2].features.last().unwrap(), "role-based access");
    assert_eq!(
        ideas[3].tech_stack,
        ["Django", "DRF", "TensorFlow/Scikit-learn", "Docker"]
    );
    let hints: Vec<Option<&str>> = ideas.iter().map(|i| i.app_hint()).collect();
    assert_eq!(
        hints,
        [Some("blog"), Some("todo"), Some("shop"), Some("sentiment")]
    );
}

#[test]
fn text_outside_the_structure_is_kept_as_a_document_note() {
    let r = parse(&seed()).unwrap();
    assert_eq!(
        r.notes,
        ["Here’s a **progress tracker and project idea framework** to accompany your roadmap:"]
    );
}

#[test]
fn keys_follow_phase_week_and_day() {
    let r = parse(&seed()).unwrap();
    let keys: Vec<&str> = r.phases[0].weeks[0]
        .items
        .iter()
        .map(|i| i.key.as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "p1-w1-d1",
            "p1-w1-d2",
            "p1-w1-d3-4",
            "p1-w1-d5-6",
            "p1-w1-d7"
        ]
    );
    assert_eq!(r.phases[2].weeks[0].items[2].key, "p3-w11-14-b3");
    let rows: Vec<&str> = r.tracker[0]
        .rows
        .iter()
        .take(5)
        .map(|row| row.key.as_str())
        .collect();
    assert_eq!(
        rows,
        ["p1-w1-t1", "p1-w1-t2", "p1-w1-t3", "p1-w1-t4", "p1-w2-t1"]
    );
    assert_eq!(r.tracker[2].rows[0].key, "p3-w11-14-t1");
    let mut all: Vec<&str> = r
        .items()
        .map(|i| i.key.as_str())
        .chain(r.tracker_rows().map(|t| t.key.as_str()))
        .collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 42 + 22, "keys are unique");
}

#[test]
fn exporting_the_seed_and_importing_it_again_gives_the_same_roadmap() {
    let r = parse(&seed()).unwrap();
    let md = export(&r, &|_| None);
    let again = parse(&md).unwrap();
    assert_eq!(again.repaired_encoding, None, "the export is clean UTF-8");
    assert_eq!(shape(&again), shape(&r));
    assert_eq!(again.warnings.len(), 1);
    assert_eq!(export(&again, &|_| None), md, "export is stable");
}

#[test]
fn exported_statuses_come_back_on_import() {
    let r = parse(&seed()).unwrap();
    let mut progress: HashMap<&str, Status> = HashMap::new();
    progress.insert("p1-w1-t1", Status::Done);
    progress.insert("p1-w1-t2", Status::Learning);
    progress.insert("p2-w5-t3", Status::Pending);
    progress.insert("p3-w19-24-t1", Status::Skipped);
    progress.insert("p1-w1-d3-4", Status::Done);
    progress.insert("p3-w15-18-b2", Status::Learning);
    let md = export(&r, &|key| progress.get(key).copied());
    assert!(md.contains("| 1    | Install Django, set up virtual environment | ✅ "));
    assert!(md.contains("- **Day 3-4**: ✅ Understand **URLs and Views**."));
    let again = parse(&md).unwrap();
    for row in again.tracker_rows() {
        assert_eq!(
            row.status,
            progress.get(row.key.as_str()).copied().unwrap_or_default(),
            "{}",
            row.key
        );
    }
    for item in again.items() {
        assert_eq!(
            item.status,
            progress.get(item.key.as_str()).copied().unwrap_or_default(),
            "{}",
            item.key
        );
    }
    // Statuses aside, the structure is untouched.
    let mut plain = shape(&again);
    plain
        .tracker
        .iter_mut()
        .flat_map(|t| &mut t.rows)
        .for_each(|row| row.status = Status::NotStarted);
    plain
        .phases
        .iter_mut()
        .flat_map(|p| &mut p.weeks)
        .flat_map(|w| &mut w.items)
        .for_each(|i| i.status = Status::NotStarted);
    assert_eq!(plain, shape(&r));
}

#[test]
fn the_summary_prints_counts_and_warnings() {
    let r = parse(&seed()).unwrap();
    let text = r.summary().to_string();
    assert!(text.contains(
        "3 phases, 10 week sections, 42 items (33 day, 9 bullet), 22 tracker rows, 4 project ideas"
    ));
    assert!(text.contains("Mac Roman"));
    assert!(text.contains("line 54: Phase 2 covers weeks 5–10 but weeks 8–10 have no section"));
}

/// The copy in the repository is the document our user sent, byte for byte (checked where the shared
/// folder sits beside the repository, as in CI).
#[test]
fn the_kept_seed_matches_the_shared_original() {
    let shared = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/seeds/roadmap.md"
    );
    let Ok(original) = std::fs::read(shared) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{shared} must be there in CI"
        );
        eprintln!("skipped: {shared} is not there to compare with");
        return;
    };
    let kept = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/roadmap/seed.md"
    ))
    .unwrap();
    assert!(
        original == kept,
        "data/roadmap/seed.md differs from the shared seed"
    );
}
