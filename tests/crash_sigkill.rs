//! A process killed with SIGKILL while tracing leaves a journal that reads
//! back without error up to its last whole frame, and that `recover` turns
//! into an envelope that opens and answers every query.
//!
//! The test spawns its own binary with an environment variable set: that
//! child runs a tracing loop forever (flushing every few milliseconds),
//! says when its journal has frames, and is killed.

mod core_support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use bhtrace::journal::{Record, StopReason, read_journal};
use bhtrace::{SpanId, TraceReader};
use core_support::TempDir;
use tracing_subscriber::prelude::*;

const CHILD_DIR: &str = "BHTRACE_TEST_SIGKILL_CHILD_DIR";
const READY: &str = "bhtrace-child-ready";

/// The child: traces until killed.
fn child(dir: &str) -> ! {
    let path = std::path::Path::new(dir).join("crashed.bht");
    let (layer, guard) = bhtrace::Builder::new(&path)
        .flush_interval(Duration::from_millis(2))
        .service_name("crasher")
        .build()
        .expect("child: build the layer");
    tracing_subscriber::registry().with(layer).init();
    let service = tracing::info_span!("service_loop");
    let _s = service.enter();
    let mut i = 0u64;
    loop {
        let request = tracing::info_span!("request", i, service = "api");
        let _r = request.enter();
        tracing::info_span!(target: "db::pool", "query", i).in_scope(|| {
            tracing::info!(i, sql = "select * from items where id = ?", "queried");
        });
        if i % 7 == 0 {
            tracing::warn!(i, "slow request");
        }
        if i == 2_000 {
            guard.flush().expect("child: flush");
            println!("{READY}");
        }
        i += 1;
    }
}

#[test]
fn sigkilled_process_leaves_a_readable_journal() {
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        child(&dir);
    }
    let dir = TempDir::new("sigkill");
    let mut proc = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "sigkilled_process_leaves_a_readable_journal",
            "--nocapture",
        ])
        .env(CHILD_DIR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = proc.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.contains(READY) {
                let _ = tx.send(());
            }
        }
    });
    let ready = rx.recv_timeout(Duration::from_secs(120));
    proc.kill().unwrap(); // SIGKILL on Unix
    let status = proc.wait().unwrap();
    assert!(
        ready.is_ok(),
        "the child never got ready (status {status:?})"
    );
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9), "killed by SIGKILL: {status:?}");
    }

    // The journal reads back without error, up to its last whole frame.
    let journal = dir.join("crashed.bhtj");
    assert!(
        !dir.join("crashed.bht").exists(),
        "a killed process writes no envelope"
    );
    let (records, stats) = read_journal(&journal).unwrap();
    assert!(stats.frames >= 1, "{stats:?}");
    assert_eq!(stats.records, records.len() as u64);
    assert!(stats.bytes <= stats.file_len);
    assert_eq!(stats.stopped_at, stats.bytes, "{stats:?}");
    if stats.torn_tail {
        assert!(
            matches!(stats.stop_reason, Some(StopReason::TornFrame { .. })),
            "a killed writer can only leave a torn frame: {stats:?}"
        );
    } else {
        assert_eq!(stats.bytes, stats.file_len);
    }
    assert!(
        !records.iter().any(|r| matches!(r, Record::End { .. })),
        "no clean end"
    );
    let queried = records
        .iter()
        .filter(|r| matches!(r, Record::Event { .. }))
        .count();
    assert!(queried > 2_000, "the flushed events are there: {queried}");

    // It recovers into an envelope that opens and answers every query.
    let out = dir.join("recovered.bht");
    let converted = bhtrace::recover(&journal, &out).unwrap();
    assert_eq!(converted.journal.torn_tail, stats.torn_tail);
    assert_eq!(converted.journal.frames, stats.frames);
    let trace = TraceReader::open(&out).unwrap();
    let h = trace.header();
    assert!(!h.clean_shutdown);
    assert_eq!(h.journal_torn, stats.torn_tail);
    assert_eq!(h.process.service_name.as_deref(), Some("crasher"));
    assert!(h.incomplete_spans >= 1, "the service loop was never closed");
    assert!(trace.is_incomplete());
    core_support::check_well_formed(&trace);

    let (roots, _) = trace.roots();
    assert_eq!(roots.len(), 1, "{roots:?}");
    let service = &roots[0];
    assert_eq!(&*service.name, "service_loop");
    assert!(service.incomplete);
    assert_eq!(
        service.end_ns, h.end_ns,
        "an open span ends at the last time seen"
    );
    assert!(trace.children(service.id).unwrap().len() > 2_000);

    let (summary, _) = trace.summary().unwrap();
    assert_eq!(summary.traces, 1);
    assert_eq!(summary.spans as usize, trace.len());
    assert_eq!(
        summary.slowest_root.as_ref().map(|r| r.id),
        Some(service.id)
    );
    let (path, _) = trace.critical_path().unwrap();
    assert_eq!(path, summary.critical_path);
    let (sub, _) = trace.subtree(service.id).unwrap();
    assert_eq!(sub.len(), trace.len());
    let last = SpanId(trace.len() as u32 - 1);
    let (leaf, _) = trace.subtree(last).unwrap();
    assert_eq!(leaf.len(), 1);
    let (full, _) = trace.full().unwrap();
    assert_eq!(full.spans, sub);
    for name in trace.services() {
        let (spans, _) = trace.service(name).unwrap();
        assert!(!spans.is_empty(), "service {name}");
        assert!(
            spans
                .iter()
                .all(|s| &*s.info.service == name || s.info.target.starts_with(name))
        );
    }
    let (db, _) = trace.service("db").unwrap();
    assert!(db.len() > 2_000 && db.iter().all(|s| &*s.info.name == "query"));
    let (api, _) = trace.service("api").unwrap();
    assert!(api.iter().all(|s| &*s.info.name == "request"));
    assert_eq!(api.len() + db.len() + 1, trace.len());
    trace.verify().unwrap();
    for s in &full.spans {
        for i in &s.intervals {
            assert!(i.exit_ns.is_none_or(|x| i.enter_ns <= x));
        }
    }

    // The journal can be opened directly, too.
    let (direct, _) = TraceReader::open_journal(&journal).unwrap();
    assert_eq!(direct.len(), trace.len());
}
