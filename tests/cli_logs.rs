#![cfg(feature = "cli")]
//! `logs` prints events in time order with their span path, filtered by
//! level, target and span.

mod cli_support;

use cli_support::{args, fixture, json_lines, ok};

#[test]
fn logs_are_in_time_order_with_span_paths() {
    let f = fixture("cli_logs_order");
    let text = ok(args("logs", &f.envelope, &[]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}");
    assert!(lines[0].contains("request > query: rows fetched"), "{text}");
    assert!(lines[1].contains("ERROR") && lines[1].contains("request > query: deadlock"));
    assert!(lines[4].contains("WARN") && lines[4].contains("job: retrying  attempt=2"));
    assert!(lines[5].ends_with("outside"), "{text}");

    let json = json_lines(&ok(args("logs", &f.envelope, &["--json"])));
    let times: Vec<u64> = json.iter().map(|j| j["t_ns"].as_u64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert_eq!(json[1]["span"], 3);
    assert_eq!(
        json[1]["span_path"],
        serde_json::json!(["request", "query"])
    );
    assert_eq!(json[1]["fields"]["code"], -40001);
    assert!(json[5]["span"].is_null());
    assert_eq!(json[5]["message"], "outside");
    let wall = f.reader().header().process.wall_start_unix_ns;
    assert_eq!(json[0]["unix_ns"].as_u64().unwrap(), wall + times[0]);
}

#[test]
fn logs_filter_by_level_target_and_span() {
    let f = fixture("cli_logs_filter");
    let messages = |rest: &[&str]| -> Vec<String> {
        let mut a = vec!["--json"];
        a.extend_from_slice(rest);
        json_lines(&ok(args("logs", &f.envelope, &a)))
            .iter()
            .map(|j| j["message"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(messages(&["--level", "warn"]), ["deadlock", "retrying"]);
    assert_eq!(messages(&["--level", "ERROR"]), ["deadlock"]);
    assert_eq!(
        messages(&["--span", "5"]),
        ["on the first thread", "on the worker"]
    );
    assert_eq!(messages(&["--span", "0", "--level", "error"]), ["deadlock"]);
    // Events' target is this test's module path.
    assert_eq!(messages(&["--target", "cli_logs"]).len(), 6);
    assert_eq!(
        messages(&["--target", "cli_log"]).len(),
        0,
        "a prefix must end at ::"
    );
}
