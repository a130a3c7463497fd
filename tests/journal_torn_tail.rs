//! A journal cut at every byte offset inside its last frame reads back
//! every earlier frame, record for record, with `torn_tail = true` — and
//! still converts into an envelope that says it is torn.

mod core_support;

use std::fs::OpenOptions;

use bhtrace::TraceReader;
use bhtrace::journal::{StopReason, read_journal};
use core_support::TempDir;
use tracing_subscriber::prelude::*;

/// Frame start offsets, parsed from the documented layout: a 20-byte
/// preamble whose bytes 12..16 hold the process header's length, then
/// frames of `len u32 | crc u32 | len bytes`.
fn frame_starts(bytes: &[u8]) -> Vec<usize> {
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap()) as usize;
    let mut at = 20 + u32_at(12);
    let mut starts = Vec::new();
    while at < bytes.len() {
        starts.push(at);
        at += 8 + u32_at(at);
    }
    assert_eq!(at, bytes.len(), "frames end where the file ends");
    starts
}

#[test]
fn journal_cut_inside_its_last_frame_reads_every_earlier_frame() {
    let dir = TempDir::new("torn_tail");
    let path = dir.join("t.bht");
    let (layer, guard, journal) = core_support::keeping_journal(&path);
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    for round in 0..3u64 {
        tracing::dispatcher::with_default(&dispatch, || {
            let span = tracing::info_span!("round", round);
            let _e = span.enter();
            for i in 0..(10 + 20 * round) {
                tracing::info_span!("step", i).in_scope(|| tracing::info!(i, "work"));
            }
        });
        if round < 2 {
            guard.flush().unwrap();
        }
    }
    drop(dispatch);
    guard.finish().unwrap();

    let bytes = std::fs::read(&journal).unwrap();
    let starts = frame_starts(&bytes);
    assert!(
        starts.len() >= 3,
        "one frame per flush, and the last: {starts:?}"
    );
    let (all, full_stats) = read_journal(&journal).unwrap();
    assert!(!full_stats.torn_tail);
    assert_eq!(full_stats.frames as usize, starts.len());

    // Records of every frame but the last: cut exactly at its start.
    let last = *starts.last().unwrap();
    let cut_path = dir.join("cut.bhtj");
    std::fs::write(&cut_path, &bytes[..last]).unwrap();
    let (earlier, clean) = read_journal(&cut_path).unwrap();
    assert!(
        !clean.torn_tail,
        "a file ending on a frame boundary is not torn"
    );
    assert_eq!(clean.frames as usize, starts.len() - 1);
    assert_eq!(earlier[..], all[..earlier.len()]);
    assert!(earlier.len() < all.len());

    std::fs::write(&cut_path, &bytes).unwrap();
    let file = OpenOptions::new().write(true).open(&cut_path).unwrap();
    let frame_len = bytes.len() - last;
    for cut in (last + 1..bytes.len()).rev() {
        file.set_len(cut as u64).unwrap();
        let (records, stats) =
            read_journal(&cut_path).unwrap_or_else(|e| panic!("cut at {cut}: reading failed: {e}"));
        assert!(stats.torn_tail, "cut at {cut}: {stats:?}");
        assert_eq!(stats.frames as usize, starts.len() - 1, "cut at {cut}");
        assert_eq!(stats.stopped_at, last as u64, "cut at {cut}");
        assert_eq!(stats.bytes, last as u64, "cut at {cut}");
        assert_eq!(stats.file_len, cut as u64);
        let present = (cut - last) as u64;
        let declared = if present < 8 { 8 } else { frame_len as u64 };
        assert_eq!(
            stats.stop_reason,
            Some(StopReason::TornFrame { declared, present }),
            "cut at {cut}"
        );
        assert_eq!(
            records, earlier,
            "cut at {cut}: the earlier frames, record for record"
        );

        // Every few offsets, convert it too: the envelope says it is torn.
        if cut % 61 == 0 || cut == last + 1 || cut == bytes.len() - 1 {
            let (envelope, converted) = bhtrace::recover_to_vec(&cut_path).unwrap();
            assert!(converted.journal.torn_tail);
            let trace = TraceReader::from_bytes(envelope).unwrap();
            assert!(trace.header().journal_torn);
            assert!(!trace.header().clean_shutdown);
            assert!(trace.is_incomplete());
            core_support::check_well_formed(&trace);
            trace.full().unwrap();
        }
    }
}
