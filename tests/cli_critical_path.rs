#![cfg(feature = "cli")]
//! `critical-path` prints the reader's critical path, of the slowest root
//! or of `--root`.

mod cli_support;

use cli_support::{args, fixture, ok};

#[test]
fn critical_path_json_is_the_readers_path() {
    let f = fixture("cli_critical_path_json");
    let reader = f.reader();
    let (path, _) = reader.critical_path().unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&ok(args("critical-path", &f.envelope, &["--json"]))).unwrap();
    let list = json.as_array().unwrap();
    assert_eq!(list.len(), path.len());
    for (got, seg) in list.iter().zip(&path) {
        assert_eq!(got["id"], seg.span.0);
        assert_eq!(got["start_ns"], seg.start_ns);
        assert_eq!(got["end_ns"], seg.end_ns);
        assert_eq!(got["name"], &*reader.info(seg.span).unwrap().name);
    }
    // The segments tile the slowest root: request.
    let root = reader.info(bhtrace::SpanId(0)).unwrap();
    assert_eq!(list.first().unwrap()["start_ns"], root.start_ns);
    assert_eq!(list.last().unwrap()["end_ns"], root.end_ns);
    for w in list.windows(2) {
        assert_eq!(w[0]["end_ns"], w[1]["start_ns"]);
    }
    assert!(list.iter().any(|s| s["name"] == "slow"));
}

#[test]
fn critical_path_of_a_leaf_is_the_leaf() {
    let f = fixture("cli_critical_path_root");
    let text = ok(args("critical-path", &f.envelope, &["--root", "7"]));
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("critical path of slow #7"), "{text}");
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[1].contains("100.0%") && lines[1].contains("#7"),
        "{text}"
    );
}
