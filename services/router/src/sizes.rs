//! Sizes as Meilisearch words them in task details (`"208 KiB"`): read back from each node's
//! task, so that a cluster task can show their sum (printed by `miroir_proto::byte_size`).

/// Binary units, as Meilisearch prints them.
const UNITS: &[&str] = &["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/// `"208 KiB"` -> 212992; also plain byte counts (a number) and decimal units (`kB`, `MB`).
pub fn parse(v: &serde_json::Value) -> Option<u64> {
    if let Some(n) = v.as_u64() {
        return Some(n);
    }
    let s = v.as_str()?.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let number: f64 = number.parse().ok()?;
    let unit = unit.trim();
    let factor = match UNITS.iter().position(|u| u.eq_ignore_ascii_case(unit)) {
        Some(i) => 1024f64.powi(i32::try_from(i).ok()?),
        None => {
            let decimal = ["b", "kb", "mb", "gb", "tb", "pb", "eb"];
            let i = decimal.iter().position(|u| u.eq_ignore_ascii_case(unit))?;
            1000f64.powi(i32::try_from(i).ok()?)
        }
    };
    let bytes = (number * factor).round();
    (bytes.is_finite() && bytes >= 0.0).then_some(bytes as u64)
}

/// 212992 -> `"208 KiB"`, with the one formatter of the workspace.
pub fn human(bytes: u64) -> String {
    miroir_proto::byte_size::human(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn recorded_sizes_read_and_print_back() {
        for s in ["208 KiB", "76 KiB", "811 B", "0 B", "536 KiB", "4 KiB"] {
            let bytes = parse(&json!(s));
            assert_eq!(bytes.map(human).as_deref(), Some(s), "{s}");
        }
        assert_eq!(parse(&json!("1.5 MiB")), Some(1_572_864));
        assert_eq!(human(1_572_864), "1.5 MiB");
        assert_eq!(parse(&json!(4096)), Some(4096));
        assert_eq!(parse(&json!("2 kB")), Some(2000));
        assert_eq!(parse(&json!("lots")), None);
        assert_eq!(parse(&json!(null)), None);
        assert_eq!(human(208 * 1024 + 76 * 1024), "284 KiB");
    }
}
