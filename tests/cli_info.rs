#![cfg(feature = "cli")]
//! `info` shows the header, the section table and the format version, and
//! `--verify` checks the field-name schema's and the payload's checksums.

mod cli_support;

use cli_support::{args, fails, fixture, ok};

#[test]
fn info_shows_header_and_sections() {
    let f = fixture("cli_info_text");
    let text = ok(args("info", &f.envelope, &[]));
    let version = format!("(envelope, format version {},", bhtrace::ENVELOPE_VERSION);
    assert!(text.contains(&version), "{text}");
    assert!(text.contains("service     shop"), "{text}");
    assert!(
        text.contains("spans       11 in 4 traces, 6 events"),
        "{text}"
    );
    assert!(text.contains("incomplete  2 spans"), "{text}");
    let reader = f.reader();
    for (name, offset, _) in reader.sections() {
        assert!(
            text.lines()
                .any(|l| l.trim_start_matches("└ ").starts_with(name)
                    && l.contains(&offset.to_string())),
            "no row for section {name}:\n{text}"
        );
    }

    let json: serde_json::Value =
        serde_json::from_str(&ok(args("info", &f.envelope, &["--json"]))).unwrap();
    assert_eq!(json["format_version"], bhtrace::ENVELOPE_VERSION);
    assert_eq!(json["pid"], reader.header().process.pid);
    assert_eq!(json["service_name"], "shop");
    assert_eq!(json["spans"], 11);
    assert_eq!(
        json["services"],
        serde_json::json!(["auth", "batch", "db", "gw"])
    );
    assert!(
        json["threads"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "worker")
    );
    let file_len = std::fs::metadata(&f.envelope).unwrap().len();
    assert_eq!(json["file_len"], file_len);
    let sections = json["sections"].as_array().unwrap();
    assert_eq!(sections.len(), reader.sections().len());
    // In file order, inside the file; the orphan events are the tail of
    // the payload.
    let mut last = 0;
    for s in sections {
        let (offset, len) = (s["offset"].as_u64().unwrap(), s["len"].as_u64().unwrap());
        assert!(offset >= last, "sections in file order: {s}");
        assert!(offset + len <= file_len, "{s}");
        last = offset;
    }
    let end =
        |i: usize| sections[i]["offset"].as_u64().unwrap() + sections[i]["len"].as_u64().unwrap();
    assert_eq!(sections[6]["name"], "fields");
    assert_eq!(sections[8]["name"], "orphan events");
    assert_eq!(end(8), end(7));
}

#[test]
fn info_verify_catches_a_changed_payload_byte() {
    let f = fixture("cli_info_verify");
    let text = ok(args("info", &f.envelope, &["--verify"]));
    assert!(
        text.contains("field names and payload: checksums ok"),
        "{text}"
    );

    // Flip a byte of a field value: decodes fine, fails the checksum.
    let mut bytes = std::fs::read(&f.envelope).unwrap();
    let at = bytes
        .windows(8)
        .position(|w| w == b"select 1")
        .expect("the field value");
    bytes[at] ^= 0x01;
    let bad = f.path("changed.bht");
    std::fs::write(&bad, &bytes).unwrap();
    ok(args("info", &bad, &[]));
    let (code, stderr) = fails(args("info", &bad, &["--verify"]));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("checksum mismatch in the payload"),
        "{stderr}"
    );
}
