//! Per-thread record buffers: the app thread's side of the transport.
//!
//! Each thread that records through a layer gets a [`ThreadBuf`] of its own,
//! found through a thread-local list (one entry per layer instance, so two
//! layers in one process never share buffers). A record is encoded straight
//! into that buffer under the buffer's own mutex, which nothing else takes
//! except the writer for a moment once per flush interval; a full buffer goes
//! to the writer through the bounded channel as one batch.
//!
//! Re-entrancy (a field's `Debug` impl that itself logs) is detected and
//! served by a fallback that encodes into a fresh buffer and sends it alone.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::panic::catch_unwind;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use parking_lot::{Mutex, MutexGuard};

use super::shared::{SPAN_BLOCK, Shared};
use crate::journal::record::Time;

/// A cheap hasher for metadata addresses (already unique, just not random).
#[derive(Debug, Default)]
pub(crate) struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_usize(&mut self, n: usize) {
        let n = n as u64;
        self.0 = (n ^ (n >> 7)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 32)
    }
}

/// What the app thread keeps beside its bytes: caches that spare it the
/// shared tables.
#[derive(Debug, Default)]
pub(crate) struct ThreadCache {
    /// The callsites used last, by metadata address: a hit costs one
    /// compare where the map below costs a hash and a probe.
    recent: [(usize, u32, u32); RECENT],
    callsites: HashMap<usize, (u32, u32), BuildHasherDefault<AddrHasher>>,
    next_span: u64,
    span_end: u64,
    /// The recorded spans this thread has entered and not exited, innermost
    /// last, as (tracing id, bhtrace number). Its top is the contextual
    /// parent of a new span or event: no registry lookup needed.
    entered: Vec<(u64, u64)>,
    /// The time of the last timed record in the buffer's current batch:
    /// the next one is written as a delta from it. `None` at a batch's
    /// start, so that every batch (and so every frame) opens with an
    /// absolute time.
    base: Option<u64>,
}

/// Slots of [`ThreadCache::recent`] (a power of two).
const RECENT: usize = 32;

/// The contents of a thread's buffer.
#[derive(Debug, Default)]
pub(crate) struct BufInner {
    /// Encoded records not yet handed to the writer.
    pub(crate) bytes: Vec<u8>,
    /// How many records `bytes` holds.
    pub(crate) records: u64,
    /// Set by the writer's final collection: nothing more may be appended.
    pub(crate) sealed: bool,
    cache: ThreadCache,
}

impl BufInner {
    /// Empties the buffer once the writer has its records: what follows
    /// starts a new batch, with an absolute time.
    pub(crate) fn clear_batch(&mut self) {
        self.bytes.clear();
        self.records = 0;
        self.cache.base = None;
    }
}

/// One thread's buffer for one layer instance.
#[derive(Debug)]
pub(crate) struct ThreadBuf {
    /// The thread's number in this trace.
    pub(crate) thread: u32,
    /// True while the owning thread is inside `record`; a second entry on
    /// the same thread is re-entrancy. Only the owner reads or writes it.
    owner_active: AtomicBool,
    pub(crate) inner: Mutex<BufInner>,
}

/// The encoding context a layer callback writes one record through.
#[derive(Debug)]
pub(crate) struct Rec<'a> {
    /// Where the record's bytes go.
    pub(crate) buf: &'a mut Vec<u8>,
    /// The current thread's number (0 when it could not be known).
    pub(crate) thread: u32,
    shared: &'a Shared,
    cache: Option<&'a mut ThreadCache>,
}

