//! Measuring models: accuracy, per-class precision/recall/F1, confusion matrix,
//! reliability bins, ROC/AUC, throughput, and a model × data-set accuracy table.
//! Everything is serializable so the web app and CLI can show or store it.

use crate::{Example, Label, Model, ModelKind, Prediction};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Instant;

/// Number of equal-width reliability bins over P(positive).
pub const CALIBRATION_BINS: usize = 10;
/// ROC curves are thinned to at most this many points for output (AUC uses all).
pub const MAX_ROC_POINTS: usize = 201;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Examples whose true label is this class.
    pub support: usize,
}

/// `matrix[actual][predicted]`, indexed negative = 0, positive = 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    pub labels: [Label; 2],
    pub matrix: [[usize; 2]; 2],
}

/// One reliability-curve bin over P(positive) in `[lower, upper)` (the last bin is closed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    pub lower: f64,
    pub upper: f64,
    pub count: usize,
    /// Mean predicted P(positive); `None` for an empty bin.
    pub mean_predicted: Option<f64>,
    /// Observed share of positives; `None` for an empty bin.
    pub fraction_positive: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RocPoint {
    /// Texts with P(positive) ≥ threshold are called positive.
    pub threshold: f64,
    pub fpr: f64,
    pub tpr: f64,
}

/// Evaluation of one model on one labelled set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub model: String,
    pub kind: ModelKind,
    pub examples: usize,
    pub accuracy: f64,
    pub negative: ClassMetrics,
    pub positive: ClassMetrics,
    pub macro_f1: f64,
    pub confusion: Confusion,
    pub calibration: Vec<CalibrationBin>,
    /// Count-weighted mean |fraction_positive − mean_predicted| over bins.
    pub expected_calibration_error: f64,
    pub roc: Vec<RocPoint>,
    /// `None` when the set lacks one of the classes.
    pub auc: Option<f64>,
}

