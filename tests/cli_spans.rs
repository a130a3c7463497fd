#![cfg(feature = "cli")]
//! `spans` lists spans with filters; `--json` has one object per line with
//! the documented keys.

mod cli_support;

use cli_support::{args, fixture, ids_where, json_lines, ok};

const KEYS: [&str; 16] = [
    "id",
    "parent",
    "name",
    "target",
    "service",
    "level",
    "thread",
    "start_ns",
    "end_ns",
    "busy_ns",
    "incomplete",
    "error",
    "fields",
    "events",
    "follows_from",
    "intervals",
];

#[test]
fn spans_json_has_the_documented_keys() {
    let f = fixture("cli_spans_json");
    let json = json_lines(&ok(args("spans", &f.envelope, &["--json"])));
    assert_eq!(json.len(), 11);
    for (i, span) in json.iter().enumerate() {
        for key in KEYS {
            assert!(span.get(key).is_some(), "span {i} lacks {key}: {span}");
        }
        assert_eq!(span["id"], i as u64);
        assert!(span["fields"].is_object());
        for event in span["events"].as_array().unwrap() {
            for key in ["t_ns", "level", "target", "message", "fields"] {
                assert!(event.get(key).is_some(), "event lacks {key}: {event}");
            }
        }
    }
    assert!(json[0]["parent"].is_null());
    assert_eq!(json[1]["parent"], 0);
    assert_eq!(json[0]["fields"]["path"], "/checkout");
    assert_eq!(json[0]["fields"]["items"], 3);
    assert_eq!(json[3]["error"], true);
    assert_eq!(json[9]["incomplete"], true);
    assert_eq!(json[8]["follows_from"], serde_json::json!([0]));
    assert_eq!(json[8]["events"][0]["level"], "WARN");
}

#[test]
fn spans_filters_combine() {
    let f = fixture("cli_spans_filters");
    let reader = f.reader();
    let ids = |rest: &[&str]| -> Vec<u64> {
        let mut a = vec!["--json"];
        a.extend_from_slice(rest);
        json_lines(&ok(args("spans", &f.envelope, &a)))
            .iter()
            .map(|j| j["id"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(ids(&["--service", "db"]), vec![2, 3]);
    assert_eq!(ids(&["--name", "query"]), vec![2, 3]);
    assert_eq!(ids(&["--errors"]), ids_where(&reader, |i| i.error));
    assert_eq!(ids(&["--errors"]), vec![3]);
    assert_eq!(ids(&["--service", "db", "--errors"]), vec![3]);
    assert_eq!(ids(&["--service", "auth", "--errors"]), Vec::<u64>::new());
    assert_eq!(
        ids(&["--min-duration", "4ms"]),
        ids_where(&reader, |i| i.duration_ns() >= 4_000_000)
    );

    let text = ok(args("spans", &f.envelope, &["--name", "query"]));
    assert!(text.ends_with("2 of 11 spans\n"), "{text}");
}
