#![cfg(feature = "cli")]
//! The reader and the CLI never act on what a file says: strings that look
//! like paths, shell commands, redirections or URLs — in span names, field
//! values, event messages, thread and service names — are printed as text
//! by every command, and nothing is executed, created or read because of
//! them. (The library opens only the path it is given, and nothing in
//! `src/` runs a process; this test checks the behaviour end to end.)
//!
//! A second test checks that control characters from a file (terminal
//! escape sequences: set the title, write the clipboard, clear the screen)
//! are shown escaped in text output, never sent to the terminal raw.

mod core_support;
mod reliability_support;

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

use core_support::TempDir;
use reliability_support::hostile::*;
use tracing_subscriber::prelude::*;

/// Runs `bhtrace args…` in `cwd`; returns stdout, after checking success.
fn bhtrace(cwd: &Path, args: &[&OsStr]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_bhtrace"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env_remove("SHELL")
        .output()
        .expect("run bhtrace");
    assert!(
        out.status.success(),
        "bhtrace {args:?}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// A trace whose every free-form string is hostile; `name` replaces the
/// span name "request" (names are static in code: set by file surgery).
fn hostile_trace(dir: &TempDir, name: &str, text: &dyn Fn(&str) -> String) -> std::path::PathBuf {
    let path = dir.join("raw.bht");
    let (layer, guard) = bhtrace::Builder::new(&path)
        .service_name(text("service"))
        .keep_journal(true)
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let thread = text("thread");
    let (t_path, t_cmd, t_svc, t_msg) = (text("path"), text("field"), text("svc"), text("message"));
    core_support::on_thread(&thread, &dispatch, move || {
        let span = tracing::info_span!("request", path = %t_path, cmd = %t_cmd, service = %t_svc);
        span.in_scope(|| tracing::info!(url = "file:///etc/shadow", "{t_msg}"));
    })
    .join()
    .unwrap();
    drop(dispatch);
    guard.finish().unwrap();

    let mut p = Pieces::parse(&std::fs::read(&path).unwrap());
    p.map_strings(STRINGS, |t| {
        if t == b"request" { name.as_bytes() } else { t }.to_vec()
    });
    let hostile = dir.join("hostile.bht");
    std::fs::write(&hostile, p.build()).unwrap();
    hostile
}

/// Every command's output on `file` (text unless `json`), concatenated.
fn every_command(cwd: &Path, file: &Path, json: bool) -> String {
    let f = file.as_os_str();
    let mut all = String::new();
    let mut run = |args: &[&str]| {
        let mut v: Vec<&OsStr> = vec![OsStr::new(args[0]), f];
        v.extend(args[1..].iter().map(OsStr::new));
        if json && !matches!(args[0], "info" | "export") {
            v.push(OsStr::new("--json"));
        }
        all.push_str(&bhtrace(cwd, &v));
    };
    for cmd in [
        "summary",
        "tree",
        "critical-path",
        "slow",
        "spans",
        "logs",
        "info",
    ] {
        run(&[cmd]);
    }
    run(&["show", "0"]);
    for format in ["chrome", "folded", "otlp"] {
        run(&["export", "-f", format]);
    }
    all
}

#[test]
fn hostile_strings_are_printed_not_acted_on() {
    let dir = TempDir::new("reliability-cli-strings");
    let cwd = dir.join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    let marker = dir.path().display().to_string();
    let text = |what: &str| {
        format!(
            "$(touch pwned-{what}) `touch pwned-{what}-2`; touch pwned-{what}-3 | tee pwned-{what}-4 \
             > {marker}/pwned-{what}-5 ../../../../etc/passwd"
        )
    };
    let name = text("name");
    let envelope = hostile_trace(&dir, &name, &text);
    let journal = dir.join("raw.bhtj");

    let out = every_command(&cwd, &envelope, false) + &every_command(&cwd, &journal, false);
    // Printed as text…
    for what in ["name", "path", "field", "message", "svc"] {
        assert!(
            out.contains(&format!("$(touch pwned-{what})")),
            "{what} not printed:\n{out}"
        );
    }
    assert!(out.contains("file:///etc/shadow"));
    // …and nothing acted on: no file created, none read.
    let json = every_command(&cwd, &envelope, true);
    assert!(json.contains("pwned-message"));
    let recovered = dir.join("recovered.bht");
    bhtrace(
        &cwd,
        &[
            "recover".as_ref(),
            journal.as_os_str(),
            "-o".as_ref(),
            recovered.as_os_str(),
        ],
    );
    let created: Vec<_> = std::fs::read_dir(&cwd).unwrap().collect();
    assert!(
        created.is_empty(),
        "files appeared in the working folder: {created:?}"
    );
    let mut files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        ["cwd", "hostile.bht", "raw.bht", "raw.bhtj", "recovered.bht"]
    );
    assert!(
        !out.contains("root:x:0:0") && !json.contains("root:x:0:0"),
        "/etc/passwd was read"
    );
}

#[test]
fn control_characters_from_a_file_are_escaped_in_text_output() {
    let dir = TempDir::new("reliability-cli-escapes");
    let cwd = dir.join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    // Set the terminal's title; write to the clipboard (OSC 52); clear the screen.
    let text = |what: &str| format!("{what}\x1b]0;pwned\x07\x1b]52;c;cHduZWQ=\x07\x1b[2J\r");
    let envelope = hostile_trace(&dir, &text("name"), &text);
    let out = every_command(&cwd, &envelope, false);
    assert!(out.contains("message"), "{out}");
    assert!(
        !out.contains('\x1b') && !out.contains('\x07') && !out.contains('\r'),
        "raw control characters in:\n{out:?}"
    );
}
