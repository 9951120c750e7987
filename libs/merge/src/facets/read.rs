//! A shard's `facetDistribution` and `facetStats` as the merge sums them: names and values
//! borrowed from the answer's text (copied only where an escape had to be decoded), counts and
//! bounds as numbers.
//!
//! What is read is what decoding the members into `serde_json::Value` reads: a member that
//! serde_json refuses (a lone surrogate escape, a number out of range, anywhere inside) is not
//! read at all; a repeated key keeps its last value (a repeated facet its last list, a repeated
//! value its last count, which [`super`]'s tally applies); a count that is not a `u64` counts 0;
//! a list or a bound that is not an object counts nothing.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::FacetCount;
use crate::raw::Raw;

/// One shard's facet maps.
#[derive(Debug, Default)]
pub(crate) struct ShardFacets<'a> {
    pub distribution: Distribution<'a>,
    /// `facetStats`' facets, each once; `None` when the shard returned no object.
    pub stats: Option<Vec<FacetBounds<'a>>>,
}

/// A facet's `(min, max)` in `facetStats` (`None` where either is not a number).
pub(crate) type FacetBounds<'a> = (Cow<'a, str>, Option<(f64, f64)>);

/// A shard's `facetDistribution`.
#[derive(Debug, Default)]
pub(crate) enum Distribution<'a> {
    /// Absent, or unreadable.
    #[default]
    Missing,
    /// Some other JSON value: it counts nothing, and no second-round count goes into it.
    NotAnObject,
    /// Its facets, each once.
    Facets(Vec<FacetList<'a>>),
}

/// One facet's values and counts as a shard listed them, in its order. A value may be listed
/// twice (a JSON object repeating a key): its last count is the one that counts.
#[derive(Debug)]
pub(crate) struct FacetList<'a> {
    pub facet: Cow<'a, str>,
    /// `None` when the facet's member is not an object.
    pub values: Option<Vec<(Cow<'a, str>, u64)>>,
}

