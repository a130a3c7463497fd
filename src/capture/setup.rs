//! Setting a trace up and finishing it: [`layer`], [`Builder`], [`Guard`].

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use super::shared::{Counters, Msg, Shared, Tables};
use super::{BhtLayer, panic_hook};
use crate::envelope::{ConvertStats, convert};
use crate::error::Error;
use crate::journal::writer::{Writer, WriterOutcome};
use crate::journal::{ProcessInfo, WriterStats, encode_preamble, journal_path};

/// Starts recording into `path` with the default settings.
///
/// Returns the layer to add to a subscriber and the [`Guard`] that finishes
/// the trace when dropped. While the app runs, records go to a journal beside
/// `path` (extension `bhtj`); when the guard is dropped, the journal becomes
/// the envelope at `path`.
///
/// # Errors
/// The journal file cannot be created, or the writer thread cannot start.
///
/// ```no_run
/// use tracing_subscriber::prelude::*;
/// # fn main() -> Result<(), bhtrace::Error> {
/// let (layer, _guard) = bhtrace::layer("app.bht")?;
/// tracing_subscriber::registry().with(layer).init();
/// tracing::info_span!("request", id = 7).in_scope(|| tracing::info!("handled"));
/// # Ok(()) }
/// ```
pub fn layer(path: impl AsRef<Path>) -> Result<(BhtLayer, Guard), Error> {
    Builder::new(path).build()
}

/// Settings for a trace. Every setting has a default:
///
/// | setting | default | meaning |
/// |---|---|---|
/// | [`lossy`](Builder::lossy) | `false` | when the writer falls behind: `false` blocks the app thread (nothing lost), `true` drops and counts |
/// | [`channel_capacity`](Builder::channel_capacity) | 256 | batches in flight to the writer (up to 4 MiB at the default batch size) |
/// | [`batch_bytes`](Builder::batch_bytes) | 16 KiB | a thread's buffer is sent when it reaches this size |
/// | [`flush_interval`](Builder::flush_interval) | 100 ms | the longest time a record waits before it is in the journal file |
/// | [`service_name`](Builder::service_name) | none | the process's service name, kept in the header |
/// | [`keep_journal`](Builder::keep_journal) | `false` | keep the journal after converting it |
/// | [`convert`](Builder::convert) | `true` | convert the journal into the envelope when the guard finishes |
/// | [`redact_fields`](Builder::redact_fields) | none | field names whose values are replaced by `[redacted]` |
/// | [`flush_on_panic`](Builder::flush_on_panic) | `false` | a panic hook flushes the journal before the process goes down |
///
/// ```no_run
/// use std::time::Duration;
/// # fn main() -> Result<(), bhtrace::Error> {
/// let (layer, guard) = bhtrace::Builder::new("app.bht")
///     .lossy(false)
///     .flush_interval(Duration::from_millis(50))
///     .service_name("checkout")
///     .redact_fields(["password", "authorization"])
///     .build()?;
/// # drop((layer, guard)); Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    path: PathBuf,
    lossy: bool,
    channel_capacity: usize,
    batch_bytes: usize,
    flush_interval: Duration,
    service_name: Option<String>,
    keep_journal: bool,
    convert: bool,
    redact: Vec<String>,
    flush_on_panic: bool,
}

impl Builder {
    /// Settings for a trace written to `path`, all at their defaults.
    pub fn new(path: impl AsRef<Path>) -> Self {
        Builder {
            path: path.as_ref().to_owned(),
            lossy: false,
            channel_capacity: 256,
            batch_bytes: 16 << 10,
            flush_interval: Duration::from_millis(100),
            service_name: None,
            keep_journal: false,
            convert: true,
            redact: Vec::new(),
            flush_on_panic: false,
        }
    }

