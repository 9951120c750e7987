//! Typo derivations: the dictionary words within one or two edits of a query word, found by
//! walking the sorted dictionary as a trie (one row of the edit-distance table per character,
//! shared by words with a common prefix, whole subtrees skipped once no extension can match).
//! Edits are insertions, deletions, substitutions and transpositions of adjacent characters,
//! as in Meilisearch's Levenshtein automata.

use std::collections::BTreeMap;
use std::ops::Bound;

/// Visit every word of `dict` in `[lo, hi)` whose distance to `query` is at most `max`; with
/// `prefix`, the distance is to the closest prefix of the word. `visit(word, id, distance)`.
pub fn fuzzy_walk(
    dict: &BTreeMap<String, u32>,
    query: &[char],
    max: u8,
    prefix: bool,
    lo: Bound<&str>,
    hi: Bound<&str>,
    mut visit: impl FnMut(&str, u32, u8),
) {
    let n = query.len();
    // rows[j] = distances between query prefixes and the word's first j characters.
    let mut rows: Vec<Vec<u8>> = vec![
        (0..=n)
            .map(|i| u8::try_from(i).unwrap_or(u8::MAX))
            .collect(),
    ];
    // best[j] = min over rows[0..=j] of the last cell (prefix distance).
    let mut best: Vec<u8> = vec![rows[0][n]];
    let mut path: Vec<char> = Vec::new();
    let mut lower: Bound<String> = match lo {
        Bound::Included(s) => Bound::Included(s.to_string()),
        Bound::Excluded(s) => Bound::Excluded(s.to_string()),
        Bound::Unbounded => Bound::Unbounded,
    };
    let upper: Bound<String> = match hi {
        Bound::Included(s) => Bound::Included(s.to_string()),
        Bound::Excluded(s) => Bound::Excluded(s.to_string()),
        Bound::Unbounded => Bound::Unbounded,
    };
    'seek: loop {
        let range = dict.range::<String, _>((lower.clone(), upper.clone()));
        for (word, id) in range {
            let chars: Vec<char> = word.chars().collect();
            // Reuse the rows of the common prefix with the previous word.
            let common = path
                .iter()
                .zip(chars.iter())
                .take_while(|(a, b)| a == b)
                .count();
            path.truncate(common);
            rows.truncate(common + 1);
            best.truncate(common + 1);
            let mut pruned_at = None;
            for (j, &c) in chars.iter().enumerate().skip(common) {
                let prev = &rows[j];
                let mut row = Vec::with_capacity(n + 1);
                row.push(u8::try_from(j + 1).unwrap_or(u8::MAX));
                for i in 1..=n {
                    let sub = prev[i - 1] + u8::from(query[i - 1] != c);
                    let ins = prev[i] + 1;
                    let del = row[i - 1] + 1;
                    let mut d = sub.min(ins).min(del);
                    if i > 1 && j > 0 && query[i - 1] == chars[j - 1] && query[i - 2] == c {
                        d = d.min(rows[j - 1][i - 2] + 1);
                    }
                    row.push(d);
                }
                let row_min = row.iter().copied().min().unwrap_or(u8::MAX);
                let b = best[j].min(row[n]);
                path.push(c);
                rows.push(row);
                best.push(b);
                let prev_min = rows[j].iter().copied().min().unwrap_or(u8::MAX);
                let settled = prefix && b <= max;
                if !settled && row_min > max && prev_min >= max {
                    pruned_at = Some(j + 1);
                    break;
                }
            }
            if let Some(depth) = pruned_at {
                // No word starting with these `depth` characters can match: jump past them.
                let stem: String = chars[..depth].iter().collect();
                match successor(&stem) {
                    Some(next) => {
                        path.clear();
                        rows.truncate(1);
                        best.truncate(1);
                        lower = Bound::Included(next);
                        continue 'seek;
                    }
                    None => continue,
                }
            }
            let d = if prefix {
                best[chars.len()]
            } else {
                rows[chars.len()][n]
            };
            if d <= max {
                visit(word, *id, d);
            }
        }
        break;
    }
}

/// The smallest string greater than every string starting with `stem`.
pub fn successor(stem: &str) -> Option<String> {
    let mut chars: Vec<char> = stem.chars().collect();
    while let Some(last) = chars.pop() {
        let mut code = last as u32 + 1;
        while code <= 0x10FFFF {
            if let Some(next) = char::from_u32(code) {
                chars.push(next);
                return Some(chars.into_iter().collect());
            }
            code += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict(words: &[&str]) -> BTreeMap<String, u32> {
        words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.to_string(), i as u32))
            .collect()
    }

    fn found(d: &BTreeMap<String, u32>, q: &str, max: u8, prefix: bool) -> Vec<(String, u8)> {
        let q: Vec<char> = q.chars().collect();
        let mut out = Vec::new();
        fuzzy_walk(
            d,
            &q,
            max,
            prefix,
            Bound::Unbounded,
            Bound::Unbounded,
            |w, _, dist| out.push((w.to_string(), dist)),
        );
        out
    }

    #[test]
    fn finds_words_within_the_budget() {
        let d = dict(&[
            "react", "reach", "redact", "ract", "reactive", "rxact", "zzz", "recat",
        ]);
        let got = found(&d, "react", 1, false);
        assert_eq!(
            got,
            vec![
                ("ract".into(), 1),
                ("reach".into(), 1),
                ("react".into(), 0),
                ("recat".into(), 1),
                ("redact".into(), 1),
                ("rxact".into(), 1)
            ]
        );
    }

    #[test]
    fn transposition_is_one_edit() {
        let d = dict(&["react", "component", "components"]);
        assert_eq!(found(&d, "recat", 1, false), vec![("react".into(), 1)]);
        // As a prefix, `compnent` is one edit from a prefix of `components`.
        assert_eq!(
            found(&d, "compnent", 1, true),
            vec![("component".into(), 1), ("components".into(), 1)]
        );
        assert_eq!(
            found(&d, "compnent", 1, false),
            vec![("component".into(), 1)]
        );
    }

    #[test]
    fn prefix_distance_is_to_the_best_prefix() {
        let d = dict(&["webpack", "webpacker", "webapp"]);
        assert_eq!(
            found(&d, "webpack", 0, true),
            vec![("webpack".into(), 0), ("webpacker".into(), 0)]
        );
    }

    #[test]
    fn successor_skips_the_subtree() {
        assert_eq!(successor("ab").as_deref(), Some("ac"));
        assert_eq!(successor("").as_deref(), None);
    }
}
