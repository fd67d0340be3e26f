//! Detection and repair of UTF-8 text that was decoded with a legacy 8-bit encoding and
//! re-encoded as UTF-8 ("’" arriving as "‚Äô").
//!
//! Every UTF-8 multi-byte sequence consists of bytes ≥ 0x80, and each of the three encodings maps
//! every such byte to a non-ASCII character. So mojibake always shows up as a *run* of two or more
//! adjacent non-ASCII characters, and ASCII (markdown syntax, newlines) is untouched. Repair works
//! run by run: map each character back to the byte it came from under the suspect encoding, and
//! keep the result if the bytes are valid UTF-8 that decode to characters people write. The
//! encoding whose repair makes the whole text most plausible wins; if none helps, the text is
//! returned borrowed and unchanged.

use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// The legacy encoding UTF-8 bytes were mistakenly decoded with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    MacRoman,
    Windows1252,
    Latin1,
}

impl Encoding {
    pub fn name(self) -> &'static str {
        match self {
            Encoding::MacRoman => "Mac Roman",
            Encoding::Windows1252 => "Windows-1252",
            Encoding::Latin1 => "Latin-1",
        }
    }

    /// Encodes `c` as this encoding's single byte, if it has one. This is the inverse of how
    /// the mojibake was made, which is all repair needs.
    fn byte_of(self, c: char) -> Option<u8> {
        let cp = c as u32;
        if cp < 0x80 {
            return Some(cp as u8);
        }
        match self {
            Encoding::Latin1 => u8::try_from(cp).ok(),
            Encoding::Windows1252 => {
                if (0xA0..=0xFF).contains(&cp) {
                    return Some(cp as u8);
                }
                if let Some(i) = WINDOWS_1252_C1.iter().position(|&m| m == Some(c)) {
                    return Some(0x80 + i as u8);
                }
                // The five bytes Windows-1252 leaves undefined are commonly passed through as
                // the C1 control of the same number (as browsers and Python's "replace" do not,
                // but Windows and most editors do).
                matches!(cp, 0x81 | 0x8D | 0x8F | 0x90 | 0x9D).then_some(cp as u8)
            }
            Encoding::MacRoman => {
                let table = mac_roman_reverse();
                table
                    .binary_search_by_key(&c, |&(ch, _)| ch)
                    .ok()
                    .map(|i| table[i].1)
            }
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Mac OS Roman, bytes 0x80–0xFF, written out from the encoding's definition.
const MAC_ROMAN_HIGH: [char; 128] = [
    // 0x80
    'Ä', 'Å', 'Ç', 'É', 'Ñ', 'Ö', 'Ü', 'á', 'à', 'â', 'ä', 'ã', 'å', 'ç', 'é', 'è',
    // 0x90
    'ê', 'ë', 'í', 'ì', 'î', 'ï', 'ñ', 'ó', 'ò', 'ô', 'ö', 'õ', 'ú', 'ù', 'û', 'ü',
    // 0xA0
    '†', '°', '¢', '£', '§', '•', '¶', 'ß', '®', '©', '™', '´', '¨', '≠', 'Æ', 'Ø',
    // 0xB0
    '∞', '±', '≤', '≥', '¥', 'µ', '∂', '∑', '∏', 'π', '∫', 'ª', 'º', 'Ω', 'æ', 'ø',
    // 0xC0
    '¿', '¡', '¬', '√', 'ƒ', '≈', '∆', '«', '»', '…', '\u{A0}', 'À', 'Ã', 'Õ', 'Œ', 'œ',
    // 0xD0
    '–', '—', '“', '”', '‘', '’', '÷', '◊', 'ÿ', 'Ÿ', '⁄', '€', '‹', '›', 'ﬁ', 'ﬂ',
    // 0xE0
    '‡', '·', '‚', '„', '‰', 'Â', 'Ê', 'Á', 'Ë', 'È', 'Í', 'Î', 'Ï', 'Ì', 'Ó', 'Ô',
    // 0xF0: the Apple logo lives in the private use area.
    '\u{F8FF}', 'Ò', 'Ú', 'Û', 'Ù', 'ı', 'ˆ', '˜', '¯', '˘', '˙', '˚', '¸', '˝', '˛', 'ˇ',
];

/// Characters some converters use for a Mac Roman byte instead of the table's choice: Ω as the
/// Ohm sign, ∆ as Greek Delta, µ as Greek mu, and the pre-1998 currency sign at 0xDB.
const MAC_ROMAN_ALIASES: [(char, u8); 4] = [
    ('\u{2126}', 0xBD),
    ('\u{394}', 0xC6),
    ('\u{3BC}', 0xB5),
    ('¤', 0xDB),
];

/// Windows-1252 bytes 0x80–0x9F; `None` marks the five undefined bytes.
const WINDOWS_1252_C1: [Option<char>; 32] = [
    Some('€'),
    None,
    Some('‚'),
    Some('ƒ'),
    Some('„'),
    Some('…'),
    Some('†'),
    Some('‡'),
    Some('ˆ'),
    Some('‰'),
    Some('Š'),
    Some('‹'),
    Some('Œ'),
    None,
    Some('Ž'),
    None,
    None,
    Some('‘'),
    Some('’'),
    Some('“'),
    Some('”'),
    Some('•'),
    Some('–'),
    Some('—'),
    Some('˜'),
    Some('™'),
    Some('š'),
    Some('›'),
    Some('œ'),
    None,
    Some('ž'),
    Some('Ÿ'),
];

/// Sorted by char for binary search: several MB of non-ASCII text would make a linear scan of
/// 128 entries per character noticeable.
fn mac_roman_reverse() -> &'static [(char, u8)] {
    static TABLE: OnceLock<Vec<(char, u8)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t: Vec<(char, u8)> = MAC_ROMAN_HIGH
            .iter()
            .enumerate()
            .map(|(i, &c)| (c, 0x80 + i as u8))
            .chain(MAC_ROMAN_ALIASES)
            .collect();
        t.sort_unstable();
        t
    })
}

