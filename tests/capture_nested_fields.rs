//! Nested spans with typed fields, and events inside them, round-trip
//! through the journal: every record read back as written, with the
//! callsite and thread definitions before their first use.

mod core_support;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use bhtrace::Value;
use bhtrace::journal::{JournalReader, Record, read_journal};
use core_support::TempDir;
use tracing_subscriber::prelude::*;

#[derive(Debug)]
struct Cause;
impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("disk full")
    }
}
impl std::error::Error for Cause {}

#[derive(Debug)]
struct Failure(Cause);
impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("write failed")
    }
}
impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// A span's number, parent number and fields, as its NEW_SPAN record says.
type NewSpan = (u64, Option<u64>, Vec<(Arc<str>, Value)>);

fn s(v: &str) -> Value {
    Value::Str(v.to_owned())
}

#[test]
fn nested_spans_with_fields_round_trip_through_the_journal() {
    let dir = TempDir::new("nested_fields");
    let path = dir.join("t.bht");
    let (layer, guard) = bhtrace::Builder::new(&path)
        .keep_journal(true)
        .service_name("checkout")
        .build()
        .unwrap();
    let journal = guard.journal_path().unwrap().to_owned();
    let thread_name = std::thread::current().name().map(str::to_owned);
    let failure = Failure(Cause);

    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let outer = tracing::info_span!(
            target: "app::http",
            "outer",
            b = true,
            i = -7i64,
            u = 7u64,
            big = i128::MIN,
            ubig = u128::MAX,
            f = 1.5f64,
            s = "hello",
            bytes = &b"\x00\xff"[..],
            dbg = ?vec![1, 2],
            disp = %"shown",
            err = &failure as &(dyn std::error::Error + 'static),
        );
        let _o = outer.enter();
        let middle = tracing::debug_span!("middle", depth = 2u64);
        let _m = middle.enter();
        let inner = tracing::trace_span!("inner", depth = 3u64, unset = tracing::field::Empty);
        inner.in_scope(|| tracing::warn!(k = 1i64, "in inner {}", 42));
        tracing::info!(parent: &outer, explicit = true, "explicit parent");
    });
    let done = guard.finish().unwrap();

    let (records, stats) = read_journal(&journal).unwrap();
    assert!(!stats.torn_tail, "{stats:?}");
    assert_eq!(stats.stop_reason, None);
    assert_eq!(stats.stopped_at, stats.file_len);
    assert_eq!(stats.bytes, stats.file_len);
    assert_eq!(stats.records, records.len() as u64);

    let process = JournalReader::open(&journal).unwrap().process().clone();
    assert_eq!(process.pid, std::process::id());
    assert_eq!(process.service_name.as_deref(), Some("checkout"));
    assert!(process.wall_start_unix_ns > 0);

    // Definitions come before every record that refers to them.
    let mut callsites: HashMap<u32, (String, bool, Vec<Arc<str>>)> = HashMap::new();
    let mut threads: HashMap<u32, Option<String>> = HashMap::new();
    let mut spans: HashMap<String, NewSpan> = HashMap::new();
    let mut by_number: HashMap<u64, String> = HashMap::new();
    let mut events = Vec::new();
    let mut lifecycle: HashMap<u64, Vec<(&'static str, u64)>> = HashMap::new();
    let mut app_records = 0u64;
    for r in &records {
        match r {
            Record::Callsite(c) => {
                let bhtrace::journal::CallsiteRecord {
                    id,
                    is_span,
                    name,
                    target,
                    module_path,
                    file,
                    line,
                    fields,
                    level,
                    ..
                } = &**c;
                assert_eq!(
                    *id as usize,
                    callsites.len() + 1,
                    "callsites numbered in order"
                );
                assert!(
                    file.as_deref()
                        .is_some_and(|f| f.ends_with("capture_nested_fields.rs"))
                );
                assert!(line.is_some());
                assert_eq!(module_path.as_deref(), Some("capture_nested_fields"));
                if name == "outer" {
                    assert_eq!(target, "app::http");
                    assert_eq!(*level, bhtrace::Level::INFO);
                } else if *is_span {
                    assert_eq!(target, "capture_nested_fields");
                }
                let prev = callsites.insert(*id, (name.clone(), *is_span, fields.clone()));
                assert!(prev.is_none(), "callsite {id} defined twice");
            }
            Record::Thread { thread, name } => {
                assert!(threads.insert(*thread, name.clone()).is_none());
            }
            Record::NewSpan {
                span,
                parent,
                callsite,
                t_ns,
                thread,
                fields,
            } => {
                app_records += 1;
                let (name, is_span, _) = callsites.get(callsite).expect("callsite defined first");
                assert!(is_span);
                assert!(threads.contains_key(thread), "thread defined first");
                assert!(
                    by_number.insert(*span, name.clone()).is_none(),
                    "span number reused"
                );
                spans.insert(name.clone(), (*span, *parent, fields.clone()));
                lifecycle.entry(*span).or_default().push(("new", *t_ns));
            }
            Record::Event {
                parent,
                callsite,
                t_ns,
                thread,
                fields,
            } => {
                app_records += 1;
                let (_, is_span, names) = callsites.get(callsite).expect("callsite defined first");
                assert!(!is_span);
                assert!(threads.contains_key(thread), "thread defined first");
                let recorded: Vec<&str> = fields.iter().map(|(n, _)| &**n).collect();
                let declared: Vec<&str> = names.iter().map(|n| &**n).collect();
                assert_eq!(recorded, declared, "event fields in declaration order");
                events.push((*parent, *t_ns, fields.clone()));
            }
            Record::Enter { span, t_ns, thread } | Record::Exit { span, t_ns, thread } => {
                app_records += 1;
                assert!(threads.contains_key(thread));
                let kind = if matches!(r, Record::Enter { .. }) {
                    "enter"
                } else {
                    "exit"
                };
                lifecycle.entry(*span).or_default().push((kind, *t_ns));
            }
            Record::Close { span, t_ns } => {
                app_records += 1;
                lifecycle.entry(*span).or_default().push(("close", *t_ns));
            }
            Record::Record { .. } | Record::FollowsFrom { .. } => {
                app_records += 1;
            }
            Record::Dropped { total } => assert_eq!(*total, 0),
            Record::End { .. } => {}
            other => panic!("unexpected record {other:?}"),
        }
    }
    assert!(
        matches!(records.last(), Some(Record::End { .. })),
        "a clean journal ends with END"
    );
    assert_eq!(app_records, done.writer.records_written);
    assert_eq!(done.writer.records_dropped, 0);
    assert_eq!(threads.values().next().cloned().flatten(), thread_name);

    let (outer_no, outer_parent, outer_fields) = spans["outer"].clone();
    let (middle_no, middle_parent, middle_fields) = spans["middle"].clone();
    let (inner_no, inner_parent, inner_fields) = spans["inner"].clone();
    assert_eq!(outer_parent, None);
    assert_eq!(middle_parent, Some(outer_no));
    assert_eq!(inner_parent, Some(middle_no));
    assert_eq!(
        outer_fields,
        vec![
            (Arc::from("b"), Value::Bool(true)),
            (Arc::from("i"), Value::I64(-7)),
            (Arc::from("u"), Value::U64(7)),
            (Arc::from("big"), Value::I128(i128::MIN)),
            (Arc::from("ubig"), Value::U128(u128::MAX)),
            (Arc::from("f"), Value::F64(1.5)),
            (Arc::from("s"), s("hello")),
            (Arc::from("bytes"), Value::Bytes(vec![0, 0xff])),
            (Arc::from("dbg"), s("[1, 2]")),
            (Arc::from("disp"), s("shown")),
            (Arc::from("err"), s("write failed: disk full")),
        ]
    );
    assert_eq!(middle_fields, vec![(Arc::from("depth"), Value::U64(2))]);
    // An `Empty` field is declared but not recorded.
    assert_eq!(inner_fields, vec![(Arc::from("depth"), Value::U64(3))]);

    assert_eq!(events.len(), 2);
    let (p, _, f) = &events[0];
    assert_eq!(*p, Some(inner_no));
    assert_eq!(
        f,
        &vec![
            (Arc::from("message"), s("in inner 42")),
            (Arc::from("k"), Value::I64(1))
        ]
    );
    let (p, _, f) = &events[1];
    assert_eq!(
        *p,
        Some(outer_no),
        "an explicit parent wins over the current span"
    );
    assert_eq!(
        f,
        &vec![
            (Arc::from("message"), s("explicit parent")),
            (Arc::from("explicit"), Value::Bool(true))
        ]
    );

    // Every span: created, entered, exited, closed, in that order and time.
    let expected: [&[&str]; 3] = [
        &["new", "enter", "exit", "close"],
        &["new", "enter", "exit", "close"],
        &["new", "enter", "exit", "close"],
    ];
    for (no, want) in [outer_no, middle_no, inner_no].iter().zip(expected) {
        let seen = &lifecycle[no];
        let kinds: Vec<&str> = seen.iter().map(|(k, _)| *k).collect();
        assert_eq!(kinds, want, "lifecycle of span {}", by_number[no]);
        assert!(
            seen.windows(2).all(|w| w[0].1 <= w[1].1),
            "times go forward: {seen:?}"
        );
    }
    // Spans nest in time too.
    let t = |no: &u64, k: &str| lifecycle[no].iter().find(|(kk, _)| *kk == k).unwrap().1;
    assert!(t(&outer_no, "enter") <= t(&middle_no, "new"));
    assert!(t(&inner_no, "close") <= t(&middle_no, "close"));
    assert!(t(&middle_no, "close") <= t(&outer_no, "close"));
    let numbers: HashSet<u64> = [outer_no, middle_no, inner_no].into_iter().collect();
    assert_eq!(numbers.len(), 3);

    // The envelope made from the same journal says the same.
    let trace = bhtrace::TraceReader::open(&path).unwrap();
    let (all, _) = trace.full().unwrap();
    let names: Vec<&str> = all.spans.iter().map(|s| &*s.info.name).collect();
    assert_eq!(names, ["outer", "middle", "inner"]);
    assert_eq!(all.spans[0].fields, outer_fields);
    assert_eq!(all.spans[1].info.parent, Some(bhtrace::SpanId(0)));
    assert_eq!(all.spans[2].info.parent, Some(bhtrace::SpanId(1)));
    assert_eq!(all.spans[2].events.len(), 1);
    assert_eq!(all.spans[0].events.len(), 1);
    assert_eq!(trace.header().process, process);
}
