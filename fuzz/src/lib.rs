//! What the fuzz targets share: running every query (and every export) on
//! an opened envelope, with the oracles that must hold whatever the bytes.

use bhtrace::{SpanId, TraceReader};

/// Runs every query and export on `trace`. Nothing may panic; and once
/// `verify()` has accepted the payload, nothing that reads it may fail.
/// Returns whether `verify()` succeeded.
pub fn exercise(trace: &TraceReader) -> bool {
    let n = trace.len() as u32;
    let verified = trace.verify().is_ok();
    let _ = trace.header();
    let _ = trace.is_incomplete();
    let _ = trace.threads();
    let _ = trace.sections();
    let _ = trace.roots();
    let _ = trace.slowest(3);
    let _ = trace.infos();
    let _ = trace.spans_named("query");
    let _ = trace.summary().expect("summary reads the index only");
    let _ = trace
        .critical_path()
        .expect("critical path reads the index only");
    let full = trace.full();
    let orphans = trace.orphan_events();
    if verified {
        full.expect("full() of a verified file");
        orphans.expect("orphan_events() of a verified file");
    }
    for name in trace.services() {
        let r = trace.service(name);
        if verified {
            r.expect("service() of a verified file");
        }
    }
    let _ = trace.service("db");
    // Every span of a small trace, and a sample of a large one.
    let step = (n / 64).max(1);
    for id in (0..n).step_by(step as usize).chain([n, u32::MAX]) {
        let id = SpanId(id);
        let known = id.0 < n;
        assert_eq!(trace.info(id).is_ok(), known);
        assert_eq!(trace.children(id).is_ok(), known);
        let sub = trace.subtree(id);
        let one = trace.span(id);
        assert_eq!(trace.critical_path_of(id).is_ok(), known);
        if verified && known {
            sub.expect("subtree() of a verified file");
            one.expect("span() of a verified file");
        }
    }
    let chrome = bhtrace::export::write_chrome(trace, std::io::sink());
    let folded = bhtrace::export::write_folded(trace, std::io::sink());
    let otlp = bhtrace::export::write_otlp(trace, std::io::sink());
    folded.expect("folded reads the index only");
    if verified {
        chrome.expect("chrome export of a verified file");
        otlp.expect("otlp export of a verified file");
    }
    verified
}

/// CRC-32 (IEEE, reflected, as `crc32fast` computes it and the format
/// specifies); bitwise, so the harness depends on nothing but the crate
/// under test.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}
