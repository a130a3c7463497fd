//! A passing test leaves no trace behind, unless `BHTRACE_KEEP=1`. The
//! passing tests run in a child process (this binary, on an `#[ignore]`d
//! test) so the environment can be set for them alone.

use std::path::{Path, PathBuf};
use std::process::Command;

use bhtrace::testing::{Capture, capture, with_capture};

fn run_child(test: &str, dir: &Path, keep: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--ignored", "--nocapture"])
        .env("BHTRACE_CHILD", "1")
        .env("BHTRACE_TEST_DIR", dir)
        .env_remove("BHTRACE_KEEP");
    if let Some(keep) = keep {
        cmd.env("BHTRACE_KEEP", keep);
    }
    let out = cmd.output().unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bht-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every file under `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
#[ignore = "run by `a_passing_test_leaves_nothing` in a child process"]
fn child_passes() {
    if std::env::var_os("BHTRACE_CHILD").is_none() {
        return;
    }
    // Finished and asserted on.
    let cap = capture();
    tracing::info_span!("ok").in_scope(|| tracing::info!("fine"));
    cap.finish().span("ok").event("fine");
    // Dropped without finishing: `let _cap = capture();` style.
    let _cap = capture();
    tracing::info_span!("also_ok").in_scope(|| {});
    drop(_cap);
    // The closure form.
    let ((), t) = with_capture(|| tracing::info_span!("third").in_scope(|| {}));
    t.span("third");
}

#[test]
fn a_passing_test_leaves_nothing() {
    let dir = temp_dir("pass");
    let (ok, output) = run_child("child_passes", &dir, None);
    assert!(ok, "{output}");
    assert!(output.contains("1 passed"), "{output}");
    assert!(!output.contains("bhtrace:"), "{output}");
    assert_eq!(files(&dir), Vec::<PathBuf>::new());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bhtrace_keep_keeps_passing_traces() {
    let dir = temp_dir("keep");
    let (ok, output) = run_child("child_passes", &dir, Some("1"));
    assert!(ok, "{output}");
    let binary = dir.join("testing_remove_on_pass");
    let expected = vec![
        binary.join("child_passes-2.bht"),
        binary.join("child_passes-3.bht"),
        binary.join("child_passes.bht"),
    ];
    assert_eq!(files(&dir), expected);
    for path in &expected {
        let line = format!("bhtrace: trace kept at {}", path.display());
        assert!(output.contains(&line), "{line} not in\n{output}");
    }
    // `BHTRACE_KEEP=0` is the same as unset.
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    let (ok, output) = run_child("child_passes", &dir, Some("0"));
    assert!(ok, "{output}");
    assert_eq!(files(&dir), Vec::<PathBuf>::new());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn keep_on_the_builder_or_the_trace() {
    let dir = temp_dir("keep_builder");
    let cap = Capture::builder().dir(&dir).name("kept").keep(true).start();
    tracing::info_span!("x").in_scope(|| {});
    let path = cap.finish().path().to_owned();
    assert_eq!(path, dir.join("kept.bht"));
    assert!(path.exists());

    let cap = Capture::builder()
        .dir(&dir)
        .name("kept_later")
        .keep(false)
        .start();
    let t = cap.finish().keep();
    let path = t.path().to_owned();
    drop(t);
    assert!(path.exists());

    let cap = Capture::builder()
        .dir(&dir)
        .name("removed")
        .keep(false)
        .start();
    let path = cap.path().to_owned();
    drop(cap.finish());
    assert!(!path.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
