#![cfg(feature = "cli")]
//! `recover` turns a journal into the envelope the process would have
//! written, refuses to overwrite, and recovers a torn journal up to its
//! last whole frame.

mod cli_support;

use cli_support::{args, fails, fixture, ok};

#[test]
fn recover_writes_the_same_trace() {
    let f = fixture("cli_recover_same");
    let out = f.path("recovered.bht");
    let text = ok(args("recover", &f.journal, &["-o", out.to_str().unwrap()]));
    assert!(text.starts_with("recovered "), "{text}");
    assert!(text.contains("11 spans in 4 traces, 6 events"), "{text}");
    assert!(text.contains("journal whole"), "{text}");
    assert_eq!(
        ok(args("spans", &out, &["--json"])),
        ok(args("spans", &f.envelope, &["--json"]))
    );

    let (code, stderr) = fails(args("recover", &f.journal, &["-o", out.to_str().unwrap()]));
    assert_eq!(code, 1);
    assert!(stderr.contains("already exists; pass --force"), "{stderr}");
    ok(args(
        "recover",
        &f.journal,
        &["-o", out.to_str().unwrap(), "--force"],
    ));
}

#[test]
fn recover_stops_at_a_torn_frame() {
    let f = fixture("cli_recover_torn");
    let bytes = std::fs::read(&f.journal).unwrap();
    let torn = f.path("torn.bhtj");
    std::fs::write(&torn, &bytes[..bytes.len() - 10]).unwrap();
    // Default output: the journal's name with .bht.
    let json: serde_json::Value =
        serde_json::from_str(&ok(args("recover", &torn, &["--json"]))).unwrap();
    assert_eq!(json["envelope"], f.path("torn.bht").to_str().unwrap());
    assert_eq!(json["torn_tail"], true);
    assert!(
        json["stop_reason"].as_str().unwrap().contains("torn"),
        "{json}"
    );
    assert!(json["journal_valid_bytes"].as_u64() < json["journal_bytes"].as_u64());
    let info = ok(args("info", &f.path("torn.bht"), &[]));
    assert!(info.contains("journal was torn"), "{info}");
}
