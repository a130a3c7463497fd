//! The table from `tracing` span ids to bhtrace span numbers that spares
//! the app thread the registry on enter and close.
//!
//! A span's number used to live only in the registry's extensions of the
//! span: a `Box` and a map insertion per span, a map clear and a free at
//! close, and a registry lookup (slab get, lock, map probe) for every enter
//! and close. This table holds the same mapping in a fixed array of atomics
//! that any thread reads with two loads. A span whose slot is taken by
//! another live span falls back to the extension, so the table is an
//! optimisation only: every lookup that misses it looks at the extension.
//!
//! Correctness rests on two facts of `tracing`: an id names one live span
//! at a time (it is only reused after the span it named has closed), and
//! whatever learns a span's id does so after the span's creation. A slot is
//! filled in `on_new_span` and emptied in `on_close`; a reader looking up
//! span `id` holds `id`, so the span is live, created before the read and
//! not closed until after it. A slot that holds `id` therefore holds this
//! span's number, and a slot that holds anything else (empty, another span,
//! being filled) is a miss. A reused id is created after the earlier span's
//! close (the registry frees its slot after every layer's `on_close`), so
//! its creation sees the slot the earlier span emptied.
//!
//! One table per layer value: two subscribers (each with its own clone of
//! the layer) hand out the same ids, so each clone gets a table of its own.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

/// Slots in the table (a power of two): 64 KiB per layer.
const SLOTS: usize = 4096;

/// Marks a slot being filled. Never looked up: an id equal to it is not
/// put in the table.
const BUSY: u64 = u64::MAX;

#[derive(Debug, Default)]
struct Slot {
    /// The span's tracing id; 0 (never an id) when empty.
    id: AtomicU64,
    number: AtomicU64,
}

/// Tracing span id → bhtrace span number, for the live spans of one
/// subscriber that found their slot free.
#[derive(Debug)]
pub(crate) struct SpanTable {
    slots: Box<[Slot]>,
}

impl Default for SpanTable {
    fn default() -> Self {
        SpanTable {
            slots: (0..SLOTS).map(|_| Slot::default()).collect(),
        }
    }
}

impl SpanTable {
    /// The slot of `id`. The registry's ids keep the slab slot in their
    /// low bits and the slab's thread index above them: the low bits index
    /// the table directly (the live spans of one thread get distinct slots)
    /// and the high bits, hashed, shift each thread's spans elsewhere. Any
    /// other id layout only costs collisions, not correctness.
    #[inline]
    fn slot(&self, id: u64) -> Option<&Slot> {
        let spread = (id >> 38).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 52;
        self.slots.get((id ^ spread) as usize & (SLOTS - 1))
    }

    /// Records that span `id` has `number`. False when its slot is taken:
    /// the caller keeps the number in the span's extensions instead.
    #[inline]
    pub(crate) fn insert(&self, id: u64, number: u64) -> bool {
        if id == BUSY {
            return false;
        }
        let Some(s) = self.slot(id) else {
            return false;
        };
        if s.id.load(Relaxed) != 0 || s.id.compare_exchange(0, BUSY, Acquire, Relaxed).is_err() {
            return false;
        }
        s.number.store(number, Relaxed);
        s.id.store(id, Release);
        true
    }

    /// The number of live span `id`, if the table has it.
    #[inline]
    pub(crate) fn get(&self, id: u64) -> Option<u64> {
        let s = self.slot(id)?;
        (id != BUSY && s.id.load(Acquire) == id).then(|| s.number.load(Relaxed))
    }

    /// Takes span `id` out of the table as it closes, returning its number
    /// if the table had it.
    #[inline]
    pub(crate) fn remove(&self, id: u64) -> Option<u64> {
        let n = self.get(id)?;
        if let Some(s) = self.slot(id) {
            s.id.store(0, Release);
        }
        Some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_get_remove() {
        let t = SpanTable::default();
        assert!(t.insert(5, 100));
        assert_eq!(t.get(5), Some(100));
        assert_eq!(t.get(6), None);
        assert_eq!(t.remove(5), Some(100));
        assert_eq!(t.get(5), None);
        assert_eq!(t.remove(5), None);
    }

    #[test]
    fn a_taken_slot_is_a_miss_not_a_wrong_number() {
        let t = SpanTable::default();
        // Same low bits, same (zero) thread bits: the same slot.
        let (a, b) = (7, 7 + SLOTS as u64);
        assert!(t.insert(a, 1));
        assert!(!t.insert(b, 2));
        assert_eq!(t.get(b), None);
        assert_eq!(t.get(a), Some(1));
        assert_eq!(t.remove(b), None);
        assert_eq!(t.get(a), Some(1));
        assert_eq!(t.remove(a), Some(1));
        assert!(t.insert(b, 2));
        assert_eq!(t.get(b), Some(2));
        assert_eq!(t.get(a), None);
    }

    #[test]
    fn threads_spread_over_the_table() {
        let t = SpanTable::default();
        // Slab slot 0 of threads 0..64 (thread index at bit 38).
        for tid in 0..64u64 {
            assert!(t.insert((tid << 38) + 1, tid + 1), "thread {tid}");
        }
        for tid in 0..64u64 {
            assert_eq!(t.get((tid << 38) + 1), Some(tid + 1));
        }
    }

    #[test]
    fn busy_is_never_stored() {
        let t = SpanTable::default();
        assert!(!t.insert(BUSY, 1));
        assert_eq!(t.get(BUSY), None);
    }
}
