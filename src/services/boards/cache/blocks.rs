//! A sorted sequence that versions of a board share.
//!
//! A campaign of a million participants changes a few hundred rows a second. Copying its
//! board for every refresh would cost the board's size each time; here the rows live in
//! blocks of a few hundred behind `Arc`, and a new version shares every block it does not
//! change. Cloning copies the list of blocks (one pointer per `BLOCK` rows); an insert or a
//! remove copies the one block it touches, at most once per version, and finds its place
//! by two binary searches. A reader holding an older version never sees a change.

use std::sync::Arc;

/// Rows per block as built; a block splits when it reaches twice this.
const BLOCK: usize = 256;
/// Room a copied or growing block is given beyond its rows, so that a few inserts into one
/// version do not reallocate it (and a block never carries twice the room it needs).
const SLACK: usize = 8;

/// Rows in order, in shared blocks. The order is the caller's: every lookup takes a
/// predicate that holds for a prefix of the rows (`|r| r < key`), as `slice::partition_point`.
#[derive(Debug, Clone)]
pub struct Blocks<T> {
    /// Never an empty block.
    blocks: Vec<Arc<Vec<T>>>,
    /// `ends[i]`: rows in blocks `0..=i`.
    ends: Vec<usize>,
}

impl<T> Default for Blocks<T> {
    fn default() -> Self {
        Self {
            blocks: Vec::new(),
            ends: Vec::new(),
        }
    }
}

impl<T: Clone> Blocks<T> {
    /// Rows held.
    pub fn len(&self) -> usize {
        self.ends.last().copied().unwrap_or(0)
    }

    /// True when no row is held.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// The last row.
    pub fn last(&self) -> Option<&T> {
        self.blocks.last().and_then(|block| block.last())
    }

    /// Appends a row that sorts after every row held (building from rows read in order).
    pub fn push_last(&mut self, row: T) {
        match self.blocks.last_mut() {
            Some(block) if block.len() < BLOCK => unshared(block).push(row),
            _ => {
                let mut block = Vec::with_capacity(BLOCK);
                block.push(row);
                self.blocks.push(Arc::new(block));
                self.ends.push(self.len());
            }
        }
        if let Some(end) = self.ends.last_mut() {
            *end += 1;
        }
    }

    /// Index of the first row for which `before` is false.
    pub fn partition_point(&self, before: impl Fn(&T) -> bool) -> usize {
        let (b, o) = self.locate(&before);
        self.start(b) + o
    }

    /// The row at `index`.
    pub fn get(&self, index: usize) -> Option<&T> {
        let b = self.ends.partition_point(|&end| end <= index);
        self.blocks.get(b)?.get(index - self.start(b))
    }

    /// The first row for which `before` is false, if `is_it` says it is the one sought.
    pub fn find(&self, before: impl Fn(&T) -> bool, is_it: impl Fn(&T) -> bool) -> Option<(usize, &T)> {
        let (b, o) = self.locate(&before);
        let row = self.blocks.get(b)?.get(o).filter(|r| is_it(r))?;
        Some((self.start(b) + o, row))
    }

    /// The rows from `index` on, in order.
    pub fn iter_from(&self, index: usize) -> impl Iterator<Item = &T> {
        let b = self.ends.partition_point(|&end| end <= index);
        let skip = index.saturating_sub(self.start(b));
        self.blocks[b.min(self.blocks.len())..]
            .iter()
            .flat_map(|block| block.iter())
            .skip(skip)
    }

    /// Inserts `row` before the first row for which `before` is false.
    pub fn insert(&mut self, before: impl Fn(&T) -> bool, row: T) {
        let (mut b, mut o) = self.locate(&before);
        if b == self.blocks.len() {
            if b == 0 {
                self.push_last(row);
                return;
            }
            b -= 1;
            o = self.blocks[b].len();
        }
        let block = unshared(&mut self.blocks[b]);
        if block.len() == block.capacity() {
            block.reserve_exact(SLACK);
        }
        block.insert(o, row);
        if block.len() >= 2 * BLOCK {
            let mut tail = Vec::with_capacity(BLOCK + SLACK);
            tail.extend(block.drain(BLOCK..));
            block.shrink_to(BLOCK + SLACK);
            self.blocks.insert(b + 1, Arc::new(tail));
            self.ends.insert(b + 1, 0);
        }
        self.reindex(b);
    }

    /// Removes the first row for which `before` is false, if `is_it` says it is the one.
    pub fn remove(&mut self, before: impl Fn(&T) -> bool, is_it: impl Fn(&T) -> bool) -> Option<T> {
        let (b, o) = self.locate(&before);
        if !self.blocks.get(b)?.get(o).is_some_and(is_it) {
            return None;
        }
        let block = unshared(&mut self.blocks[b]);
        let row = block.remove(o);
        let left = block.len();
        if left == 0 {
            self.blocks.remove(b);
            self.ends.remove(b);
        } else if left < BLOCK / 4
            && let Some(next) = self.blocks.get(b + 1)
            && left + next.len() <= BLOCK
        {
            // Keep blocks from thinning out into many small ones.
            let next = self.blocks.remove(b + 1);
            self.ends.remove(b + 1);
            unshared(&mut self.blocks[b]).extend(next.iter().cloned());
        }
        self.reindex(b);
        Some(row)
    }

    /// (block, offset in it) of the first row for which `before` is false; (blocks, 0) past
    /// the end.
    fn locate(&self, before: &impl Fn(&T) -> bool) -> (usize, usize) {
        let b = self.blocks.partition_point(|block| block.last().is_some_and(before));
        let o = self.blocks.get(b).map_or(0, |block| block.partition_point(before));
        (b, o)
    }

