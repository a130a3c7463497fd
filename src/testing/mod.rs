//! Traces of test runs: capture what the code under test does, assert on
//! its structure, and keep the file when the test fails.
//!
//! [`capture`] installs bhtrace for the **current thread only** — cargo
//! runs tests in parallel threads, and each test sees only its own spans —
//! and records into `target/bhtrace/<test binary>/<test name>.bht`.
//! [`Capture::finish`]
//! gives a [`TestTrace`] to assert on: spans by name and field, children
//! and ancestors, order and overlap in time, durations, events with their
//! fields, and a [`snapshot`](TestTrace::snapshot) of the tree as stable
//! text for snapshot tests (`insta`).
//!
//! When the test fails, the trace stays behind and its path is printed
//! with the test's output (`bhtrace: trace kept at target/bhtrace/….bht`),
//! ready for `bhtrace` or [`TestTrace::open`]. When it passes, the file is
//! removed, unless `BHTRACE_KEEP=1`.
//!
//! ```
//! use std::time::Duration;
//!
//! fn checkout(items: &[u64]) -> u64 {
//!     let _req = tracing::info_span!("checkout", items = items.len()).entered();
//!     let prices: Vec<u64> = tracing::info_span!("fetch_prices")
//!         .in_scope(|| items.iter().map(|i| i * 100).collect());
//!     tracing::info_span!("total").in_scope(|| {
//!         let total = prices.iter().sum();
//!         tracing::info!(total, "priced");
//!         total
//!     })
//! }
//!
//! // in a #[test] fn:
//! let cap = bhtrace::testing::capture();
//! let total = checkout(&[1, 2]);
//! let t = cap.finish();
//!
//! assert_eq!(total, 300);
//! let req = t.span("checkout").assert_field("items", 2);
//! let fetch = req.child("fetch_prices");
//! let sum = req.child("total");
//! fetch.assert_happened_before(&sum);
//! sum.event("priced").assert_field("total", 300);
//! req.assert_duration(..Duration::from_secs(10));
//! assert_eq!(
//!     t.snapshot(),
//!     "checkout{items=2}\n  fetch_prices\n  total\n    INFO priced total=300\n"
//! );
//! // `insta::assert_snapshot!(t.snapshot())` keeps the expected text in a file.
//! ```
//!
//! The closure form returns the closure's result with the trace:
//!
//! ```
//! let (n, t) = bhtrace::testing::with_capture(|| {
//!     tracing::info_span!("count").in_scope(|| 41 + 1)
//! });
//! assert_eq!(n, 42);
//! assert_eq!(t.spans("count").len(), 1);
//! ```
//!
//! # Threads and async tasks
//!
//! The capture is the current thread's default subscriber; threads and
//! tasks the test starts record into it only when given it:
//!
//! - a thread: `std::thread::spawn(cap.bind(|| work()))`, or move
//!   [`cap.dispatch()`](Capture::dispatch) in and call
//!   `tracing::dispatcher::with_default(&dispatch, || work())`;
//! - a future: `use tracing::instrument::WithSubscriber;` then
//!   `fut.with_current_subscriber()` (while the capture is the default) or
//!   `fut.with_subscriber(cap.dispatch())` before handing it to the
//!   executor. A runtime the test builds runs its tasks on its own threads:
//!   wrap each spawned future this way.
//!
//! A span created on the test thread can be entered on another thread
//! (`span.in_scope(…)`): it carries the capture with it, and spans made
//! inside it there are its children once the thread has the capture too.
//!
//! # Where traces go
//!
//! `<folder>/<test binary>/<test name>.bht`:
//!
//! | | |
//! |---|---|
//! | folder | `BHTRACE_TEST_DIR` if set, else `bhtrace/` in cargo's target folder |
//! | test binary | the executable's name without cargo's hash: the crate for unit tests, the file name for `tests/*.rs`. Test names are unique within a binary, not across a workspace's binaries, which may run at once (`nextest`) |
//! | test name | the current thread's name: libtest names each test's thread after its path, `module::test` → `module.test.bht`. Characters outside `[A-Za-z0-9._-]` become `_`. The main thread (doctests, `harness = false`) gives `main-<pid>`, an unnamed thread `unnamed-<pid>` |
//! | repeats | a second capture with the same name in the same process gets `-2`, then `-3`… |
//! | kept | after a panic while the capture or the trace is alive; always with `BHTRACE_KEEP=1` or [`TestTrace::keep`] |
//! | removed | when the trace is dropped without a panic |
//!
//! [`CaptureBuilder::name`] sets the test name (for threads the test
//! spawns); [`CaptureBuilder::dir`] sets the exact folder. The target
//! folder is an absolute `CARGO_TARGET_DIR`, else the ancestor of the test
//! executable holding cargo's `CACHEDIR.TAG`, else `target/` beside the
//! package.
//!
//! A process that dies without unwinding (`panic = "abort"`, a signal, a
//! test harness timeout that kills it) leaves the journal, `….bhtj`, which
//! [`TraceReader::open_journal`](crate::TraceReader::open_journal) and
//! `bhtrace recover` read.

