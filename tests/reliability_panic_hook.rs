//! `Builder::flush_on_panic(true)`: a panic that takes the process down
//! without dropping the guard (here a hook that aborts, as `panic =
//! "abort"` would) still leaves every record produced before it in the
//! journal, and the journal recovers. Without the option, the same run
//! leaves those records in memory, lost.
//!
//! The test runs its own binary as the child (gate: an environment
//! variable): the main thread records, then a second thread records and
//! panics; the child's own hook, installed before bhtrace's, aborts.
#![cfg(unix)]

mod core_support;
mod reliability_support;

use std::path::Path;
use std::time::Duration;

use bhtrace::Value;
use bhtrace::journal::{Record, read_journal};
use core_support::TempDir;
use reliability_support::{answer_every_query, child, child_gate, signal_of};
use tracing_subscriber::prelude::*;

const TEST: &str = "flush_on_panic_saves_the_records_before_an_abort";
const GATE: &str = "BHTRACE_RELIABILITY_PANIC_HOOK_DIR";
const MODE: &str = "BHTRACE_RELIABILITY_PANIC_HOOK_MODE";
const MAIN_EVENTS: u64 = 300;
const THREAD_EVENTS: u64 = 200;
const SIGABRT: i32 = 6;

fn run_child(dir: &Path) -> ! {
    // `panic = "abort"`, emulated: the first hook installed ends the process.
    std::panic::set_hook(Box::new(|_| std::process::abort()));
    let with_hook = std::env::var(MODE).is_ok_and(|m| m == "hook");
    let (layer, _guard) = bhtrace::Builder::new(dir.join("h.bht"))
        // Neither the clock nor a full batch writes anything: only a flush.
        .flush_interval(Duration::from_secs(3600))
        .batch_bytes(4 << 20)
        .flush_on_panic(with_hook)
        .build()
        .expect("child: build the layer");
    tracing_subscriber::registry().with(layer).init();
    let main_span = tracing::info_span!("main_work");
    let _m = main_span.enter();
    for i in 0..MAIN_EVENTS {
        tracing::info!(i, "main");
    }
    let doomed = std::thread::Builder::new()
        .name("doomed".into())
        .spawn(|| {
            let span = tracing::info_span!("doomed_work");
            let _d = span.enter();
            for i in 0..THREAD_EVENTS {
                tracing::info!(i, "doomed");
            }
            panic!("the doomed thread panics");
        })
        .expect("child: spawn");
    let _ = doomed.join();
    unreachable!("the hook aborts the process");
}

/// Runs the child in `mode`, checks it aborted, returns the journal's
/// (main events, doomed-thread events).
fn run(dir: &TempDir, mode: &str) -> (Vec<u64>, Vec<u64>) {
    let out = child(TEST, GATE, dir.path())
        .env(MODE, mode)
        .output()
        .expect("run the child");
    assert_eq!(
        signal_of(&out.status),
        Some(SIGABRT),
        "{mode}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let (records, stats) = read_journal(dir.join("h.bhtj")).expect("the journal reads back");
    assert!(!stats.torn_tail, "{mode}: {stats:?}");
    let (mut main, mut doomed) = (Vec::new(), Vec::new());
    for r in &records {
        if let Record::Event { fields, .. } = r {
            let i = match fields.iter().find(|(n, _)| &**n == "i") {
                Some((_, Value::U64(i))) => *i,
                other => panic!("field i: {other:?}"),
            };
            match fields.iter().find(|(n, _)| &**n == "message") {
                Some((_, v)) if v.as_str() == Some("main") => main.push(i),
                Some((_, v)) if v.as_str() == Some("doomed") => doomed.push(i),
                other => panic!("message: {other:?}"),
            }
        }
    }
    (main, doomed)
}

#[test]
fn flush_on_panic_saves_the_records_before_an_abort() {
    if let Some(dir) = child_gate(GATE) {
        run_child(Path::new(&dir));
    }
    // Without the hook: the records never left the app's buffers.
    let dir = TempDir::new("reliability-panic-hook-off");
    let (main, doomed) = run(&dir, "off");
    assert!(
        main.is_empty() && doomed.is_empty(),
        "without the hook nothing should have been flushed: {} + {} events",
        main.len(),
        doomed.len()
    );
    drop(dir);

    // With it: every event of both threads, in order.
    let dir = TempDir::new("reliability-panic-hook-on");
    let (main, doomed) = run(&dir, "hook");
    assert_eq!(main, (0..MAIN_EVENTS).collect::<Vec<_>>());
    assert_eq!(doomed, (0..THREAD_EVENTS).collect::<Vec<_>>());

    let recovered = dir.join("recovered.bht");
    bhtrace::recover(dir.join("h.bhtj"), &recovered).expect("recover");
    let trace = answer_every_query(&recovered);
    let names: Vec<String> = trace
        .infos()
        .0
        .into_iter()
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(names, ["main_work", "doomed_work"]);
    assert_eq!(
        trace.header().incomplete_spans,
        2,
        "both spans were cut off"
    );
    assert_eq!(trace.header().events, MAIN_EVENTS + THREAD_EVENTS);
}
