//! A small, fast tokenizer: lowercase words, apostrophes kept inside words, `!` and `?`
//! kept as tokens, and optional negation-scope marking ("not good" → `good` marked
//! negated) because flipping polarity is the single most useful cue linear models miss.

use serde::{Deserialize, Serialize};

/// How negation is represented in the token stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Negation {
    /// No marking.
    Off,
    /// Tokens after a negator, up to the next clause boundary, are marked negated.
    Mark,
}

/// A token span in [`TokenBuf::text`] plus flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub start: u32,
    pub end: u32,
    /// Inside a negation scope.
    pub negated: bool,
    /// A word (letters/digits); false for the punctuation tokens `!` and `?`.
    pub is_word: bool,
}

/// Reusable output buffer so hot loops do not allocate per token.
#[derive(Debug, Default, Clone)]
pub struct TokenBuf {
    /// Lowercased token text, concatenated without separators.
    pub text: String,
    pub tokens: Vec<Token>,
}

impl TokenBuf {
    pub fn token_str(&self, t: &Token) -> &str {
        &self.text[t.start as usize..t.end as usize]
    }

    pub fn clear(&mut self) {
        self.text.clear();
        self.tokens.clear();
    }
}

fn is_apostrophe(c: char) -> bool {
    c == '\'' || c == '\u{2019}'
}

/// Words that open a negation scope. Apostrophe-less spellings are included because
/// tweets and reviews often drop the apostrophe.
fn is_negator(word: &str) -> bool {
    matches!(
        word,
        "not"
            | "no"
            | "never"
            | "nothing"
            | "nobody"
            | "none"
            | "nowhere"
            | "neither"
            | "nor"
            | "without"
            | "cannot"
            | "hardly"
            | "barely"
            | "lack"
            | "lacks"
            | "lacking"
            | "dont"
            | "doesnt"
            | "didnt"
            | "isnt"
            | "arent"
            | "wasnt"
            | "werent"
            | "cant"
            | "couldnt"
            | "wont"
            | "wouldnt"
            | "shouldnt"
            | "aint"
            | "hasnt"
            | "havent"
            | "hadnt"
    ) || word.ends_with("n't")
}

/// Tokens that close a negation scope besides clause punctuation: a contrast resets it.
fn ends_scope_word(word: &str) -> bool {
    matches!(word, "but" | "however" | "yet" | "although" | "though")
}

fn ends_scope_punct(c: char) -> bool {
    matches!(c, '.' | ',' | ';' | ':' | '!' | '?' | '(' | ')' | '"')
}

/// Tokenizes `text` into `out` (cleared first).
pub fn tokenize_into(text: &str, negation: Negation, out: &mut TokenBuf) {
    out.clear();
    let mut in_scope = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_alphanumeric() {
            let start = out.text.len();
            push_lower(&mut out.text, c);
            while let Some(&n) = chars.peek() {
                if n.is_alphanumeric() {
                    push_lower(&mut out.text, n);
                    chars.next();
                } else if is_apostrophe(n) {
                    // Keep an apostrophe only when a letter follows ("don't", "film's").
                    chars.next();
                    match chars.peek() {
                        Some(&m) if m.is_alphanumeric() => out.text.push('\''),
                        _ => break,
                    }
                } else {
                    break;
                }
            }
            let word = &out.text[start..];
            let negator = is_negator(word);
            let closes = ends_scope_word(word);
            if closes {
                in_scope = false;
            }
            out.tokens.push(Token {
                start: start as u32,
                end: out.text.len() as u32,
                negated: negation == Negation::Mark && in_scope && !negator,
                is_word: true,
            });
            if negator && negation == Negation::Mark {
                in_scope = true;
            }
        } else {
            if c == '!' || c == '?' {
                let start = out.text.len();
                out.text.push(c);
                out.tokens.push(Token {
                    start: start as u32,
                    end: out.text.len() as u32,
                    negated: false,
                    is_word: false,
                });
            }
            if ends_scope_punct(c) {
                in_scope = false;
            }
        }
    }
}

fn push_lower(s: &mut String, c: char) {
    if c.is_ascii() {
        s.push(c.to_ascii_lowercase());
    } else {
        s.extend(c.to_lowercase());
    }
}

/// Convenience form: tokens as strings, negated ones prefixed with `NOT_`.
pub fn tokenize(text: &str, negation: Negation) -> Vec<String> {
    let mut buf = TokenBuf::default();
    tokenize_into(text, negation, &mut buf);
    buf.tokens
        .iter()
        .map(|t| {
            let s = buf.token_str(t);
            if t.negated {
                format!("NOT_{s}")
            } else {
                s.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_lowercased_and_split_on_punctuation() {
        assert_eq!(
            tokenize("The Rock, co-writer/director!", Negation::Off),
            vec!["the", "rock", "co", "writer", "director", "!"]
        );
    }

    #[test]
    fn inner_apostrophes_are_kept_and_quote_apostrophes_dropped() {
        assert_eq!(
            tokenize("It's ''Conan'' and don't", Negation::Off),
            vec!["it's", "conan", "and", "don't"]
        );
        assert_eq!(tokenize("it’s", Negation::Off), vec!["it's"]);
    }

    #[test]
    fn negation_marks_words_until_clause_punctuation() {
        assert_eq!(
            tokenize("This isn't good or fun, but okay.", Negation::Mark),
            vec![
                "this", "isn't", "NOT_good", "NOT_or", "NOT_fun", "but", "okay"
            ]
        );
    }

    #[test]
    fn a_contrast_word_ends_the_negation_scope() {
        assert_eq!(
            tokenize("not bad but dull", Negation::Mark),
            vec!["not", "NOT_bad", "but", "dull"]
        );
    }

    #[test]
    fn negation_off_marks_nothing() {
        assert!(
            tokenize("not good", Negation::Off)
                .iter()
                .all(|t| !t.starts_with("NOT_"))
        );
    }

    #[test]
    fn non_ascii_letters_are_lowercased_as_words() {
        assert_eq!(
            tokenize("Café ÉLAN naïve", Negation::Off),
            vec!["café", "élan", "naïve"]
        );
    }

    #[test]
    fn empty_and_punctuation_only_texts_give_no_words() {
        assert!(tokenize("", Negation::Mark).is_empty());
        assert_eq!(tokenize("... ?!", Negation::Mark), vec!["?", "!"]);
    }
}
