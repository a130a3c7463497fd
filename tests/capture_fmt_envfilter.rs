//! The layer composes with a fmt layer and an `EnvFilter`: both layers see
//! the same enabled spans and events, what the filter turns off reaches
//! neither, and a span whose parent was filtered out attaches to the
//! enabled span around it.

mod core_support;

use std::io;
use std::sync::{Arc, Mutex};

use bhtrace::{SpanId, TraceReader};
use core_support::TempDir;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn composes_with_fmt_and_env_filter() {
    let dir = TempDir::new("fmt_envfilter");
    let path = dir.join("t.bht");
    let (layer, guard) = bhtrace::layer(&path).unwrap();
    let sink = Sink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::registry()
        .with(EnvFilter::try_new("info,app::db=debug,noisy=off").unwrap())
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(move || writer.clone()),
        )
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        let request = tracing::info_span!(target: "app", "request", path = "/pay");
        let _r = request.enter();
        tracing::info!(target: "app", "visible to both");
        tracing::debug!(target: "app", "debug is off for app");
        tracing::debug_span!(target: "app", "debug_span_off").in_scope(|| {
            tracing::info!(target: "app", "inside a disabled span");
        });
        tracing::debug_span!(target: "app::db", "query", sql = "select 1").in_scope(|| {
            tracing::debug!(target: "app::db", "db debug is on");
        });
        tracing::info_span!(target: "noisy", "noisy_span").in_scope(|| {
            tracing::info!(target: "noisy", "noisy is off");
            tracing::info_span!(target: "app", "under_noisy").in_scope(|| {});
        });
    });
    guard.finish().unwrap();

    let trace = TraceReader::open(&path).unwrap();
    core_support::check_well_formed(&trace);
    let (all, _) = trace.full().unwrap();
    let names: Vec<&str> = all.spans.iter().map(|s| &*s.info.name).collect();
    assert_eq!(names, ["request", "query", "under_noisy"]);
    assert_eq!(all.spans[1].info.parent, Some(SpanId(0)));
    assert_eq!(all.spans[1].info.level, bhtrace::Level::DEBUG);
    assert_eq!(
        all.spans[2].info.parent,
        Some(SpanId(0)),
        "a span under a filtered-out span attaches to the enabled one around it"
    );
    let messages = |s: usize| -> Vec<String> {
        all.spans[s]
            .events
            .iter()
            .filter_map(|e| e.message().map(str::to_owned))
            .collect()
    };
    assert_eq!(messages(0), ["visible to both", "inside a disabled span"]);
    assert_eq!(messages(1), ["db debug is on"]);
    assert!(messages(2).is_empty());
    assert!(all.orphan_events.is_empty());

    // The fmt layer printed exactly the enabled events.
    let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    for shown in [
        "visible to both",
        "inside a disabled span",
        "db debug is on",
    ] {
        assert!(text.contains(shown), "fmt output lacks {shown:?}:\n{text}");
    }
    for hidden in ["debug is off for app", "noisy is off"] {
        assert!(!text.contains(hidden), "fmt output has {hidden:?}:\n{text}");
    }
    assert_eq!(text.lines().count(), 3, "{text}");
}
