//! Shared by the `reliability_*` tests: running this test binary again as a
//! child process (the child's behaviour chosen by an environment variable),
//! a seeded random source, the heavy switch, and a check that an envelope
//! answers every query. Builds on `core_support` (declare both modules).
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};

use bhtrace::{SpanId, TraceReader};

pub mod hostile;

/// True when `BHTRACE_HEAVY=1`: run the long variants (the numbers a
/// report quotes) instead of the quick CI ones.
pub fn heavy() -> bool {
    std::env::var("BHTRACE_HEAVY").is_ok_and(|v| v == "1")
}

/// The value of the child gate `var`, when this process is the child.
pub fn child_gate(var: &str) -> Option<String> {
    std::env::var(var).ok()
}

/// A command that runs test `test` of this same test binary, alone, with
/// `var=value` set so that it takes its child branch. Output is piped.
pub fn child(test: &str, var: &str, value: impl AsRef<std::ffi::OsStr>) -> Command {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(var, value)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// A small xorshift generator: the tests print their seed, and
/// `BHTRACE_SEED` replays one.
#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    /// Seeded from `BHTRACE_SEED` or the clock; prints the seed.
    pub fn from_env(test: &str) -> Rng {
        let seed = std::env::var("BHTRACE_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        eprintln!("{test}: BHTRACE_SEED={seed}");
        Rng(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// Opens `envelope` and runs every query on it: the trace's invariants
/// (`core_support::check_well_formed`) hold and none of the queries fails.
pub fn answer_every_query(envelope: &Path) -> TraceReader {
    let trace = TraceReader::open(envelope).expect("the envelope opens");
    check_every_query(&trace);
    trace
}

/// [`answer_every_query`] on an envelope in memory.
pub fn answer_every_query_bytes(envelope: Vec<u8>) -> TraceReader {
    let trace = TraceReader::from_bytes(envelope).expect("the envelope opens");
    check_every_query(&trace);
    trace
}

/// The checks of [`answer_every_query`].
pub fn check_every_query(trace: &TraceReader) {
    super::core_support::check_well_formed(trace);
    trace.verify().expect("verify");
    trace.summary().expect("summary");
    trace.critical_path().expect("critical path");
    let (full, _) = trace.full().expect("full");
    assert_eq!(full.spans.len(), trace.len());
    trace.orphan_events().expect("orphan events");
    let (roots, _) = trace.roots();
    for r in &roots {
        let (sub, _) = trace.subtree(r.id).expect("subtree of a root");
        assert_eq!(sub.len(), (r.subtree_end.0 - r.id.0) as usize);
        assert_eq!(sub[0], full.spans[r.id.index()]);
    }
    if let Some(last) = trace.len().checked_sub(1) {
        trace.span(SpanId(last as u32)).expect("the last span");
    }
    for name in trace.services() {
        let (spans, _) = trace.service(name).expect("service");
        assert!(!spans.is_empty(), "service {name} lists no span");
    }
    trace.slowest(5);
}

/// A test's child exits here, so the harness of the child process prints
/// nothing after what the child reported.
pub fn exit_child(code: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    std::process::exit(code)
}

/// The exit signal of a child, if a signal ended it.
#[cfg(unix)]
pub fn signal_of(status: &std::process::ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    status.signal()
}
