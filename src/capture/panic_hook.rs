//! The opt-in panic hook of [`Builder::flush_on_panic`](crate::Builder::flush_on_panic):
//! before a panic takes the process down (`panic = "abort"`, a hook that
//! aborts, a panicking main thread whose guard is not on its stack), ask the
//! writer to put what the app threads hold into the journal.
//!
//! The hook runs on the panicking thread, which may be in the middle of
//! encoding a record and so hold its own buffer's lock. It therefore takes
//! no lock itself: it sends the writer a flush request and waits for the
//! answer, both with a deadline. The writer collects buffers with
//! `try_lock` and skips a busy one, so the answer comes even then; and if
//! the writer is stuck or gone, the deadline ends the wait. The hook never
//! panics (a panic in a panic hook aborts the process) and always calls the
//! hook that was installed before it.

use std::cell::Cell;
use std::sync::Weak;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::capture::shared::{Msg, Shared};

/// The longest the hook waits for the writer.
pub(crate) const FLUSH_WAIT: Duration = Duration::from_secs(1);

thread_local! {
    /// True on bhtrace writer threads: a writer that panics cannot flush
    /// for itself, so the hook does not wait for it.
    static ON_WRITER: Cell<bool> = const { Cell::new(false) };
}

/// Marks the current thread as a writer thread (called first thing on it).
pub(crate) fn mark_writer_thread() {
    let _ = ON_WRITER.try_with(|w| w.set(true));
}

/// Installs the hook for one layer instance, chaining the current hook.
///
/// The hook holds the instance weakly: once the guard has finished (or the
/// layer is gone) it only calls the previous hook. Nothing is installed
/// when called on a panicking thread, where `set_hook` would panic.
pub(crate) fn install(shared: Weak<Shared>) {
    if std::thread::panicking() {
        return;
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        flush(&shared, FLUSH_WAIT);
        previous(info);
    }));
}

/// Asks the writer to flush and waits at most `wait` for it. Returns true
/// when the writer answered.
fn flush(shared: &Weak<Shared>, wait: Duration) -> bool {
    if ON_WRITER.try_with(Cell::get).unwrap_or(false) {
        return false;
    }
    let Some(shared) = shared.upgrade() else {
        return false;
    };
    if shared.closed.load(Ordering::Relaxed) {
        return false;
    }
    let deadline = Instant::now() + wait;
    let (ack_tx, ack_rx) = crossbeam_channel::bounded(1);
    // The channel may be full (lossless mode, a slow disk): wait for room
    // only until the deadline.
    if !shared.send_control(Msg::Flush(ack_tx), Some(deadline)) {
        return false;
    }
    ack_rx.recv_deadline(deadline).is_ok()
}
