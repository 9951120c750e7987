//! Splitting text into normalised words with positions, the way Meilisearch's tokenizer
//! (charabia) does for Latin-script text: separators are a fixed list (so `+`, `$` or `|`
//! stay inside words), `". "`, `", "`, `;`, `!`, `?` are hard separators that push the next
//! word 8 positions away, words are lowercased and stripped of diacritics, and every CJK
//! ideograph is a word of its own (charabia segments Chinese with a dictionary; one character
//! per word is the dictionary-free approximation).

use std::collections::BTreeSet;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Distance added between two words when a hard separator (or a new array value) sits
/// between them; Meilisearch's `MAX_DISTANCE`.
pub const HARD_GAP: u32 = 8;

/// Longest word Meilisearch indexes (LMDB key limit), in bytes.
pub const MAX_WORD_LENGTH: usize = 250;

/// One word of a text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// The normalised word (lowercase, no diacritics).
    pub word: String,
    /// Position inside the text, counted as Meilisearch counts them.
    pub position: u32,
    /// Byte range of the word in the original text.
    pub start: usize,
    pub end: usize,
    /// A stop word keeps its position but is never indexed nor searched.
    pub stop: bool,
}

/// A separator found between words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gap {
    None,
    Soft,
    Hard,
}

/// The tokenizer configured by an index's settings.
#[derive(Clone, Debug, Default)]
pub struct Tokenizer {
    /// `separatorTokens`: extra separators (may be several characters long).
    extra_separators: Vec<String>,
    /// `nonSeparatorTokens`: default separators that become word characters.
    non_separators: Vec<String>,
    /// `dictionary`: words kept whole even if they contain separators (matched lowercase).
    dictionary: Vec<String>,
    stop_words: BTreeSet<String>,
}

impl Tokenizer {
    pub fn new(
        extra_separators: &[String],
        non_separators: &[String],
        dictionary: &[String],
        stop_words: &BTreeSet<String>,
    ) -> Self {
        let mut dictionary: Vec<String> = dictionary
            .iter()
            .map(|d| d.to_lowercase())
            .filter(|d| !d.is_empty())
            .collect();
        // Longest first, so that the longest dictionary word wins.
        dictionary.sort_by_key(|d| std::cmp::Reverse(d.len()));
        let mut extra: Vec<String> = extra_separators
            .iter()
            .filter(|s| !s.is_empty())
            .cloned()
            .collect();
        extra.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Tokenizer {
            extra_separators: extra,
            non_separators: non_separators.to_vec(),
            dictionary,
            stop_words: stop_words.iter().map(|w| normalize(w)).collect(),
        }
    }

    /// Tokenize `text`, numbering positions from `start_position`, as the indexer does for
    /// one value of a field. Returns the tokens (stop words included) and the gaps.
    pub fn tokenize(&self, text: &str, start_position: u32) -> Vec<Token> {
        self.tokenize_with_gaps(text, start_position).0
    }

    /// Tokens plus, for each token, the kind of separator run that preceded it, and the kind
    /// of separator run after the last token (`Gap::None` if the text ends with a word).
    pub fn tokenize_with_gaps(
        &self,
        text: &str,
        start_position: u32,
    ) -> (Vec<Token>, Vec<Gap>, Gap) {
        let mut tokens = Vec::new();
        let mut gaps = Vec::new();
        let mut pending_gap = Gap::None;
        let mut position = start_position;
        let mut first = true;
        let bytes_len = text.len();
        let mut i = 0;
        let mut word_start: Option<usize> = None;

        let flush = |start: usize,
                     end: usize,
                     gap: &mut Gap,
                     tokens: &mut Vec<Token>,
                     gaps: &mut Vec<Gap>,
                     first: &mut bool,
                     position: &mut u32| {
            let raw = &text[start..end];
            let word = normalize(raw);
            if word.is_empty() {
                return;
            }
            if !*first {
                *position += if *gap == Gap::Hard { HARD_GAP } else { 1 };
            }
            *first = false;
            let stop = self.stop_words.contains(&word);
            gaps.push(*gap);
            *gap = Gap::None;
            tokens.push(Token {
                word,
                position: *position,
                start,
                end,
                stop,
            });
        };

        while i < bytes_len {
            let rest = &text[i..];
            // Dictionary words are whole words, even across separators.
            if word_start.is_none()
                && let Some(len) = self.dictionary_match(rest)
            {
                flush(
                    i,
                    i + len,
                    &mut pending_gap,
                    &mut tokens,
                    &mut gaps,
                    &mut first,
                    &mut position,
                );
                i += len;
                continue;
            }
            if let Some((len, hard)) = self.separator_at(rest) {
                if let Some(s) = word_start.take() {
                    flush(
                        s,
                        i,
                        &mut pending_gap,
                        &mut tokens,
                        &mut gaps,
                        &mut first,
                        &mut position,
                    );
                }
                if hard {
                    pending_gap = Gap::Hard;
                } else if pending_gap == Gap::None {
                    pending_gap = Gap::Soft;
                }
                i += len;
                continue;
            }
            let Some(c) = rest.chars().next() else { break };
            let len = c.len_utf8();
            if is_cjk(c) {
                if let Some(s) = word_start.take() {
                    flush(
                        s,
                        i,
                        &mut pending_gap,
                        &mut tokens,
                        &mut gaps,
                        &mut first,
                        &mut position,
                    );
                }
                flush(
                    i,
                    i + len,
                    &mut pending_gap,
                    &mut tokens,
                    &mut gaps,
                    &mut first,
                    &mut position,
                );
            } else if word_start.is_none() {
                word_start = Some(i);
            }
            i += len;
        }
        if let Some(s) = word_start.take() {
            flush(
                s,
                bytes_len,
                &mut pending_gap,
                &mut tokens,
                &mut gaps,
                &mut first,
                &mut position,
            );
        }
        (tokens, gaps, pending_gap)
    }

