#![cfg(feature = "cli")]
//! Output into a pipe whose reader has gone (`bhtrace … | head`) ends
//! quietly with exit code 0.

mod cli_support;

use std::process::{Command, Stdio};

use cli_support::fixture;

#[test]
fn a_closed_stdout_ends_quietly() {
    let f = fixture("cli_broken_pipe");
    for rest in [
        vec!["tree"],
        vec!["spans", "--json"],
        vec!["logs"],
        vec!["summary", "--json"],
        vec!["export", "-f", "chrome"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        // The reader is gone before bhtrace writes a byte: every write fails.
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_bhtrace"))
            .arg(rest[0])
            .arg(&f.envelope)
            .args(&rest[1..])
            .stdout(Stdio::from(writer))
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{rest:?}: {:?} {stderr}", out.status);
        assert!(stderr.is_empty(), "{rest:?}: {stderr}");
    }
}
