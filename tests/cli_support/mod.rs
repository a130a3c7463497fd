//! Shared by the `cli_*` tests: a trace written by the real layer, and a
//! way to run the built `bhtrace` binary on it.
//!
//! The trace, in span-id order (ids are preorder rows):
//!
//! ```text
//! request  [gw]     path="/checkout"
//! ├─ auth  [auth]   user="ada", sleeps 1ms
//! ├─ query [db]     sql="select 1", event "rows fetched"
//! ├─ query [db]     sql="select 2", ERROR event "deadlock"
//! ├─ a;b   [gw]     a name with the folded separator
//! ├─ hop   [gw]     entered on this thread, then on thread "worker"
//! ├─ idle  [gw]     never entered
//! └─ slow  [gw]     sleeps 5ms
//! job      [batch]  follows from request, WARN event "retrying"
//! leaked   [gw]     never closed: incomplete
//! stuck    [gw]     entered and never exited nor closed: incomplete, its
//!                   interval has no exit (a span a crash interrupts)
//! ```
//!
//! plus one event outside every span ("outside"), before `stuck`.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use tracing::{error, info, info_span, warn};
use tracing_subscriber::prelude::*;

/// Span names in id order.
pub const NAMES: [&str; 11] = [
    "request", "auth", "query", "query", "a;b", "hop", "idle", "slow", "job", "leaked", "stuck",
];

/// A temporary folder with the trace in it, removed on drop.
pub struct Fixture {
    pub dir: PathBuf,
    /// The envelope.
    pub envelope: PathBuf,
    /// The journal the envelope was converted from (kept).
    pub journal: PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Fixture {
    /// A path in the fixture's folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn reader(&self) -> bhtrace::TraceReader {
        bhtrace::TraceReader::open(&self.envelope).expect("open the fixture")
    }
}

/// Writes the trace described in the module docs under a folder unique to
/// `test` and this process.
pub fn fixture(test: &str) -> Fixture {
    let dir = std::env::temp_dir().join(format!("bhtrace-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the fixture folder");
    let envelope = dir.join("app.bht");
    let (layer, guard) = bhtrace::Builder::new(&envelope)
        .keep_journal(true)
        .service_name("shop")
        .build()
        .expect("build the layer");
    let journal = guard.journal_path().expect("a kept journal").to_owned();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, record);
    guard.finish().expect("finish the trace");
    Fixture {
        dir,
        envelope,
        journal,
    }
}

fn record() {
    let request = info_span!("request", service = "gw", path = "/checkout", items = 3u64);
    request.in_scope(|| {
        info_span!("auth", service = "auth", user = "ada").in_scope(|| {
            std::thread::sleep(Duration::from_millis(1));
        });
        info_span!("query", service = "db", sql = "select 1").in_scope(|| {
            info!(rows = 3u64, ratio = 0.5, big = u128::MAX, "rows fetched");
        });
        info_span!("query", service = "db", sql = "select 2", retry = true).in_scope(|| {
            error!(code = -40001i64, "deadlock");
        });
        info_span!("a;b", service = "gw").in_scope(|| {});

        let hop = info_span!("hop", service = "gw");
        hop.in_scope(|| info!("on the first thread"));
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        std::thread::scope(|s| {
            std::thread::Builder::new()
                .name("worker".into())
                .spawn_scoped(s, || {
                    tracing::dispatcher::with_default(&dispatch, || {
                        hop.in_scope(|| info!("on the worker"));
                    })
                })
                .expect("spawn the worker")
                .join()
                .expect("join the worker");
        });
        drop(hop);

        drop(info_span!("idle", service = "gw"));
        info_span!("slow", service = "gw").in_scope(|| {
            std::thread::sleep(Duration::from_millis(5));
        });
    });
    let job = info_span!("job", service = "batch");
    job.follows_from(&request);
    job.in_scope(|| warn!(attempt = 2u64, "retrying"));
    drop(request);
    drop(job);
    std::mem::forget(info_span!("leaked", service = "gw"));
    info!("outside");
    let stuck = info_span!("stuck", service = "gw");
    std::mem::forget(stuck.enter());
    std::mem::forget(stuck);
}

/// Runs the built `bhtrace` with `args`, without colour settings from the
/// environment.
pub fn bhtrace<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_bhtrace"))
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .expect("run bhtrace")
}

/// Runs `bhtrace`, checks it succeeded without a word on stderr, and
/// returns its stdout.
pub fn ok<I, S>(args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = bhtrace(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "bhtrace failed: {:?}\n{stderr}",
        out.status
    );
    assert!(stderr.is_empty(), "unexpected stderr: {stderr}");
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// `args` with the file first: `[cmd, file, rest...]`.
pub fn args<'a>(cmd: &'a str, file: &'a Path, rest: &[&'a str]) -> Vec<&'a OsStr> {
    let mut v: Vec<&OsStr> = vec![OsStr::new(cmd), file.as_os_str()];
    v.extend(rest.iter().map(|s| OsStr::new(*s)));
    v
}

/// Each line of `--json` output, parsed.
pub fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect()
}

/// Runs `bhtrace` expecting failure; returns (exit code, stderr).
pub fn fails<I, S>(args: I) -> (i32, String)
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = bhtrace(args);
    assert!(!out.status.success(), "bhtrace unexpectedly succeeded");
    let code = out.status.code().expect("an exit code, not a signal");
    (code, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The ids of the spans a reader holds that satisfy `f`.
pub fn ids_where(
    reader: &bhtrace::TraceReader,
    f: impl Fn(&bhtrace::SpanInfo) -> bool,
) -> Vec<u64> {
    reader
        .infos()
        .0
        .iter()
        .filter(|i| f(i))
        .map(|i| u64::from(i.id.0))
        .collect()
}
