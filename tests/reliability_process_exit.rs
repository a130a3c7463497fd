//! `std::process::exit` with the guard alive (it is never dropped): the
//! journal holds everything up to the last flush, and recovering it — with
//! `bhtrace::recover`, and with `bhtrace recover` when the CLI is built —
//! gives an envelope that opens and answers every query.
//!
//! The test runs its own binary as the child (gate: an environment
//! variable), which exits without finishing its trace.
#![cfg(unix)]

mod core_support;
mod reliability_support;

use std::path::Path;
use std::time::Duration;

use bhtrace::Value;
use bhtrace::journal::{Record, read_journal};
use core_support::TempDir;
use reliability_support::{answer_every_query, child, child_gate};
use tracing_subscriber::prelude::*;

const TEST: &str = "process_exit_leaves_a_journal_complete_up_to_the_last_flush";
const GATE: &str = "BHTRACE_RELIABILITY_EXIT_DIR";
const FLUSHED: u64 = 2_000;
const AFTER: u64 = 50;

fn run_child(dir: &Path) -> ! {
    let (layer, guard) = bhtrace::Builder::new(dir.join("x.bht"))
        .flush_interval(Duration::from_secs(3600))
        .batch_bytes(4 << 20)
        .service_name("exiter")
        .build()
        .expect("child: build the layer");
    tracing_subscriber::registry().with(layer).init();
    let job = tracing::info_span!("job");
    let _j = job.enter();
    for i in 0..FLUSHED {
        tracing::info_span!("step", i).in_scope(|| tracing::info!(i, "done"));
    }
    guard.flush().expect("child: flush");
    for i in FLUSHED..FLUSHED + AFTER {
        tracing::info!(i, "after the last flush");
    }
    // The guard is still alive: exit runs no destructor.
    std::process::exit(0);
}

#[test]
fn process_exit_leaves_a_journal_complete_up_to_the_last_flush() {
    if let Some(dir) = child_gate(GATE) {
        run_child(Path::new(&dir));
    }
    let dir = TempDir::new("reliability-process-exit");
    let out = child(TEST, GATE, dir.path())
        .output()
        .expect("run the child");
    assert!(
        out.status.success(),
        "{:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.join("x.bht").exists(), "the guard never finished");
    let journal = dir.join("x.bhtj");

    // Every record up to the flush is in the journal, in order; the last
    // frame is whole (the writer was idle when the process exited).
    let (records, stats) = read_journal(&journal).expect("the journal reads back");
    assert!(!stats.torn_tail, "{stats:?}");
    assert!(!records.iter().any(|r| matches!(r, Record::End { .. })));
    let events: Vec<u64> = records
        .iter()
        .filter_map(|r| match r {
            Record::Event { fields, .. } => match fields.iter().find(|(n, _)| &**n == "i") {
                Some((_, Value::U64(i))) => Some(*i),
                other => panic!("event field i: {other:?}"),
            },
            _ => None,
        })
        .collect();
    assert!(
        events.len() as u64 >= FLUSHED,
        "only {} of the {FLUSHED} flushed events",
        events.len()
    );
    let expected: Vec<u64> = (0..events.len() as u64).collect();
    assert_eq!(events, expected, "events in order, none missing");
    assert!(events.len() as u64 <= FLUSHED + AFTER);

    // The library recovers it.
    let recovered = dir.join("recovered.bht");
    let stats = bhtrace::recover(&journal, &recovered).expect("recover");
    assert_eq!(stats.spans as u64, 1 + FLUSHED);
    let trace = answer_every_query(&recovered);
    let h = trace.header();
    assert!(!h.clean_shutdown);
    assert_eq!(h.process.service_name.as_deref(), Some("exiter"));
    assert_eq!(h.incomplete_spans, 1, "the job span was never closed");
    assert_eq!(trace.spans_named("step").0.len() as u64, FLUSHED);

    // So does the CLI.
    #[cfg(feature = "cli")]
    {
        let by_cli = dir.join("by-cli.bht");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_bhtrace"))
            .arg("recover")
            .arg(&journal)
            .arg("-o")
            .arg(&by_cli)
            .output()
            .expect("run bhtrace recover");
        assert!(
            out.status.success(),
            "bhtrace recover: {:?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let cli_trace = answer_every_query(&by_cli);
        assert_eq!(cli_trace.infos().0, trace.infos().0);
    }
}
