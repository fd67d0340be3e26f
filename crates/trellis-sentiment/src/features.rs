//! Hashed sparse features: word n-grams and optional character n-grams mapped into
//! `2^hash_bits` buckets. The hash is our own (FNV-1a + SplitMix64 finalizer) and part of
//! the model format: changing it invalidates saved models, so it is pinned by tests.

use crate::tokenize::{Negation, TokenBuf, tokenize_into};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::OnceLock;

/// Bumped whenever tokenization or hashing changes in a way that alters bucket ids.
pub(crate) const FEATURES_VERSION: u32 = 1;

/// What to extract from a text. Stored in a model's header so inference matches training.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureConfig {
    /// log2 of the number of hash buckets.
    pub hash_bits: u8,
    /// Longest word n-gram (1 = unigrams, 2 = + bigrams, 3 = + trigrams).
    pub word_ngrams: u8,
    /// Character n-gram lengths `[min, max]` over each word padded with `<` and `>`;
    /// `None` disables them.
    pub char_ngrams: Option<[u8; 2]>,
    pub negation: Negation,
    /// Add a few features summarizing VADER-lexicon hits (polarity after negation,
    /// strength, counts, net valence bins): a prior for sentiment words too rare in the
    /// training data to get a weight of their own.
    #[serde(default)]
    pub lexicon: bool,
}

impl FeatureConfig {
    pub(crate) fn validate(&self) -> Result<(), String> {
        if !(10..=24).contains(&self.hash_bits) {
            return Err(format!("hash_bits {} outside 10..=24", self.hash_bits));
        }
        if !(1..=3).contains(&self.word_ngrams) {
            return Err(format!("word_ngrams {} outside 1..=3", self.word_ngrams));
        }
        if let Some([lo, hi]) = self.char_ngrams
            && (lo == 0 || lo > hi || hi > 8)
        {
            return Err(format!("char_ngrams [{lo}, {hi}] invalid"));
        }
        Ok(())
    }

    pub(crate) fn buckets(&self) -> usize {
        1usize << self.hash_bits
    }
}

const SALT_UNIGRAM: u64 = 0x1;
const SALT_BIGRAM: u64 = 0x2;
const SALT_TRIGRAM: u64 = 0x3;
const SALT_CHAR: u64 = 0x10;
const SALT_NEGATED: u64 = 0xA5A5_0000_0000_0000;
const SALT_LEXICON: u64 = 0x4C45_5800_0000_0000;

/// VADER lexicon word → mean valence (−4..+4), lowercased.
fn vader_lexicon() -> &'static HashMap<String, f32> {
    static LEXICON: OnceLock<HashMap<String, f32>> = OnceLock::new();
    LEXICON.get_or_init(|| {
        vader_sentiment::LEXICON
            .iter()
            .map(|(k, v)| (k.to_lowercase(), *v as f32))
            .collect()
    })
}

/// Every lexicon word (sorted, so the order is fixed) with its extracted buckets and
/// valence; entries that yield no word token (emoticons) or have zero valence are skipped.
pub(crate) fn lexicon_pseudo_examples(cfg: &FeatureConfig) -> Vec<(Vec<u32>, f32)> {
    let mut words: Vec<(&String, &f32)> = vader_lexicon().iter().collect();
    words.sort_by(|a, b| a.0.cmp(b.0));
    let mut ex = Extractor::default();
    words
        .into_iter()
        .filter(|(_, v)| **v != 0.0)
        .filter_map(|(w, v)| {
            ex.extract(w, cfg);
            ex.tokens
                .tokens
                .iter()
                .any(|t| t.is_word)
                .then(|| (ex.buckets.clone(), *v))
        })
        .collect()
}