/// Repairs mojibake, returning the text unchanged (borrowed) when it is not mojibake.
///
/// Applied until nothing more changes (at most three times) so that text mangled twice is
/// repaired too; the reported encoding is the one undone first.
pub fn repair_mojibake(text: &str) -> (Cow<'_, str>, Option<Encoding>) {
    let Some((mut fixed, first)) = repair_once(text) else {
        return (Cow::Borrowed(text), None);
    };
    for _ in 0..2 {
        match repair_once(&fixed) {
            Some((again, _)) => fixed = again,
            None => break,
        }
    }
    (Cow::Owned(fixed), Some(first))
}

/// Windows-1252 comes before Latin-1 so that text only using bytes the two share (0xA0–0xFF) is
/// reported as Windows-1252, by far the more common culprit; Latin-1 wins only when the text
/// contains C1 controls, which is what tells it apart.
const CANDIDATES: [Encoding; 3] = [Encoding::Windows1252, Encoding::MacRoman, Encoding::Latin1];

fn repair_once(text: &str) -> Option<(String, Encoding)> {
    if text.is_ascii() {
        return None;
    }
    let before = implausibility(text);
    let mut best: Option<(String, Encoding, usize)> = None;
    for enc in CANDIDATES {
        let Some(candidate) = repair_with(text, enc) else {
            continue;
        };
        let score = implausibility(&candidate);
        if score < before && best.as_ref().is_none_or(|b| score < b.2) {
            best = Some((candidate, enc, score));
        }
    }
    best.map(|(s, enc, _)| (s, enc))
}

/// Repairs each run of non-ASCII characters that maps back to plausible UTF-8 under `enc`.
/// Returns `None` unless at least half of the multi-character runs were repaired: genuine
/// mojibake is consistent, while clean text only matches by coincidence here and there.
fn repair_with(text: &str, enc: Encoding) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut runs = 0usize;
    let mut repaired = 0usize;
    let mut rest = text;
    let mut prev: Option<char> = None;
    while !rest.is_empty() {
        let ascii_len = rest.bytes().take_while(u8::is_ascii).count();
        if ascii_len > 0 {
            out.push_str(&rest[..ascii_len]);
            prev = rest[..ascii_len].chars().next_back();
            rest = &rest[ascii_len..];
            continue;
        }
        let run_len = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii())
            .map_or(rest.len(), |(i, _)| i);
        let run = &rest[..run_len];
        rest = &rest[run_len..];
        if run.chars().nth(1).is_some() {
            runs += 1;
            if let Some(fixed) = repair_run(run, enc, prev) {
                out.push_str(&fixed);
                repaired += 1;
                prev = fixed.chars().next_back();
                continue;
            }
        }
        out.push_str(run);
        prev = run.chars().next_back();
    }
    (repaired > 0 && repaired * 2 >= runs).then_some(out)
}

