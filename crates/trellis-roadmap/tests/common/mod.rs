//! Helpers shared by the integration tests.
#![allow(dead_code)]

use trellis_roadmap::Roadmap;

/// The roadmap without positions, warnings and the repair report: what an export → import
/// round trip must preserve.
pub fn shape(r: &Roadmap) -> Roadmap {
    let mut r = r.clone();
    r.warnings.clear();
    r.repaired_encoding = None;
    for p in &mut r.phases {
        p.line = 0;
        for w in &mut p.weeks {
            w.line = 0;
            for i in &mut w.items {
                i.line = 0;
            }
        }
    }
    for t in &mut r.tracker {
        t.line = 0;
        for row in &mut t.rows {
            row.line = 0;
        }
    }
    for g in &mut r.resources {
        g.line = 0;
        for res in &mut g.resources {
            res.line = 0;
        }
    }
    for i in &mut r.project_ideas {
        i.line = 0;
    }
    r
}

/// The seed roadmap exactly as our user sent it, kept in the repository (`data/roadmap/seed.md`) so the
/// tests need nothing outside it.
pub fn seed() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/roadmap/seed.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}
