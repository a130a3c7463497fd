#![cfg(feature = "cli")]
//! Colour only on a terminal (so never into a pipe) unless asked for with
//! `--color always`; `--color never` and `NO_COLOR` turn it off.

mod cli_support;

use std::process::Command;

use cli_support::{args, fixture, ok};

const ESC: &str = "\x1b[";

#[test]
fn colour_only_when_wanted() {
    let f = fixture("cli_color");
    let piped = ok(args("tree", &f.envelope, &[]));
    assert!(!piped.contains(ESC), "no colour into a pipe");

    let forced = ok([
        "--color".as_ref(),
        "always".as_ref(),
        "tree".as_ref(),
        f.envelope.as_os_str(),
    ] as [&std::ffi::OsStr; 4]);
    assert!(forced.contains(ESC), "--color always colours: {forced}");
    // The text is the same once the escapes are gone.
    let stripped = strip(&forced);
    assert_eq!(stripped, piped);

    let never = ok(args("tree", &f.envelope, &["--color", "never"]));
    assert!(!never.contains(ESC));

    let out = Command::new(env!("CARGO_BIN_EXE_bhtrace"))
        .args(args("summary", &f.envelope, &[]))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains(ESC));
}

/// Removes ANSI SGR sequences.
fn strip(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(ESC) {
        out.push_str(&rest[..i]);
        let after = &rest[i + ESC.len()..];
        let end = after.find('m').unwrap();
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}
