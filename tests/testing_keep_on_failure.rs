//! A failing test keeps its trace and prints where; the file opens. Each
//! failing test runs in a child process: this binary, run again on one
//! `#[ignore]`d test that only fails when `BHTRACE_CHILD=1`.

use std::path::{Path, PathBuf};
use std::process::Command;

use bhtrace::TraceReader;
use bhtrace::testing::{TestTrace, capture};

/// Runs `test` of this binary in a child process writing into `dir`, and
/// returns (succeeded, everything it printed).
fn run_child(test: &str, dir: &Path) -> (bool, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--ignored", "--test-threads=1"])
        .env("BHTRACE_CHILD", "1")
        .env("BHTRACE_TEST_DIR", dir)
        .env_remove("BHTRACE_KEEP")
        .output()
        .unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// The path in the `bhtrace: trace kept at <path>` line.
fn kept_path(output: &str) -> PathBuf {
    let line = output
        .lines()
        .find_map(|l| l.strip_prefix("bhtrace: trace kept at "))
        .unwrap_or_else(|| panic!("no `trace kept` line in:\n{output}"));
    PathBuf::from(line.trim())
}

fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bht-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn child() -> bool {
    std::env::var_os("BHTRACE_CHILD").is_some_and(|v| v == "1")
}

#[test]
#[ignore = "a deliberately failing test, run by `a_panic_keeps_the_trace`"]
fn child_panics_while_capturing() {
    if !child() {
        return;
    }
    let _cap = capture();
    let _job = tracing::info_span!("doomed_job", attempt = 3).entered();
    tracing::error!(code = 500, "upstream failed");
    panic!("the code under test failed");
}

#[test]
#[ignore = "a deliberately failing test, run by `a_failed_assertion_keeps_the_trace`"]
fn child_fails_an_assertion() {
    if !child() {
        return;
    }
    let cap = capture();
    tracing::info_span!("checkout", items = 2).in_scope(|| tracing::info!("priced"));
    let t = cap.finish();
    t.span("checkout").assert_field("items", 3);
}

#[test]
fn a_panic_keeps_the_trace() {
    let dir = temp_dir("panic");
    let (ok, output) = run_child("child_panics_while_capturing", &dir);
    assert!(!ok, "the child should fail:\n{output}");
    let path = kept_path(&output);
    let binary = dir.join("testing_keep_on_failure");
    assert_eq!(path, binary.join("child_panics_while_capturing.bht"));

    let reader = TraceReader::open(&path).unwrap();
    assert_eq!(reader.spans_named("doomed_job").0.len(), 1);
    let t = TestTrace::open(&path).unwrap();
    let job = t.span("doomed_job").assert_field("attempt", 3);
    job.event("upstream failed").assert_field("code", 500);
    assert!(job.is_error());
    // Bound after the capture, the span was dropped (closed) first.
    assert!(!job.is_incomplete());
    drop(t);
    // Only the envelope: the journal was converted and removed.
    let files: Vec<_> = std::fs::read_dir(&binary)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files, std::slice::from_ref(&path));
    // Opening a kept trace never removes it.
    assert!(path.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failed_assertion_keeps_the_trace() {
    let dir = temp_dir("assertion");
    let (ok, output) = run_child("child_fails_an_assertion", &dir);
    assert!(!ok, "the child should fail:\n{output}");
    assert!(
        output.contains("expected items=3, found items=2"),
        "{output}"
    );
    assert!(output.contains("checkout{items=2}"), "{output}");
    let path = kept_path(&output);
    assert!(path.starts_with(&dir));
    TestTrace::open(&path)
        .unwrap()
        .span("checkout")
        .event("priced");
    std::fs::remove_dir_all(&dir).unwrap();
}
