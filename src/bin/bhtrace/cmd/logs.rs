//! `bhtrace logs FILE [--level L] [--target T] [--span ID]`: events in time
//! order with the path of spans they happened in.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use bhtrace::{EventData, Level, SpanId};
use serde::Serialize;
use serde_json::Map;

use super::{fields_json, fields_text, level, trees};
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

/// An event that passed the filters, with the span it happened in. The
/// path of span names is looked up when the line is printed, so memory
/// holds one path at a time, not one per event.
struct Line {
    span: Option<SpanId>,
    event: EventData,
}

impl Args {
    fn keep(&self, e: &EventData) -> bool {
        self.level.is_none_or(|l| e.level <= l)
            && self.target.as_deref().is_none_or(|t| {
                e.target
                    .strip_prefix(t)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
            })
    }
}

/// Names of `id` and its ancestors, root first, from the index.
fn span_path(input: &Input, id: SpanId) -> anyhow::Result<Vec<Arc<str>>> {
    let mut names = Vec::new();
    let mut cur = Some(id);
    while let Some(p) = cur {
        let info = input.check(input.reader.info(p))?;
        names.push(info.name);
        // Parents precede children: the walk always moves up.
        cur = info.parent.filter(|&q| q < p);
    }
    names.reverse();
    Ok(names)
}

/// The matching events of the subtree at `root`, read in one go.
fn collect(input: &Input, args: &Args, root: SpanId, lines: &mut Vec<Line>) -> anyhow::Result<()> {
    let (spans, _) = input.check(input.reader.subtree(root))?;
    for span in spans {
        lines.extend(
            span.events
                .into_iter()
                .filter(|e| args.keep(e))
                .map(|event| Line {
                    span: Some(span.info.id),
                    event,
                }),
        );
    }
    Ok(())
}

pub(crate) fn run(args: Args, out: &mut Out) -> anyhow::Result<()> {
    let input = Input::open(&args.file)?;
    let trace = &input.reader;
    let mut lines = Vec::new();
    match args.span {
        Some(id) => collect(&input, &args, id, &mut lines)?,
        None => {
            // One tree in memory at a time; only matching events are kept.
            for (root, _) in trees(&input)? {
                collect(&input, &args, root, &mut lines)?;
            }
            let (orphans, _) = input.check(trace.orphan_events())?;
            lines.extend(
                orphans
                    .into_iter()
                    .filter(|e| args.keep(e))
                    .map(|event| Line { span: None, event }),
            );
        }
    }
    lines.sort_by_key(|l| l.event.t_ns);

    let wall = trace.header().process.wall_start_unix_ns;
    for Line { span, event: e } in &lines {
        let path = match span {
            Some(id) => span_path(&input, *id)?,
            None => Vec::new(),
        };
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
                span_path: path.iter().map(|s| &**s).collect(),
            })?;
            continue;
        }
        let where_ = if path.is_empty() {
            String::new()
        } else {
            format!("{}: ", out.paint(Style::Cyan, path.join(" > ")))
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
