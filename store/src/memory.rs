//! The in-memory QRangeStore: an AVL tree ordered by range start and augmented with the
//! largest range end of each subtree.
//!
//! A query descends only into subtrees that can hold a match: one whose largest end is
//! at most `t` holds none, and right of a node that starts after `t` every range starts
//! after `t`. A query therefore visits the search path plus the ancestors of its `k`
//! matches, `O(log n + k log(n / k))` nodes, never the whole store.

use crate::{QRangeStore, Result, TimeRange};

/// Index of a node in the arena; `NIL` is the empty subtree.
type NodeId = usize;
const NIL: NodeId = usize::MAX;

struct Node<V> {
    range: TimeRange,
    value: V,
    left: NodeId,
    right: NodeId,
    height: u32,
    /// The largest `range.end` in this subtree.
    max_end: f64,
}

/// The in-memory range store; see the module documentation for how it answers `get`.
///
/// Nodes live in one arena in insertion order, so a node's index is also its insertion
/// sequence number: it breaks ties between equal starts and orders query results.
pub struct MemoryRangeStore<V> {
    nodes: Vec<Node<V>>,
    root: NodeId,
}

impl<V> Default for MemoryRangeStore<V> {
    fn default() -> Self {
        Self {
            nodes: Vec::new(),
            root: NIL,
        }
    }
}

impl<V> MemoryRangeStore<V> {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many records the store holds.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the store holds no record.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// References to every value whose range contains `t`, in insertion order.
    pub fn get_ref(&self, t: f64) -> Result<Vec<&V>> {
        let mut hits = Vec::new();
        // No range contains NaN; the early return keeps the descent's comparisons total.
        if !t.is_nan() {
            self.collect(self.root, t, &mut hits);
        }
        if hits.is_empty() {
            return Err(crate::Error::NotFound { t });
        }
        hits.sort_unstable();
        Ok(hits.into_iter().map(|id| &self.nodes[id].value).collect())
    }

    fn collect(&self, id: NodeId, t: f64, hits: &mut Vec<NodeId>) {
        if id == NIL {
            return;
        }
        let node = &self.nodes[id];
        if node.max_end <= t {
            return;
        }
        self.collect(node.left, t, hits);
        if node.range.start() <= t {
            if node.range.contains(t) {
                hits.push(id);
            }
            self.collect(node.right, t, hits);
        }
    }

    fn height(&self, id: NodeId) -> u32 {
        if id == NIL {
            0
        } else {
            self.nodes[id].height
        }
    }

    fn max_end(&self, id: NodeId) -> f64 {
        if id == NIL {
            f64::NEG_INFINITY
        } else {
            self.nodes[id].max_end
        }
    }

    /// Recomputes a node's height and largest end from its children.
    fn update(&mut self, id: NodeId) {
        let (left, right) = (self.nodes[id].left, self.nodes[id].right);
        let height = 1 + self.height(left).max(self.height(right));
        let max_end = self.nodes[id]
            .range
            .end()
            .max(self.max_end(left))
            .max(self.max_end(right));
        let node = &mut self.nodes[id];
        node.height = height;
        node.max_end = max_end;
    }

    /// Whether node `a` sorts before node `b`: by start, then by insertion.
    fn before(&self, a: NodeId, b: NodeId) -> bool {
        let (sa, sb) = (self.nodes[a].range.start(), self.nodes[b].range.start());
        sa.total_cmp(&sb).then(a.cmp(&b)).is_lt()
    }

    /// Inserts node `new` below `root` and returns the subtree's new root.
    fn insert_node(&mut self, root: NodeId, new: NodeId) -> NodeId {
        if root == NIL {
            return new;
        }
        if self.before(new, root) {
            let left = self.insert_node(self.nodes[root].left, new);
            self.nodes[root].left = left;
        } else {
            let right = self.insert_node(self.nodes[root].right, new);
            self.nodes[root].right = right;
        }
        self.rebalance(root)
    }

    fn rebalance(&mut self, id: NodeId) -> NodeId {
        self.update(id);
        let (left, right) = (self.nodes[id].left, self.nodes[id].right);
        let balance = self.height(left) as i64 - self.height(right) as i64;
        if balance > 1 {
            if self.height(self.nodes[left].left) < self.height(self.nodes[left].right) {
                self.nodes[id].left = self.rotate_left(left);
            }
            self.rotate_right(id)
        } else if balance < -1 {
            if self.height(self.nodes[right].right) < self.height(self.nodes[right].left) {
                self.nodes[id].right = self.rotate_right(right);
            }
            self.rotate_left(id)
        } else {
            id
        }
    }

    fn rotate_right(&mut self, id: NodeId) -> NodeId {
        let pivot = self.nodes[id].left;
        self.nodes[id].left = self.nodes[pivot].right;
        self.nodes[pivot].right = id;
        self.update(id);
        self.update(pivot);
        pivot
    }

