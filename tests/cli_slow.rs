#![cfg(feature = "cli")]
//! `slow` lists the longest spans, longest first, optionally of one service.

mod cli_support;

use cli_support::{args, fixture, json_lines, ok};

#[test]
fn slow_lists_the_longest_first() {
    let f = fixture("cli_slow_all");
    let json = json_lines(&ok(args("slow", &f.envelope, &["-n", "3", "--json"])));
    assert_eq!(json.len(), 3);
    assert_eq!(json[0]["name"], "request");
    let reader = f.reader();
    let (want, _) = reader.slowest(3);
    for (got, want) in json.iter().zip(&want) {
        assert_eq!(got["id"], want.id.0);
        assert_eq!(got["duration_ns"], want.duration_ns());
    }
    let text = ok(args("slow", &f.envelope, &["-n", "2"]));
    assert_eq!(text.lines().count(), 3, "header and two rows:\n{text}");
}

#[test]
fn slow_filters_by_service() {
    let f = fixture("cli_slow_service");
    let json = json_lines(&ok(args(
        "slow",
        &f.envelope,
        &["--service", "db", "--json"],
    )));
    assert_eq!(json.len(), 2);
    assert!(
        json.iter()
            .all(|j| j["service"] == "db" && j["name"] == "query")
    );
    assert!(json[0]["duration_ns"].as_u64() >= json[1]["duration_ns"].as_u64());
    let json = json_lines(&ok(args(
        "slow",
        &f.envelope,
        &["--service", "db", "-n", "1", "--json"],
    )));
    assert_eq!(json.len(), 1);
}
