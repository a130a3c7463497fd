//! The writer sleeps between ticks and app threads wake it only when
//! batches pile up: a batch below that threshold is still written at the
//! next tick, and a full channel wakes the writer instead of leaving a
//! lossless app blocked until the tick.

mod core_support;

use std::time::{Duration, Instant};

use core_support::TempDir;
use tracing_subscriber::prelude::*;

/// A few batches, far fewer than the quarter of the channel that wakes the
/// writer, reach the journal at the writer's tick without any flush.
#[test]
fn batches_below_the_wake_threshold_are_written_at_the_tick() {
    let dir = TempDir::new("wake-tick");
    let (layer, guard) = bhtrace::Builder::new(dir.join("t.bht"))
        .channel_capacity(256)
        .batch_bytes(64)
        .flush_interval(Duration::from_millis(200))
        .convert(false)
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..40u64 {
            tracing::info!(i, "a record of a few dozen bytes");
        }
    });
    let sent = guard.stats();
    assert!(sent.batches_sent >= 5, "{sent:?}");
    assert!(sent.batches_sent < 64, "{sent:?}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = guard.stats();
        // Every record is written: the sent batches and what the thread
        // still held, which the tick collects.
        if s.records_written == 40 {
            break;
        }
        assert!(Instant::now() < deadline, "not written by the tick: {s:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(dispatch);
    let done = guard.finish().unwrap();
    assert_eq!(done.writer.records_written, 40);
    assert_eq!(done.writer.records_dropped, 0);
}

/// A lossless app that fills the channel wakes the writer: with a tick ten
/// minutes away, forty channels' worth of batches still go through in
/// seconds, and none is lost.
#[test]
fn a_full_channel_wakes_the_writer_before_its_tick() {
    let dir = TempDir::new("wake-full");
    let (layer, guard) = bhtrace::Builder::new(dir.join("t.bht"))
        .channel_capacity(4)
        .batch_bytes(64)
        .flush_interval(Duration::from_secs(1200))
        .convert(false)
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let started = Instant::now();
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..2_000u64 {
            tracing::info!(i, "a record of a few dozen bytes");
        }
    });
    let elapsed = started.elapsed();
    let sent = guard.stats();
    assert!(sent.batches_sent >= 160, "{sent:?}");
    assert!(
        elapsed < Duration::from_secs(60),
        "the app waited {elapsed:?} for room in the channel"
    );
    drop(dispatch);
    let done = guard.finish().unwrap();
    assert_eq!(done.writer.records_written, 2_000);
    assert_eq!(done.writer.records_dropped, 0);
}