    /// `false` (the default): an app thread whose batch finds the channel
    /// full waits for the writer, so nothing is lost. `true`: the batch is
    /// dropped and its records counted; the count is written into the trace.
    pub fn lossy(mut self, lossy: bool) -> Self {
        self.lossy = lossy;
        self
    }

    /// How many batches may wait for the writer (at least 1).
    ///
    /// The writer sleeps between ticks; an app thread wakes it only when a
    /// quarter of this many batches wait or the channel is full (and for a
    /// flush or the end), because waking a sleeping thread is a system call
    /// on the app thread.
    pub fn channel_capacity(mut self, batches: usize) -> Self {
        self.channel_capacity = batches.max(1);
        self
    }

    /// The size at which a thread's buffer is handed to the writer, between
    /// 64 bytes and 4 MiB. Smaller batches reach the journal sooner but cost
    /// more channel operations. (The upper bound keeps every journal frame
    /// well under the largest frame a reader accepts.)
    pub fn batch_bytes(mut self, bytes: usize) -> Self {
        self.batch_bytes = bytes.clamp(64, 4 << 20);
        self
    }

    /// The longest a record stays in memory before the writer hands it to
    /// the operating system: what a process killed with SIGKILL can lose.
    ///
    /// The writer ticks every half interval on a fixed schedule (and takes
    /// batches sooner when a quarter of the channel is waiting: 1 MiB with
    /// the default batches), so a record that misses one tick
    /// still reaches the file within the interval; only a machine that
    /// keeps the writer thread off every core for longer can stretch it.
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// The service this process is, recorded in the header.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// Keep the journal after it has been converted into the envelope.
    pub fn keep_journal(mut self, keep: bool) -> Self {
        self.keep_journal = keep;
        self
    }

    /// `false`: when the guard finishes, leave the journal for a later
    /// [`recover`](crate::recover) (or `bhtrace recover`) instead of
    /// converting it, so the process exits at once after a huge trace.
    pub fn convert(mut self, convert: bool) -> Self {
        self.convert = convert;
        self
    }

    /// Replace the values of fields with these names by `[redacted]` on the
    /// app thread, before they reach any buffer or file.
    pub fn redact_fields<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.redact.extend(names.into_iter().map(Into::into));
        self
    }

    /// `true`: install a panic hook (chained before the one already
    /// installed) that writes what the app threads hold into the journal
    /// before the panic goes on, waiting for the writer at most one second.
    ///
    /// Without it, a panic that takes the process down without dropping the
    /// [`Guard`] (`panic = "abort"`, a hook that aborts, a panicking thread
    /// whose panic ends the process) loses the records produced since the
    /// last [`flush_interval`](Builder::flush_interval). The hook takes no
    /// lock and never panics; records a thread is encoding at the moment it
    /// panics can still be missed. It stays installed after the guard
    /// finishes, and then only calls the previous hook. Panic hooks are
    /// process-wide: install it from the app, not from a library.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), bhtrace::Error> {
    /// let (layer, guard) = bhtrace::Builder::new("app.bht")
    ///     .flush_on_panic(true)
    ///     .build()?;
    /// # drop((layer, guard)); Ok(()) }
    /// ```
    pub fn flush_on_panic(mut self, flush: bool) -> Self {
        self.flush_on_panic = flush;
        self
    }

    /// Creates the journal, starts the writer thread and returns the layer
    /// and its guard.
    ///
    /// # Errors
    /// The journal cannot be created or written, or the writer thread
    /// cannot be started.
    pub fn build(self) -> Result<(BhtLayer, Guard), Error> {
        static INSTANCES: AtomicU64 = AtomicU64::new(1);

        let journal = journal_path(&self.path);
        let clock = quanta::Clock::new();
        let origin = clock.raw();
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let process = ProcessInfo {
            pid: std::process::id(),
            executable: std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            service_name: self.service_name.clone(),
            wall_start_unix_ns: wall,
            writer_version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        let mut file = create_private(&journal).map_err(|e| Error::io(&journal, e))?;
        let preamble = encode_preamble(&process);
        file.write_all(&preamble)
            .map_err(|e| Error::io(&journal, e))?;

        let (tx, rx) = crossbeam_channel::bounded(self.channel_capacity);
        let (spare_tx, spare_rx) = crossbeam_channel::bounded(self.channel_capacity + 8);
        let shared = Arc::new(Shared {
            instance: INSTANCES.fetch_add(1, Ordering::Relaxed),
            clock,
            origin,
            lossy: self.lossy,
            batch_bytes: self.batch_bytes,
            flush_interval: self.flush_interval,
            tx,
            writer_thread: OnceLock::new(),
            wake_at: (self.channel_capacity / 4).max(1),
            spare_tx,
            spare_rx,
            closed: AtomicBool::new(false),
            buffers: Mutex::new(Vec::new()),
            tables: Mutex::new(Tables::default()),
            next_span_block: AtomicU64::new(1),
            counters: Counters::default(),
            redact: self.redact,
        });
        let writer = Writer::new(
            Arc::clone(&shared),
            rx,
            file,
            journal.clone(),
            preamble.len() as u64,
        );
        let handle = std::thread::Builder::new()
            .name("bhtrace-writer".into())
            .spawn(move || {
                panic_hook::mark_writer_thread();
                writer.run()
            })
            .map_err(|_| Error::WriterThread("could not be started"))?;
        let _ = shared.writer_thread.set(handle.thread().clone());
        if self.flush_on_panic {
            panic_hook::install(Arc::downgrade(&shared));
        }
        let guard = Guard {
            inner: Some(GuardInner {
                shared: Arc::clone(&shared),
                writer: handle,
                envelope: self.path,
                journal,
                keep_journal: self.keep_journal,
                convert: self.convert,
            }),
        };
        Ok((BhtLayer::new(shared), guard))
    }
}

