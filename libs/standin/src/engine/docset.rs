//! A set of document ids as a bitmap: what filters evaluate to and what facet counts
//! intersect with, so that neither has to open the documents.

use super::DocId;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DocSet {
    words: Vec<u64>,
}

impl DocSet {
    pub fn new() -> Self {
        DocSet::default()
    }

    pub fn from_sorted(ids: &[DocId]) -> Self {
        let mut s = DocSet::new();
        for id in ids {
            s.insert(*id);
        }
        s
    }

    pub fn insert(&mut self, id: DocId) {
        let (w, b) = ((id / 64) as usize, id % 64);
        if self.words.len() <= w {
            self.words.resize(w + 1, 0);
        }
        self.words[w] |= 1 << b;
    }

    pub fn remove(&mut self, id: DocId) {
        if let Some(w) = self.words.get_mut((id / 64) as usize) {
            *w &= !(1 << (id % 64));
        }
    }

    pub fn contains(&self, id: DocId) -> bool {
        self.words
            .get((id / 64) as usize)
            .is_some_and(|w| w & (1 << (id % 64)) != 0)
    }

    pub fn union_with(&mut self, other: &DocSet) {
        if self.words.len() < other.words.len() {
            self.words.resize(other.words.len(), 0);
        }
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a |= b;
        }
    }

    pub fn intersect_with(&mut self, other: &DocSet) {
        self.words.truncate(other.words.len());
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a &= b;
        }
    }

    /// `universe` minus `self`.
    pub fn complement_in(&self, universe: &DocSet) -> DocSet {
        let words = universe
            .words
            .iter()
            .enumerate()
            .map(|(i, u)| u & !self.words.get(i).copied().unwrap_or(0))
            .collect();
        DocSet { words }
    }

    /// Ids in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = DocId> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &w)| {
            let base = u32::try_from(i).unwrap_or(u32::MAX).saturating_mul(64);
            BitIter(w).map(move |b| base + b)
        })
    }
}

struct BitIter(u64);

impl Iterator for BitIter {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        if self.0 == 0 {
            return None;
        }
        let b = self.0.trailing_zeros();
        self.0 &= self.0 - 1;
        Some(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_operations() {
        let a = DocSet::from_sorted(&[1, 64, 200]);
        let b = DocSet::from_sorted(&[1, 2, 200, 300]);
        let mut u = a.clone();
        u.union_with(&b);
        assert_eq!(u.iter().collect::<Vec<_>>(), vec![1, 2, 64, 200, 300]);
        let mut i = a.clone();
        i.intersect_with(&b);
        assert_eq!(i.iter().collect::<Vec<_>>(), vec![1, 200]);
        assert_eq!(a.complement_in(&u).iter().collect::<Vec<_>>(), vec![2, 300]);
        assert!(u.contains(300) && !u.contains(301) && !u.contains(100_000));
        assert_eq!(u.iter().count(), 5);
    }
}