/// Runs `model` on `examples` (batches of 256) and scores it.
pub fn evaluate(model: &dyn Model, examples: &[Example]) -> Report {
    let mut preds = Vec::with_capacity(examples.len());
    for chunk in examples.chunks(256) {
        let texts: Vec<&str> = chunk.iter().map(|e| e.text.as_str()).collect();
        preds.extend(model.predict_batch(&texts));
    }
    let labels: Vec<Label> = examples.iter().map(|e| e.label).collect();
    report_from_predictions(model.name(), model.kind(), &preds, &labels)
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// Scores predictions against gold labels (same length and order).
pub fn report_from_predictions(
    model: &str,
    kind: ModelKind,
    preds: &[Prediction],
    labels: &[Label],
) -> Report {
    assert_eq!(preds.len(), labels.len(), "one prediction per label");
    let n = labels.len();
    let mut matrix = [[0usize; 2]; 2];
    for (p, l) in preds.iter().zip(labels) {
        matrix[l.index()][p.label.index()] += 1;
    }
    let class = |k: usize| {
        let tp = matrix[k][k];
        let predicted = matrix[0][k] + matrix[1][k];
        let actual = matrix[k][0] + matrix[k][1];
        let precision = ratio(tp, predicted);
        let recall = ratio(tp, actual);
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        ClassMetrics {
            precision,
            recall,
            f1,
            support: actual,
        }
    };
    let negative = class(0);
    let positive = class(1);
    let p_pos: Vec<f64> = preds.iter().map(|p| p.scores.positive as f64).collect();
    let is_pos: Vec<bool> = labels.iter().map(|l| *l == Label::Positive).collect();
    let calibration = calibration_bins(&p_pos, &is_pos);
    let ece = calibration
        .iter()
        .filter_map(|b| Some(b.count as f64 * (b.fraction_positive? - b.mean_predicted?).abs()))
        .sum::<f64>()
        / n.max(1) as f64;
    let (roc, auc) = roc_curve(&p_pos, &is_pos);
    Report {
        model: model.to_string(),
        kind,
        examples: n,
        accuracy: ratio(matrix[0][0] + matrix[1][1], n),
        macro_f1: (negative.f1 + positive.f1) / 2.0,
        negative,
        positive,
        confusion: Confusion {
            labels: [Label::Negative, Label::Positive],
            matrix,
        },
        calibration,
        expected_calibration_error: ece,
        roc: thin(roc),
        auc,
    }
}

fn calibration_bins(p_pos: &[f64], is_pos: &[bool]) -> Vec<CalibrationBin> {
    let mut count = [0usize; CALIBRATION_BINS];
    let mut sum_p = [0.0f64; CALIBRATION_BINS];
    let mut positives = [0usize; CALIBRATION_BINS];
    for (&p, &y) in p_pos.iter().zip(is_pos) {
        let k = ((p * CALIBRATION_BINS as f64) as usize).min(CALIBRATION_BINS - 1);
        count[k] += 1;
        sum_p[k] += p;
        positives[k] += y as usize;
    }
    (0..CALIBRATION_BINS)
        .map(|k| CalibrationBin {
            lower: k as f64 / CALIBRATION_BINS as f64,
            upper: (k + 1) as f64 / CALIBRATION_BINS as f64,
            count: count[k],
            mean_predicted: (count[k] > 0).then(|| sum_p[k] / count[k] as f64),
            fraction_positive: (count[k] > 0).then(|| ratio(positives[k], count[k])),
        })
        .collect()
}

/// ROC over every distinct score, from (0,0) to (1,1), with trapezoidal AUC (ties count
/// half, as in the Mann–Whitney statistic).
fn roc_curve(p_pos: &[f64], is_pos: &[bool]) -> (Vec<RocPoint>, Option<f64>) {
    let n_pos = is_pos.iter().filter(|&&y| y).count();
    let n_neg = is_pos.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return (Vec::new(), None);
    }
    let mut order: Vec<usize> = (0..p_pos.len()).collect();
    order.sort_by(|&a, &b| p_pos[b].total_cmp(&p_pos[a]));
    let mut points = vec![RocPoint {
        threshold: f64::INFINITY,
        fpr: 0.0,
        tpr: 0.0,
    }];
    let (mut tp, mut fp, mut auc) = (0usize, 0usize, 0.0f64);
    let mut i = 0;
    while i < order.len() {
        let t = p_pos[order[i]];
        let (tp0, fp0) = (tp, fp);
        while i < order.len() && p_pos[order[i]] == t {
            if is_pos[order[i]] {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        auc += (fp - fp0) as f64 * (tp + tp0) as f64 / 2.0;
        points.push(RocPoint {
            threshold: t,
            fpr: ratio(fp, n_neg),
            tpr: ratio(tp, n_pos),
        });
    }
    // JSON has no infinity; the first point's threshold is "above every score".
    points[0].threshold = points.get(1).map_or(1.0, |p| p.threshold) + 1.0;
    (points, Some(auc / (n_pos as f64 * n_neg as f64)))
}

fn thin(points: Vec<RocPoint>) -> Vec<RocPoint> {
    if points.len() <= MAX_ROC_POINTS {
        return points;
    }
    let last = points.len() - 1;
    (0..MAX_ROC_POINTS)
        .map(|k| points[k * last / (MAX_ROC_POINTS - 1)].clone())
        .collect()
}

/// Sustained prediction speed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    pub model: String,
    pub batch_size: usize,
    pub threads: usize,
    pub texts: usize,
    pub seconds: f64,
    pub texts_per_second: f64,
}

/// Runs `threads` workers, each predicting `texts` in batches of `batch_size` round after
/// round until `min_seconds` have passed, and reports total texts per wall-clock second.
pub fn measure_throughput(
    model: &dyn Model,
    texts: &[&str],
    batch_size: usize,
    threads: usize,
    min_seconds: f64,
) -> Throughput {
    assert!(batch_size > 0 && threads > 0 && !texts.is_empty());
    let start = Instant::now();
    let total: usize = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|w| {
                s.spawn(move || {
                    let mut done = 0usize;
                    // Offset workers so they do not walk the same texts in lockstep.
                    let mut pos = w * texts.len() / threads;
                    while start.elapsed().as_secs_f64() < min_seconds {
                        for _ in 0..16 {
                            let end = (pos + batch_size).min(texts.len());
                            let out = model.predict_batch(&texts[pos..end]);
                            done += out.len();
                            std::hint::black_box(out);
                            pos = if end == texts.len() { 0 } else { end };
                        }
                    }
                    done
                })
            })
            .collect();
        workers.into_iter().map(|h| h.join().expect("worker")).sum()
    });
    let seconds = start.elapsed().as_secs_f64();
    Throughput {
        model: model.name().to_string(),
        batch_size,
        threads,
        texts: total,
        seconds,
        texts_per_second: total as f64 / seconds,
    }
}