impl<'a> ShardFacets<'a> {
    /// Read from the members' texts (each `None` when the answer has no such member).
    pub fn read(distribution: Option<Raw<'a>>, stats: Option<Raw<'a>>) -> ShardFacets<'a> {
        let distribution = distribution
            .and_then(|d| serde_json::from_str::<ObjectOr<Facets<'a>>>(d.get()).ok())
            .map_or(Distribution::Missing, |d| match d.0 {
                Some(facets) => Distribution::Facets(facets.0),
                None => Distribution::NotAnObject,
            });
        let stats = stats
            .and_then(|s| serde_json::from_str::<ObjectOr<Stats<'a>>>(s.get()).ok())
            .and_then(|s| s.0)
            .map(|s| s.0);
        ShardFacets {
            distribution,
            stats,
        }
    }

    /// Read from an answer already decoded (its `facetDistribution` and `facetStats` members).
    pub fn of_map(answer: &'a Map<String, Value>) -> ShardFacets<'a> {
        let distribution = match answer.get("facetDistribution") {
            None => Distribution::Missing,
            Some(Value::Object(facets)) => Distribution::Facets(
                facets
                    .iter()
                    .map(|(facet, values)| FacetList {
                        facet: Cow::Borrowed(facet),
                        values: values.as_object().map(|values| {
                            values
                                .iter()
                                .map(|(v, c)| (Cow::Borrowed(v.as_str()), c.as_u64().unwrap_or(0)))
                                .collect()
                        }),
                    })
                    .collect(),
            ),
            Some(_) => Distribution::NotAnObject,
        };
        let stats = answer
            .get("facetStats")
            .and_then(Value::as_object)
            .map(|facets| {
                facets
                    .iter()
                    .map(|(facet, s)| {
                        let bound = |k: &str| s.get(k).and_then(Value::as_f64);
                        let bounds = bound("min").zip(bound("max"));
                        (Cow::Borrowed(facet.as_str()), bounds)
                    })
                    .collect()
            });
        ShardFacets {
            distribution,
            stats,
        }
    }
}

/// Put the second round's counts into the shards' distributions, as if each shard had listed
/// those values (a value it listed gets the new count, as inserting it into the decoded object
/// would; a shard without a distribution gets one).
pub(crate) fn add_counts(shards: &mut [ShardFacets<'_>], counts: &[FacetCount]) {
    for c in counts {
        let Some(shard) = shards.get_mut(c.shard) else {
            continue;
        };
        if matches!(shard.distribution, Distribution::Missing) {
            shard.distribution = Distribution::Facets(Vec::new());
        }
        let Distribution::Facets(lists) = &mut shard.distribution else {
            continue;
        };
        let at = match lists.iter().position(|l| l.facet == c.facet.as_str()) {
            Some(at) => at,
            None => {
                lists.push(FacetList {
                    facet: Cow::Owned(c.facet.clone()),
                    values: Some(Vec::new()),
                });
                lists.len() - 1
            }
        };
        let Some(values) = lists.get_mut(at).and_then(|l| l.values.as_mut()) else {
            continue;
        };
        // The last of a repeated value is the one that counts.
        match values.iter_mut().rev().find(|(v, _)| v == c.value.as_str()) {
            Some(slot) => slot.1 = c.count,
            None => values.push((Cow::Owned(c.value.clone()), c.count)),
        }
    }
}

/// Keep the last of the items that share a name (a repeated key of a JSON object).
fn keep_last<T>(items: &mut Vec<T>, name: impl Fn(&T) -> &str) {
    if items.len() <= 16 {
        let mut i = 0;
        while let Some(item) = items.get(i) {
            let later = items.get(i + 1..).unwrap_or_default();
            if later.iter().any(|l| name(l) == name(item)) {
                items.remove(i);
            } else {
                i += 1;
            }
        }
        return;
    }
    let mut seen = HashSet::with_capacity(items.len());
    let keep: Vec<bool> = items.iter().rev().map(|i| seen.insert(name(i))).collect();
    let mut keep = keep.into_iter().rev();
    items.retain(|_| keep.next().unwrap_or(true));
}

/// A string as serde_json hands it out: borrowed when it had no escape.
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// What an object's members are read into.
trait Members<'de>: Sized {
    fn read<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error>;
}

/// An object read as `T`, or `None` for any other JSON value (read as a `Value` would be, so
/// that what serde_json refuses there is still refused).
struct ObjectOr<T>(Option<T>);

impl<'de, T: Members<'de>> Deserialize<'de> for ObjectOr<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Members<'de>> Visitor<'de> for V<T> {
            type Value = ObjectOr<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ObjectOr<T>, A::Error> {
                T::read(map).map(|t| ObjectOr(Some(t)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ObjectOr<T>, A::Error> {
                while seq.next_element::<Value>()?.is_some() {}
                Ok(ObjectOr(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<ObjectOr<T>, E> {
                Ok(ObjectOr(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<ObjectOr<T>, E> {
                Ok(ObjectOr(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<ObjectOr<T>, E> {
                Ok(ObjectOr(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<ObjectOr<T>, E> {
                Ok(ObjectOr(None))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<ObjectOr<T>, E> {
                Ok(ObjectOr(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<ObjectOr<T>, E> {
                Ok(ObjectOr(None))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// `facetDistribution`'s members.
struct Facets<'a>(Vec<FacetList<'a>>);

impl<'de> Members<'de> for Facets<'de> {
    fn read<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut lists = Vec::new();
        while let Some(facet) = map.next_key::<Text<'de>>()? {
            let values = map.next_value::<ObjectOr<Values<'de>>>()?;
            lists.push(FacetList {
                facet: facet.0,
                values: values.0.map(|v| v.0),
            });
        }
        keep_last(&mut lists, |l| &l.facet);
        Ok(Facets(lists))
    }
}

/// One facet's values and counts.
struct Values<'a>(Vec<(Cow<'a, str>, u64)>);

impl<'de> Members<'de> for Values<'de> {
    fn read<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut values = Vec::with_capacity(map.size_hint().unwrap_or(16));
        while let Some(value) = map.next_key::<Text<'de>>()? {
            // A number decodes into a `Value` without allocating; anything else is rare.
            let count = map.next_value::<Value>()?;
            values.push((value.0, count.as_u64().unwrap_or(0)));
        }
        Ok(Values(values))
    }
}

/// `facetStats`' members.
struct Stats<'a>(Vec<FacetBounds<'a>>);

impl<'de> Members<'de> for Stats<'de> {
    fn read<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut stats = Vec::new();
        while let Some(facet) = map.next_key::<Text<'de>>()? {
            let bounds = map.next_value::<ObjectOr<Bounds>>()?;
            stats.push((facet.0, bounds.0.and_then(|b| b.0)));
        }
        keep_last(&mut stats, |s| &s.0);
        Ok(Stats(stats))
    }
}

/// One facet's `{min, max}`: both when both are numbers (the last of a repeated one).
struct Bounds(Option<(f64, f64)>);

impl<'de> Members<'de> for Bounds {
    fn read<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let (mut min, mut max) = (None, None);
        while let Some(key) = map.next_key::<Text<'de>>()? {
            let value = map.next_value::<Value>()?;
            match key.0.as_ref() {
                "min" => min = value.as_f64(),
                "max" => max = value.as_f64(),
                _ => {}
            }
        }
        Ok(Bounds(min.zip(max)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_of_a_repeated_name_is_kept_in_place() {
        for len in [0usize, 1, 3, 12, 16, 17, 40] {
            let items: Vec<(String, usize)> =
                (0..len).map(|i| (format!("k{}", i * 7 % 9), i)).collect();
            let want: Vec<(String, usize)> = items
                .iter()
                .enumerate()
                .filter(|(i, (k, _))| !items[i + 1..].iter().any(|(l, _)| l == k))
                .map(|(_, item)| item.clone())
                .collect();
            let mut got = items.clone();
            keep_last(&mut got, |(k, _)| k);
            assert_eq!(got, want, "{len} items");
        }
    }
}
