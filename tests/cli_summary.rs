#![cfg(feature = "cli")]
//! `summary` reports the services, critical path and slowest spans that the
//! reader computes, in text and with the documented `--json` keys.

mod cli_support;

use cli_support::{args, fixture, ok};

#[test]
fn summary_text_names_services_counts_and_bytes_read() {
    let f = fixture("cli_summary_text");
    let text = ok(args("summary", &f.envelope, &[]));
    assert!(text.contains("4 traces, 11 spans, 6 events"), "{text}");
    for service in ["gw", "auth", "db", "batch"] {
        assert!(
            text.lines().any(|l| l.starts_with(service)),
            "no row for {service}:\n{text}"
        );
    }
    assert!(text.contains("2 spans never closed"), "{text}");
    assert!(text.contains("critical path"), "{text}");
    assert!(text.contains("leaked (gw) INCOMPLETE"), "{text}");
    assert!(text.lines().last().unwrap().starts_with("read "), "{text}");
}

#[test]
fn summary_json_matches_the_reader() {
    let f = fixture("cli_summary_json");
    let json: serde_json::Value =
        serde_json::from_str(&ok(args("summary", &f.envelope, &["--json"]))).unwrap();
    let reader = f.reader();
    let (want, stats) = reader.summary().unwrap();

    assert_eq!(json["spans"], 11);
    assert_eq!(json["traces"], 4);
    assert_eq!(json["incomplete_spans"], 2);
    assert_eq!(json["records_dropped"], 0);

    let services = json["services"].as_array().unwrap();
    assert_eq!(services.len(), want.services.len());
    for (got, want) in services.iter().zip(&want.services) {
        assert_eq!(got["service"], &*want.service);
        assert_eq!(got["spans"], want.spans);
        assert_eq!(got["total_ns"], want.total_ns);
        assert_eq!(got["self_ns"], want.self_ns);
        assert_eq!(got["busy_ns"], want.busy_ns);
        assert_eq!(got["errors"], want.errors);
    }
    let db = services.iter().find(|s| s["service"] == "db").unwrap();
    assert_eq!(db["errors"], 1);

    let path = json["critical_path"].as_array().unwrap();
    assert_eq!(path.len(), want.critical_path.len());
    for (got, seg) in path.iter().zip(&want.critical_path) {
        let info = reader.info(seg.span).unwrap();
        assert_eq!(got["id"], seg.span.0);
        assert_eq!(got["name"], &*info.name);
        assert_eq!(got["service"], &*info.service);
        assert_eq!(got["start_ns"], seg.start_ns);
        assert_eq!(got["end_ns"], seg.end_ns);
    }

    let slowest = json["slowest"].as_array().unwrap();
    assert_eq!(slowest[0]["name"], "request");
    for (got, info) in slowest.iter().zip(&want.slowest) {
        assert_eq!(got["id"], info.id.0);
        assert_eq!(got["start_ns"], info.start_ns);
        assert_eq!(got["end_ns"], info.end_ns);
    }

    assert_eq!(json["read"]["bytes_read"], stats.bytes_read);
    assert_eq!(json["read"]["file_len"], stats.file_len);
    assert!(
        stats.bytes_read < stats.file_len,
        "the summary reads no payload"
    );
}
