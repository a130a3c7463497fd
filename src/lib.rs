//! bhtrace records what a program does through [`tracing`] into one file
//! whose structure is its index.
//!
//! The span tree with its timings is small and always read; each span's
//! fields, events and enter/exit intervals sit in payload blocks that a
//! reader seeks to only when a question drills into that span. "Which spans
//! are slow?" and "what is the critical path?" are answered without reading
//! a single attribute — and every query says how many bytes it read.
//!
//! # Recording
//!
//! One line in the app's subscriber setup. The guard finishes the trace
//! when dropped: keep it alive (`let _guard`, not `let _`).
//!
//! ```no_run
//! use tracing_subscriber::prelude::*;
//!
//! fn main() -> Result<(), bhtrace::Error> {
//!     let (layer, _guard) = bhtrace::layer("app.bht")?;
//!     tracing_subscriber::registry().with(layer).init();
//!
//!     let span = tracing::info_span!("request", path = "/checkout");
//!     span.in_scope(|| tracing::info!(items = 3, "priced"));
//!     Ok(())
//! }
//! ```
//!
//! # Reading
//!
//! ```no_run
//! # fn main() -> Result<(), bhtrace::Error> {
//! let trace = bhtrace::TraceReader::open("app.bht")?;
//! let (summary, stats) = trace.summary()?; // index only
//! for s in &summary.services {
//!     println!("{:<12} {:>5} spans {:>10} ns", s.service, s.spans, s.total_ns);
//! }
//! println!("read {} of {} bytes", stats.bytes_read, stats.file_len);
//!
//! let (db_spans, stats) = trace.service("db")?; // those blocks only
//! # let _ = (db_spans, stats);
//! # Ok(()) }
//! ```
//!
//! # Traces of tests
//!
//! [`testing::capture`] records the current test's spans only, keeps the
//! trace on disk if the test fails, and answers assertions:
//!
//! ```
//! use bhtrace::testing::capture;
//!
//! fn checkout(items: &[u64]) -> u64 {
//!     let _req = tracing::info_span!("checkout", items = items.len()).entered();
//!     let prices: Vec<u64> =
//!         tracing::info_span!("fetch_prices").in_scope(|| items.iter().map(|i| i * 100).collect());
//!     tracing::info_span!("total").in_scope(|| {
//!         let total = prices.iter().sum();
//!         tracing::info!(total, "priced");
//!         total
//!     })
//! }
//!
//! // In a #[test]:
//! let cap = capture();
//! let total = checkout(&[1, 2]);
//! let t = cap.finish();
//! assert_eq!(total, 300);
//! let req = t.span("checkout").assert_field("items", 2);
//! req.child("fetch_prices").assert_happened_before(&req.child("total"));
//! req.child("total").event("priced").assert_field("total", 300);
//! assert_eq!(t.snapshot(), "checkout{items=2}\n  fetch_prices\n  total\n    INFO priced total=300\n");
//! ```
//!
//! # Data flow
//!
//! [`capture`](BhtLayer) (app threads, no I/O) → [`journal`] (one writer
//! thread, checksummed frames, survives SIGKILL up to its last frame) →
//! envelope ([`recover`], at the guard's drop) → [`TraceReader`].
//! The file formats are specified in `docs/format.md`.

#![deny(missing_docs)]
#![warn(unreachable_pub, missing_debug_implementations)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod capture;
mod codec;
mod envelope;
mod error;
#[cfg(feature = "export")]
pub mod export;
pub mod journal;
mod reader;
pub mod testing;
mod value;

pub use capture::BhtLayer;
pub use capture::setup::{Builder, Finished, Guard, layer};
pub use envelope::layout::ENVELOPE_VERSION;
pub use envelope::{ConvertStats, TraceHeader, recover, recover_to_vec, recover_with_progress};
pub use error::{Error, Section};
pub use reader::{
    EventData, Interval, ReadStats, SUMMARY_SLOWEST, Segment, ServiceSummary, Span, SpanId,
    SpanInfo, Summary, Trace, TraceReader,
};
pub use tracing_core::Level;
pub use value::Value;