    fn dictionary_match(&self, rest: &str) -> Option<usize> {
        if self.dictionary.is_empty() {
            return None;
        }
        for d in &self.dictionary {
            if let Some(candidate) = rest.get(..d.len())
                && candidate.to_lowercase() == *d
            {
                return Some(d.len());
            }
        }
        None
    }

    /// Length and hardness of the separator starting `rest`, if any.
    fn separator_at(&self, rest: &str) -> Option<(usize, bool)> {
        for s in &self.extra_separators {
            if rest.starts_with(s.as_str()) {
                return Some((s.len(), false));
            }
        }
        let c = rest.chars().next()?;
        if !self.non_separators.is_empty()
            && self
                .non_separators
                .iter()
                .any(|n| rest.starts_with(n.as_str()))
        {
            return None;
        }
        let len = c.len_utf8();
        // ". " and ", " are hard separators although "." and "," alone are soft.
        if (c == '.' || c == ',') && rest[len..].starts_with(' ') {
            return Some((len + 1, true));
        }
        if is_hard_separator(c) {
            return Some((len, true));
        }
        if is_soft_separator(c) {
            return Some((len, false));
        }
        None
    }
}

/// Lowercase, compatibility-decompose and strip combining marks, fold a few ligatures.
pub fn normalize(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    if word.is_ascii() {
        for c in word.chars() {
            out.push(c.to_ascii_lowercase());
        }
        return out;
    }
    for c in word.nfkd() {
        if is_combining_mark(c) {
            continue;
        }
        match c {
            'æ' | 'Æ' => out.push_str("ae"),
            'œ' | 'Œ' => out.push_str("oe"),
            'ø' | 'Ø' => out.push('o'),
            'ł' | 'Ł' => out.push('l'),
            'đ' | 'Đ' => out.push('d'),
            'ß' => out.push_str("ss"),
            '’' | '‘' | 'ʼ' => out.push('\''),
            _ => out.extend(c.to_lowercase()),
        }
    }
    out
}

fn is_hard_separator(c: char) -> bool {
    matches!(
        c,
        '!' | ';'
            | '?'
            | '¡'
            | '§'
            | '¶'
            | '¿'
            | '…'
            | '‼'
            | '‽'
            | '⁇'
            | '⁈'
            | '⁉'
            | '、'
            | '。'
            | '！'
            | '，'
            | '．'
            | '：'
            | '；'
            | '？'
            | '｡'
            | '､'
    )
}

