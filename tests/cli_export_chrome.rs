#![cfg(feature = "cli")]
//! `export --format chrome` writes trace-event JSON with what Perfetto and
//! chrome://tracing need: ph/ts/pid/tid on every event, dur on complete
//! events, process and thread names, balanced async pairs.

mod cli_support;

use std::collections::HashMap;

use cli_support::{args, fixture, ok};
use serde_json::Value;

#[test]
fn chrome_export_has_what_perfetto_needs() {
    let f = fixture("cli_export_chrome");
    let out = f.path("trace.json");
    let status = ok(args(
        "export",
        &f.envelope,
        &["--format", "chrome", "-o", out.to_str().unwrap()],
    ));
    assert!(status.starts_with("wrote "), "{status}");
    let json: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let events = json["traceEvents"].as_array().expect("traceEvents");
    let reader = f.reader();
    let pid = reader.header().process.pid;
    let (full, _) = reader.full().unwrap();

    for e in events {
        let ph = e["ph"].as_str().expect("ph");
        assert!(["M", "X", "b", "e", "i"].contains(&ph), "{e}");
        assert!(e["ts"].is_number(), "{e}");
        assert_eq!(e["pid"], pid, "{e}");
        assert!(e["tid"].is_u64(), "{e}");
        assert!(e["name"].is_string(), "{e}");
    }
    let of = |ph: &'static str| events.iter().filter(move |e| e["ph"] == ph);

    // Names: the process (the builder's service name) and each thread.
    let process: Vec<_> = of("M").filter(|e| e["name"] == "process_name").collect();
    assert_eq!(process.len(), 1);
    assert_eq!(process[0]["args"]["name"], "shop");
    let threads: HashMap<u64, &str> = of("M")
        .filter(|e| e["name"] == "thread_name")
        .map(|e| {
            (
                e["tid"].as_u64().unwrap(),
                e["args"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(threads.len(), reader.threads().len());
    assert!(threads.values().any(|n| *n == "worker"));

    // One complete event per enter/exit interval, on that thread's track.
    let intervals: usize = full.spans.iter().map(|s| s.intervals.len()).sum();
    assert_eq!(of("X").count(), intervals);
    for x in of("X") {
        assert!(x["dur"].as_f64().unwrap() >= 0.0, "{x}");
        assert!(threads.contains_key(&x["tid"].as_u64().unwrap()), "{x}");
    }
    let query = of("X")
        .find(|x| x["args"]["sql"] == "select 2")
        .expect("fields as args");
    assert_eq!(query["args"]["bhtrace.error"], true);
    let span = &full.spans[3];
    assert_eq!(
        query["ts"].as_f64().unwrap(),
        span.intervals[0].enter_ns as f64 / 1000.0
    );

    // A span still entered when the trace ended runs to its end, marked.
    let stuck = of("X")
        .find(|x| x["name"] == "stuck")
        .expect("the open interval");
    assert_eq!(stuck["args"]["bhtrace.incomplete"], true);
    let end = stuck["ts"].as_f64().unwrap() + stuck["dur"].as_f64().unwrap();
    let want = full.spans[10].info.end_ns as f64 / 1000.0;
    assert!((end - want).abs() < 1e-3, "{end} vs {want}");

    // On each thread's track, complete events nest: a slice that starts
    // inside another ends inside it too (what a track needs to draw).
    for tid in threads.keys() {
        let mut xs: Vec<(f64, f64)> = of("X")
            .filter(|x| x["tid"] == *tid)
            .map(|x| {
                let ts = x["ts"].as_f64().unwrap();
                (ts, ts + x["dur"].as_f64().unwrap())
            })
            .collect();
        xs.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
        let mut open: Vec<f64> = Vec::new();
        for (start, end) in xs {
            while open.last().is_some_and(|&e| e <= start) {
                open.pop();
            }
            if let Some(&outer) = open.last() {
                assert!(
                    end <= outer + 1e-3,
                    "thread {tid}: {start}..{end} overlaps a slice ending at {outer}"
                );
            }
            open.push(end);
        }
    }

    // Async pairs: balanced per (cat, id), ending after they begin; the span
    // that moved threads is one of them.
    let mut open: HashMap<(String, String), f64> = HashMap::new();
    let mut pairs = Vec::new();
    for e in events.iter().filter(|e| e["ph"] == "b" || e["ph"] == "e") {
        let key = (
            e["cat"].as_str().unwrap().to_owned(),
            e["id"].as_str().unwrap().to_owned(),
        );
        let ts = e["ts"].as_f64().unwrap();
        if e["ph"] == "b" {
            assert!(open.insert(key, ts).is_none(), "nested begin: {e}");
        } else {
            let begin = open.remove(&key).expect("an end with its begin");
            assert!(ts >= begin);
            pairs.push(e["name"].as_str().unwrap().to_owned());
        }
    }
    assert!(open.is_empty(), "unbalanced async events: {open:?}");
    assert!(pairs.contains(&"hop".to_owned()), "{pairs:?}");
    assert!(
        pairs.contains(&"idle".to_owned()),
        "never entered: {pairs:?}"
    );

    // Every event, inside spans and out, as an instant event.
    assert_eq!(of("i").count(), 6);
    assert!(of("i").any(|e| e["name"] == "outside"));
}