/// Creates `path` for writing, readable by the owner only on Unix: traces
/// carry whatever the app put in its fields. A file already there (left by
/// an earlier run) is truncated and narrowed to the owner too: the mode
/// given at open only applies to a file it creates.
///
/// A symbolic link at `path` is refused, not written through (`O_NOFOLLOW`):
/// in a shared directory a planted link would otherwise make the app
/// truncate and fill a file of the attacker's choosing with its trace.
pub(crate) fn create_private(path: &Path) -> std::io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    let file = match opts.open(path) {
        Ok(file) => file,
        #[cfg(unix)]
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(std::io::Error::new(
                e.kind(),
                "the path is a symbolic link; bhtrace does not write trace files through links",
            ));
        }
        Err(e) => return Err(e),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // On the open file (fchmod): no window in which the path could be
        // swapped. Devices such as /dev/null are left as they are.
        if file.metadata()?.is_file() {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(file)
}

/// Finishes the trace when dropped: stops recording, waits for the writer
/// to write everything, and converts the journal into the envelope.
///
/// Keep it alive for as long as the app should be traced, usually by binding
/// it in `main`: `let _guard = …;`. **`let _ = bhtrace::layer(…)?` drops it
/// at once** and the trace ends before it started. Dropping reports failures
/// on stderr; call [`Guard::finish`] to get them as a `Result` instead.
///
/// ```no_run
/// # fn main() -> Result<(), bhtrace::Error> {
/// let (layer, guard) = bhtrace::layer("app.bht")?;
/// // … install `layer`, run the app …
/// # drop(layer);
/// let done = guard.finish()?;
/// println!("{} records in {}", done.writer.records_written, done.envelope.display());
/// # Ok(()) }
/// ```
#[must_use = "dropping the guard ends the trace at once: bind it with `let _guard = …`, not `let _ = …`"]
#[derive(Debug)]
pub struct Guard {
    inner: Option<GuardInner>,
}

