//! One-off: fetches the corpora and writes the movie split manifest.
//!
//! `cargo run -p trellis-sentiment --example sentiment_split -- DATA_DIR [--force]`
//!
//! The manifest is committed; re-running only reproduces it (and refuses to overwrite a
//! different one without `--force`), so the split never silently changes.

use std::path::PathBuf;
use trellis_sentiment::Corpus;
use trellis_sentiment::data::{self, MOVIE_SPLIT_SEED, SplitManifest};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(
        args.first()
            .ok_or("usage: sentiment_split DATA_DIR [--force]")?,
    );
    let force = args.iter().any(|a| a == "--force");
    let paths = data::fetch(&dir)?;
    let movie = paths.load(Corpus::Movie)?;
    let manifest = SplitManifest::generate(Corpus::Movie, &movie, MOVIE_SPLIT_SEED);
    let json = serde_json::to_string_pretty(&manifest)? + "\n";
    let out =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/sentiment/movie_split.json");
    let existing = std::fs::read_to_string(&out).unwrap_or_default();
    if existing == json {
        println!("{} is up to date", out.display());
    } else if existing.contains("\"train\": [\n") && !force {
        return Err(format!(
            "{} differs from a fresh split; pass --force to replace it",
            out.display()
        )
        .into());
    } else {
        std::fs::write(&out, json)?;
        println!("wrote {}", out.display());
    }
    println!(
        "train {} / validation {} / test {}",
        manifest.train.len(),
        manifest.validation.len(),
        manifest.test.len()
    );
    Ok(())
}