impl Rec<'_> {
    /// The callsite's number and redaction mask.
    #[inline]
    pub(crate) fn callsite(
        &mut self,
        meta: &'static tracing_core::Metadata<'static>,
    ) -> (u32, u32) {
        match self.cache.as_deref_mut() {
            Some(cache) => {
                let key = meta as *const _ as usize;
                let at = ((key as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 59) as usize;
                let slot = &mut cache.recent[at % RECENT];
                if slot.0 == key {
                    return (slot.1, slot.2);
                }
                let v = match cache.callsites.get(&key) {
                    Some(&v) => v,
                    None => {
                        let v = self.shared.register_callsite(meta);
                        cache.callsites.insert(key, v);
                        v
                    }
                };
                *slot = (key, v.0, v.1);
                v
            }
            None => self.shared.register_callsite(meta),
        }
    }

    /// The innermost recorded span this thread is in: `Some(0)` when none,
    /// `None` when this record cannot know (the re-entrancy fallback).
    #[inline]
    pub(crate) fn current(&self) -> Option<u64> {
        self.cache
            .as_deref()
            .map(|c| c.entered.last().map_or(0, |&(_, n)| n))
    }

    /// Notes that the span `id` (number `number`) was entered on this thread.
    #[inline]
    pub(crate) fn push_entered(&mut self, id: u64, number: u64) {
        if let Some(c) = self.cache.as_deref_mut() {
            c.entered.push((id, number));
        }
    }

    /// Notes that span `id` was exited on this thread and returns its
    /// number, if this thread saw it entered.
    #[inline]
    pub(crate) fn pop_entered(&mut self, id: u64) -> Option<u64> {
        let c = self.cache.as_deref_mut()?;
        // Almost always the innermost: spans are exited in reverse order.
        if let Some(&(e, n)) = c.entered.last() {
            if e == id {
                c.entered.pop();
                return Some(n);
            }
        }
        let i = c.entered.iter().rposition(|&(e, _)| e == id)?;
        Some(c.entered.remove(i).1)
    }

    /// `t` as the next timed record writes it: a delta from the previous
    /// one in this batch, or absolute (the first of a batch, and always in
    /// the re-entrancy fallback, whose record is a batch of its own).
    #[inline]
    pub(crate) fn time(&mut self, t: u64) -> Time {
        match self.cache.as_deref_mut() {
            Some(cache) => Time::after(cache.base.replace(t), t),
            None => Time::abs(t),
        }
    }

    /// A span number never used before in this trace.
    #[inline]
    pub(crate) fn new_span_number(&mut self) -> u64 {
        match self.cache.as_deref_mut() {
            Some(cache) => {
                if cache.next_span == cache.span_end {
                    cache.next_span = self.shared.next_span_block.fetch_add(SPAN_BLOCK, Relaxed);
                    cache.span_end = cache.next_span + SPAN_BLOCK;
                }
                let n = cache.next_span;
                cache.next_span += 1;
                n
            }
            None => self.shared.next_span_block.fetch_add(1, Relaxed),
        }
    }
}

thread_local! {
    /// This thread's buffers, one per layer instance it has recorded through.
    static LOCAL: RefCell<Vec<(u64, Arc<ThreadBuf>)>> = const { RefCell::new(Vec::new()) };
}

/// Clears the owner flag however `record` is left.
struct OwnerActive<'a>(&'a AtomicBool);

impl Drop for OwnerActive<'_> {
    #[inline]
    fn drop(&mut self) {
        self.0.store(false, Relaxed);
    }
}

/// The locked buffer while one record is written into it. Left without
/// [`Writing::done`] (a field's `Debug` panicked), it cuts the half-written
/// record off before the lock is released, and the panic goes on.
struct Writing<'a> {
    inner: MutexGuard<'a, BufInner>,
    start: usize,
    done: bool,
}

impl Drop for Writing<'_> {
    #[inline]
    fn drop(&mut self) {
        if !self.done {
            self.inner.bytes.truncate(self.start);
            // The cut record may have moved the time base.
            self.inner.cache.base = None;
        }
    }
}

