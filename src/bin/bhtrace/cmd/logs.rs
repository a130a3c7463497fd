//! `bhtrace logs FILE [--level L] [--target T] [--span ID]`: events in time
//! order with the path of spans they happened in.

use std::io::Write;
use std::path::PathBuf;

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

/// An event that passed the filters, with where it happened.
struct Line {
    span: Option<SpanId>,
    /// Span names from the root down to `span`.
    path: Vec<String>,
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

/// Names of the ancestors of `id`, root first, from the index.
fn ancestors(input: &Input, id: SpanId) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    let mut cur = input.check(input.reader.info(id))?.parent;
    while let Some(p) = cur {
        let info = input.check(input.reader.info(p))?;
        names.push(info.name.to_string());
        // Parents precede children: the walk always moves up.
        cur = info.parent.filter(|&q| q < p);
    }
    names.reverse();
    Ok(names)
}

/// The matching events of the subtree at `root`, read in one go.
fn collect(input: &Input, args: &Args, root: SpanId, lines: &mut Vec<Line>) -> anyhow::Result<()> {
    let (spans, _) = input.check(input.reader.subtree(root))?;
    let prefix = ancestors(input, root)?;
    let names: Vec<&str> = spans.iter().map(|s| &*s.info.name).collect();
    let base = root.index();
    for span in &spans {
        let mut kept = span.events.iter().filter(|e| args.keep(e)).peekable();
        if kept.peek().is_none() {
            continue;
        }
        // The path inside the subtree, walked up through the parents.
        let mut inner = Vec::new();
        let mut cur = Some(span.info.id);
        while let Some(id) = cur.filter(|id| id.index() >= base) {
            inner.push(names.get(id.index() - base).copied().unwrap_or_default());
            cur = spans
                .get(id.index() - base)
                .and_then(|s| s.info.parent)
                .filter(|&p| p < id);
        }
        let path: Vec<String> = prefix
            .iter()
            .cloned()
            .chain(inner.iter().rev().map(|s| (*s).to_owned()))
            .collect();
        for e in kept {
            lines.push(Line {
                span: Some(span.info.id),
                path: path.clone(),
                event: e.clone(),
            });
        }
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
                    .map(|event| Line {
                        span: None,
                        path: Vec::new(),
                        event,
                    }),
            );
        }
    }
    lines.sort_by_key(|l| l.event.t_ns);

    let wall = trace.header().process.wall_start_unix_ns;
    for Line {
        span,
        path,
        event: e,
    } in &lines
    {
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
                span_path: path.iter().map(String::as_str).collect(),
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