mod event;
mod matching;
mod place;
mod render;
mod trace;
mod view;

pub use event::EventView;
pub use matching::FieldValue;
pub use trace::TestTrace;
pub use view::SpanView;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use tracing::Dispatch;
use tracing::dispatcher::DefaultGuard;
use tracing::subscriber::NoSubscriber;
use tracing_core::LevelFilter;
use tracing_subscriber::prelude::*;

use crate::capture::setup::{Builder, Guard};
use crate::error::Error;
use crate::reader::TraceReader;

/// Starts capturing the current test's trace into
/// `target/bhtrace/<test binary>/<test name>.bht`, for the current thread
/// only.
///
/// # Panics
/// When the folder or the file cannot be created; the message says which.
/// [`Capture::builder`]`().try_start()` returns the error instead.
///
/// ```
/// let cap = bhtrace::testing::capture();
/// tracing::info_span!("work").in_scope(|| tracing::info!("done"));
/// let t = cap.finish();
/// t.span("work").event("done");
/// ```
#[track_caller]
pub fn capture() -> Capture {
    Capture::builder().start()
}

/// Runs `f` under a new [`capture`] and returns its result with the
/// finished trace. When `f` panics, the trace is kept and the panic goes on.
///
/// # Panics
/// As [`capture`] and [`Capture::finish`], and when `f` panics.
///
/// ```
/// let ((), t) = bhtrace::testing::with_capture(|| {
///     tracing::info_span!("a").in_scope(|| tracing::info_span!("b").in_scope(|| {}));
/// });
/// t.span("b").ancestor("a");
/// ```
#[track_caller]
pub fn with_capture<R>(f: impl FnOnce() -> R) -> (R, TestTrace) {
    let cap = capture();
    let out = f();
    (out, cap.finish())
}

/// A test's trace being captured: bhtrace is the current thread's default
/// subscriber until [`finish`](Capture::finish) or drop.
///
/// Dropped without `finish`: after a panic (a failing test) the trace is
/// written, kept, and its path printed; otherwise it is written and
/// removed (kept with `BHTRACE_KEEP=1`). So `let _cap = capture();` at the
/// top of a test keeps the trace of every failure without asserting on it.
///
/// The capture belongs to the thread that started it (it is not `Send`).
/// Nested captures on one thread must end in reverse order.
///
/// ```
/// let cap = bhtrace::testing::capture();
/// let dispatch = cap.dispatch();
/// std::thread::spawn(move || {
///     tracing::dispatcher::with_default(&dispatch, || tracing::info_span!("worker").in_scope(|| {}));
/// })
/// .join()
/// .unwrap();
/// std::thread::spawn(cap.bind(|| tracing::info_span!("bound").in_scope(|| {})))
///     .join()
///     .unwrap();
/// let t = cap.finish();
/// t.span("worker");
/// t.span("bound");
/// ```
#[must_use = "dropping the capture ends it at once: bind it with `let cap = …` or `let _cap = …`"]
pub struct Capture {
    default: Option<DefaultGuard>,
    guard: Option<Guard>,
    dispatch: Dispatch,
    path: PathBuf,
    name: String,
    keep: bool,
}

