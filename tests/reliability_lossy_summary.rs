#![cfg(feature = "cli")]
//! Lossy mode with a one-batch channel: the records dropped are counted
//! exactly (written + dropped = produced), and the count reaches the
//! envelope's header, `bhtrace summary` (text and JSON) and `bhtrace info`.

mod core_support;

use std::process::Command;

use bhtrace::TraceReader;
use core_support::{TempDir, on_thread};
use tracing_subscriber::prelude::*;

const THREADS: u64 = 2;
const PER_THREAD: u64 = 20_000;

fn bhtrace_cli(args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_bhtrace"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run bhtrace");
    assert!(
        out.status.success(),
        "bhtrace {args:?}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

#[test]
fn dropped_records_are_counted_exactly_and_reported_everywhere() {
    let dir = TempDir::new("reliability-lossy-summary");
    let path = dir.join("lossy.bht");
    let (layer, guard) = bhtrace::Builder::new(&path)
        .lossy(true)
        .channel_capacity(1)
        .batch_bytes(64)
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            on_thread(&format!("producer-{t}"), &dispatch, move || {
                for i in 0..PER_THREAD {
                    tracing::info!(t, i, "produced");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    drop(dispatch);
    let w = guard.finish().unwrap().writer;
    let dropped = w.records_dropped;
    assert_eq!(w.records_written + dropped, THREADS * PER_THREAD, "{w:?}");
    assert!(dropped > 0, "a one-batch channel kept up: {w:?}");

    let trace = TraceReader::open(&path).unwrap();
    assert_eq!(trace.header().records_dropped, dropped);
    assert_eq!(trace.header().events, w.records_written);
    assert!(trace.is_incomplete());

    let text = bhtrace_cli(&["summary".as_ref(), path.as_os_str()]);
    assert!(
        text.contains(&format!("incomplete: {dropped} records dropped")),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&bhtrace_cli(&[
        "summary".as_ref(),
        path.as_os_str(),
        "--json".as_ref(),
    ]))
    .expect("summary --json");
    assert_eq!(json["records_dropped"], dropped);
    assert_eq!(json["complete"], false);
    let info = bhtrace_cli(&["info".as_ref(), path.as_os_str()]);
    assert!(info.contains(&format!("{dropped} records")), "{info}");
}
