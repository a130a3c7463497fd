#![cfg(feature = "cli")]
//! `show` prints one span with every field, event, interval and link.

mod cli_support;

use cli_support::{args, fixture, ok};

#[test]
fn show_prints_fields_events_and_flags() {
    let f = fixture("cli_show_fields");
    let text = ok(args("show", &f.envelope, &["3"]));
    assert!(text.starts_with("span #3 query ERROR"), "{text}");
    assert!(text.contains("sql = \"select 2\""), "{text}");
    assert!(text.contains("retry = true"), "{text}");
    assert!(text.contains("service     db"), "{text}");
    assert!(text.contains("parent      #0 request"), "{text}");
    // The event, then its fields one per line.
    let mut lines = text.lines().skip_while(|l| !l.contains("deadlock"));
    let event = lines.next().expect("the event");
    assert!(event.contains("ERROR"), "{event}");
    assert_eq!(lines.next().map(str::trim), Some("code = -40001"), "{text}");
}

#[test]
fn show_prints_intervals_on_each_thread_and_links() {
    let f = fixture("cli_show_intervals");
    let text = ok(args("show", &f.envelope, &["5"]));
    let intervals: Vec<&str> = text
        .lines()
        .skip_while(|l| *l != "intervals")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .collect();
    assert_eq!(intervals.len(), 2, "{text}");
    assert!(intervals[1].contains("(worker)"), "{text}");

    let text = ok(args("show", &f.envelope, &["8"]));
    let links: Vec<&str> = text.lines().skip_while(|l| *l != "follows from").collect();
    assert_eq!(links[1], "  #0 request", "{text}");

    let text = ok(args("show", &f.envelope, &["6"]));
    assert!(text.contains("(never entered)"), "{text}");

    let text = ok(args("show", &f.envelope, &["10"]));
    assert!(text.starts_with("span #10 stuck INCOMPLETE"), "{text}");
    assert!(text.contains("(still entered)"), "{text}");
}

#[test]
fn show_json_holds_the_whole_span() {
    let f = fixture("cli_show_json");
    let json: serde_json::Value =
        serde_json::from_str(&ok(args("show", &f.envelope, &["2", "--json"]))).unwrap();
    assert_eq!(json["id"], 2);
    assert_eq!(json["parent"], 0);
    assert_eq!(json["fields"]["sql"], "select 1");
    let event = &json["events"][0];
    assert_eq!(event["message"], "rows fetched");
    assert_eq!(event["fields"]["rows"], 3);
    assert_eq!(event["fields"]["ratio"], 0.5);
    // Beyond 64 bits: a string, not a rounded number.
    assert_eq!(event["fields"]["big"], u128::MAX.to_string());
    assert!(event["fields"].get("message").is_none());
    assert_eq!(json["intervals"].as_array().unwrap().len(), 1);

    let json: serde_json::Value =
        serde_json::from_str(&ok(args("show", &f.envelope, &["8", "--json"]))).unwrap();
    assert_eq!(json["follows_from"], serde_json::json!([0]));
}