/// Accuracy of each model on each named data set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccuracyTable {
    pub datasets: Vec<String>,
    pub rows: Vec<AccuracyRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccuracyRow {
    pub model: String,
    pub kind: ModelKind,
    pub accuracy: Vec<f64>,
}

/// Evaluates every model on every set.
pub fn accuracy_table(models: &[&dyn Model], sets: &[(&str, &[Example])]) -> AccuracyTable {
    AccuracyTable {
        datasets: sets.iter().map(|(n, _)| n.to_string()).collect(),
        rows: models
            .iter()
            .map(|m| AccuracyRow {
                model: m.name().to_string(),
                kind: m.kind(),
                accuracy: sets
                    .iter()
                    .map(|(_, ex)| evaluate(*m, ex).accuracy)
                    .collect(),
            })
            .collect(),
    }
}

impl fmt::Display for AccuracyTable {
    /// A Markdown table.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "| model | kind |")?;
        for d in &self.datasets {
            write!(f, " {d} |")?;
        }
        writeln!(f)?;
        write!(f, "|---|---|")?;
        for _ in &self.datasets {
            write!(f, "---:|")?;
        }
        writeln!(f)?;
        for r in &self.rows {
            write!(f, "| {} | {} |", r.model, r.kind.as_str())?;
            for a in &r.accuracy {
                write!(f, " {:.4} |", a)?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pred(p: f32) -> Prediction {
        Prediction::from_positive_probability(p)
    }

    /// 10 examples: actual positives 6 (4 predicted positive), actual negatives 4
    /// (3 predicted negative). So TP=4, FN=2, TN=3, FP=1.
    fn fixture() -> (Vec<Prediction>, Vec<Label>) {
        use Label::*;
        let rows = [
            (0.9, Positive),
            (0.8, Positive),
            (0.7, Positive),
            (0.6, Positive),
            (0.4, Positive),
            (0.3, Positive),
            (0.65, Negative),
            (0.2, Negative),
            (0.1, Negative),
            (0.05, Negative),
        ];
        rows.iter().map(|&(p, l)| (pred(p), l)).unzip()
    }

    #[test]
    fn metrics_match_a_hand_computed_confusion_matrix() {
        let (p, l) = fixture();
        let r = report_from_predictions("m", ModelKind::Linear, &p, &l);
        assert_eq!(r.confusion.matrix, [[3, 1], [2, 4]]);
        assert!((r.accuracy - 0.7).abs() < 1e-12);
        // Positive: precision 4/5, recall 4/6, F1 = 2·0.8·0.6667/(1.4667) = 0.72727.
        assert!((r.positive.precision - 0.8).abs() < 1e-12);
        assert!((r.positive.recall - 4.0 / 6.0).abs() < 1e-12);
        assert!((r.positive.f1 - 8.0 / 11.0).abs() < 1e-12);
        // Negative: precision 3/5, recall 3/4, F1 = 2/3.
        assert!((r.negative.precision - 0.6).abs() < 1e-12);
        assert!((r.negative.recall - 0.75).abs() < 1e-12);
        assert!((r.negative.f1 - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!((r.positive.support, r.negative.support), (6, 4));
        assert!((r.macro_f1 - (8.0 / 11.0 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn auc_matches_the_pairwise_ranking_count() {
        let (p, l) = fixture();
        let r = report_from_predictions("m", ModelKind::Linear, &p, &l);
        // Of 24 (pos, neg) pairs, the positive scores higher in all but (0.6, 0.65),
        // (0.4, 0.65) and (0.3, 0.65): 21/24.
        assert!((r.auc.unwrap() - 21.0 / 24.0).abs() < 1e-12);
        let first = &r.roc[0];
        let last = r.roc.last().unwrap();
        assert_eq!((first.fpr, first.tpr), (0.0, 0.0));
        assert_eq!((last.fpr, last.tpr), (1.0, 1.0));
        assert!(
            r.roc
                .windows(2)
                .all(|w| w[0].fpr <= w[1].fpr && w[0].tpr <= w[1].tpr)
        );
    }

    #[test]
    fn tied_scores_count_half_in_the_auc() {
        let p = [pred(0.5), pred(0.5)];
        let l = [Label::Positive, Label::Negative];
        let r = report_from_predictions("m", ModelKind::Lexicon, &p, &l);
        assert!((r.auc.unwrap() - 0.5).abs() < 1e-12);
    }

    #[test]
    fn calibration_bins_cover_every_example_once() {
        let (p, l) = fixture();
        let r = report_from_predictions("m", ModelKind::Linear, &p, &l);
        assert_eq!(r.calibration.len(), CALIBRATION_BINS);
        assert_eq!(r.calibration.iter().map(|b| b.count).sum::<usize>(), 10);
        // The highest non-empty bin holds 0.8 and 0.9, both positive.
        let top = r.calibration.iter().rev().find(|b| b.count > 0).unwrap();
        assert_eq!(top.count, 2);
        assert_eq!(top.fraction_positive, Some(1.0));
        assert!(
            r.calibration
                .iter()
                .filter(|b| b.count == 0)
                .all(|b| b.mean_predicted.is_none())
        );
        assert!(r.expected_calibration_error >= 0.0 && r.expected_calibration_error <= 1.0);
    }

    #[test]
    fn a_single_class_set_has_no_auc_but_still_serializes() {
        let p = [pred(0.9)];
        let l = [Label::Positive];
        let r = report_from_predictions("m", ModelKind::Linear, &p, &l);
        assert_eq!(r.auc, None);
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"auc\":null"));
    }

    #[test]
    fn long_roc_curves_are_thinned_but_keep_their_ends() {
        let p: Vec<Prediction> = (0..1000).map(|i| pred(i as f32 / 1000.0)).collect();
        let l: Vec<Label> = (0..1000)
            .map(|i| {
                if i % 2 == 0 {
                    Label::Positive
                } else {
                    Label::Negative
                }
            })
            .collect();
        let r = report_from_predictions("m", ModelKind::Linear, &p, &l);
        assert_eq!(r.roc.len(), MAX_ROC_POINTS);
        assert_eq!((r.roc[0].fpr, r.roc[0].tpr), (0.0, 0.0));
        let last = r.roc.last().unwrap();
        assert_eq!((last.fpr, last.tpr), (1.0, 1.0));
    }

    #[test]
    fn the_accuracy_table_renders_one_row_per_model() {
        let m = crate::linear::tests::toy_model();
        let set = vec![
            Example {
                id: "1".into(),
                text: "good".into(),
                label: Label::Positive,
                score: 1.0,
            },
            Example {
                id: "2".into(),
                text: "bad".into(),
                label: Label::Negative,
                score: -1.0,
            },
        ];
        let t = accuracy_table(&[&m], &[("toy", &set)]);
        assert_eq!(t.rows[0].accuracy, vec![1.0]);
        let text = t.to_string();
        assert!(text.contains("| toy | linear | 1.0000 |"), "{text}");
    }

    #[test]
    fn throughput_counts_every_predicted_text() {
        let m = crate::linear::tests::toy_model();
        let t = measure_throughput(&m, &["good", "bad", "meh"], 2, 1, 0.01);
        assert!(t.texts > 0 && t.texts_per_second > 0.0);
    }
}
