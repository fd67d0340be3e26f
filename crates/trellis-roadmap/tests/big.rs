//! A roadmap of several megabytes parses completely. (Speed is measured by
//! `examples/bench_parse.rs`; a test asserting wall-clock time would be flaky on a busy machine.)

use trellis_roadmap::{Counts, Status, parse};

/// About `target` bytes: phases of four one-week sections with seven Day lines each, a
/// resource sub-bullet per day, and a tracker table per phase.
fn big_roadmap(target: usize) -> (String, u32) {
    let mut s = String::with_capacity(target + 4096);
    s.push_str("# A long plan\n\nIt’s long — on purpose.\n\n");
    let mut phases = 0u32;
    while s.len() < target {
        phases += 1;
        let first = (phases - 1) * 4 + 1;
        s.push_str(&format!(
            "## **Phase {phases}: Part {phases} (Weeks {first}-{})**\n\n**Goal**: keep going.\n\n",
            first + 3
        ));
        for w in first..first + 4 {
            s.push_str(&format!("### Week {w}: Topic {w}\n\n"));
            for d in 1..=7 {
                s.push_str(&format!(
                    "- **Day {d}**: Study part {d} of week {w} — the author’s notes.\n  - Resources: [Docs](https://example.com/{w}/{d})\n"
                ));
            }
            s.push('\n');
        }
        s.push_str("| Week | Task | Status |\n|---|---|---|\n");
        for w in first..first + 4 {
            s.push_str(&format!("| {w} | Review week {w} | ✅ |\n"));
        }
        s.push('\n');
    }
    (s, phases)
}

#[test]
fn a_five_megabyte_roadmap_parses_completely() {
    let (text, phases) = big_roadmap(5 << 20);
    assert!(text.len() >= 5 << 20);
    let r = parse(&text).unwrap();
    let p = phases as usize;
    assert_eq!(
        r.counts(),
        Counts {
            phases: p,
            weeks: 4 * p,
            items: 28 * p,
            day_items: 28 * p,
            bullet_items: 0,
            tracker_rows: 4 * p,
            project_ideas: 0,
        }
    );
    assert!(
        r.warnings.is_empty(),
        "{:?}",
        &r.warnings[..r.warnings.len().min(3)]
    );
    assert_eq!(r.repaired_encoding, None);
    assert!(r.tracker_rows().all(|row| row.status == Status::Done));
    let last = r.items().last().unwrap();
    assert_eq!(last.key, format!("p{phases}-w{}-d7", 4 * phases));
    assert_eq!(
        last.resources[0].url,
        format!("https://example.com/{}/7", 4 * phases)
    );
}

#[test]
fn a_big_mojibake_roadmap_is_repaired_and_parsed() {
    let (text, phases) = big_roadmap(1 << 20);
    // Mangle as Windows-1252 would: the characters used here only need bytes 0x80-0xBF + lead bytes.
    let mangled: String = text
        .replace('’', "â€™")
        .replace('—', "â€”")
        .replace('✅', "âœ…");
    let r = parse(&mangled).unwrap();
    assert_eq!(r.repaired_encoding.map(|e| e.name()), Some("Windows-1252"));
    assert_eq!(r.counts().items, 28 * phases as usize);
    assert_eq!(r.intro, ["It’s long — on purpose."]);
    assert!(r.tracker_rows().all(|row| row.status == Status::Done));
}

#[test]
fn many_small_phases_with_their_own_tables_import_and_export() {
    // Guards against per-phase scans of all tables (quadratic on documents like this).
    let mut text = String::new();
    for n in 1..=20_000 {
        text.push_str(&format!(
            "## Phase {n}: p\n### Week {n}\n- a\n\n| Task | Status |\n|---|---|\n| t | ✅ |\n\n"
        ));
    }
    let r = parse(&text).unwrap();
    assert_eq!(r.counts().tracker_rows, 20_000);
    assert_eq!(r.tracker[19_999].phase, Some(20_000));
    let again = parse(&trellis_roadmap::export(&r, &|_| None)).unwrap();
    assert_eq!(again.counts(), r.counts());
}

#[test]
fn hostile_repetition_stays_linear() {
    // Thousands of identical Day lines (key de-duplication) and a sub-bullet full of unmatched
    // brackets and half autolinks (link scanning) must not go quadratic.
    let mut text = String::from("## Phase 1\n### Week 1\n");
    for _ in 0..50_000 {
        text.push_str("- Day 1: again\n");
    }
    text.push_str("  - ");
    text.push_str(&"[(<https://".repeat(50_000));
    text.push('\n');
    let r = parse(&text).unwrap();
    assert_eq!(r.counts().day_items, 50_000);
    let keys: Vec<&str> = r.items().map(|i| i.key.as_str()).take(3).collect();
    assert_eq!(keys, ["p1-w1-d1", "p1-w1-d1.2", "p1-w1-d1.3"]);
    assert_eq!(r.items().last().unwrap().notes.len(), 1);
}
