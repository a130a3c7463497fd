//! The background writer: the only code that touches the journal file.
//!
//! It sleeps until a tick or until an app thread wakes it, drains what is
//! queued, appends the batches to a frame, and writes frames out: when one grows past
//! [`FRAME_TARGET`], and at every tick, when it also collects what idle
//! threads still hold in their buffers. Ticks come every half flush interval
//! on a fixed schedule, so a record that missed one tick (its thread was busy
//! in its buffer, or the writer woke late on a loaded machine) is still
//! written within one interval of being recorded. A failed write is counted, the
//! file is cut back to its last whole frame, and the lost records are counted
//! as dropped; nothing reaches the app.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError};

use super::record::{put_callsite, put_dropped, put_end, put_thread};
use super::{FRAME_HEADER_LEN, MAX_FRAME_LEN};
use crate::capture::shared::{Batch, Msg, Shared};

/// Frames are written out once they reach this size. Small enough that what
/// waits in the writer's hands between ticks is a millisecond or two of a
/// flat-out app (what a SIGKILL can take beyond the threads' buffers and the
/// channel), large enough that the write calls cost well under 1% of the
/// writer's time.
pub(crate) const FRAME_TARGET: usize = 64 << 10;

/// The writer's tick: half the flush interval, so one late or skipped tick
/// still leaves every record written within the interval.
fn tick_period(flush_interval: Duration) -> Duration {
    (flush_interval / 2).max(Duration::from_micros(500))
}

/// The tick after `deadline`, on the fixed schedule; when the writer is
/// already past it (a long write, a late wake-up), one period from `now`,
/// so missed ticks are not fired back to back.
fn next_deadline(deadline: Instant, tick: Duration, now: Instant) -> Instant {
    let next = deadline + tick;
    if next > now { next } else { now + tick }
}

/// Counters of the capture pipeline, read with
/// [`Guard::stats`](crate::Guard::stats) while the app runs.
///
/// Every record the app produced while the trace was open ends up counted
/// in exactly one of `records_written`, `records_dropped`, or still in
/// flight (in a thread's buffer or the channel).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Batches handed from app threads to the writer through the channel.
    pub batches_sent: u64,
    /// Records in those batches.
    pub records_sent: u64,
    /// Records written to the journal in whole frames.
    pub records_written: u64,
    /// Records lost: dropped when the channel was full in lossy mode, or in a
    /// frame whose write failed. This total is written into the journal and
    /// the envelope.
    pub records_dropped: u64,
    /// Records produced after the guard finished; they are not part of the
    /// trace (it was complete when they happened).
    pub records_after_finish: u64,
    /// Frames written to the journal.
    pub frames_written: u64,
    /// Bytes written to the journal, frame headers included.
    pub bytes_written: u64,
    /// Flush-interval ticks (and explicit flushes) that wrote data.
    pub flushes: u64,
    /// Writes to the journal that failed.
    pub write_errors: u64,
}

/// What the writer thread reports when it ends.
#[derive(Debug)]
pub(crate) struct WriterOutcome {
    pub(crate) write_errors: u64,
    pub(crate) first_error: Option<io::Error>,
}

/// Definitions written so far, in committed frames and in the current one.
#[derive(Debug, Clone, Copy, Default)]
struct DefsWritten {
    callsites: usize,
    threads: usize,
    dropped: u64,
}

pub(crate) struct Writer {
    shared: Arc<Shared>,
    rx: Receiver<Msg>,
    file: File,
    path: PathBuf,
    /// File length after the last whole frame.
    good_len: u64,
    frame: Vec<u8>,
    frame_records: u64,
    committed: DefsWritten,
    pending: DefsWritten,
    first_error: Option<io::Error>,
    acks: Vec<Sender<()>>,
    shutdown: bool,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Writer {
    pub(crate) fn new(
        shared: Arc<Shared>,
        rx: Receiver<Msg>,
        file: File,
        path: PathBuf,
        good_len: u64,
    ) -> Self {
        let mut frame = Vec::with_capacity(FRAME_TARGET + (64 << 10));
        frame.resize(FRAME_HEADER_LEN, 0);
        Writer {
            shared,
            rx,
            file,
            path,
            good_len,
            frame,
            frame_records: 0,
            committed: DefsWritten::default(),
            pending: DefsWritten::default(),
            first_error: None,
            acks: Vec::new(),
            shutdown: false,
        }
    }

    /// The writer thread's loop. It sleeps until the next tick unless an app
    /// thread wakes it: senders do so only for a control message or when
    /// [`Shared::wake_at`] batches are queued, because waking a sleeping
    /// thread is a system call on the sender's side, and one per batch was
    /// the largest single cost on the app thread.
    pub(crate) fn run(mut self) -> WriterOutcome {
        let tick = tick_period(self.shared.flush_interval);
        let mut deadline = Instant::now() + tick;
        loop {
            self.drain_channel();
            if self.shutdown {
                break;
            }
            if !self.acks.is_empty() || Instant::now() >= deadline {
                self.collect(false);
                self.write_frame(true);
                for ack in self.acks.drain(..) {
                    let _ = ack.send(());
                }
                deadline = next_deadline(deadline, tick, Instant::now());
            }
            if self.rx.is_empty() {
                std::thread::park_timeout(deadline.saturating_duration_since(Instant::now()));
            }
        }
        self.collect(true);
        self.drain_channel();
        self.emit_defs();
        put_end(&mut self.frame, self.shared.now());
        self.write_frame(true);
        for ack in self.acks.drain(..) {
            let _ = ack.send(());
        }
        WriterOutcome {
            write_errors: self.shared.counters.write_errors.load(Relaxed),
            first_error: self.first_error,
        }
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Batch(Batch { mut bytes, records }) => {
                self.append(&bytes, records);
                bytes.clear();
                let _ = self.shared.spare_tx.try_send(bytes);
            }
            Msg::Flush(ack) => self.acks.push(ack),
            Msg::Shutdown => self.shutdown = true,
        }
    }

