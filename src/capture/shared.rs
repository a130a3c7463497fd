//! State shared by the layer (app threads) and the background writer: the
//! channel, the per-thread buffers, the callsite and thread tables, and the
//! counters.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use parking_lot::Mutex;

use super::local::ThreadBuf;
use crate::journal::WriterStats;

/// A message to the writer thread.
#[derive(Debug)]
pub(crate) enum Msg {
    /// Encoded records from one thread, in that thread's order.
    Batch(Batch),
    /// Write everything buffered now, then answer.
    Flush(Sender<()>),
    /// Write everything, mark the end and stop.
    Shutdown,
}

/// A run of encoded records from one thread.
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) bytes: Vec<u8>,
    pub(crate) records: u64,
}

/// Callsites and threads, numbered in order of first use. The writer writes
/// each definition to the journal before any frame that can refer to it.
#[derive(Debug, Default)]
pub(crate) struct Tables {
    /// Callsite metadata address → (number, redaction mask).
    pub(crate) callsite_ids: HashMap<usize, (u32, u32)>,
    /// Callsite number - 1 → metadata.
    pub(crate) callsites: Vec<&'static tracing_core::Metadata<'static>>,
    /// Thread number - 1 → name ("" when unnamed).
    pub(crate) threads: Vec<String>,
}

/// Counters, updated with relaxed atomics; see [`WriterStats`] for meaning.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) batches_sent: AtomicU64,
    pub(crate) records_sent: AtomicU64,
    pub(crate) records_written: AtomicU64,
    pub(crate) records_dropped: AtomicU64,
    pub(crate) records_after_finish: AtomicU64,
    pub(crate) frames: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) flushes: AtomicU64,
    pub(crate) write_errors: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> WriterStats {
        WriterStats {
            batches_sent: self.batches_sent.load(Relaxed),
            records_sent: self.records_sent.load(Relaxed),
            records_written: self.records_written.load(Relaxed),
            records_dropped: self.records_dropped.load(Relaxed),
            records_after_finish: self.records_after_finish.load(Relaxed),
            frames_written: self.frames.load(Relaxed),
            bytes_written: self.bytes.load(Relaxed),
            flushes: self.flushes.load(Relaxed),
            write_errors: self.write_errors.load(Relaxed),
        }
    }
}

/// Spans numbers are handed to threads in blocks of this many, so creating
/// a span touches no shared counter most of the time.
pub(crate) const SPAN_BLOCK: u64 = 1024;

/// Everything one layer instance shares with its writer.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Distinguishes layer instances in the thread-local buffer list.
    pub(crate) instance: u64,
    /// The trace's clock: the CPU's time-stamp counter scaled to
    /// nanoseconds where it is invariant (about a third of the cost of
    /// `Instant::now` per read), else the OS monotonic clock.
    pub(crate) clock: quanta::Clock,
    /// The clock's raw reading at the trace origin.
    pub(crate) origin: u64,
    pub(crate) lossy: bool,
    pub(crate) batch_bytes: usize,
    pub(crate) flush_interval: Duration,
    pub(crate) tx: Sender<Msg>,
    /// The writer thread, which sleeps between ticks and is woken only when
    /// [`Shared::wake_at`] batches wait for it or a control message comes:
    /// waking a sleeping thread is a system call, too dear for every batch.
    pub(crate) writer_thread: OnceLock<Thread>,
    /// Batches queued in the channel at which a sender wakes the writer.
    pub(crate) wake_at: usize,
    /// Emptied buffers going back to app threads, so batches reuse memory.
    pub(crate) spare_tx: Sender<Vec<u8>>,
    pub(crate) spare_rx: Receiver<Vec<u8>>,
    /// Set when the guard finishes: records after this are not part of the trace.
    pub(crate) closed: AtomicBool,
    /// Every thread buffer of this layer, for the writer to collect.
    pub(crate) buffers: Mutex<Vec<Arc<ThreadBuf>>>,
    pub(crate) tables: Mutex<Tables>,
    pub(crate) next_span_block: AtomicU64,
    pub(crate) counters: Counters,
    /// Field names whose values are replaced before they leave the app thread.
    pub(crate) redact: Vec<String>,
}

