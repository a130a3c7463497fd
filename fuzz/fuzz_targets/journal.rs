//! Journal reading and recovery on arbitrary bytes: `JournalReader` and
//! `recover_to_vec` must return records or a typed error, never panic; the
//! converter must convert exactly the records the reader reads; and
//! whatever the converter writes must open and answer every query.
//!
//! The first input byte picks a mode. Odd: the rest is the journal as is.
//! Even: the process header's checksum and every whole frame's checksum are
//! fixed up, so mutations reach the record decoder and the converter
//! instead of stopping at the first checksum.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use bhtrace::TraceReader;
use bhtrace::journal::JournalReader;
use bhtrace_fuzz::{crc32, exercise};
use libfuzzer_sys::fuzz_target;

// docs/format.md §2: a 20-byte preamble (magic, version, header_len,
// header_crc), the header, then frames of len u32 | crc u32 | records.
const PREAMBLE: usize = 20;
const FRAME_HEADER: usize = 8;

fn fix_checksums(b: &mut [u8]) {
    if b.len() < PREAMBLE {
        return;
    }
    let header_len = u32::from_le_bytes([b[12], b[13], b[14], b[15]]) as usize;
    let Some(mut at) = PREAMBLE.checked_add(header_len).filter(|&e| e <= b.len()) else {
        return;
    };
    let crc = crc32(&b[PREAMBLE..at]);
    b[16..20].copy_from_slice(&crc.to_le_bytes());
    while at + FRAME_HEADER <= b.len() {
        let len = u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize;
        let Some(end) = (at + FRAME_HEADER)
            .checked_add(len)
            .filter(|&e| e <= b.len())
        else {
            return;
        };
        let crc = crc32(&b[at + FRAME_HEADER..end]);
        b[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
        at = end;
    }
}

/// One file per fuzzing process, rewritten for every input.
fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("bhtrace-fuzz-journal-{}.bhtj", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut bytes = rest.to_vec();
    if mode & 1 == 0 {
        fix_checksums(&mut bytes);
    }
    let path = scratch();
    std::fs::write(path, &bytes).expect("write the scratch journal");

    let read = match JournalReader::open(path) {
        Ok(mut reader) => {
            let records = reader.by_ref().count() as u64;
            let stats = reader.stats().clone();
            assert_eq!(stats.records, records, "{stats:?}");
            assert!(stats.bytes <= stats.file_len && stats.stopped_at <= stats.file_len);
            assert_eq!(stats.torn_tail, stats.stop_reason.is_some(), "{stats:?}");
            reader.error().is_none().then_some(stats)
        }
        Err(_) => None,
    };
    match bhtrace::recover_to_vec(path) {
        Ok((envelope, stats)) => {
            let read = read.expect("recover accepted a journal the reader refused");
            // It converted what the reader reads: no more, no less.
            assert_eq!(
                (stats.journal.stopped_at, stats.journal.records),
                (read.stopped_at, read.records),
                "the converter and the reader stop at different records"
            );
            assert_eq!(stats.envelope_bytes, envelope.len() as u64);
            // The converter wrote this file: it must open, verify, and
            // answer every query.
            let trace = TraceReader::from_bytes(envelope).expect("open what recover wrote");
            assert_eq!(trace.len() as u32, stats.spans);
            assert!(exercise(&trace), "verify() refused what recover wrote");
        }
        Err(e) => assert!(read.is_none(), "recover refused a readable journal: {e}"),
    }
});
