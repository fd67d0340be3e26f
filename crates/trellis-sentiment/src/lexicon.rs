//! VADER (Hutto & Gilbert 2014) through the `vader_sentiment` crate, which embeds the
//! lexicon: a zero-set-up baseline.

use crate::{Model, ModelKind, Prediction};
use vader_sentiment::SentimentIntensityAnalyzer;

/// Rule-based lexicon model. P(positive) = (compound + 1) / 2: VADER's compound score is
/// already a squashed valence in [−1, 1], so a linear map keeps its ordering (what ROC
/// needs) and maps "no sentiment words" (0) to an undecided 0.5.
pub struct LexiconModel {
    analyzer: SentimentIntensityAnalyzer<'static>,
}

impl Default for LexiconModel {
    fn default() -> Self {
        Self::new()
    }
}

impl LexiconModel {
    pub fn new() -> Self {
        LexiconModel {
            analyzer: SentimentIntensityAnalyzer::new(),
        }
    }

    /// VADER's compound score in [−1, 1].
    pub fn compound(&self, text: &str) -> f64 {
        if text.trim().is_empty() {
            return 0.0;
        }
        self.analyzer
            .polarity_scores(text)
            .get("compound")
            .copied()
            .unwrap_or(0.0)
    }
}

impl Model for LexiconModel {
    fn name(&self) -> &str {
        "vader"
    }

    fn kind(&self) -> ModelKind {
        ModelKind::Lexicon
    }

    fn predict_batch(&self, texts: &[&str]) -> Vec<Prediction> {
        texts
            .iter()
            .map(|t| Prediction::from_positive_probability(((self.compound(t) + 1.0) / 2.0) as f32))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Label;

    #[test]
    fn vader_reads_plain_praise_and_complaint() {
        let m = LexiconModel::new();
        let out = m.predict_batch(&["I love this, it is great!", "This is terrible and sad."]);
        assert_eq!(out[0].label, Label::Positive);
        assert_eq!(out[1].label, Label::Negative);
        assert!(out[0].scores.positive > 0.8);
    }

    #[test]
    fn empty_text_is_undecided() {
        let m = LexiconModel::new();
        let p = m.predict("   ");
        assert_eq!(p.scores.positive, 0.5);
        assert_eq!(m.kind(), ModelKind::Lexicon);
    }
}
