#![cfg(feature = "cli")]
//! Bad input (missing, foreign, truncated or corrupt file, unknown span id)
//! gives one line on stderr naming the file and what is wrong, and exit
//! code 2; other failures exit 1. Never a panic.

mod cli_support;

use std::path::Path;

use cli_support::{args, bhtrace, fails, fixture};

/// Runs `cmd file rest` and checks the failure's code and one-line message.
fn check(cmd: &str, file: &Path, rest: &[&str], code: i32, what: &str) {
    let out = bhtrace(args(cmd, file, rest));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{cmd} {}: {stderr}",
        file.display()
    );
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    let prefix = format!("bhtrace: {}: ", file.display());
    assert!(stderr.starts_with(&prefix), "names the file: {stderr}");
    assert!(stderr.contains(what), "says {what:?}: {stderr}");
    assert!(!stderr.contains("panick"), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing on stdout");
}

#[test]
fn bad_files_exit_2_with_one_line() {
    let f = fixture("cli_bad_input_files");
    let missing = f.path("missing.bht");
    let random = f.path("random.bin");
    let bytes: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&random, &bytes).unwrap();
    let envelope = std::fs::read(&f.envelope).unwrap();
    let truncated = f.path("truncated.bht");
    std::fs::write(&truncated, &envelope[..envelope.len() / 2]).unwrap();
    let empty = f.path("empty.bht");
    std::fs::write(&empty, b"").unwrap();
    let corrupt = f.path("corrupt.bht");
    let mut c = envelope.clone();
    // Inside the structure that open checks: the string table holds "request".
    let at = c.windows(7).position(|w| w == b"request").unwrap();
    c[at] ^= 0x20;
    std::fs::write(&corrupt, &c).unwrap();

    for cmd in ["summary", "tree", "spans", "logs", "info"] {
        check(cmd, &missing, &[], 2, "No such file");
        check(cmd, &random, &[], 2, "not a bhtrace envelope");
        check(cmd, &truncated, &[], 2, "truncated");
        check(cmd, &empty, &[], 2, "truncated");
        check(cmd, &corrupt, &[], 2, "checksum mismatch");
    }
    check(
        "export",
        &random,
        &["-f", "chrome"],
        2,
        "not a bhtrace envelope",
    );
    check("recover", &random, &[], 2, "not a bhtrace journal");
    check("recover", &missing, &[], 2, "No such file");
}

#[test]
fn unknown_span_ids_exit_2() {
    let f = fixture("cli_bad_input_ids");
    let what = "no span 99 in this trace (it has 11 spans";
    check("show", &f.envelope, &["99"], 2, what);
    check("tree", &f.envelope, &["--root", "99"], 2, what);
    check("critical-path", &f.envelope, &["--root", "99"], 2, what);
    check("logs", &f.envelope, &["--span", "99"], 2, what);
}

#[test]
fn other_failures_exit_1() {
    let f = fixture("cli_bad_input_other");
    let out = f.path("no-such-dir").join("trace.json");
    let (code, stderr) = fails(args(
        "export",
        &f.envelope,
        &["-f", "chrome", "-o", out.to_str().unwrap()],
    ));
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!("bhtrace: cannot write {}", out.display())),
        "{stderr}"
    );
    assert!(!out.exists());
}
