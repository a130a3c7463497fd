//! Two threads produce records flat out in lossless mode: nothing is
//! dropped, every record is written, and the process's peak memory (VmHWM)
//! does not grow with the length of the run — measured in a child process
//! after the first quarter of the run and at its end.
//!
//! CI: 400,000 records. `BHTRACE_HEAVY=1`: 10,000,000 (build with
//! `--release` for a quick run). The journal is not converted here (that is
//! the converter's own memory, measured by `examples/million.rs`).
#![cfg(target_os = "linux")]

mod core_support;
mod reliability_support;

use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::Instant;

use core_support::{TempDir, on_thread};
use reliability_support::{child, child_gate, heavy};
use tracing_subscriber::prelude::*;

const TEST: &str = "lossless_load_drops_nothing_and_memory_stays_flat";
const GATE: &str = "BHTRACE_RELIABILITY_LOAD_DIR";
const COUNT: &str = "BHTRACE_RELIABILITY_LOAD_RECORDS";
const THREADS: u64 = 2;

/// Peak resident set size so far, in KiB.
fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmHWM line")
}

fn run_child(dir: &Path, records: u64) -> ! {
    let (layer, guard) = bhtrace::Builder::new(dir.join("load.bht"))
        .convert(false)
        .build()
        .expect("child: build the layer");
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    // Each thread: 4 phases of records / THREADS / 4, meeting at a barrier
    // after the first so that the parent's quarter mark is exact.
    let per_thread = records / THREADS;
    let quarter = per_thread / 4;
    let barrier = Arc::new(Barrier::new(THREADS as usize + 1));
    let started = Instant::now();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let barrier = Arc::clone(&barrier);
            on_thread(&format!("load-{t}"), &dispatch, move || {
                let mut produced = 0u64;
                let batch = |n: u64, produced: &mut u64| {
                    // A span every 100 records: new, enter, exit, close
                    // and 96 events in it.
                    while *produced + 100 <= n {
                        tracing::info_span!("batch", t).in_scope(|| {
                            for i in 0..96u64 {
                                tracing::info!(t, i, "record");
                            }
                        });
                        *produced += 100;
                    }
                    while *produced < n {
                        tracing::info!(t, "record");
                        *produced += 1;
                    }
                };
                batch(quarter, &mut produced);
                barrier.wait();
                barrier.wait();
                batch(per_thread, &mut produced);
                produced
            })
        })
        .collect();
    barrier.wait();
    let quarter_kib = vm_hwm_kib();
    barrier.wait();
    let produced: u64 = threads
        .into_iter()
        .map(|t| t.join().expect("child: a load thread panicked"))
        .sum();
    let elapsed = started.elapsed();
    let end_kib = vm_hwm_kib();
    drop(dispatch);
    let done = guard.finish().expect("child: finish");
    let w = done.writer;
    println!(
        "LOAD {produced} {} {} {} {quarter_kib} {end_kib} {} {}",
        w.records_written,
        w.records_dropped,
        w.records_after_finish,
        elapsed.as_millis(),
        w.bytes_written
    );
    reliability_support::exit_child(0)
}

#[test]
fn lossless_load_drops_nothing_and_memory_stays_flat() {
    if let Some(dir) = child_gate(GATE) {
        let records = std::env::var(COUNT)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        run_child(Path::new(&dir), records);
    }
    let records: u64 = if heavy() { 10_000_000 } else { 400_000 };
    let dir = TempDir::new("reliability-sustained-load");
    let out = child(TEST, GATE, dir.path())
        .env(COUNT, records.to_string())
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let n: Vec<u64> = stdout
        .lines()
        .find_map(|l| l.find("LOAD ").map(|at| &l[at + 5..]))
        .unwrap_or_else(|| panic!("no LOAD line in {stdout}"))
        .split(' ')
        .map(|x| x.parse().expect("a number"))
        .collect();
    let [
        produced,
        written,
        dropped,
        after,
        quarter_kib,
        end_kib,
        ms,
        bytes,
    ] = n[..]
    else {
        panic!("LOAD line: {n:?}");
    };
    eprintln!(
        "{produced} records in {ms} ms ({:.2} M records/s), journal {} MB; peak RSS {} MiB \
         after a quarter, {} MiB at the end",
        produced as f64 / ms.max(1) as f64 / 1000.0,
        bytes >> 20,
        quarter_kib >> 10,
        end_kib >> 10
    );
    assert_eq!(produced, records);
    assert_eq!(dropped, 0, "lossless mode dropped records");
    assert_eq!(after, 0);
    assert_eq!(written, produced, "every record is in the journal");
    // Flat: the last three quarters of the run add at most 16 MiB to the
    // peak (buffers still warming up), whatever the run's length.
    assert!(
        end_kib <= quarter_kib + (16 << 10),
        "peak RSS grew from {quarter_kib} KiB to {end_kib} KiB over the run"
    );
    assert!(end_kib < 256 << 10, "peak RSS {end_kib} KiB");
}