    fn rotate_left(&mut self, id: NodeId) -> NodeId {
        let pivot = self.nodes[id].right;
        self.nodes[id].right = self.nodes[pivot].left;
        self.nodes[pivot].left = id;
        self.update(id);
        self.update(pivot);
        pivot
    }
}

impl<V: Clone> QRangeStore<V> for MemoryRangeStore<V> {
    fn insert(&mut self, t0: f64, t1: f64, value: V) -> Result<()> {
        let range = TimeRange::new(t0, t1)?;
        let id = self.nodes.len();
        self.nodes.push(Node {
            range,
            value,
            left: NIL,
            right: NIL,
            height: 1,
            max_end: range.end(),
        });
        self.root = self.insert_node(self.root, id);
        Ok(())
    }

    fn get(&self, t: f64) -> Result<Vec<V>> {
        Ok(self.get_ref(t)?.into_iter().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;
    use proptest::prelude::*;

    /// The seed project's own test of its QRangeStore.
    #[test]
    fn original_cases() {
        let mut store = MemoryRangeStore::new();
        store.insert(0.0, 3.0, "A").unwrap();
        store.insert(3.0, 4.0, "B").unwrap();
        store.insert(0.0, 2.0, "C").unwrap();
        store.insert(2.0, 4.0, "D").unwrap();
        store.insert(8.0, 9.0, "E").unwrap();
        assert!(matches!(
            store.insert(2.0, 0.0, "F"),
            Err(Error::InvalidRange { t0: 2.0, t1: 0.0 })
        ));
        assert_eq!(store.len(), 5, "a rejected insert stores nothing");
        assert_eq!(store.get(2.1).unwrap(), vec!["A", "D"]);
        assert_eq!(store.get(8.0).unwrap(), vec!["E"]);
        assert!(matches!(store.get(5.0), Err(Error::NotFound { t: 5.0 })));
        assert!(matches!(store.get(9.0), Err(Error::NotFound { t: 9.0 })));
    }

    #[test]
    fn results_keep_insertion_order_even_when_starts_are_not_sorted() {
        let mut store = MemoryRangeStore::new();
        store.insert(5.0, 10.0, 1).unwrap();
        store.insert(0.0, 10.0, 2).unwrap();
        store.insert(5.0, 6.0, 3).unwrap();
        store.insert(f64::NEG_INFINITY, 7.0, 4).unwrap();
        assert_eq!(store.get(5.5).unwrap(), vec![1, 2, 3, 4]);
    }

    #[test]
    fn a_nan_query_finds_nothing() {
        let mut store = MemoryRangeStore::new();
        store.insert(f64::NEG_INFINITY, f64::INFINITY, ()).unwrap();
        assert!(matches!(store.get(f64::NAN), Err(Error::NotFound { .. })));
    }

    #[test]
    fn the_tree_stays_balanced_on_sorted_inserts() {
        let mut store = MemoryRangeStore::new();
        for i in 0..4096 {
            store.insert(i as f64, i as f64 + 1.0, i).unwrap();
        }
        // An AVL tree of n nodes is at most 1.44 log2(n) high; a list would be 4096.
        assert!(
            store.height(store.root) <= 18,
            "{}",
            store.height(store.root)
        );
        assert_eq!(store.get(100.5).unwrap(), vec![100]);
    }

    fn brute_force(records: &[(f64, f64, usize)], t: f64) -> Vec<usize> {
        records
            .iter()
            .filter(|(t0, t1, _)| *t0 <= t && t < *t1)
            .map(|r| r.2)
            .collect()
    }

    /// Small integer grids make touching ends and equal starts common.
    fn endpoint() -> impl Strategy<Value = f64> {
        prop_oneof![
            8 => (-20i32..20).prop_map(|v| v as f64 / 2.0),
            1 => Just(f64::NEG_INFINITY),
            1 => Just(f64::INFINITY),
            1 => Just(f64::NAN),
        ]
    }

    proptest! {
        #[test]
        fn agrees_with_a_brute_force_scan(
            inserts in prop::collection::vec((endpoint(), endpoint()), 0..200),
            queries in prop::collection::vec(-25i32..25, 1..50),
        ) {
            let mut store = MemoryRangeStore::new();
            let mut kept = Vec::new();
            for (i, (t0, t1)) in inserts.into_iter().enumerate() {
                let valid = t0 < t1;
                prop_assert_eq!(store.insert(t0, t1, i).is_ok(), valid);
                if valid {
                    kept.push((t0, t1, i));
                }
            }
            for q in queries {
                let t = q as f64 / 2.0 + 0.25 * (q % 3) as f64;
                let expected = brute_force(&kept, t);
                match store.get(t) {
                    Ok(found) => prop_assert_eq!(found, expected),
                    Err(e) => {
                        prop_assert!(expected.is_empty());
                        let not_found = matches!(e, Error::NotFound { t: at } if at == t);
                        prop_assert!(not_found, "{}", e);
                    }
                }
            }
        }
    }
}