impl fmt::Debug for Capture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Capture")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("keep", &self.keep)
            .field("active", &self.guard.is_some())
            .finish()
    }
}

impl Capture {
    /// A capture with settings: name, folder, keeping, level, bhtrace
    /// options.
    pub fn builder() -> CaptureBuilder {
        CaptureBuilder::default()
    }

    /// Where the trace is written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The test name the capture was made for.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The subscriber, to install on other threads
    /// (`tracing::dispatcher::with_default`) or attach to futures
    /// (`tracing::instrument::WithSubscriber::with_subscriber`).
    pub fn dispatch(&self) -> Dispatch {
        self.dispatch.clone()
    }

    /// `f`, wrapped to run with this capture as its thread's subscriber:
    /// for `std::thread::spawn(cap.bind(|| …))` or a scoped thread's
    /// `s.spawn(cap.bind(|| …))`.
    pub fn bind<F, R>(&self, f: F) -> impl FnOnce() -> R + Send + use<F, R>
    where
        F: FnOnce() -> R + Send,
    {
        let dispatch = self.dispatch();
        move || tracing::dispatcher::with_default(&dispatch, f)
    }

    /// Ends the capture and loads the trace for assertions.
    ///
    /// Spans still open (a handle still alive) are closed at the last time
    /// seen and marked incomplete: end them first.
    ///
    /// # Panics
    /// When the trace cannot be written or read back; the message says
    /// why and where. [`try_finish`](Capture::try_finish) returns the error.
    #[track_caller]
    pub fn finish(self) -> TestTrace {
        let path = self.path.clone();
        self.try_finish().unwrap_or_else(|e| {
            panic!(
                "bhtrace: could not finish the test trace {}: {e}",
                path.display()
            )
        })
    }

    /// Ends the capture and loads the trace, or says what went wrong. On an
    /// error the files are left where they are.
    ///
    /// # Errors
    /// The writer failed, or the envelope could not be written or read.
    pub fn try_finish(mut self) -> Result<TestTrace, Error> {
        drop(self.default.take());
        let guard = self
            .guard
            .take()
            .ok_or(Error::WriterThread("was already finished"))?;
        let done = guard.finish()?;
        let bytes = std::fs::read(&done.envelope).map_err(|e| Error::io(&done.envelope, e))?;
        let reader = TraceReader::from_bytes(bytes)?;
        TestTrace::owned(
            reader,
            done.envelope,
            std::mem::take(&mut self.name),
            self.keep,
        )
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        drop(self.default.take());
        let Some(guard) = self.guard.take() else {
            return;
        };
        let result = guard.finish();
        let keep = std::thread::panicking() || self.keep;
        match result {
            Ok(_) | Err(Error::Writer { .. }) if keep => {
                eprintln!("bhtrace: trace kept at {}", self.path.display());
            }
            Ok(_) => {
                let _ = std::fs::remove_file(&self.path);
            }
            Err(e) => eprintln!(
                "bhtrace: could not finish the test trace {}: {e}",
                self.path.display()
            ),
        }
    }
}

/// Registers, once per process, a dispatcher that is never dropped, so that
/// a capture is never the only registered dispatcher.
///
/// While exactly one dispatcher is registered, tracing-core (0.1.36) works
/// out a callsite's interest, when it is first hit, from the *hitting
/// thread's* default dispatcher, and caches it for every thread
/// (tokio-rs/tracing#3611). A thread without a capture that hits a
/// callsite first would then disable it for the capture too. With a second
/// registered dispatcher, tracing-core asks every registered dispatcher
/// and each thread's own default decides.
fn keep_callsite_interest_general() {
    static SENTINEL: OnceLock<Dispatch> = OnceLock::new();
    SENTINEL.get_or_init(|| Dispatch::new(NoSubscriber::default()));
}

