//! Parse throughput: `cargo run --release -p trellis-roadmap --example bench_parse [FILE]`.
//!
//! Without FILE it parses the seed roadmap repeated to about 5 MB (renumbered so every copy is
//! a distinct phase), both clean and as Mac Roman mojibake, and prints MB/s for each.

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let inputs: Vec<(String, String)> = match args.first() {
        Some(path) => {
            let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
            let text = String::from_utf8_lossy(&bytes).into_owned();
            vec![(path.clone(), text)]
        }
        None => {
            let clean = synthetic(5 << 20);
            let mangled = mac_roman_mojibake(&clean);
            vec![
                ("synthetic clean".into(), clean),
                ("synthetic Mac Roman mojibake".into(), mangled),
            ]
        }
    };
    for (name, text) in inputs {
        // One warm-up run so the first measurement doesn't include page faults of the input.
        let _ = trellis_roadmap::parse(&text);
        let runs = 5;
        let start = Instant::now();
        let mut last = None;
        for _ in 0..runs {
            last = Some(trellis_roadmap::parse(&text));
        }
        let secs = start.elapsed().as_secs_f64() / runs as f64;
        let mb = text.len() as f64 / 1e6;
        match last {
            Some(Ok(r)) => println!(
                "{name}: {mb:.1} MB in {:.1} ms = {:.0} MB/s ({})",
                secs * 1e3,
                mb / secs,
                r.counts()
            ),
            Some(Err(e)) => println!("{name}: error: {e}"),
            None => {}
        }
    }
}

/// A roadmap of about `target` bytes: phases of four week sections with Day lines and a tracker.
fn synthetic(target: usize) -> String {
    let mut s = String::from("# Big roadmap\n\nIt’s long — on purpose ✅.\n\n");
    let mut phase = 0u32;
    while s.len() < target {
        phase += 1;
        let first = (phase - 1) * 4 + 1;
        s.push_str(&format!(
            "## **Phase {phase}: Part {phase} (Weeks {first}-{})**\n\n**Goal**: keep going.\n\n",
            first + 3
        ));
        for w in first..first + 4 {
            s.push_str(&format!("### Week {w}: Topic {w}\n"));
            for d in 1..=7 {
                s.push_str(&format!("- **Day {d}**: Study part {d} of week {w} — notes’ details.\n  - Resources: [Docs](https://example.com/{w}/{d})\n"));
            }
            s.push('\n');
        }
        s.push_str("| Week | Task | Status |\n|---|---|---|\n");
        for w in first..first + 4 {
            s.push_str(&format!("| {w} | Review week {w} | ✅ |\n"));
        }
        s.push('\n');
    }
    s
}

fn mac_roman_mojibake(text: &str) -> String {
    const HIGH: &str = "ÄÅÇÉÑÖÜáàâäãåçéèêëíìîïñóòôöõúùûü†°¢£§•¶ß®©™´¨≠ÆØ∞±≤≥¥µ∂∑∏π∫ªºΩæø¿¡¬√ƒ≈∆«»… ÀÃÕŒœ–—“”‘’÷◊ÿŸ⁄€‹›ﬁﬂ‡·‚„‰ÂÊÁËÈÍÎÏÌÓÔ\u{F8FF}ÒÚÛÙıˆ˜¯˘˙˚¸˝˛ˇ";
    let high: Vec<char> = HIGH.chars().collect();
    assert_eq!(high.len(), 128);
    text.bytes()
        .map(|b| {
            if b < 0x80 {
                b as char
            } else {
                high[(b - 0x80) as usize]
            }
        })
        .collect()
}
