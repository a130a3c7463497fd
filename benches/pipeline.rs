//! Behind the app thread: how many records per second reach the journal
//! (the writer), and how fast a journal becomes an envelope (conversion),
//! with the conversion's peak memory.
//!
//! ```text
//! cargo bench --bench pipeline
//! cargo bench --bench pipeline -- writer        # one group
//! cargo bench --bench pipeline -- conversion
//! ```
//!
//! **writer**: 100k spans, each with one 3-field event (the span lifecycle
//! of `benches/capture.rs`), produced by 1 thread, or by 2 threads at once
//! (50k spans each), into a lossless journal (`convert(false)`). Timed from
//! the first record to `Guard::finish()` returning, so the writer's drain
//! of what was still queued is included; creating the journal and deleting
//! it afterwards are not. Criterion's throughput line is journal records
//! per second end to end: in lossless mode an app thread waits when the
//! writer falls behind, so this is the rate of the slower of the two sides.
//! The bench prints once per case (from a pass outside criterion's timing)
//! how long the producers took, how long the drain after them took (a
//! drain near zero means the writer kept up, so the producers set the
//! rate), and the writer thread's own CPU time per record (Linux
//! `schedstat`): the rate the writer alone could sustain on one core.
//! Every iteration asserts that no record was dropped and that the journal
//! holds every record the app threads produced. The journal is written to the
//! page cache (the writer does not fsync), in the system temp folder.
//!
//! **conversion**: `bhtrace::recover` of a journal of 100k spans + 100k
//! events written once when the bench starts; criterion's throughput line
//! is journal bytes per second. Includes the `fsync` of the envelope that
//! `recover` does before renaming it into place. After criterion's runs the
//! bench re-executes itself in a child process that does one conversion of
//! the same journal and nothing else, and prints that process's peak
//! resident memory (`VmHWM` from `/proc/self/status`, Linux only), next to
//! its `VmHWM` before converting (the process's floor).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group};
use tracing::{Dispatch, info, info_span};
use tracing_subscriber::prelude::*;

/// Spans (each with one event) per writer iteration, over all threads.
const WRITER_SPANS: u64 = 100_000;
/// Spans (each with one event) in the journal the conversion reads.
const CONVERT_SPANS: u64 = 100_000;
/// Set in the child process that measures one conversion's peak memory:
/// the journal to convert.
const RSS_CHILD: &str = "BHTRACE_BENCH_CONVERT_RSS_JOURNAL";

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("bhtrace-bench-pipeline-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("a temp folder");
    d
}

/// `spans` span lifecycles under a root span, each with one event.
fn produce(spans: u64) {
    let root = info_span!("batch", spans);
    let _r = root.enter();
    for i in 0..spans {
        let span = info_span!("op", id = i, user = "alice", path = "/api/v1/items");
        let _e = span.enter();
        info!(a = i, b = "str", c = 1.5, "msg");
    }
}

/// On-CPU time of the live `bhtrace-writer` thread, in ns (Linux
/// `/proc/self/task/*/schedstat`); `None` elsewhere or if there is not
/// exactly one.
fn writer_cpu_ns() -> Option<u64> {
    let mut found = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim_end() == "bhtrace-writer" {
            let stat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
            found.push(stat.split_whitespace().next()?.parse().ok()?);
        }
    }
    (found.len() == 1).then(|| found[0])
}

/// Records in the journal of one [`write_once`] pass: 5 per span lifecycle
/// (new, enter, event, exit, close) and 4 per thread's root span.
fn expected_records(threads: u64) -> u64 {
    5 * (WRITER_SPANS / threads) * threads + 4 * threads
}

/// One pass of the writer bench: `threads` threads share [`WRITER_SPANS`]
/// spans into a fresh lossless journal. Returns the time until the
/// producers were done, the time until `finish` returned (both from the
/// first record), and the writer's counters. With `writer_cpu`, also the
/// writer thread's CPU time up to the moment everything produced was in
/// the journal (read after a [`Guard::flush`](bhtrace::Guard::flush),
/// which then counts in the drain).
fn write_once(
    path: &Path,
    threads: u64,
    writer_cpu: bool,
) -> (Duration, Duration, bhtrace::Finished, Option<u64>) {
    let (layer, guard) = bhtrace::Builder::new(path)
        .convert(false)
        .build()
        .expect("bench journal");
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                tracing::dispatcher::with_default(&dispatch, || produce(WRITER_SPANS / threads))
            });
        }
    });
    let produced = start.elapsed();
    drop(dispatch);
    let cpu = if writer_cpu {
        guard.flush().expect("bench flush");
        let all_written = guard.stats().records_written == expected_records(threads);
        writer_cpu_ns().filter(|_| all_written)
    } else {
        None
    };
    let done = guard.finish().expect("bench finish");
    let finished = start.elapsed();
    let w = &done.writer;
    // A bench that dropped records would be measuring less work than it claims.
    assert_eq!(w.records_dropped, 0, "the lossless writer dropped records");
    assert_eq!(w.write_errors, 0, "journal writes failed");
    assert_eq!(w.records_after_finish, 0);
    assert_eq!(
        w.records_written,
        expected_records(threads),
        "the journal does not hold every record produced"
    );
    if let Some(j) = &done.journal {
        let _ = std::fs::remove_file(j);
    }
    (produced, finished, done, cpu)
}

