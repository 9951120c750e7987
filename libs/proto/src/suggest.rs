//! The wording deserr gives Meilisearch's "unknown field / parameter / value" errors: the list of
//! accepted names and the "did you mean" suggestion. The gateway and the stand-in node both word
//! these errors, so they share this one copy.

/// deserr's suggestion (`deserr::errors::helpers::did_you_mean`): the closest accepted name by
/// unrestricted Damerau-Levenshtein distance (`strsim::damerau_levenshtein`), within a typo budget
/// that grows with the received name's length; empty when none is close enough.
pub fn did_you_mean(received: &str, accepted: &[&str]) -> String {
    let budget = match received.len() {
        0..=3 => return String::new(),
        4..=7 => 1,
        8..=12 => 2,
        13..=17 => 3,
        18..=24 => 4,
        _ => 5,
    };
    accepted
        .iter()
        .map(|a| (a, damerau_levenshtein(received, a)))
        .filter(|(_, d)| *d <= budget)
        .min_by_key(|(_, d)| *d)
        .map(|(a, _)| format!("did you mean `{a}`? "))
        .unwrap_or_default()
}

/// `a`, `b` -> "`a`, `b`", as deserr lists accepted names.
pub fn quoted(items: &[&str]) -> String {
    items
        .iter()
        .map(|a| format!("`{a}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The unrestricted Damerau-Levenshtein distance, by the Lowrance-Wagner algorithm. Unlike the
/// optimal string alignment distance, a substring may be edited after a transposition
/// (`ca` -> `abc` is 2, not 3).
fn damerau_levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let (n, m) = (a.len(), b.len());
    let max = n + m;
    let width = m + 2;
    let mut d = vec![0usize; (n + 2) * width];
    let at = |i: usize, j: usize| i * width + j;
    d[at(0, 0)] = max;
    for i in 0..=n {
        d[at(i + 1, 0)] = max;
        d[at(i + 1, 1)] = i;
    }
    for j in 0..=m {
        d[at(0, j + 1)] = max;
        d[at(1, j + 1)] = j;
    }
    // Last row of `a` where each character was seen.
    let mut last_row: std::collections::HashMap<char, usize> = std::collections::HashMap::new();
    for i in 1..=n {
        let mut last_col = 0;
        for j in 1..=m {
            let k = last_row.get(&b[j - 1]).copied().unwrap_or(0);
            let l = last_col;
            let cost = if a[i - 1] == b[j - 1] {
                last_col = j;
                0
            } else {
                1
            };
            let substitution = d[at(i, j)] + cost;
            let insertion = d[at(i + 1, j)] + 1;
            let deletion = d[at(i, j + 1)] + 1;
            let transposition = d[at(k, l)] + (i - k - 1) + 1 + (j - l - 1);
            d[at(i + 1, j + 1)] = substitution.min(insertion).min(deletion).min(transposition);
        }
        last_row.insert(a[i - 1], i);
    }
    d[at(n + 1, m + 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_transpositions_once() {
        assert_eq!(damerau_levenshtein("sort", "sort"), 0);
        assert_eq!(damerau_levenshtein("sart", "sort"), 1);
        assert_eq!(damerau_levenshtein("ab", "ba"), 1);
        assert_eq!(damerau_levenshtein("filler", "filter"), 1);
        // Where it differs from optimal string alignment (3).
        assert_eq!(damerau_levenshtein("ca", "abc"), 2);
        assert_eq!(damerau_levenshtein("", "abc"), 3);
    }

    #[test]
    fn suggestion_within_the_budget() {
        assert_eq!(
            did_you_mean("primaryKy", &["uid", "primaryKey"]),
            "did you mean `primaryKey`? "
        );
        assert_eq!(did_you_mean("nope", &["uid"]), "");
        assert_eq!(did_you_mean("lim", &["limit"]), "");
        assert_eq!(quoted(&["a", "b"]), "`a`, `b`");
    }
}