    /// Rows before block `b`.
    fn start(&self, b: usize) -> usize {
        match b.checked_sub(1) {
            None => 0,
            Some(prev) => self.ends.get(prev).copied().unwrap_or_else(|| self.len()),
        }
    }

    /// Recounts `ends` from block `from` on.
    fn reindex(&mut self, from: usize) {
        let mut end = self.start(from);
        for (block, e) in self.blocks.iter().zip(self.ends.iter_mut()).skip(from) {
            end += block.len();
            *e = end;
        }
    }
}

/// The block itself when no other version shares it, else a copy of it (with a little
/// room) put in its place.
fn unshared<T: Clone>(block: &mut Arc<Vec<T>>) -> &mut Vec<T> {
    if Arc::get_mut(block).is_none() {
        let mut copy = Vec::with_capacity(block.len() + SLACK);
        copy.extend(block.iter().cloned());
        *block = Arc::new(copy);
    }
    Arc::make_mut(block)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u32),
        Remove(u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![(0_u32..3_000).prop_map(Op::Insert), (0_u32..3_000).prop_map(Op::Remove)]
    }

    fn apply(blocks: &mut Blocks<u32>, model: &mut Vec<u32>, op: &Op) {
        match *op {
            Op::Insert(v) => {
                blocks.insert(|&r| r < v, v);
                let at = model.partition_point(|&r| r < v);
                model.insert(at, v);
            }
            Op::Remove(v) => {
                let removed = blocks.remove(|&r| r < v, |&r| r == v);
                let at = model.partition_point(|&r| r < v);
                let expected = (model.get(at) == Some(&v)).then(|| model.remove(at));
                assert_eq!(removed, expected);
            }
        }
    }

    fn contents(blocks: &Blocks<u32>) -> Vec<u32> {
        blocks.iter_from(0).copied().collect()
    }

    #[test]
    fn an_empty_sequence_answers_empty() {
        let blocks: Blocks<u32> = Blocks::default();
        assert!(blocks.is_empty());
        assert_eq!(blocks.len(), 0);
        assert_eq!(blocks.get(0), None);
        assert_eq!(blocks.partition_point(|&r| r < 5), 0);
        assert_eq!(blocks.iter_from(3).count(), 0);
        assert!(blocks.find(|&r| r < 5, |&r| r == 5).is_none());
    }

    #[test]
    fn rows_pushed_in_order_fill_blocks_and_index() {
        let mut blocks = Blocks::default();
        for v in 0..(3 * BLOCK as u32 + 7) {
            blocks.push_last(v * 2);
        }
        assert_eq!(blocks.len(), 3 * BLOCK + 7);
        assert_eq!(blocks.blocks.len(), 4);
        assert_eq!(blocks.get(BLOCK + 3), Some(&(2 * (BLOCK as u32 + 3))));
        assert_eq!(blocks.partition_point(|&r| r < 1_001), 501);
        assert_eq!(blocks.find(|&r| r < 1_000, |&r| r == 1_000).map(|(i, _)| i), Some(500));
        assert!(blocks.find(|&r| r < 1_001, |&r| r == 1_001).is_none());
        assert_eq!(blocks.iter_from(3 * BLOCK + 5).count(), 2);
    }

    proptest! {
        /// Any run of inserts and removes leaves the rows a sorted `Vec` would hold, and
        /// every lookup answers as the `Vec` does.
        #[test]
        fn blocks_behave_as_a_sorted_vec(
            start in prop::collection::vec(0_u32..3_000, 0..1_500),
            ops in prop::collection::vec(op(), 0..1_500),
            probes in prop::collection::vec(0_u32..3_100, 1..20),
        ) {
            let mut model = start.clone();
            model.sort_unstable();
            let mut blocks = Blocks::default();
            for &v in &model {
                blocks.push_last(v);
            }
            for op in &ops {
                apply(&mut blocks, &mut model, op);
            }
            prop_assert_eq!(contents(&blocks), model.clone());
            prop_assert_eq!(blocks.len(), model.len());
            prop_assert!(blocks.blocks.iter().all(|b| !b.is_empty() && b.len() < 2 * BLOCK));
            for p in probes {
                let at = model.partition_point(|&r| r < p);
                prop_assert_eq!(blocks.partition_point(|&r| r < p), at);
                prop_assert_eq!(blocks.get(at), model.get(at));
                prop_assert_eq!(blocks.iter_from(at).count(), model.len() - at);
            }
        }

        /// A version taken before changes keeps its rows; the changed one shares the
        /// blocks it did not touch.
        #[test]
        fn a_clone_is_untouched_by_changes_to_the_other(
            start in prop::collection::vec(0_u32..3_000, 1..2_000),
            ops in prop::collection::vec(op(), 1..20),
        ) {
            let mut model = start.clone();
            model.sort_unstable();
            let mut blocks = Blocks::default();
            for &v in &model {
                blocks.push_last(v);
            }
            let before = blocks.clone();
            let mut changed_model = model.clone();
            for op in &ops {
                apply(&mut blocks, &mut changed_model, op);
            }
            prop_assert_eq!(contents(&before), model);
            prop_assert_eq!(contents(&blocks), changed_model);
            let shared = blocks
                .blocks
                .iter()
                .filter(|b| before.blocks.iter().any(|o| Arc::ptr_eq(o, b)))
                .count();
            prop_assert!(shared + 2 * ops.len() >= before.blocks.len().min(blocks.blocks.len()));
        }
    }
}
