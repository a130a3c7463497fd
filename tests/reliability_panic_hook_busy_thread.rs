//! The `flush_on_panic` hook never deadlocks when the panic happens while
//! the panicking thread holds its own record buffer — a field's `Debug`
//! impl that panics while its event is being encoded. The writer skips the
//! busy buffer, answers the flush, and the process goes down at once with
//! the other threads' records in the journal.
//!
//! The test runs its own binary as the child (gate: an environment
//! variable), whose own hook aborts after bhtrace's.
#![cfg(unix)]

mod core_support;
mod reliability_support;

use std::path::Path;
use std::time::{Duration, Instant};

use bhtrace::journal::{Record, read_journal};
use core_support::TempDir;
use reliability_support::{child, child_gate, signal_of};
use tracing_subscriber::prelude::*;

const TEST: &str = "a_panic_inside_a_record_does_not_deadlock_the_hook";
const GATE: &str = "BHTRACE_RELIABILITY_PANIC_BUSY_DIR";
const MAIN_EVENTS: u64 = 300;
const SIGABRT: i32 = 6;

/// Panics when formatted: the panic happens inside the layer's encoding.
struct Bomb;

impl std::fmt::Debug for Bomb {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        panic!("Debug of Bomb panics");
    }
}

fn run_child(dir: &Path) -> ! {
    std::panic::set_hook(Box::new(|_| std::process::abort()));
    let (layer, _guard) = bhtrace::Builder::new(dir.join("b.bht"))
        .flush_interval(Duration::from_secs(3600))
        .batch_bytes(4 << 20)
        .flush_on_panic(true)
        .build()
        .expect("child: build the layer");
    tracing_subscriber::registry().with(layer).init();
    for i in 0..MAIN_EVENTS {
        tracing::info!(i, "main");
    }
    let bomber = std::thread::spawn(|| {
        tracing::info!("before the bomb");
        tracing::info!(bomb = ?Bomb, "never recorded");
    });
    let _ = bomber.join();
    unreachable!("the hook aborts the process");
}

#[test]
fn a_panic_inside_a_record_does_not_deadlock_the_hook() {
    if let Some(dir) = child_gate(GATE) {
        run_child(Path::new(&dir));
    }
    let dir = TempDir::new("reliability-panic-busy");
    let started = Instant::now();
    let mut proc = child(TEST, GATE, dir.path())
        .spawn()
        .expect("spawn the child");
    // A deadlocked hook would hang the child: give it far more than the
    // hook's one-second wait, then kill it and fail.
    let status = loop {
        if let Some(status) = proc.try_wait().expect("poll the child") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = proc.kill();
            panic!("the child hung in the panic hook");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(signal_of(&status), Some(SIGABRT), "{status:?}");

    let (records, stats) = read_journal(dir.join("b.bhtj")).expect("the journal reads back");
    assert!(!stats.torn_tail, "{stats:?}");
    let main = records
        .iter()
        .filter(|r| {
            matches!(r, Record::Event { fields, .. }
                if fields.iter().any(|(n, v)| &**n == "message" && v.as_str() == Some("main")))
        })
        .count() as u64;
    assert_eq!(
        main, MAIN_EVENTS,
        "the idle main thread's records were flushed"
    );
    assert!(
        !records
            .iter()
            .any(|r| matches!(r, Record::Event { fields, .. }
            if fields.iter().any(|(n, _)| &**n == "bomb"))),
        "the half-encoded event must not reach the journal"
    );
}
