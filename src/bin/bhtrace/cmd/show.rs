//! `bhtrace show FILE ID`: one span with everything recorded about it.

use std::io::Write;
use std::path::PathBuf;

use bhtrace::{SpanId, Value};

use super::{FullSpan, level, marks, self_time, value_text};
use crate::input::Input;
use crate::out::{Out, Style, dur, utc};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A .bht envelope or a .bhtj journal.
    file: PathBuf,
    /// The span id, as the other commands print it.
    id: SpanId,
    /// Print the span as one JSON object (the keys of `spans --json`).
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args, out: &mut Out) -> anyhow::Result<()> {
    let input = Input::open(&args.file)?;
    let trace = &input.reader;
    let (span, _) = input.check(trace.span(args.id))?;
    let self_ns = self_time(&input, args.id)?;
    if args.json {
        out.json_pretty(&FullSpan::new(&span, self_ns))?;
        return Ok(());
    }
    let info = &span.info;
    let wall = trace.header().process.wall_start_unix_ns;
    let thread = |t: u32| match trace.thread_name(t) {
        Some(name) => format!("{t} ({name})"),
        None => t.to_string(),
    };
    let at = |t: u64| format!("+{}", dur(t));

    writeln!(
        out,
        "{} #{} {}{}",
        out.paint(Style::Bold, "span"),
        info.id,
        out.paint(Style::Bold, &info.name),
        marks(out, info)
    )?;
    let mut row = |key: &str, value: String| writeln!(out, "  {key:<10}  {value}");
    row("target", info.target.to_string())?;
    row("service", info.service.to_string())?;
    row("level", info.level.to_string())?;
    row("thread", thread(info.thread))?;
    if let Some(file) = &info.file {
        let line = info.line.map(|l| format!(":{l}")).unwrap_or_default();
        row("source", format!("{file}{line}"))?;
    }
    match info.parent {
        Some(p) => {
            let parent = input.check(trace.info(p))?;
            row("parent", format!("#{} {}", parent.id, parent.name))?;
        }
        None if info.parent_lost => row("parent", "lost (dropped records)".to_owned())?,
        None => row("parent", "none (a root)".to_owned())?,
    }
    let children = input.check(trace.children(info.id))?;
    row("children", children.len().to_string())?;
    row(
        "start",
        format!("{}  ({})", at(info.start_ns), utc(wall + info.start_ns)),
    )?;
    row(
        "end",
        format!("{}  ({})", at(info.end_ns), utc(wall + info.end_ns)),
    )?;
    row("duration", dur(info.duration_ns()))?;
    row("busy", dur(info.busy_ns))?;
    row("self", dur(self_ns))?;

    writeln!(out, "{}", out.paint(Style::Bold, "fields"))?;
    if span.fields.is_empty() {
        writeln!(out, "  (none)")?;
    }
    for (k, v) in &span.fields {
        write_field(out, 2, k, v)?;
    }

    writeln!(out, "{}", out.paint(Style::Bold, "events"))?;
    if span.events.is_empty() {
        writeln!(out, "  (none)")?;
    }
    for e in &span.events {
        let message = e.message().unwrap_or(&e.name);
        writeln!(
            out,
            "  {:>10}  {} {}  {message}",
            at(e.t_ns),
            level(out, e.level),
            out.paint(Style::Dim, &e.target),
        )?;
        for (k, v) in e.fields.iter().filter(|(k, _)| &**k != "message") {
            write_field(out, 14, k, v)?;
        }
    }

    writeln!(out, "{}", out.paint(Style::Bold, "intervals"))?;
    if span.intervals.is_empty() {
        writeln!(out, "  (never entered)")?;
    }
    for iv in &span.intervals {
        let (exit, length) = match iv.exit_ns {
            Some(x) => (at(x), dur(x.saturating_sub(iv.enter_ns))),
            None => ("(still entered)".to_owned(), "-".to_owned()),
        };
        writeln!(
            out,
            "  {:>10} → {:>10}  {:>9}  thread {}",
            at(iv.enter_ns),
            exit,
            length,
            thread(iv.thread)
        )?;
    }

    writeln!(out, "{}", out.paint(Style::Bold, "follows from"))?;
    if span.follows_from.is_empty() {
        writeln!(out, "  (none)")?;
    }
    for &f in &span.follows_from {
        let other = input.check(trace.info(f))?;
        writeln!(out, "  #{} {}", other.id, other.name)?;
    }
    Ok(())
}

/// `key = value` indented by `indent`; a text of several lines continues
/// on the following lines, indented further, so a stack trace reads as one.
fn write_field(out: &mut Out, indent: usize, key: &str, value: &Value) -> std::io::Result<()> {
    match value {
        Value::Str(text) if text.contains('\n') => {
            writeln!(out, "{:indent$}{key} =", "")?;
            for line in text.lines() {
                writeln!(out, "{:w$}{line}", "", w = indent + 4)?;
            }
            Ok(())
        }
        v => writeln!(out, "{:indent$}{key} = {}", "", value_text(v)),
    }
}
