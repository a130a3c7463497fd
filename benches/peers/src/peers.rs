//! The layers compared, each installed as the process's global subscriber
//! (`tracing_subscriber::registry().with(layer)`), as an app would.

use std::fs::File;
use std::path::Path;

use tracing::Subscriber;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::Layer;
use tracing_subscriber::prelude::*;

/// A layer under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// A layer that does nothing: what the registry itself costs.
    Floor,
    /// bhtrace with its defaults: lossless, journal converted to the
    /// envelope when the guard finishes.
    Bhtrace,
    /// tracing-chrome with the span and event fields (`include_args`).
    Chrome,
    /// tracing-flame: folded stacks of span names, no fields, no events.
    Flame,
    /// `fmt().json()` writing through tracing-appender's non-blocking
    /// writer (lossless, like bhtrace), with a line per span close.
    FmtJson,
    /// entrace_core's ET format.
    Entrace,
    /// bhtrace lossless, journal only (no conversion): the writer alone.
    BhtraceJournal,
    /// bhtrace lossy, journal only: its drop count says whether the channel
    /// was ever full, which is when the lossless mode blocks the app.
    BhtraceLossy,
}

/// What a peer reports after it finished: extra `key=value` pairs.
pub type Extra = Vec<(&'static str, u64)>;

/// Flushes and finishes a peer's output.
pub type Finisher = Box<dyn FnOnce() -> Result<Extra, String>>;

impl Peer {
    /// The peers of the main table, in its row order.
    pub const TABLE: [Peer; 6] = [
        Peer::Floor,
        Peer::Bhtrace,
        Peer::Chrome,
        Peer::Flame,
        Peer::FmtJson,
        Peer::Entrace,
    ];

    /// Every peer, in the order the harness runs them.
    pub const ALL: [Peer; 8] = [
        Peer::Floor,
        Peer::Bhtrace,
        Peer::Chrome,
        Peer::Flame,
        Peer::FmtJson,
        Peer::Entrace,
        Peer::BhtraceJournal,
        Peer::BhtraceLossy,
    ];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Peer::Floor => "floor",
            Peer::Bhtrace => "bhtrace",
            Peer::Chrome => "chrome",
            Peer::Flame => "flame",
            Peer::FmtJson => "fmt-json",
            Peer::Entrace => "entrace",
            Peer::BhtraceJournal => "bhtrace-journal",
            Peer::BhtraceLossy => "bhtrace-lossy",
        }
    }

    /// The row label in the tables.
    pub fn label(self) -> &'static str {
        match self {
            Peer::Floor => "registry + no-op layer (the floor)",
            Peer::Bhtrace => "**bhtrace** (lossless, envelope)",
            Peer::Chrome => "tracing-chrome 0.7.2 (include_args)",
            Peer::Flame => "tracing-flame 0.2.0 (no fields, no events)",
            Peer::FmtJson => "fmt JSON + tracing-appender 0.2.5 (lossless, close lines)",
            Peer::Entrace => "entrace_core 0.2.0, ET (no timestamps)",
            Peer::BhtraceJournal => "bhtrace lossless, journal only",
            Peer::BhtraceLossy => "bhtrace lossy, journal only",
        }
    }

    /// Whether the peer records span and event fields: the peers the
    /// targets of issue 6 are set against.
    pub fn records_fields(self) -> bool {
        matches!(self, Peer::Chrome | Peer::FmtJson | Peer::Entrace)
    }

    pub fn parse(s: &str) -> Option<Peer> {
        Peer::ALL.into_iter().find(|p| p.name() == s)
    }

    /// Installs the peer as the global subscriber, writing into `dir`, and
    /// returns what finishes it.
    pub fn install(self, dir: &Path) -> Result<Finisher, String> {
        match self {
            Peer::Floor => {
                global(Noop)?;
                Ok(Box::new(|| Ok(Vec::new())))
            }
            Peer::Bhtrace => bhtrace(dir, false, true),
            Peer::BhtraceJournal => bhtrace(dir, false, false),
            Peer::BhtraceLossy => bhtrace(dir, true, false),
            Peer::Chrome => {
                let (layer, guard) = tracing_chrome::ChromeLayerBuilder::new()
                    .file(dir.join("trace.json"))
                    .include_args(true)
                    .build();
                global(layer)?;
                Ok(Box::new(move || {
                    drop(guard);
                    Ok(Vec::new())
                }))
            }
            Peer::Flame => {
                let (layer, guard) = tracing_flame::FlameLayer::with_file(dir.join("trace.folded"))
                    .map_err(|e| format!("tracing-flame: {e}"))?;
                global(layer)?;
                Ok(Box::new(move || {
                    guard
                        .flush()
                        .map_err(|e| format!("tracing-flame flush: {e}"))?;
                    drop(guard);
                    Ok(Vec::new())
                }))
            }
            Peer::FmtJson => {
                let file = File::create(dir.join("trace.jsonl"))
                    .map_err(|e| format!("fmt JSON file: {e}"))?;
                let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
                    .lossy(false)
                    .finish(file);
                let layer = tracing_subscriber::fmt::layer()
                    .json()
                    .with_span_events(FmtSpan::CLOSE)
                    .with_writer(writer);
                global(layer)?;
                Ok(Box::new(move || {
                    drop(guard);
                    Ok(Vec::new())
                }))
            }
            Peer::Entrace => {
                let (layer, guard) = entrace_core::ETBuilder::from_file(dir.join("trace.et"))
                    .and_then(|b| b.build())
                    .map_err(|e| format!("entrace: {e}"))?;
                global(layer)?;
                Ok(Box::new(move || {
                    drop(guard);
                    Ok(Vec::new())
                }))
            }
        }
    }
}

/// The floor: a layer that does nothing.
struct Noop;
impl<S: Subscriber> Layer<S> for Noop {}

fn global<L>(layer: L) -> Result<(), String>
where
    L: Layer<tracing_subscriber::Registry> + Send + Sync + 'static,
{
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
        .map_err(|e| format!("set_global_default: {e}"))
}

fn bhtrace(dir: &Path, lossy: bool, convert: bool) -> Result<Finisher, String> {
    let (layer, guard) = bhtrace::Builder::new(dir.join("trace.bht"))
        .lossy(lossy)
        .convert(convert)
        .build()
        .map_err(|e| format!("bhtrace: {e}"))?;
    global(layer)?;
    Ok(Box::new(move || {
        // Everything into the journal, then the writer thread's CPU and
        // run-queue times while it still exists (it ends in `finish`).
        guard.flush().map_err(|e| format!("bhtrace flush: {e}"))?;
        let (writer_cpu_ns, writer_runq_ns) =
            crate::machine::named_thread_schedstat("bhtrace-writer").unwrap_or((0, 0));
        let done = guard.finish().map_err(|e| format!("bhtrace finish: {e}"))?;
        let w = done.writer;
        Ok(vec![
            ("records_written", w.records_written),
            ("records_dropped", w.records_dropped),
            ("batches_sent", w.batches_sent),
            ("journal_bytes", w.bytes_written),
            ("writer_cpu_ns", writer_cpu_ns),
            ("writer_runq_ns", writer_runq_ns),
        ])
    }))
}