impl Shared {
    /// Nanoseconds since the trace origin.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        // u64 nanoseconds last 584 years.
        self.clock.delta_as_nanos(self.origin, self.clock.raw())
    }

    /// The callsite's number and redaction mask, registering it on first use.
    pub(crate) fn register_callsite(
        &self,
        meta: &'static tracing_core::Metadata<'static>,
    ) -> (u32, u32) {
        let key = meta as *const _ as usize;
        let mut t = self.tables.lock();
        if let Some(&v) = t.callsite_ids.get(&key) {
            return v;
        }
        t.callsites.push(meta);
        let id = t.callsites.len() as u32;
        let mut mask = 0u32;
        for (i, f) in meta.fields().iter().enumerate().take(32) {
            if self.redact.iter().any(|r| r == f.name()) {
                mask |= 1 << i;
            }
        }
        t.callsite_ids.insert(key, (id, mask));
        (id, mask)
    }

    /// A new thread's number (1-based; 0 means "unknown thread").
    pub(crate) fn register_thread(&self, name: &str) -> u32 {
        let mut t = self.tables.lock();
        t.threads.push(name.to_owned());
        t.threads.len() as u32
    }

    /// A spare buffer if one is free, else a new one.
    pub(crate) fn spare(&self) -> Vec<u8> {
        self.spare_rx
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(self.batch_bytes + 1024))
    }

    /// Wakes the writer if it sleeps (a system call then, else one atomic).
    #[inline]
    pub(crate) fn wake_writer(&self) {
        if let Some(t) = self.writer_thread.get() {
            t.unpark();
        }
    }

    /// Sends a control message (a flush, the shutdown) and wakes the writer
    /// to read it, waiting for room in the channel until `deadline` if one
    /// is given, else as long as it takes. False when it was not sent.
    pub(crate) fn send_control(&self, msg: Msg, deadline: Option<Instant>) -> bool {
        // Woken first too, so that a full channel is drained.
        self.wake_writer();
        let sent = match deadline {
            Some(d) => self.tx.send_deadline(msg, d).is_ok(),
            None => self.tx.send(msg).is_ok(),
        };
        self.wake_writer();
        sent
    }

    /// Hands a full batch to the writer: waits for room when lossless,
    /// drops and counts when lossy or when the writer is gone. The writer is
    /// woken only once [`Shared::wake_at`] batches are queued or the channel
    /// is full; otherwise its next tick takes the batch. Once per batch, so
    /// kept out of the layer's callbacks.
    #[cold]
    #[inline(never)]
    pub(crate) fn send(&self, bytes: Vec<u8>, records: u64) {
        let batch = Msg::Batch(Batch { bytes, records });
        let unsent = match self.tx.try_send(batch) {
            Ok(()) => {
                if self.tx.len() >= self.wake_at {
                    self.wake_writer();
                }
                None
            }
            Err(TrySendError::Full(batch)) => {
                self.wake_writer();
                if self.lossy {
                    Some(batch)
                } else {
                    let unsent = self.tx.send(batch).err().map(|e| e.into_inner());
                    // Other senders may have filled the channel while this
                    // one waited, without waking the writer: wake it again.
                    self.wake_writer();
                    unsent
                }
            }
            Err(TrySendError::Disconnected(batch)) => Some(batch),
        };
        let sent = unsent.is_none();
        if let Some(Msg::Batch(mut b)) = unsent {
            b.bytes.clear();
            let _ = self.spare_tx.try_send(b.bytes);
        }
        let c = &self.counters;
        if sent {
            c.batches_sent.fetch_add(1, Relaxed);
            c.records_sent.fetch_add(records, Relaxed);
        } else if self.closed.load(Relaxed) {
            c.records_after_finish.fetch_add(records, Relaxed);
        } else {
            c.records_dropped.fetch_add(records, Relaxed);
        }
    }
}