impl ThreadBuf {
    fn register(shared: &Shared) -> Arc<ThreadBuf> {
        // `thread::current` may refuse late in a thread's teardown; a
        // missing name is no reason to fail.
        let name = catch_unwind(|| std::thread::current().name().map(str::to_owned))
            .ok()
            .flatten()
            .unwrap_or_default();
        let tb = Arc::new(ThreadBuf {
            thread: shared.register_thread(&name),
            owner_active: AtomicBool::new(false),
            inner: Mutex::new(BufInner {
                bytes: Vec::with_capacity(shared.batch_bytes + 1024),
                ..BufInner::default()
            }),
        });
        shared.buffers.lock().push(Arc::clone(&tb));
        tb
    }

    /// Encodes one record into this buffer. The caller has checked that
    /// this is not a re-entrant call (`owner_active`).
    #[inline(always)]
    fn record<F: FnOnce(&mut Rec<'_>) -> bool>(&self, shared: &Shared, f: F) {
        self.owner_active.store(true, Relaxed);
        let _active = OwnerActive(&self.owner_active);
        let inner = self.inner.lock();
        let start = inner.bytes.len();
        let mut w = Writing {
            inner,
            start,
            done: false,
        };
        let inner = &mut *w.inner;
        if inner.sealed {
            shared.counters.records_after_finish.fetch_add(1, Relaxed);
            w.done = true;
            return;
        }
        let mut rec = Rec {
            buf: &mut inner.bytes,
            thread: self.thread,
            shared,
            cache: Some(&mut inner.cache),
        };
        if f(&mut rec) {
            inner.records += 1;
        }
        if inner.bytes.len() >= shared.batch_bytes {
            // Sent while holding the lock: the writer, once it holds this
            // lock, knows every earlier batch of this thread is in the channel.
            let bytes = std::mem::replace(&mut inner.bytes, shared.spare());
            let records = std::mem::take(&mut inner.records);
            inner.cache.base = None;
            shared.send(bytes, records);
        }
        w.done = true;
    }
}

/// Records one record on the current thread through `shared`'s buffers.
///
/// `f` writes at most one record and says whether it did.
#[inline(always)]
pub(crate) fn emit(shared: &Shared, f: impl FnOnce(&mut Rec<'_>) -> bool) {
    if shared.closed.load(Relaxed) {
        shared.counters.records_after_finish.fetch_add(1, Relaxed);
        return;
    }
    let mut slot = Some(f);
    let mut thread = 0;
    let _ = LOCAL.try_with(|cell| {
        if let Ok(list) = cell.try_borrow() {
            if let Some((_, tb)) = list.iter().find(|(id, _)| *id == shared.instance) {
                thread = tb.thread;
                // Re-entrant (a field's `Debug` that logs): the fallback.
                if !tb.owner_active.load(Relaxed) {
                    if let Some(f) = slot.take() {
                        tb.record(shared, f);
                    }
                }
                return;
            }
        }
        register_and_record(shared, cell, &mut slot, &mut thread);
    });
    if let Some(f) = slot {
        fallback(shared, thread, f);
    }
}

/// The first record of this thread through `shared`: a buffer for it.
#[cold]
#[inline(never)]
fn register_and_record<F: FnOnce(&mut Rec<'_>) -> bool>(
    shared: &Shared,
    cell: &RefCell<Vec<(u64, Arc<ThreadBuf>)>>,
    slot: &mut Option<F>,
    thread: &mut u32,
) {
    let Ok(mut list) = cell.try_borrow_mut() else {
        return;
    };
    let tb = ThreadBuf::register(shared);
    list.push((shared.instance, Arc::clone(&tb)));
    drop(list);
    *thread = tb.thread;
    if let Some(f) = slot.take() {
        tb.record(shared, f);
    }
}

/// Re-entrant calls, and calls after this thread's locals are gone, encode
/// into a buffer of their own and send it as a batch of one record.
#[cold]
fn fallback(shared: &Shared, thread: u32, f: impl FnOnce(&mut Rec<'_>) -> bool) {
    let mut buf = Vec::new();
    let mut rec = Rec {
        buf: &mut buf,
        thread,
        shared,
        cache: None,
    };
    if f(&mut rec) {
        shared.send(buf, 1);
    }
}
