//! `cargo +nightly fuzz run parse` (from the repository root).
//!
//! Feeds arbitrary bytes to the importer, the exporter and the importer again: none of them may
//! panic, whatever the input. (That an export re-imports to the same roadmap is checked by the
//! property tests on generated roadmaps in `crates/trellis-roadmap/tests/roundtrip.rs`.)

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = trellis_roadmap::repair_mojibake(&String::from_utf8_lossy(data));
    let Ok(first) = trellis_roadmap::parse_bytes(data) else {
        return;
    };
    let markdown = trellis_roadmap::export(&first, &|_| None);
    let _ = trellis_roadmap::parse(&markdown).map(|second| second.counts());
});
