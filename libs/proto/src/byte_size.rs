//! Sizes as Meilisearch shows them with `sizeFormat=human` (`"4 KiB"`, `"811 B"`, `"19.64 MiB"`):
//! the largest binary unit the size reaches, the value rounded to two decimals and printed
//! without trailing zeros (byte-unit's `{:#.2}`). Shared by the merger, which renders the sums
//! over shards, and the stand-in node, which renders its own.

use crate::{ErrorCode, MeiliError};

const UNITS: &[&str] = &["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/// `212992` -> `"208 KiB"`.
pub fn human(bytes: u64) -> String {
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    let rounded = (value * 100.0).round() / 100.0;
    format!("{rounded} {}", UNITS.get(unit).copied().unwrap_or("B"))
}

/// The `sizeFormat` of a stats request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SizeFormat {
    #[default]
    Raw,
    Human,
}

impl SizeFormat {
    /// The parameter's value, or Meilisearch's error for any other.
    pub fn parse(value: &str) -> Result<SizeFormat, MeiliError> {
        match value {
            "raw" => Ok(SizeFormat::Raw),
            "human" => Ok(SizeFormat::Human),
            other => Err(MeiliError::new(
                ErrorCode::InvalidStatsSizeFormat,
                format!(
                    "Unknown value `{other}` for parameter `sizeFormat`: expected one of `human`, `raw`"
                ),
            )),
        }
    }

    /// A size in this format: the number of bytes, or its human wording.
    pub fn render(self, bytes: u64) -> serde_json::Value {
        match self {
            SizeFormat::Raw => serde_json::Value::from(bytes),
            SizeFormat::Human => serde_json::Value::from(human(bytes)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_sizes_print_as_a_node_prints_them() {
        for (bytes, shown) in [
            (4096, "4 KiB"),
            (811, "811 B"),
            (0, "0 B"),
            (536 * 1024, "536 KiB"),
            (212_992, "208 KiB"),
            (1_572_864, "1.5 MiB"),
            (20_594_524, "19.64 MiB"),
            (10_000, "9.77 KiB"),
        ] {
            assert_eq!(human(bytes), shown);
        }
        assert_eq!(
            SizeFormat::parse("nonsense").map_err(|e| e.message),
            Err("Unknown value `nonsense` for parameter `sizeFormat`: expected one of `human`, `raw`".to_string())
        );
        assert_eq!(SizeFormat::parse("human"), Ok(SizeFormat::Human));
    }
}