/// Settings for a [`Capture`], all optional.
///
/// | setting | default |
/// |---|---|
/// | [`name`](CaptureBuilder::name) | the current thread's name (libtest's test path) |
/// | [`dir`](CaptureBuilder::dir) | `BHTRACE_TEST_DIR`, else `<cargo target>/bhtrace` |
/// | [`keep`](CaptureBuilder::keep) | `BHTRACE_KEEP` set to `1` (or `true`, `yes`, `on`) |
/// | [`max_level`](CaptureBuilder::max_level) | `TRACE`: everything |
/// | [`configure`](CaptureBuilder::configure) | [`Builder`]'s defaults (lossless) |
///
/// ```
/// let cap = bhtrace::testing::Capture::builder()
///     .name("checkout::worker-3")
///     .max_level(tracing::Level::INFO)
///     .configure(|b| b.redact_fields(["password"]))
///     .start();
/// tracing::debug_span!("hidden").in_scope(|| {});
/// tracing::info_span!("login", password = "hunter2").in_scope(|| {});
/// let t = cap.finish();
/// t.assert_no_span("hidden");
/// t.span("login").assert_field("password", "[redacted]");
/// assert!(t.path().ends_with("checkout.worker-3.bht"));
/// ```
#[derive(Default)]
pub struct CaptureBuilder {
    name: Option<String>,
    dir: Option<PathBuf>,
    keep: Option<bool>,
    max_level: Option<LevelFilter>,
    configure: Vec<Box<dyn FnOnce(Builder) -> Builder>>,
}

impl fmt::Debug for CaptureBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptureBuilder")
            .field("name", &self.name)
            .field("dir", &self.dir)
            .field("keep", &self.keep)
            .field("max_level", &self.max_level)
            .field("configure", &self.configure.len())
            .finish()
    }
}

impl CaptureBuilder {
    /// The name the file is called after, instead of the thread's name:
    /// for threads the test spawns, or several captures in one test.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The exact folder to write into, instead of
    /// `<BHTRACE_TEST_DIR or target/bhtrace>/<test binary>`. Created if
    /// missing.
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// Keep the file after a passing test too (`true`), or not even with
    /// `BHTRACE_KEEP` (`false`).
    pub fn keep(mut self, keep: bool) -> Self {
        self.keep = Some(keep);
        self
    }

    /// Record only spans and events at `level` or more severe.
    pub fn max_level(mut self, level: impl Into<LevelFilter>) -> Self {
        self.max_level = Some(level.into());
        self
    }

    /// Adjusts the bhtrace [`Builder`] the capture records with (its path
    /// is already set), e.g. `|b| b.redact_fields(["token"])`.
    pub fn configure(mut self, f: impl FnOnce(Builder) -> Builder + 'static) -> Self {
        self.configure.push(Box::new(f));
        self
    }

    /// Starts the capture.
    ///
    /// # Panics
    /// When it cannot start; [`try_start`](CaptureBuilder::try_start)
    /// returns the error instead.
    #[track_caller]
    pub fn start(self) -> Capture {
        self.try_start()
            .unwrap_or_else(|e| panic!("bhtrace: could not start capturing the test trace: {e}"))
    }

    /// Starts the capture, or says why it cannot.
    ///
    /// # Errors
    /// The folder cannot be created, or the trace cannot start (see
    /// [`Builder::build`]).
    pub fn try_start(self) -> Result<Capture, Error> {
        let name = self.name.unwrap_or_else(place::test_name);
        let dir = self
            .dir
            .unwrap_or_else(|| place::trace_dir().join(place::sanitize(&place::binary_name())));
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let path = place::claim(&dir, &place::sanitize(&name));
        let mut builder = Builder::new(&path);
        for f in self.configure {
            builder = f(builder);
        }
        let (layer, guard) = builder.build()?;
        keep_callsite_interest_general();
        let level = self.max_level.unwrap_or(LevelFilter::TRACE);
        let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer).with(level));
        let default = tracing::dispatcher::set_default(&dispatch);
        Ok(Capture {
            default: Some(default),
            guard: Some(guard),
            dispatch,
            path,
            name,
            keep: self.keep.unwrap_or_else(place::keep_from_env),
        })
    }
}