fn repair_run(run: &str, enc: Encoding, prev: Option<char>) -> Option<String> {
    repair_run_depth(run, enc, prev, 2)
}

fn repair_run_depth(run: &str, enc: Encoding, prev: Option<char>, depth: u8) -> Option<String> {
    let bytes: Vec<u8> = run.chars().map(|c| enc.byte_of(c)).collect::<Option<_>>()?;
    let decoded = String::from_utf8(bytes).ok()?;
    // Mangled twice, a run decodes to one that still holds C1 controls (the first mangling's
    // undefined bytes); those are only acceptable as a step towards a full repair.
    if depth > 0 && decoded.chars().any(|c| ('\u{80}'..='\u{9F}').contains(&c)) {
        return repair_run_depth(&decoded, enc, prev, depth - 1);
    }
    let mut chars = decoded.chars();
    let first = chars.next()?;
    // A combining mark can only follow a letter (decomposed accents); anywhere else it means the
    // bytes lined up by accident, as "“É" does under Mac Roman.
    if is_combining(first) && !prev.is_some_and(|p| p.is_ascii_alphabetic()) {
        return None;
    }
    decoded.chars().all(is_expected).then_some(decoded)
}

/// Characters real documents contain. Accidental decodes of clean text land in rarely written
/// blocks (IPA, N'Ko, private use, controls), so those block a run's repair.
fn is_expected(c: char) -> bool {
    let cp = c as u32;
    if c.is_control() || is_private_use(cp) || c == '\u{FFFD}' {
        return false;
    }
    matches!(cp,
        0x00A0..=0x024F     // Latin-1 Supplement, Latin Extended-A/B
        | 0x0300..=0x036F   // combining diacritics (position checked by the caller)
        | 0x0370..=0x03FF   // Greek
        | 0x0400..=0x052F   // Cyrillic
        | 0x05D0..=0x05EA   // Hebrew letters
        | 0x0600..=0x06FF   // Arabic
        | 0x0900..=0x0DFF   // Indic scripts
        | 0x0E00..=0x0E7F   // Thai
        | 0x1E00..=0x1EFF   // Latin Extended Additional (Vietnamese)
        | 0x2000..=0x206F   // General Punctuation
        | 0x2070..=0x20CF   // super/subscripts, currency
        | 0x20D0..=0x20FF   // combining marks for symbols (keycaps)
        | 0x2100..=0x2BFF   // letterlike, arrows, math, technical, shapes, dingbats
        | 0x2E80..=0x9FFF   // CJK, kana, Hangul Jamo
        | 0xAC00..=0xD7AF   // Hangul syllables
        | 0xFB00..=0xFB06   // Latin ligatures
        | 0xFE00..=0xFE0F   // variation selectors (emoji presentation)
        | 0xFEFF            // byte order mark
        | 0xFF00..=0xFFEF   // fullwidth forms
        | 0x1F000..=0x1FAFF // emoji and pictographs
        | 0xE0020..=0xE007F // emoji tag sequences
    )
}

fn is_private_use(cp: u32) -> bool {
    (0xE000..=0xF8FF).contains(&cp) || cp >= 0xF0000
}

fn is_combining(c: char) -> bool {
    matches!(c as u32,
        0x0300..=0x036F | 0x0483..=0x0489 | 0x0591..=0x05BD | 0x0610..=0x061A
        | 0x064B..=0x065F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF
        | 0xFE20..=0xFE2F)
}

/// Characters that legitimately sit next to other non-ASCII characters in clean text (emoji
/// sequences), so they neither count nor break a run.
fn is_joiner(c: char) -> bool {
    matches!(
        c as u32,
        0x200D | 0xFE0E | 0xFE0F | 0x1F3FB..=0x1F3FF | 0x20E3
    )
}

