//! The demo: one realistic checkout request, traced through the real layer
//! into `target/checkout.bht`, then read back by structure.
//!
//! ```text
//! cargo run --release --example checkout
//! ```
//!
//! The request crosses gateway, auth, cart, inventory, pricing, payment, db,
//! cache and notification, about 270 spans carrying OTel-style attributes
//! (http.*, the full SQL in db.statement, the user agent, baggage, and stack
//! traces on errors); inventory checks run on worker threads. The demo then
//! prints the summary and how much of the file each kind of question reads.

mod request;

use std::path::PathBuf;

use bhtrace::{SpanId, TraceReader};
use tracing_subscriber::prelude::*;

fn pct(s: &bhtrace::ReadStats) -> f64 {
    100.0 * s.fraction()
}

fn main() -> Result<(), bhtrace::Error> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("checkout.bht");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| bhtrace::Error::Io {
            path: dir.to_owned(),
            source: e,
        })?;
    }

    // The one line an app adds (plus keeping the guard).
    let (layer, guard) = bhtrace::Builder::new(&path).service_name("shop").build()?;
    tracing_subscriber::registry().with(layer).init();

    request::run();

    let done = guard.finish()?;
    let conv = done.convert.clone().unwrap_or_default();
    println!(
        "wrote {} ({} spans, {} events, {} bytes: {} of structure, {} of field names, {} B of payload per span)\n",
        done.envelope.display(),
        conv.spans,
        conv.events,
        conv.envelope_bytes,
        conv.structure_bytes,
        conv.fields_bytes,
        conv.payload_bytes / u64::from(conv.spans.max(1)),
    );

    let trace = TraceReader::open(&path)?;
    let (summary, s_stats) = trace.summary()?;
    println!(
        "summary (index only: {:.1}% of the file read)",
        pct(&s_stats)
    );
    println!(
        "  {:<14} {:>6} {:>12} {:>12} {:>12} {:>7}",
        "service", "spans", "total ms", "self ms", "busy ms", "errors"
    );
    for s in &summary.services {
        println!(
            "  {:<14} {:>6} {:>12.3} {:>12.3} {:>12.3} {:>7}",
            s.service,
            s.spans,
            s.total_ns as f64 / 1e6,
            s.self_ns as f64 / 1e6,
            s.busy_ns as f64 / 1e6,
            s.errors
        );
    }
    println!(
        "\ncritical path of the slowest request ({} segments), the spans that own most of it:",
        summary.critical_path.len()
    );
    let mut owned: Vec<(SpanId, u64)> = Vec::new();
    for seg in &summary.critical_path {
        match owned.iter_mut().find(|(id, _)| *id == seg.span) {
            Some((_, ns)) => *ns += seg.end_ns - seg.start_ns,
            None => owned.push((seg.span, seg.end_ns - seg.start_ns)),
        }
    }
    owned.sort_by_key(|&(_, ns)| std::cmp::Reverse(ns));
    for (id, ns) in owned.iter().take(8) {
        let info = trace.info(*id)?;
        println!(
            "  {:>9.3} ms  {:<24} {:<12} [{}]",
            *ns as f64 / 1e6,
            info.name,
            info.service,
            id
        );
    }
    println!("\nslowest spans:");
    for info in summary.slowest.iter().take(5) {
        println!(
            "  {:>9.3} ms  {:<24} {:<12} [{}]",
            info.duration_ns() as f64 / 1e6,
            info.name,
            info.service,
            info.id
        );
    }

    // The drill-in after an error: the payment branch.
    let payment = trace
        .spans_named("payment.charge")
        .0
        .first()
        .map(|s| s.id)
        .unwrap_or(SpanId(0));
    let (_, cp_stats) = trace.critical_path()?;
    let (sub, sub_stats) = trace.subtree(payment)?;
    // A typical drill-in: the median of every subtree that has more than
    // the span itself (each read on its own, as a user drilling in would).
    let mut drill_ins = Vec::new();
    for info in trace.infos().0 {
        if info.subtree_end.index() > info.id.index() + 1 {
            let (spans, stats) = trace.subtree(info.id)?;
            drill_ins.push((pct(&stats), spans.len(), info, stats));
        }
    }
    drill_ins.sort_by(|a, b| a.0.total_cmp(&b.0));
    let median = drill_ins.len() / 2;
    let (db, db_stats) = trace.service("db")?;
    let (all, full_stats) = trace.full()?;

    println!("\n| reading | % of file read | vs full |");
    println!("|---|---|---|");
    let full_bytes = full_stats.bytes_read as f64;
    let row = |name: String, s: &bhtrace::ReadStats, target: Option<f64>| {
        let verdict = match target {
            Some(t) if pct(s) <= t => format!(" (target ≤ {t}%: met)"),
            Some(t) => format!(" (target ≤ {t}%: NOT met)"),
            None => String::new(),
        };
        println!(
            "| {name} | {:.1}%{verdict} | {:.1}x less |",
            pct(s),
            full_bytes / s.bytes_read.max(1) as f64
        );
    };
    row(
        "summary() — per-service + critical path + slowest".into(),
        &s_stats,
        Some(5.0),
    );
    row(
        "critical_path() — the latency chain".into(),
        &cp_stats,
        Some(5.0),
    );
    if let Some((_, spans, info, stats)) = drill_ins.get(median) {
        row(
            format!(
                "subtree({}) — {spans} spans, the median of the {} subtrees with children ({:.1}% to {:.1}%)",
                info.name,
                drill_ins.len(),
                drill_ins[0].0,
                drill_ins[drill_ins.len() - 1].0
            ),
            stats,
            Some(6.0),
        );
    }
    row(
        format!(
            "subtree(payment.charge) — {} spans, the failed payment with its stack traces",
            sub.len()
        ),
        &sub_stats,
        None,
    );
    row(
        format!("service(\"db\") — {} spans", db.len()),
        &db_stats,
        Some(15.0),
    );
    row(
        format!("full() — {} spans", all.spans.len()),
        &full_stats,
        None,
    );
    Ok(())
}