fn writer(c: &mut Criterion) {
    let mut g = c.benchmark_group("writer");
    g.sample_size(10);
    for threads in [1, 2] {
        let path = dir().join(format!("writer-{threads}.bht"));
        // One pass first: the record count for criterion's throughput (the
        // same in every pass, checked by `write_once`) and the producers /
        // drain split.
        let (produced, finished, done, cpu) = write_once(&path, threads, true);
        let records = done.writer.records_written;
        let capacity = cpu.map_or("unavailable".to_owned(), |ns| {
            format!(
                "{:.1} ms, {:.0} ns per record, so at most {:.1} M records/s",
                ns as f64 / 1e6,
                ns as f64 / records as f64,
                records as f64 / ns as f64 * 1e3
            )
        });
        eprintln!(
            "writer, {threads} thread(s): {records} records, {} journal bytes, 0 dropped; producers done after \
             {produced:.1?}, finish returned after {finished:.1?} (drain {:.1?}); writer thread CPU: {capacity}",
            done.writer.bytes_written,
            finished - produced
        );
        g.throughput(Throughput::Elements(records));
        g.bench_function(format!("{threads} thread(s)"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += write_once(&path, threads, false).1;
                }
                total
            })
        });
    }
    g.finish();
}

/// `VmHWM` (peak resident set) of this process, in kB.
fn vm_hwm_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The child process: one conversion and nothing else, then its peak memory.
fn rss_child(journal: &Path) {
    let before = vm_hwm_kb();
    let out = journal.with_extension("rss.bht");
    let s = bhtrace::recover(journal, &out).expect("convert");
    let after = vm_hwm_kb();
    let _ = std::fs::remove_file(&out);
    match (before, after) {
        (Some(b), Some(a)) => println!("{b} {a} {}", s.spans),
        _ => println!("unavailable"),
    }
}

fn conversion(c: &mut Criterion) {
    let envelope = dir().join("convert.bht");
    let (layer, guard) = bhtrace::Builder::new(&envelope)
        .convert(false)
        .build()
        .expect("bench journal");
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        produce(CONVERT_SPANS)
    });
    let done = guard.finish().expect("bench finish");
    assert_eq!(done.writer.records_dropped, 0);
    let journal = done
        .journal
        .expect("the journal is kept with convert(false)");
    let journal_len = std::fs::metadata(&journal).expect("journal").len();

    let mut ran = false;
    let mut g = c.benchmark_group("conversion");
    g.sample_size(10).throughput(Throughput::Bytes(journal_len));
    g.bench_function(
        format!("recover, {CONVERT_SPANS} spans + {CONVERT_SPANS} events"),
        |b| {
            ran = true;
            b.iter(|| {
                let s = bhtrace::recover(&journal, &envelope).expect("convert");
                assert_eq!(u64::from(s.spans), CONVERT_SPANS + 1);
                black_box(s)
            })
        },
    );
    g.finish();

    // Peak memory of one conversion, in a process that does nothing else:
    // this process's own peak would include the writer bench and criterion.
    if ran {
        let exe = std::env::current_exe().expect("the bench's own path");
        let out = std::process::Command::new(exe)
            .env(RSS_CHILD, &journal)
            .output()
            .expect("the peak-memory child process");
        let text = String::from_utf8_lossy(&out.stdout);
        let fields: Vec<u64> = text
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        match fields[..] {
            [before, after, spans] if out.status.success() => eprintln!(
                "conversion peak RSS (VmHWM of a child process doing one `recover` and nothing else): \
                 {:.1} MB, of which {:.1} MB before converting; journal {:.1} MB, {spans} spans",
                after as f64 / 1024.0,
                before as f64 / 1024.0,
                journal_len as f64 / 1e6
            ),
            _ => eprintln!(
                "conversion peak RSS: not measured ({}{})",
                text.trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        }
    }
    let _ = std::fs::remove_file(&journal);
    let _ = std::fs::remove_file(&envelope);
}

criterion_group!(benches, writer, conversion);

fn main() {
    if let Some(journal) = std::env::var_os(RSS_CHILD) {
        rss_child(Path::new(&journal));
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
    let _ = std::fs::remove_dir(dir());
}
