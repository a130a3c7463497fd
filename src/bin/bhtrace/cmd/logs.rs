//! `bhtrace logs FILE [--level L] [--target T] [--span ID]`: events in time
//! order with the path of spans they happened in.

use std::io::Write;
use std::path::PathBuf;

use bhtrace::{EventData, Level, SpanId, SpanInfo};
use serde::Serialize;
use serde_json::Map;

use super::{fields_json, fields_text, level};
use crate::input::Input;
use crate::out::{Out, Style};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A .bht envelope or a .bhtj journal.
    file: PathBuf,
    /// Only events at this level or more severe: error, warn, info, debug, trace.
    #[arg(long, value_name = "LEVEL")]
    level: Option<Level>,
    /// Only events whose target is TARGET or lies under TARGET::.
    #[arg(long, value_name = "TARGET")]
    target: Option<String>,
    /// Only events inside this span or its descendants (reads that subtree only).
    #[arg(long, value_name = "ID")]
    span: Option<SpanId>,
    /// Print one JSON object per event and line.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct LogJson<'a> {
    t_ns: u64,
    unix_ns: u64,
    level: String,
    target: &'a str,
    message: Option<&'a str>,
    fields: Map<String, serde_json::Value>,
    thread: u32,
    /// The span it happened in, `null` outside every span.
    span: Option<u32>,
    /// Names from the root down to that span.
    span_path: Vec<&'a str>,
}

/// Span names from the root down to `id`.
fn path(infos: &[SpanInfo], id: SpanId) -> Vec<&str> {
    let mut names = Vec::new();
    let mut cur = infos.get(id.index());
    while let Some(info) = cur {
        names.push(info.name.as_str());
        // Parents precede children: the walk always moves up.
        cur = info
            .parent
            .filter(|p| *p < info.id)
            .and_then(|p| infos.get(p.index()));
    }
    names.reverse();
    names
}

pub(crate) fn run(args: Args, out: &mut Out) -> anyhow::Result<()> {
    let input = Input::open(&args.file)?;
    let trace = &input.reader;
    let infos = trace.infos().0;
    let (spans, orphans) = match args.span {
        Some(id) => (input.check(trace.subtree(id))?.0, Vec::new()),
        None => {
            let all = input.check(trace.full())?.0;
            (all.spans, all.orphan_events)
        }
    };
    let keep = |e: &EventData| {
        args.level.is_none_or(|l| e.level <= l)
            && args.target.as_deref().is_none_or(|t| {
                e.target
                    .strip_prefix(t)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
            })
    };
    let mut events: Vec<(Option<SpanId>, &EventData)> = spans
        .iter()
        .flat_map(|s| s.events.iter().map(move |e| (Some(s.info.id), e)))
        .chain(orphans.iter().map(|e| (None, e)))
        .filter(|(_, e)| keep(e))
        .collect();
    events.sort_by_key(|(_, e)| e.t_ns);

    let wall = trace.header().process.wall_start_unix_ns;
    for (span, e) in events {
        let names = span.map(|s| path(&infos, s)).unwrap_or_default();
        if args.json {
            out.json_line(&LogJson {
                t_ns: e.t_ns,
                unix_ns: wall.saturating_add(e.t_ns),
                level: e.level.to_string(),
                target: &e.target,
                message: e.message(),
                fields: fields_json(&e.fields, Some("message")),
                thread: e.thread,
                span: span.map(|s| s.0),
                span_path: names,
            })?;
            continue;
        }
        let where_ = if names.is_empty() {
            String::new()
        } else {
            format!("{}: ", out.paint(Style::Cyan, names.join(" > ")))
        };
        let fields = fields_text(&e.fields, Some("message"));
        writeln!(
            out,
            "{:>12}  {} {}  {where_}{}{}{}",
            format!("{:.6}s", e.t_ns as f64 / 1e9),
            level(out, e.level),
            out.paint(Style::Dim, &e.target),
            e.message().unwrap_or(""),
            if fields.is_empty() || e.message().is_none() {
                ""
            } else {
                "  "
            },
            out.paint(Style::Dim, fields)
        )?;
    }
    Ok(())
}
