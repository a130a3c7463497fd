#![cfg(feature = "export")]
//! Every input the fuzzers (`fuzz/`, `scripts/fuzz.sh`) ever crashed on,
//! kept in `tests/fuzz_findings/` with the harness's checksum fix-up
//! already applied: opening it, every query and every export return `Ok` or
//! `Err`, never panic.
//!
//! - `envelope-folded-overflow.bht`: span times whose self times, summed
//!   per stack, overflow a u64 in `write_folded` (fixed by saturating).
//!   Found in a version 1 envelope; re-encoded as version 2 (its index at
//!   full column width, every other section byte for byte), then as
//!   version 3 (the version number alone: v3 only added payload item
//!   tags, and every answer, error or not, is the same as v2 gave), then
//!   as version 4: the index at full bit width (32 and 64 bits, the same
//!   row bytes) with its service column as the service's number in the
//!   services table's order, the callsites without their field lists,
//!   which moved to a new fields section, and the string table, threads,
//!   roots, header fields and payload byte for byte. Every CLI answer is
//!   the same as v3 gave, but for the file offsets in error messages.
//!   Then as version 5: the index at full bit width again (32 and 64
//!   bits) without its subtree-size column and with each row's payload
//!   block length for its end, each callsite entry ending with the length
//!   of its block of field names, the fields section those blocks
//!   (front-coded, the same names per callsite), and the strings, threads,
//!   roots, services, header fields and payload byte for byte. Every CLI
//!   answer is the same as v4 gave, but for file offsets in error messages
//!   (3 bytes later) and the bytes read; with `write_folded`'s saturating
//!   add reverted, this test fails again.
//!
//! - `journal-invalid-utf8-field.bhtj`: a checksummed frame whose field
//!   string is not UTF-8 (`sel\xfcct 1`). The journal reader refused it;
//!   the converter, once it skipped field strings without checking their
//!   text, accepted it. The converter's first pass checks text again (its
//!   second pass does not need to). Both stop at that record, and the test
//!   checks that they stop at the same one (that both succeed was not
//!   enough: with the first pass's check removed, the converter reads on
//!   past the record and still succeeds).
//!
//! A finding in a format version the reader no longer opens reaches none
//! of the code it crashed, so the test fails on one: re-encode it.

mod core_support;
mod reliability_support;

use std::panic::{AssertUnwindSafe, catch_unwind};

use bhtrace::{Error, SpanId, TraceReader};

fn exercise(trace: &TraceReader) {
    let _ = trace.verify();
    let _ = trace.summary();
    let _ = trace.critical_path();
    let _ = trace.full();
    let _ = trace.orphan_events();
    let _ = trace.infos();
    let _ = trace.slowest(10);
    for name in trace.services() {
        let _ = trace.service(name);
    }
    for id in 0..trace.len() as u32 {
        let _ = trace.subtree(SpanId(id));
        let _ = trace.critical_path_of(SpanId(id));
    }
    let _ = bhtrace::export::write_chrome(trace, std::io::sink());
    let _ = bhtrace::export::write_folded(trace, std::io::sink());
    let _ = bhtrace::export::write_otlp(trace, std::io::sink());
}

#[test]
fn inputs_the_fuzzers_found_never_panic_again() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_findings");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.display().to_string();
        let result = catch_unwind(AssertUnwindSafe(|| match path.extension() {
            Some(e) if e == "bht" => match TraceReader::open(&path) {
                Ok(trace) => exercise(&trace),
                Err(e @ Error::UnsupportedVersion { .. }) => panic!("{name}: {e}"),
                Err(_) => {}
            },
            Some(e) if e == "bhtj" => {
                if let Err(e @ Error::UnsupportedVersion { .. }) =
                    bhtrace::journal::read_journal(&path)
                {
                    panic!("{name}: {e}");
                }
                // The journal reader and the converter agree on what a
                // readable journal is (the journal fuzz target's rule).
                // Both stop at the same record: the converter converts what
                // the reader reads, no more and no less.
                let read = match bhtrace::journal::JournalReader::open(&path) {
                    Ok(mut reader) => {
                        reader.by_ref().for_each(drop);
                        reader.error().is_none().then(|| reader.stats().clone())
                    }
                    Err(_) => None,
                };
                match bhtrace::recover_to_vec(&path) {
                    Ok((bytes, converted)) => {
                        let Some(read) = read else {
                            panic!("{name}: recover accepted a journal the reader refused");
                        };
                        assert_eq!(
                            (converted.journal.stopped_at, converted.journal.records),
                            (read.stopped_at, read.records),
                            "{name}: the converter and the reader stop at different records"
                        );
                        reliability_support::answer_every_query_bytes(bytes);
                    }
                    Err(e) => assert!(
                        read.is_none(),
                        "{name}: recover refused a readable journal: {e}"
                    ),
                }
            }
            _ => panic!("{name}: not a .bht or .bhtj"),
        }));
        assert!(result.is_ok(), "{name} panicked");
        seen += 1;
    }
    assert!(seen >= 1, "no findings in {}", dir.display());
}
