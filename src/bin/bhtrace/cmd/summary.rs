//! `bhtrace summary FILE`: what the trace holds, answered from the index.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use bhtrace::{Segment, SpanId};
use serde::Serialize;

use super::recover::journal_line;
use super::{ReadJson, SpanRef, marks};
use crate::input::Input;
use crate::out::{Out, Style, bar, bytes, dur, n, percent};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A .bht envelope or a .bhtj journal.
    file: PathBuf,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct SummaryJson {
    file: String,
    kind: &'static str,
    spans: u32,
    traces: u32,
    events: u64,
    records_dropped: u64,
    incomplete_spans: u32,
    complete: bool,
    services: Vec<ServiceJson>,
    slowest_root: Option<SpanRef>,
    critical_path: Vec<SpanRef>,
    slowest: Vec<SpanRef>,
    read: ReadJson,
}

#[derive(Serialize)]
struct ServiceJson {
    service: Arc<str>,
    spans: u64,
    total_ns: u64,
    self_ns: u64,
    busy_ns: u64,
    errors: u64,
}

/// The critical path as the JSON list `critical-path --json` prints too.
pub(crate) fn path_json(input: &Input, path: &[Segment]) -> anyhow::Result<Vec<SpanRef>> {
    path.iter()
        .map(|seg| {
            let info = input.check(input.reader.info(seg.span))?;
            Ok(SpanRef {
                start_ns: seg.start_ns,
                end_ns: seg.end_ns,
                ..SpanRef::of(&info)
            })
        })
        .collect()
}

pub(crate) fn run(args: Args, out: &mut Out) -> anyhow::Result<()> {
    let input = Input::open(&args.file)?;
    let trace = &input.reader;
    let (s, read) = input.check(trace.summary())?;
    if args.json {
        let json = SummaryJson {
            file: input.path.display().to_string(),
            kind: input.kind(),
            spans: s.spans,
            traces: s.traces,
            events: s.events,
            records_dropped: s.records_dropped,
            incomplete_spans: s.incomplete_spans,
            complete: !trace.is_incomplete(),
            services: s
                .services
                .iter()
                .map(|v| ServiceJson {
                    service: v.service.clone(),
                    spans: v.spans,
                    total_ns: v.total_ns,
                    self_ns: v.self_ns,
                    busy_ns: v.busy_ns,
                    errors: v.errors,
                })
                .collect(),
            slowest_root: s.slowest_root.as_ref().map(SpanRef::of),
            critical_path: path_json(&input, &s.critical_path)?,
            slowest: s.slowest.iter().map(SpanRef::of).collect(),
            read: read.into(),
        };
        out.json_pretty(&json)?;
        return Ok(());
    }

    let h = trace.header();
    writeln!(
        out,
        "{}  {} ({}, {})",
        out.paint(Style::Bold, "trace"),
        input.path.display(),
        input.kind(),
        bytes(read.file_len)
    )?;
    writeln!(
        out,
        "  {}, {}, {}, {}, {} long",
        n(s.traces, "trace"),
        n(s.spans, "span"),
        n(s.events, "event"),
        n(h.threads, "thread"),
        dur(h.end_ns)
    )?;
    if trace.is_incomplete() {
        let mut why = Vec::new();
        if s.records_dropped > 0 {
            why.push(format!("{} dropped", n(s.records_dropped, "record")));
        }
        if s.incomplete_spans > 0 {
            why.push(format!("{} never closed", n(s.incomplete_spans, "span")));
        }
        if h.orphan_records > 0 {
            why.push(format!("{} of lost spans", n(h.orphan_records, "record")));
        }
        if h.journal_torn {
            why.push("journal torn".to_owned());
        }
        writeln!(
            out,
            "  {}: {}",
            out.paint(Style::Yellow, "incomplete"),
            why.join(", ")
        )?;
    } else {
        writeln!(out, "  {}", out.paint(Style::Green, "complete"))?;
    }
    if let Some(c) = &input.journal {
        writeln!(out, "  journal {}", journal_line(&c.journal))?;
    }
    if s.spans == 0 {
        writeln!(out, "\nno spans")?;
        return Ok(());
    }

    writeln!(out)?;
    writeln!(
        out,
        "{}",
        out.paint(
            Style::Bold,
            format!(
                "{:<24} {:>7} {:>9} {:>9} {:>9} {:>6}",
                "SERVICE", "SPANS", "TOTAL", "SELF", "BUSY", "ERRORS"
            )
        )
    )?;
    for v in &s.services {
        let errors = format!("{:>6}", v.errors);
        writeln!(
            out,
            "{:<24} {:>7} {:>9} {:>9} {:>9} {}",
            v.service,
            v.spans,
            dur(v.total_ns),
            dur(v.self_ns),
            dur(v.busy_ns),
            if v.errors > 0 {
                out.paint(Style::Red, errors)
            } else {
                errors
            }
        )?;
    }

    if let Some(root) = &s.slowest_root {
        writeln!(out)?;
        writeln!(
            out,
            "{} of the slowest trace, {} #{} ({}, {} segments), by span name",
            out.paint(Style::Bold, "critical path"),
            root.name,
            root.id,
            dur(root.duration_ns()),
            s.critical_path.len()
        )?;
        print_path_top(out, &input, &s.critical_path, root.duration_ns())?;
    }

    writeln!(out)?;
    writeln!(out, "{}", out.paint(Style::Bold, "slowest spans"))?;
    for info in &s.slowest {
        writeln!(
            out,
            "  {:>9}  {}  {} {}{}",
            dur(info.duration_ns()),
            out.paint(Style::Dim, format!("#{:<5}", info.id)),
            info.name,
            out.paint(Style::Dim, format!("({})", info.service)),
            marks(out, info)
        )?;
    }

    writeln!(out)?;
    writeln!(
        out,
        "read {} of {} ({}) in {} reads{}",
        bytes(read.bytes_read),
        bytes(read.file_len),
        percent(read.bytes_read, read.file_len),
        read.reads,
        if input.journal.is_some() {
            " (of the envelope converted in memory)"
        } else {
            ""
        }
    )?;
    Ok(())
}

