//! What the property tests build JSON texts from.

use proptest::strategy::Strategy;

/// One of `texts`, owned: a key, a value or a whole member as a property test may meet it.
pub(crate) fn one_of(texts: &[&'static str]) -> impl Strategy<Value = String> + use<> {
    proptest::sample::select(texts.to_vec()).prop_map(str::to_owned)
}