#[derive(Debug)]
struct GuardInner {
    shared: Arc<Shared>,
    writer: JoinHandle<WriterOutcome>,
    envelope: PathBuf,
    journal: PathBuf,
    keep_journal: bool,
    convert: bool,
}

/// What a finished trace produced.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Finished {
    /// Where the envelope was written (or would have been, with
    /// [`Builder::convert`] off).
    pub envelope: PathBuf,
    /// The journal, when it was kept or not converted.
    pub journal: Option<PathBuf>,
    /// The writer's final counters.
    pub writer: WriterStats,
    /// What the conversion found and wrote (`None` with [`Builder::convert`] off).
    pub convert: Option<ConvertStats>,
}

impl Guard {
    /// The capture counters, read while the app runs.
    pub fn stats(&self) -> WriterStats {
        self.inner
            .as_ref()
            .map(|g| g.shared.counters.snapshot())
            .unwrap_or_default()
    }

    /// The journal file being written.
    pub fn journal_path(&self) -> Option<&Path> {
        self.inner.as_ref().map(|g| g.journal.as_path())
    }

    /// Writes every record produced so far into the journal and returns
    /// once it is there (records a thread is producing at this moment may
    /// follow at the next flush).
    ///
    /// # Errors
    /// The writer thread is gone.
    pub fn flush(&self) -> Result<(), Error> {
        let Some(g) = self.inner.as_ref() else {
            return Ok(());
        };
        let (ack_tx, ack_rx) = crossbeam_channel::bounded(1);
        if !g.shared.send_control(Msg::Flush(ack_tx), None) {
            return Err(Error::WriterThread("has stopped"));
        }
        ack_rx
            .recv()
            .map_err(|_| Error::WriterThread("has stopped"))
    }

    /// Ends the trace and returns what it produced.
    ///
    /// # Errors
    /// [`Error::Writer`] when the writer met write errors: the envelope is
    /// still written from what reached the journal, and if that fails too
    /// (often the same full disk) the error says so and the journal is
    /// kept. Otherwise: the writer thread panicked, or the conversion
    /// failed.
    pub fn finish(mut self) -> Result<Finished, Error> {
        match self.inner.take() {
            Some(inner) => inner.finish(),
            None => Err(Error::WriterThread("was already finished")),
        }
    }
}

impl GuardInner {
    fn finish(self) -> Result<Finished, Error> {
        self.shared.closed.store(true, Ordering::SeqCst);
        self.shared.send_control(Msg::Shutdown, None);
        let outcome = self
            .writer
            .join()
            .map_err(|_| Error::WriterThread("panicked"))?;
        let writer = self.shared.counters.snapshot();
        let converted = self.convert.then(|| convert(&self.journal, &self.envelope));
        // Failed journal writes are the root cause to report, even when the
        // conversion failed too (often on the same full disk): its error
        // then comes along, and the journal stays for `bhtrace recover`.
        if let Some(first) = outcome.first_error {
            let mut first = first.to_string();
            match &converted {
                Some(Err(e)) => {
                    first.push_str(&format!(
                        "; converting the journal failed too ({e}), it was kept at {}",
                        self.journal.display()
                    ));
                }
                Some(Ok(_)) if !self.keep_journal => {
                    let _ = std::fs::remove_file(&self.journal);
                }
                _ => {}
            }
            return Err(Error::Writer {
                errors: outcome.write_errors,
                first,
            });
        }
        let convert = converted.transpose()?;
        let journal = if self.keep_journal || !self.convert {
            Some(self.journal)
        } else {
            let _ = std::fs::remove_file(&self.journal);
            None
        };
        Ok(Finished {
            envelope: self.envelope,
            journal,
            writer,
            convert,
        })
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            let path = inner.envelope.clone();
            if let Err(e) = inner.finish() {
                eprintln!(
                    "bhtrace: could not finish the trace {}: {e}",
                    path.display()
                );
            }
        }
    }
}
