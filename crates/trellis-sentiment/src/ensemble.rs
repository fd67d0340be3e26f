//! Kind `ensemble`: stacking. A logistic regression over the member models' log-odds, fitted on the
//! validation split, so models that err differently (n-grams and a sentence encoder) correct each other.
//! Three numbers for two members; the weights ship as `models/stack.json`.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::linear::sigmoid;
use crate::optim::{self, LbfgsOptions};
use crate::{Error, Example, Label, Model, ModelKind, Prediction, Result};

const FORMAT: &str = "trellis-sentiment-stack/1";

/// Stacking weights, as stored in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stack {
    pub format: String,
    pub name: String,
    /// Member model names, in the order of `weights`.
    pub members: Vec<String>,
    pub weights: Vec<f32>,
    pub bias: f32,
    pub trained_at: String,
    pub validation_examples: usize,
    pub validation_accuracy: f64,
}

impl Stack {
    pub fn from_json(bytes: &[u8]) -> Result<Stack> {
        let s: Stack = serde_json::from_slice(bytes)?;
        if s.format != FORMAT || s.members.len() != s.weights.len() || s.members.is_empty() {
            return Err(Error::Model(format!("not a {FORMAT} file")));
        }
        Ok(s)
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("a stack serializes");
        v.push(b'\n');
        v
    }
}

/// The stack fitted on the movie validation split over `default` and the transformer.
pub fn shipped_stack() -> Result<Stack> {
    Stack::from_json(include_bytes!("../models/stack.json"))
}

/// Log-odds of a probability, clamped so certain answers stay finite.
fn logit(p: f32) -> f64 {
    let p = (p as f64).clamp(1e-6, 1.0 - 1e-6);
    (p / (1.0 - p)).ln()
}

/// Fits weights and bias on the members' P(positive) for each example (`probs[member][example]`).
pub fn fit(
    probs: &[Vec<f32>],
    examples: &[Example],
    name: &str,
    members: &[&str],
    trained_at: &str,
) -> Result<Stack> {
    if probs.is_empty() || probs.iter().any(|p| p.len() != examples.len()) || examples.is_empty() {
        return Err(Error::Train(
            "one probability per member and example is needed".into(),
        ));
    }
    let k = probs.len();
    let x: Vec<Vec<f64>> = (0..examples.len())
        .map(|i| probs.iter().map(|p| logit(p[i])).collect())
        .collect();
    let y: Vec<f64> = examples
        .iter()
        .map(|e| f64::from(u8::from(e.label == Label::Positive)))
        .collect();
    // Start from an even average; a whisper of L2 keeps separable sets finite.
    let mut w = vec![1.0 / k as f64; k + 1];
    w[k] = 0.0;
    optim::minimize(
        &mut w,
        |p, g| {
            g.iter_mut().for_each(|v| *v = 0.0);
            let mut f = 0.0;
            for j in 0..k {
                f += 0.5e-3 * p[j] * p[j];
                g[j] = 1e-3 * p[j];
            }
            for (xi, &t) in x.iter().zip(&y) {
                let z: f64 = xi.iter().zip(p).map(|(a, b)| a * b).sum::<f64>() + p[k];
                f += if z > 0.0 {
                    z + (-z).exp().ln_1p()
                } else {
                    z.exp().ln_1p()
                } - t * z;
                let d = 1.0 / (1.0 + (-z).exp()) - t;
                for j in 0..k {
                    g[j] += d * xi[j];
                }
                g[k] += d;
            }
            f
        },
        &LbfgsOptions::default(),
    );
    let correct = x
        .iter()
        .zip(&y)
        .filter(|(xi, t)| {
            let z: f64 = xi.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>() + w[k];
            (z >= 0.0) == (**t > 0.5)
        })
        .count();
    Ok(Stack {
        format: FORMAT.into(),
        name: name.into(),
        members: members.iter().map(|m| m.to_string()).collect(),
        weights: w[..k].iter().map(|v| *v as f32).collect(),
        bias: w[k] as f32,
        trained_at: trained_at.into(),
        validation_examples: examples.len(),
        validation_accuracy: correct as f64 / examples.len() as f64,
    })
}

/// Member models combined by a [`Stack`].
pub struct Stacked {
    stack: Stack,
    members: Vec<Arc<dyn Model>>,
}

impl Stacked {
    /// `members` in the stack's order.
    pub fn new(stack: Stack, members: Vec<Arc<dyn Model>>) -> Result<Stacked> {
        if members.len() != stack.weights.len() {
            return Err(Error::Model(format!(
                "the stack has {} weights for {} members",
                stack.weights.len(),
                members.len()
            )));
        }
        Ok(Stacked { stack, members })
    }
}

impl Model for Stacked {
    fn name(&self) -> &str {
        &self.stack.name
    }

    fn kind(&self) -> ModelKind {
        ModelKind::Ensemble
    }

    fn predict_batch(&self, texts: &[&str]) -> Vec<Prediction> {
        let outs: Vec<Vec<Prediction>> = self
            .members
            .iter()
            .map(|m| m.predict_batch(texts))
            .collect();
        (0..texts.len())
            .map(|i| {
                let z: f64 = outs
                    .iter()
                    .zip(&self.stack.weights)
                    .map(|(o, w)| *w as f64 * logit(o[i].scores.positive))
                    .sum::<f64>()
                    + self.stack.bias as f64;
                Prediction::from_positive_probability(sigmoid(z as f32))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Vec<f32>);

    impl Model for Fixed {
        fn name(&self) -> &str {
            "fixed"
        }
        fn kind(&self) -> ModelKind {
            ModelKind::Lexicon
        }
        fn predict_batch(&self, texts: &[&str]) -> Vec<Prediction> {
            texts
                .iter()
                .map(|t| Prediction::from_positive_probability(self.0[t.parse::<usize>().unwrap()]))
                .collect()
        }
    }

    fn ex(pos: bool) -> Example {
        Example {
            id: String::new(),
            text: String::new(),
            label: if pos {
                Label::Positive
            } else {
                Label::Negative
            },
            score: 0.0,
        }
    }

    #[test]
    fn the_shipped_stack_loads() {
        let s = shipped_stack().unwrap();
        assert_eq!(s.members, ["default", "transformer"]);
        assert!(s.weights.iter().all(|w| *w > 0.0));
    }

    #[test]
    fn the_stack_leans_on_the_member_that_is_right() {
        // Member a is right every time, member b is noise.
        let labels: Vec<bool> = (0..60).map(|i| i % 3 != 0).collect();
        let a: Vec<f32> = labels.iter().map(|&l| if l { 0.8 } else { 0.2 }).collect();
        let b: Vec<f32> = (0..60)
            .map(|i| if i % 2 == 0 { 0.7 } else { 0.3 })
            .collect();
        let examples: Vec<Example> = labels.iter().map(|&l| ex(l)).collect();
        let stack = fit(
            &[a.clone(), b.clone()],
            &examples,
            "s",
            &["a", "b"],
            "2026-01-01",
        )
        .unwrap();
        assert!(stack.weights[0] > 3.0 * stack.weights[1].abs(), "{stack:?}");
        assert_eq!(stack.validation_accuracy, 1.0);
        assert_eq!(Stack::from_json(&stack.to_json()).unwrap(), stack);
        let model = Stacked::new(stack, vec![Arc::new(Fixed(a)), Arc::new(Fixed(b))]).unwrap();
        let out = model.predict_batch(&["0", "1"]);
        assert_eq!(out[0].label, Label::Negative);
        assert_eq!(out[1].label, Label::Positive);
        assert_eq!(model.kind(), ModelKind::Ensemble);
    }
}