    fn drain_channel(&mut self) {
        loop {
            match self.rx.try_recv() {
                Ok(msg) => self.handle(msg),
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => {
                    self.shutdown = true;
                    return;
                }
            }
        }
    }

    /// Takes what every thread buffer holds. A buffer whose thread is busy
    /// in it is skipped, except at the end (`last`), where each is waited
    /// for and then sealed so nothing can be appended after the last frame.
    fn collect(&mut self, last: bool) {
        let buffers = self.shared.buffers.lock().clone();
        for tb in &buffers {
            loop {
                if let Some(mut inner) = tb.inner.try_lock() {
                    // Holding this lock, every batch the thread sent is
                    // already in the channel: take those first, in order.
                    self.drain_channel();
                    if !inner.bytes.is_empty() {
                        self.append(&inner.bytes, inner.records);
                        inner.clear_batch();
                    }
                    if last {
                        inner.sealed = true;
                    }
                    break;
                }
                if !last {
                    break;
                }
                // The thread may be waiting for room in the channel.
                self.drain_channel();
                std::thread::yield_now();
            }
        }
        drop(buffers);
        // Threads that have exited leave their buffer behind, empty.
        self.shared
            .buffers
            .lock()
            .retain(|tb| Arc::strong_count(tb) > 1 || !tb.inner.lock().bytes.is_empty());
    }

    /// Appends callsite and thread definitions, and the drop count, not yet
    /// in the journal.
    fn emit_defs(&mut self) {
        {
            let tables = self.shared.tables.lock();
            for (i, meta) in tables
                .callsites
                .iter()
                .enumerate()
                .skip(self.pending.callsites)
            {
                put_callsite(&mut self.frame, meta, i as u32 + 1);
            }
            self.pending.callsites = tables.callsites.len();
            for (i, name) in tables.threads.iter().enumerate().skip(self.pending.threads) {
                put_thread(&mut self.frame, i as u32 + 1, name);
            }
            self.pending.threads = tables.threads.len();
        }
        let dropped = self.shared.counters.records_dropped.load(Relaxed);
        if dropped != self.pending.dropped {
            put_dropped(&mut self.frame, dropped);
            self.pending.dropped = dropped;
        }
    }

    fn append(&mut self, bytes: &[u8], records: u64) {
        if self.frame.len() > FRAME_HEADER_LEN && self.frame.len() + bytes.len() > FRAME_TARGET {
            self.write_frame(false);
        }
        // Definitions go first, so every record can be decoded in order.
        self.emit_defs();
        self.frame.extend_from_slice(bytes);
        self.frame_records += records;
    }

    /// Writes the current frame, if it holds anything.
    fn write_frame(&mut self, tick: bool) {
        if tick {
            self.emit_defs();
        }
        if self.frame.len() == FRAME_HEADER_LEN {
            return;
        }
        let c = &self.shared.counters;
        if self.frame.len() - FRAME_HEADER_LEN > MAX_FRAME_LEN as usize {
            // Cannot happen with bounded batches and values; if it did, a
            // frame no reader accepts must not hide the frames after it.
            c.write_errors.fetch_add(1, Relaxed);
            c.records_dropped.fetch_add(self.frame_records, Relaxed);
            self.first_error.get_or_insert_with(|| {
                io::Error::other("a journal frame grew past the 64 MiB limit")
            });
            self.pending = self.committed;
            self.frame.truncate(FRAME_HEADER_LEN);
            self.frame_records = 0;
            return;
        }
        let len = (self.frame.len() - FRAME_HEADER_LEN) as u32;
        let crc = crc32fast::hash(&self.frame[FRAME_HEADER_LEN..]);
        self.frame[..4].copy_from_slice(&len.to_le_bytes());
        self.frame[4..8].copy_from_slice(&crc.to_le_bytes());
        match self.file.write_all(&self.frame) {
            Ok(()) => {
                self.good_len += self.frame.len() as u64;
                self.committed = self.pending;
                c.frames.fetch_add(1, Relaxed);
                c.bytes.fetch_add(self.frame.len() as u64, Relaxed);
                c.records_written.fetch_add(self.frame_records, Relaxed);
                if tick {
                    c.flushes.fetch_add(1, Relaxed);
                }
            }
            Err(e) => {
                c.write_errors.fetch_add(1, Relaxed);
                c.records_dropped.fetch_add(self.frame_records, Relaxed);
                self.first_error.get_or_insert(e);
                // Cut a partial frame off, so later frames stay readable,
                // and write the definitions again with the next frame.
                let _ = self.file.set_len(self.good_len);
                let _ = self.file.seek(SeekFrom::Start(self.good_len));
                self.pending = self.committed;
            }
        }
        self.frame.truncate(FRAME_HEADER_LEN);
        self.frame_records = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_come_every_half_interval_on_a_fixed_schedule() {
        let tick = tick_period(Duration::from_millis(100));
        assert_eq!(tick, Duration::from_millis(50));
        let t0 = Instant::now();
        // On time: the schedule does not drift by the time a tick took.
        let d1 = t0 + tick;
        assert_eq!(
            next_deadline(d1, tick, d1 + Duration::from_millis(3)),
            d1 + tick
        );
        // Woken two periods late: one period from now, not a burst of ticks.
        let late = d1 + 2 * tick + Duration::from_millis(1);
        assert_eq!(next_deadline(d1, tick, late), late + tick);
        // The shortest interval still ticks.
        assert_eq!(
            tick_period(Duration::from_millis(1)),
            Duration::from_micros(500)
        );
    }
}
