#![cfg(feature = "cli")]
//! `export --format otlp` writes OTLP/JSON lines: resourceSpans per
//! service, hex ids, integer enums, 64-bit numbers as strings, events and
//! links.

mod cli_support;

use std::collections::HashMap;

use cli_support::{args, fixture, ok};
use serde_json::Value;

fn is_hex(s: &Value, len: usize) -> bool {
    s.as_str().is_some_and(|s| {
        s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit()) && s.bytes().any(|b| b != b'0')
    })
}

fn attr<'a>(attrs: &'a Value, key: &str) -> Option<&'a Value> {
    attrs
        .as_array()?
        .iter()
        .find(|kv| kv["key"] == key)
        .map(|kv| &kv["value"])
}

#[test]
fn otlp_export_has_the_otlp_json_shape() {
    let f = fixture("cli_export_otlp");
    let json: Value =
        serde_json::from_str(&ok(args("export", &f.envelope, &["-f", "otlp"]))).unwrap();
    let reader = f.reader();
    let wall = reader.header().process.wall_start_unix_ns;

    let mut spans: HashMap<String, Value> = HashMap::new();
    let mut services = Vec::new();
    for rs in json["resourceSpans"].as_array().unwrap() {
        let service = attr(&rs["resource"]["attributes"], "service.name").expect("service.name");
        let service = service["stringValue"].as_str().unwrap().to_owned();
        for ss in rs["scopeSpans"].as_array().unwrap() {
            assert_eq!(ss["scope"]["name"], "bhtrace");
            for s in ss["spans"].as_array().unwrap() {
                assert!(is_hex(&s["traceId"], 32), "{s}");
                assert!(is_hex(&s["spanId"], 16), "{s}");
                assert!(s["kind"].is_i64(), "{s}");
                let start: u64 = s["startTimeUnixNano"].as_str().unwrap().parse().unwrap();
                let end: u64 = s["endTimeUnixNano"].as_str().unwrap().parse().unwrap();
                assert!(start >= wall && end >= start, "{s}");
                assert!(s["status"]["code"].is_i64());
                let name = s["name"].as_str().unwrap();
                spans.insert(
                    format!("{service}/{name}/{}", s["spanId"].as_str().unwrap()),
                    s.clone(),
                );
            }
        }
        services.push(service);
    }
    services.sort();
    assert_eq!(services, ["auth", "batch", "db", "gw"]);
    assert_eq!(spans.len(), 11);

    let by_name =
        |name: &str| -> Vec<&Value> { spans.values().filter(|s| s["name"] == name).collect() };
    let request = by_name("request")[0];
    assert!(request.get("parentSpanId").is_none());
    let auth = by_name("auth")[0];
    assert_eq!(auth["parentSpanId"], request["spanId"]);
    assert_eq!(auth["traceId"], request["traceId"], "one trace per root");
    let job = by_name("job")[0];
    assert_ne!(job["traceId"], request["traceId"]);
    assert_eq!(job["links"][0]["spanId"], request["spanId"]);
    assert_eq!(job["links"][0]["traceId"], request["traceId"]);

    // int64 attribute values are strings; the error span has status 2.
    assert_eq!(
        attr(&request["attributes"], "items").unwrap()["intValue"],
        "3"
    );
    let failed: Vec<&Value> = by_name("query")
        .into_iter()
        .filter(|s| s["status"]["code"] == 2)
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["status"]["message"], "deadlock");
    let event = &failed[0]["events"][0];
    assert_eq!(event["name"], "deadlock");
    assert_eq!(
        attr(&event["attributes"], "code").unwrap()["intValue"],
        "-40001"
    );
    assert_eq!(
        attr(&event["attributes"], "level").unwrap()["stringValue"],
        "ERROR"
    );
    let t: u64 = event["timeUnixNano"].as_str().unwrap().parse().unwrap();
    assert!(t >= wall);
    let ok_query = by_name("query")
        .into_iter()
        .find(|s| s["status"]["code"] == 0)
        .unwrap();
    let big = attr(&ok_query["events"][0]["attributes"], "big").unwrap();
    assert_eq!(
        big["stringValue"],
        u128::MAX.to_string(),
        "beyond int64: a string"
    );
    assert_eq!(
        attr(&ok_query["events"][0]["attributes"], "ratio").unwrap()["doubleValue"],
        0.5
    );
}