/// Net valence → one of 9 coarse bins, so a linear model can learn a non-linear prior.
fn valence_bin(net: f32) -> u64 {
    const EDGES: [f32; 8] = [-4.0, -2.0, -1.0, -0.01, 0.01, 1.0, 2.0, 4.0];
    EDGES.iter().filter(|&&e| net > e).count() as u64
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

/// SplitMix64 finalizer: FNV alone has weak high bits for short keys, and we take buckets
/// from the high bits.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Reusable extraction state; one per thread.
#[derive(Debug, Default)]
pub(crate) struct Extractor {
    tokens: TokenBuf,
    token_hashes: Vec<u64>,
    padded: Vec<u8>,
    /// Sorted, de-duplicated bucket ids of the last text.
    pub(crate) buckets: Vec<u32>,
}

impl Extractor {
    /// Fills `self.buckets` with the distinct buckets present in `text` (binary features).
    pub(crate) fn extract(&mut self, text: &str, cfg: &FeatureConfig) {
        let shift = 64 - cfg.hash_bits as u32;
        tokenize_into(text, cfg.negation, &mut self.tokens);
        self.buckets.clear();
        self.token_hashes.clear();
        for t in &self.tokens.tokens {
            let mut h = fnv1a(self.tokens.token_str(t).as_bytes());
            if t.negated {
                h ^= SALT_NEGATED;
            }
            self.token_hashes.push(h);
        }
        let th = &self.token_hashes;
        for (i, &h) in th.iter().enumerate() {
            self.buckets.push((mix(h ^ SALT_UNIGRAM) >> shift) as u32);
            if cfg.word_ngrams >= 2 && i + 1 < th.len() {
                let b = h.rotate_left(23) ^ th[i + 1] ^ SALT_BIGRAM;
                self.buckets.push((mix(b) >> shift) as u32);
            }
            if cfg.word_ngrams >= 3 && i + 2 < th.len() {
                let t = h.rotate_left(41) ^ th[i + 1].rotate_left(19) ^ th[i + 2] ^ SALT_TRIGRAM;
                self.buckets.push((mix(t) >> shift) as u32);
            }
        }
        if let Some([lo, hi]) = cfg.char_ngrams {
            for t in self.tokens.tokens.iter().filter(|t| t.is_word) {
                self.padded.clear();
                self.padded.push(b'<');
                self.padded
                    .extend_from_slice(self.tokens.token_str(t).as_bytes());
                self.padded.push(b'>');
                for n in lo as usize..=hi as usize {
                    for w in self.padded.windows(n) {
                        let h = fnv1a(w) ^ (SALT_CHAR + n as u64);
                        self.buckets.push((mix(h) >> shift) as u32);
                    }
                }
            }
        }
        if cfg.lexicon {
            self.lexicon_features(shift);
        }
        self.buckets.sort_unstable();
        self.buckets.dedup();
    }
}

impl Extractor {
    fn lexicon_features(&mut self, shift: u32) {
        let lex = vader_lexicon();
        let (mut pos, mut neg, mut net) = (0u64, 0u64, 0.0f32);
        let emit = |buckets: &mut Vec<u32>, key: u64| {
            buckets.push((mix(SALT_LEXICON ^ key) >> shift) as u32);
        };
        for t in self.tokens.tokens.iter().filter(|t| t.is_word) {
            let Some(&v) = lex.get(self.tokens.token_str(t)) else {
                continue;
            };
            // Negation flips and damps polarity (VADER uses a factor of −0.74).
            let v = if t.negated { -0.74 * v } else { v };
            let strong = v.abs() >= 2.0;
            emit(
                &mut self.buckets,
                1 + u64::from(v > 0.0) * 2 + u64::from(strong),
            );
            if v > 0.0 {
                pos += 1;
            } else {
                neg += 1;
            }
            net += v;
        }
        emit(&mut self.buckets, 0x100 + pos.min(3));
        emit(&mut self.buckets, 0x200 + neg.min(3));
        emit(&mut self.buckets, 0x300 + valence_bin(net));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(word_ngrams: u8, char_ngrams: Option<[u8; 2]>) -> FeatureConfig {
        FeatureConfig {
            hash_bits: 18,
            word_ngrams,
            char_ngrams,
            negation: Negation::Mark,
            lexicon: false,
        }
    }

    fn buckets(text: &str, c: &FeatureConfig) -> Vec<u32> {
        let mut e = Extractor::default();
        e.extract(text, c);
        e.buckets.clone()
    }

    #[test]
    fn hashing_is_deterministic_across_extractors() {
        let c = cfg(2, Some([3, 5]));
        assert_eq!(buckets("A fine film!", &c), buckets("A fine film!", &c));
    }

    #[test]
    fn the_hash_function_is_pinned_to_known_values() {
        // Saved models depend on these exact values; a change here needs FEATURES_VERSION++.
        assert_eq!(fnv1a(b""), 0xCBF2_9CE4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xAF63_DC4C_8601_EC8C);
        let c = FeatureConfig {
            hash_bits: 20,
            word_ngrams: 1,
            char_ngrams: None,
            negation: Negation::Off,
            lexicon: false,
        };
        assert_eq!(
            buckets("good", &c),
            vec![(mix(fnv1a(b"good") ^ SALT_UNIGRAM) >> 44) as u32]
        );
        assert_eq!(buckets("good", &c), vec![PINNED_GOOD_BUCKET]);
    }
    const PINNED_GOOD_BUCKET: u32 = 808_005;

    #[test]
    fn buckets_are_sorted_unique_and_in_range() {
        let c = cfg(3, Some([2, 4]));
        let b = buckets("good good good film, not good at all!", &c);
        assert!(b.windows(2).all(|w| w[0] < w[1]));
        assert!(b.iter().all(|&x| (x as usize) < c.buckets()));
    }

    #[test]
    fn bigrams_add_features_beyond_unigrams() {
        let uni = buckets("very good film", &cfg(1, None));
        let bi = buckets("very good film", &cfg(2, None));
        assert_eq!(uni.len(), 3);
        assert_eq!(bi.len(), 5);
        assert!(uni.iter().all(|x| bi.contains(x)));
    }

    #[test]
    fn a_negated_word_hashes_differently_from_the_plain_word() {
        let c = cfg(1, None);
        let plain = buckets("good", &c);
        let negated = buckets("not good", &c);
        assert!(!negated.contains(&plain[0]));
    }

    #[test]
    fn word_order_changes_bigrams() {
        let c = cfg(2, None);
        assert_ne!(buckets("good not", &c), buckets("not good", &c));
        let c = FeatureConfig {
            negation: Negation::Off,
            ..c
        };
        assert_ne!(buckets("film good", &c), buckets("good film", &c));
    }

    #[test]
    fn lexicon_features_flip_with_negation() {
        let c = FeatureConfig {
            lexicon: true,
            ..cfg(1, None)
        };
        let plain = FeatureConfig {
            lexicon: false,
            ..c.clone()
        };
        let extra = |t: &str| -> Vec<u32> {
            let with = buckets(t, &c);
            let without = buckets(t, &plain);
            with.into_iter().filter(|b| !without.contains(b)).collect()
        };
        // "good" and "nice" are both weak positives: same lexicon features.
        assert_eq!(extra("good"), extra("nice"));
        assert_ne!(extra("good"), extra("not good"));
        assert_ne!(extra("good"), extra("bad"));
        assert_eq!(
            extra("good").len(),
            4,
            "one polarity feature, two counts, one net bin"
        );
    }

    #[test]
    fn valence_bins_are_ordered() {
        let bins: Vec<u64> = [-5.0, -3.0, -1.5, -0.5, 0.0, 0.5, 1.5, 3.0, 5.0]
            .iter()
            .map(|&v| valence_bin(v))
            .collect();
        assert_eq!(bins, (0..9).collect::<Vec<u64>>());
    }

    #[test]
    fn invalid_configs_are_rejected() {
        assert!(cfg(0, None).validate().is_err());
        assert!(cfg(2, Some([4, 3])).validate().is_err());
        assert!(
            FeatureConfig {
                hash_bits: 30,
                ..cfg(2, None)
            }
            .validate()
            .is_err()
        );
        assert!(cfg(2, Some([3, 5])).validate().is_ok());
    }
}