/// Soft separators. `:` (soft, not hard) and `` ` `` (a separator at all) follow what the
/// recordings of Meilisearch 1.50 show, not older charabia lists.
fn is_soft_separator(c: char) -> bool {
    if c.is_whitespace() {
        return true;
    }
    matches!(
        c,
        '_' | '-'
            | ':'
            | ')'
            | ']'
            | '}'
            | '('
            | '['
            | '{'
            | '"'
            | '#'
            | '%'
            | '&'
            | '\''
            | '*'
            | ','
            | '.'
            | '/'
            | '@'
            | '\\'
            | '`'
            | '‐'
            | '‒'
            | '–'
            | '—'
            | '―'
            | '»'
            | '«'
            | '’'
            | '‘'
            | '‛'
            | '“'
            | '”'
            | '„'
            | '‟'
            | '‹'
            | '›'
            | '·'
            | '•'
            | '†'
            | '‡'
            | '′'
            | '″'
            | '‰'
            | '〈'
            | '〉'
            | '《'
            | '》'
            | '「'
            | '」'
            | '『'
            | '』'
            | '【'
            | '】'
            | '〔'
            | '〕'
            | '（'
            | '）'
            | '［'
            | '］'
            | '｛'
            | '｝'
            | '＂'
            | '＃'
            | '％'
            | '＆'
            | '＇'
            | '＊'
            | '／'
            | '＠'
            | '＼'
            | '・'
            | '－'
            | '＿'
            | '〜'
    )
}

/// Scripts written without spaces, where each ideograph or kana is taken as one word.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF   // hiragana, katakana
        | 0x3400..=0x4DBF // CJK extension A
        | 0x4E00..=0x9FFF // CJK unified ideographs
        | 0xF900..=0xFAFF // compatibility ideographs
        | 0x20000..=0x2FA1F)
}

/// Meilisearch stores word positions bucketed: exact below 16, then coarser.
pub fn bucketed_position(relative: u32) -> u32 {
    if relative < 16 {
        relative
    } else if relative < 24 {
        24
    } else {
        let mut p = 32u32;
        while p < relative {
            p = p.saturating_mul(2);
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<(String, u32)> {
        Tokenizer::default()
            .tokenize(text, 0)
            .into_iter()
            .map(|t| (t.word, t.position))
            .collect()
    }

    #[test]
    fn lowercases_and_strips_diacritics() {
        assert_eq!(normalize("Ŵôřlḑôle"), "worldole");
        assert_eq!(normalize("Café"), "cafe");
        assert_eq!(normalize("ReAcT"), "react");
    }

    #[test]
    fn soft_separators_count_one_hard_ones_eight() {
        assert_eq!(
            words("@webex/react-component, ringtone. Next! x: y"),
            vec![
                ("webex".into(), 0),
                ("react".into(), 1),
                ("component".into(), 2),
                ("ringtone".into(), 10),
                ("next".into(), 18),
                ("x".into(), 26),
                // The recordings show `:` as a soft separator.
                ("y".into(), 27)
            ]
        );
        // A dot without a following space is soft, as in `lodash.join`.
        assert_eq!(
            words("lodash.join"),
            vec![("lodash".into(), 0), ("join".into(), 1)]
        );
    }

    #[test]
    fn non_separator_symbols_stay_words() {
        assert_eq!(
            words("TypeScript + ESLint"),
            vec![
                ("typescript".into(), 0),
                ("+".into(), 1),
                ("eslint".into(), 2)
            ]
        );
        assert_eq!(words("c++"), vec![("c++".into(), 0)]);
    }

    #[test]
    fn cjk_characters_are_words() {
        assert_eq!(
            words("react插件"),
            vec![("react".into(), 0), ("插".into(), 1), ("件".into(), 2)]
        );
    }

    #[test]
    fn settings_change_separators_dictionary_and_stop_words() {
        let stop: BTreeSet<String> = ["the".to_string()].into();
        let t = Tokenizer::new(&["|".into()], &["@".into()], &["J.R.R.".into()], &stop);
        let toks = t.tokenize("The J.R.R. Tolkien|me@x", 0);
        let got: Vec<(&str, u32, bool)> = toks
            .iter()
            .map(|t| (t.word.as_str(), t.position, t.stop))
            .collect();
        assert_eq!(
            got,
            vec![
                ("the", 0, true),
                ("j.r.r.", 1, false),
                ("tolkien", 2, false),
                ("me@x", 3, false)
            ]
        );
    }

    #[test]
    fn trailing_gap_is_reported() {
        let t = Tokenizer::default();
        assert_eq!(t.tokenize_with_gaps("react ", 0).2, Gap::Soft);
        assert_eq!(t.tokenize_with_gaps("react", 0).2, Gap::None);
    }

    #[test]
    fn bucketed_positions() {
        assert_eq!(bucketed_position(3), 3);
        assert_eq!(bucketed_position(17), 24);
        assert_eq!(bucketed_position(25), 32);
        assert_eq!(bucketed_position(33), 64);
    }
}
