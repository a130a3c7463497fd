//! A panic that unwinds through `main` with the guard alive still produces
//! the envelope: the guard's drop runs during unwinding, finishes the
//! writer and converts the journal. The process still exits as a panic.
//!
//! The test runs its own binary as the child (gate: an environment
//! variable), which panics on purpose.
#![cfg(unix)]

mod core_support;
mod reliability_support;

use std::path::Path;

use core_support::TempDir;
use reliability_support::{answer_every_query, child, child_gate};
use tracing_subscriber::prelude::*;

const TEST: &str = "a_panic_that_unwinds_still_writes_the_envelope";
const GATE: &str = "BHTRACE_RELIABILITY_PANIC_UNWIND_DIR";
const EVENTS: u64 = 500;

fn run_child(dir: &Path) -> ! {
    let (layer, _guard) = bhtrace::Builder::new(dir.join("p.bht"))
        // Nothing reaches the journal by the clock: only the guard's drop
        // can write these records.
        .flush_interval(std::time::Duration::from_secs(3600))
        .batch_bytes(4 << 20)
        .build()
        .expect("child: build the layer");
    tracing_subscriber::registry().with(layer).init();
    let job = tracing::info_span!("job");
    let _j = job.enter();
    for i in 0..EVENTS {
        tracing::info!(i, "working");
    }
    tracing::error!("about to panic");
    panic!("the child panics on purpose");
}

#[test]
fn a_panic_that_unwinds_still_writes_the_envelope() {
    if let Some(dir) = child_gate(GATE) {
        run_child(Path::new(&dir));
    }
    let dir = TempDir::new("reliability-panic-unwind");
    let out = child(TEST, GATE, dir.path())
        .output()
        .expect("run the child");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(101),
        "a panic exit: {:?}\n{stderr}",
        out.status
    );
    assert!(stderr.contains("the child panics on purpose"), "{stderr}");
    assert!(!stderr.contains("could not finish"), "{stderr}");

    let envelope = dir.join("p.bht");
    assert!(envelope.exists(), "no envelope after the panic\n{stderr}");
    assert!(
        !dir.join("p.bhtj").exists(),
        "the journal was converted and removed"
    );
    let trace = answer_every_query(&envelope);
    let h = trace.header();
    assert!(h.clean_shutdown, "{h:?}");
    assert_eq!(h.records_dropped, 0);
    assert_eq!(h.events, EVENTS + 1);
    let (roots, _) = trace.roots();
    assert_eq!(roots.len(), 1);
    // `_j` and `job` are dropped by the unwinding before the guard is: the
    // span is closed, not cut off.
    assert_eq!(&*roots[0].name, "job");
    assert!(!roots[0].incomplete, "{:?}", roots[0]);
    assert!(roots[0].error, "the ERROR event marks the span");
    let (span, _) = trace.span(roots[0].id).unwrap();
    assert_eq!(span.events.len() as u64, EVENTS + 1);
}
