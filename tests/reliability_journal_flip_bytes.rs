//! Every byte of a small journal flipped: a damaged preamble or process
//! header is a typed error; a damaged frame (its length, its checksum or a
//! record in it) stops reading exactly at that frame's start, with every
//! earlier frame read record for record — and the journal still recovers
//! into an envelope that opens, says it is torn, and answers every query.
//! Never a panic. (The envelope side is `envelope_flip_bytes.rs`.)

mod core_support;
mod reliability_support;

use std::panic::{AssertUnwindSafe, catch_unwind};

use bhtrace::journal::read_journal;
use core_support::TempDir;
use reliability_support::answer_every_query_bytes;
use reliability_support::hostile::u32_at;
use tracing_subscriber::prelude::*;

/// (start, end) of each frame, from the documented layout.
fn frames(b: &[u8]) -> Vec<(usize, usize)> {
    let mut at = 20 + u32_at(b, 12) as usize;
    let mut out = Vec::new();
    while at < b.len() {
        let end = at + 8 + u32_at(b, at) as usize;
        out.push((at, end));
        at = end;
    }
    assert_eq!(at, b.len());
    out
}

#[test]
fn every_flipped_journal_byte_is_an_error_or_a_clean_stop() {
    let dir = TempDir::new("reliability-journal-flip");
    let path = dir.join("f.bht");
    let (layer, guard, journal) = core_support::keeping_journal(&path);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let root = tracing::info_span!("root", service = "api");
        let _r = root.enter();
        for i in 0..3u64 {
            tracing::info_span!("step", i).in_scope(|| tracing::info!(i, "done"));
            guard.flush().unwrap(); // one frame per step
        }
    });
    guard.finish().unwrap();
    let good = std::fs::read(&journal).unwrap();
    let frames = frames(&good);
    assert!(frames.len() >= 4, "{frames:?}");
    // Records in the frames before each frame: what a stop there keeps.
    let records_before: Vec<usize> = frames
        .iter()
        .map(|&(start, _)| {
            std::fs::write(&journal, &good[..start]).unwrap();
            read_journal(&journal).unwrap().0.len()
        })
        .collect();

    let header_end = frames[0].0;
    for i in 0..good.len() {
        for mask in [0xffu8, 0x01, 0x80] {
            let mut bad = good.clone();
            bad[i] ^= mask;
            std::fs::write(&journal, &bad).unwrap();
            let what = format!("byte {i} ^ {mask:#04x}");
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                let read = read_journal(&journal);
                let recovered = bhtrace::recover_to_vec(&journal);
                (read, recovered)
            }));
            let Ok((read, recovered)) = outcome else {
                panic!("{what}: a panic");
            };
            if i < header_end {
                assert!(
                    read.is_err() && recovered.is_err(),
                    "{what}: header damage unnoticed"
                );
                continue;
            }
            let k = frames.iter().position(|&(s, e)| s <= i && i < e).unwrap();
            let (records, stats) = read.unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(stats.torn_tail, "{what}: damage in frame {k} unnoticed");
            assert_eq!(stats.stopped_at, frames[k].0 as u64, "{what}: {stats:?}");
            assert_eq!(records.len(), records_before[k], "{what}");
            let (envelope, converted) = recovered.unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(converted.journal.torn_tail);
            let trace = answer_every_query_bytes(envelope);
            assert!(
                trace.header().journal_torn && trace.is_incomplete(),
                "{what}"
            );
        }
    }
}
