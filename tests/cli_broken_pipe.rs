#![cfg(all(feature = "cli", unix))]
//! Output into a pipe whose reader has gone (`bhtrace … | head`) ends
//! quietly with exit code 0.

mod cli_support;

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
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
        // A connected pair whose reading end is closed before bhtrace
        // writes a byte: every write fails with EPIPE, as into a pipe whose
        // reader has exited. (std::io::pipe would need Rust 1.87.)
        let (writer, reader) = UnixStream::pair().unwrap();
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_bhtrace"))
            .arg(rest[0])
            .arg(&f.envelope)
            .args(&rest[1..])
            .stdout(Stdio::from(OwnedFd::from(writer)))
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{rest:?}: {:?} {stderr}", out.status);
        assert!(stderr.is_empty(), "{rest:?}: {stderr}");
    }
}