/// How many spans of the critical path the summary lists.
const PATH_TOP: usize = 10;

/// Prints what the critical path is made of: time on it per span name
/// and service (with how many spans, or the span's id when one), share of
/// the root, longest first; then how many more there are.
fn print_path_top(
    out: &mut Out,
    input: &Input,
    path: &[Segment],
    total: u64,
) -> anyhow::Result<()> {
    struct Part {
        name: Arc<str>,
        service: Arc<str>,
        ns: u64,
        spans: Vec<SpanId>,
        error: bool,
    }
    let mut parts: Vec<Part> = Vec::new();
    for seg in path {
        let info = input.check(input.reader.info(seg.span))?;
        let d = seg.end_ns - seg.start_ns;
        let part = match parts
            .iter_mut()
            .position(|p| p.name == info.name && p.service == info.service)
        {
            Some(i) => &mut parts[i],
            None => {
                parts.push(Part {
                    name: info.name.clone(),
                    service: info.service.clone(),
                    ns: 0,
                    spans: Vec::new(),
                    error: false,
                });
                let last = parts.len() - 1;
                &mut parts[last]
            }
        };
        part.ns += d;
        part.error |= info.error;
        if !part.spans.contains(&seg.span) {
            part.spans.push(seg.span);
        }
    }
    parts.sort_by(|a, b| b.ns.cmp(&a.ns).then_with(|| a.name.cmp(&b.name)));
    for p in parts.iter().take(PATH_TOP) {
        let which = match p.spans.as_slice() {
            [one] => format!("#{one}"),
            many => format!("×{}", many.len()),
        };
        writeln!(
            out,
            "  {:>9} {:>6}  {} {} {}{}",
            dur(p.ns),
            percent(p.ns, total),
            p.name,
            out.paint(Style::Dim, format!("({})", p.service)),
            out.paint(Style::Dim, which),
            if p.error {
                format!(" {}", out.paint(Style::Red, "ERROR"))
            } else {
                String::new()
            }
        )?;
    }
    if parts.len() > PATH_TOP {
        writeln!(
            out,
            "{}",
            out.paint(
                Style::Dim,
                format!(
                    "  … {} more; each segment: bhtrace critical-path {}",
                    parts.len() - PATH_TOP,
                    input.path.display()
                )
            )
        )?;
    }
    Ok(())
}

/// Prints critical-path segments: duration, share of the window
/// `[lo, hi)`, a timeline bar over it, the span.
pub(crate) fn print_path(
    out: &mut Out,
    input: &Input,
    path: &[Segment],
    lo: u64,
    hi: u64,
) -> anyhow::Result<()> {
    for seg in path {
        let d = seg.end_ns - seg.start_ns;
        let info = input.check(input.reader.info(seg.span))?;
        writeln!(
            out,
            "  {:>9} {:>6}  {}  {}  {} {}{}",
            dur(d),
            percent(d, hi - lo),
            out.paint(Style::Cyan, bar(seg.start_ns, seg.end_ns, lo, hi)),
            out.paint(Style::Dim, format!("#{:<5}", info.id)),
            info.name,
            out.paint(Style::Dim, format!("({})", info.service)),
            marks(out, &info)
        )?;
    }
    Ok(())
}
