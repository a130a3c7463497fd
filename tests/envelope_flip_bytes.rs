//! Every byte of a small envelope flipped, with its checksums left alone
//! and fixed up, and the file cut at every offset: opening and every query
//! return `Ok` or `Err` — never a panic. Damage to the header or structure
//! is always caught at open; damage to the field-name schema or the
//! payload by `verify()`.

mod core_support;

use std::panic::{AssertUnwindSafe, catch_unwind};

use bhtrace::{SpanId, TraceReader};
use core_support::TempDir;
use tracing_subscriber::prelude::*;

const PREAMBLE: usize = 16;
const TRAILER: usize = 32;

fn u64_at(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().unwrap())
}

/// Recomputes the header, structure and field-name schema checksums in the
/// trailer from what the (damaged) preamble and section table say, when
/// they say something that fits the file.
fn fix_checksums(b: &mut [u8]) {
    if b.len() < PREAMBLE + TRAILER {
        return;
    }
    let t = b.len() - TRAILER;
    let header_len = u32::from_le_bytes(b[12..16].try_into().unwrap()) as usize;
    let Some(header_end) = PREAMBLE.checked_add(header_len).filter(|&e| e <= t) else {
        return;
    };
    if header_len < 128 {
        return;
    }
    let crc = crc32fast::hash(&b[PREAMBLE..header_end]);
    b[t..t + 4].copy_from_slice(&crc.to_le_bytes());
    let services = PREAMBLE + 5 * 16;
    let end = u64_at(b, services).checked_add(u64_at(b, services + 8));
    if let Some(end) = end.filter(|&e| e >= header_end as u64 && e <= t as u64) {
        let crc = crc32fast::hash(&b[header_end..end as usize]);
        b[t + 4..t + 8].copy_from_slice(&crc.to_le_bytes());
    }
    let fields = PREAMBLE + 6 * 16;
    let (from, len) = (u64_at(b, fields), u64_at(b, fields + 8));
    if let Some(to) = from.checked_add(len).filter(|&e| e <= t as u64) {
        let crc = crc32fast::hash(&b[from as usize..to as usize]);
        b[t + 12..t + 16].copy_from_slice(&crc.to_le_bytes());
    }
}

/// Opens `bytes` and runs every query; returns whether open succeeded and
/// whether `verify()` did.
fn exercise(bytes: Vec<u8>) -> (bool, bool) {
    let Ok(trace) = TraceReader::from_bytes(bytes) else {
        return (false, false);
    };
    let n = trace.len() as u32;
    let _ = trace.summary();
    let _ = trace.critical_path();
    let _ = trace.full();
    let _ = trace.orphan_events();
    let verified = trace.verify().is_ok();
    let _ = trace.roots();
    let _ = trace.slowest(3);
    let _ = trace.infos();
    let _ = trace.spans_named("query");
    let _ = trace.threads();
    let _ = trace.is_incomplete();
    for name in trace.services() {
        let _ = trace.service(name);
    }
    let _ = trace.service("db");
    for id in (0..n).chain([n, u32::MAX]) {
        let id = SpanId(id);
        let _ = trace.info(id);
        let _ = trace.children(id);
        let _ = trace.subtree(id);
        let _ = trace.span(id);
        let _ = trace.critical_path_of(id);
    }
    (true, verified)
}

fn run(what: &str, bytes: Vec<u8>) -> (bool, bool) {
    match catch_unwind(AssertUnwindSafe(|| exercise(bytes))) {
        Ok(r) => r,
        Err(_) => panic!("{what}: a query panicked"),
    }
}

#[test]
fn flipped_and_truncated_envelopes_never_panic() {
    let dir = TempDir::new("flip_bytes");
    let path = dir.join("t.bht");
    let (layer, guard) = bhtrace::layer(&path).unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let root = tracing::info_span!("root", service = "api", user = "ada");
        let _r = root.enter();
        tracing::info!(parent: None, "outside");
        for i in 0..3u64 {
            let q = tracing::info_span!(target: "db::pool", "query", i, sql = "select 1");
            q.follows_from(&root);
            q.in_scope(|| tracing::warn!(i, "slow"));
        }
        root.record("user", "grace");
    });
    guard.finish().unwrap();
    let good = std::fs::read(&path).unwrap();
    assert_eq!(run("undamaged", good.clone()), (true, true));
    let fields_at = u64_at(&good, PREAMBLE + 6 * 16) as usize;
    let payload_at = u64_at(&good, PREAMBLE + 7 * 16) as usize;
    let payload_end = good.len() - TRAILER;
    assert!(fields_at < payload_at && payload_at < payload_end);

    // Damaged structures that still pass every check at open: their
    // queries run on odd but valid-looking data.
    let mut fixed_opened = 0;
    for i in 0..good.len() {
        for mask in [0xffu8, 0x01, 0x80] {
            let mut bad = good.clone();
            bad[i] ^= mask;
            let (opened, verified) = run(&format!("byte {i} ^ {mask:#04x}"), bad.clone());
            if i < fields_at {
                assert!(
                    !opened,
                    "byte {i} ^ {mask:#04x} of the header or structure went unnoticed"
                );
            } else if i < payload_end {
                assert!(
                    opened && !verified,
                    "schema or payload byte {i} ^ {mask:#04x}: open reads neither, verify() must catch it"
                );
            }
            fix_checksums(&mut bad);
            let (opened, _) = run(&format!("byte {i} ^ {mask:#04x}, checksums fixed"), bad);
            if i < fields_at && opened {
                fixed_opened += 1;
            }
        }
    }
    assert!(
        fixed_opened > 100,
        "only {fixed_opened} damaged structures got past open: the queries were barely exercised"
    );
    for cut in 0..good.len() {
        let (opened, _) = run(&format!("cut at {cut}"), good[..cut].to_vec());
        assert!(!opened, "a file cut at {cut} opened");
    }
}