/// Lower is more plausible. Clean text mostly has isolated non-ASCII characters (an accent, a
/// curly quote, an emoji between spaces); mojibake has runs of them plus controls and
/// private-use characters. Each character in a run of two or more costs 1, odd characters 3.
fn implausibility(text: &str) -> usize {
    let mut score = 0;
    let mut run = 0;
    for c in text.chars() {
        if c.is_ascii() {
            if run >= 2 {
                score += run;
            }
            run = 0;
            continue;
        }
        if is_joiner(c) {
            continue;
        }
        run += 1;
        if c.is_control() || is_private_use(c as u32) || c == '\u{FFFD}' {
            score += 3;
        } else if is_combining(c) {
            score += 2;
        }
    }
    if run >= 2 {
        score += run;
    }
    score
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Produces mojibake the way it happens: UTF-8 bytes read with a legacy decoder.
    fn mangle(text: &str, enc: Encoding) -> String {
        text.bytes()
            .map(|b| match (b, enc) {
                (0..=0x7F, _) => b as char,
                (_, Encoding::Latin1) => b as char,
                (_, Encoding::MacRoman) => MAC_ROMAN_HIGH[(b - 0x80) as usize],
                (0x80..=0x9F, Encoding::Windows1252) => {
                    WINDOWS_1252_C1[(b - 0x80) as usize].unwrap_or(b as char)
                }
                (_, Encoding::Windows1252) => b as char,
            })
            .collect()
    }

    const SAMPLE: &str = "Here’s the plan — status ✅/🚧/❌, café, naïve, “quoted”, €5, 日本.";

    #[test]
    fn mac_roman_table_has_no_duplicates_and_covers_every_byte() {
        let mut chars: Vec<char> = MAC_ROMAN_HIGH.to_vec();
        chars.sort_unstable();
        chars.dedup();
        assert_eq!(chars.len(), 128);
        for (i, &c) in MAC_ROMAN_HIGH.iter().enumerate() {
            assert_eq!(Encoding::MacRoman.byte_of(c), Some(0x80 + i as u8), "{c}");
        }
    }

    #[test]
    fn known_mac_roman_sequences_match_the_seed() {
        assert_eq!(mangle("’", Encoding::MacRoman), "‚Äô");
        assert_eq!(mangle("✅", Encoding::MacRoman), "‚úÖ");
        assert_eq!(mangle("❌", Encoding::MacRoman), "‚ùå");
        assert_eq!(mangle("🚧", Encoding::MacRoman), "\u{F8FF}üöß");
    }

    #[test]
    fn windows_1252_round_trips_every_defined_byte() {
        for b in 0x80u8..=0xFF {
            let c = match WINDOWS_1252_C1.get((b - 0x80) as usize) {
                Some(Some(c)) => *c,
                _ => b as char,
            };
            assert_eq!(Encoding::Windows1252.byte_of(c), Some(b));
        }
    }

    #[test]
    fn each_encoding_is_detected_and_repaired() {
        for enc in [Encoding::MacRoman, Encoding::Windows1252, Encoding::Latin1] {
            let bad = mangle(SAMPLE, enc);
            assert_ne!(bad, SAMPLE);
            let (fixed, found) = repair_mojibake(&bad);
            assert_eq!(fixed, SAMPLE, "{enc}");
            assert_eq!(found, Some(enc), "{enc}");
        }
    }

    #[test]
    fn text_mangled_twice_is_repaired_fully() {
        let twice = mangle(
            &mangle(SAMPLE, Encoding::Windows1252),
            Encoding::Windows1252,
        );
        let (fixed, found) = repair_mojibake(&twice);
        assert_eq!(fixed, SAMPLE);
        assert_eq!(found, Some(Encoding::Windows1252));
    }

    #[test]
    fn clean_text_passes_through_borrowed() {
        for clean in [
            SAMPLE,
            "plain ASCII only",
            "Größe, Straße, «ÉTÉ», “École”, déjà vu, Ñandú, ÀÉÎÕÜ",
            "emoji 👩‍💻 🚀🚀 ✅✅ 1️⃣, CJK 漢字かな, Русский текст",
            "",
        ] {
            let (out, found) = repair_mojibake(clean);
            assert!(matches!(out, Cow::Borrowed(_)), "{clean}");
            assert_eq!(found, None, "{clean}");
        }
    }

    #[test]
    fn a_lone_coincidence_in_clean_text_is_left_alone() {
        // "É»" is valid UTF-8 (U+027B) once mapped back through Windows-1252, but IPA letters
        // are not what French text contains.
        let (out, found) = repair_mojibake("C'est l'ÉTÉ» dit-il");
        assert_eq!(found, None);
        assert_eq!(out, "C'est l'ÉTÉ» dit-il");
    }

    #[test]
    fn mostly_clean_text_with_one_mangled_word_is_repaired() {
        let text = format!("café and {}", mangle("naïve ’", Encoding::Windows1252));
        let (out, found) = repair_mojibake(&text);
        assert_eq!(found, Some(Encoding::Windows1252));
        assert_eq!(out, "café and naïve ’");
    }
}
