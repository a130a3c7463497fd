//! `bhtrace critical-path FILE [--root ID]`: what the request waited on.

use std::io::Write;
use std::path::PathBuf;

use bhtrace::SpanId;

use super::summary::{path_json, print_path};
use crate::input::Input;
use crate::out::{Out, Style, dur};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A .bht envelope or a .bhtj journal.
    file: PathBuf,
    /// The span whose critical path to follow (default: the slowest root).
    #[arg(long, value_name = "ID")]
    root: Option<SpanId>,
    /// Print the path as one JSON list of {id, name, service, start_ns, end_ns}.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args, out: &mut Out) -> anyhow::Result<()> {
    let input = Input::open(&args.file)?;
    let trace = &input.reader;
    let (path, _) = match args.root {
        Some(id) => input.check(trace.critical_path_of(id))?,
        None => input.check(trace.critical_path())?,
    };
    if args.json {
        out.json_pretty(&path_json(&input, &path)?)?;
        return Ok(());
    }
    let root = match args.root {
        Some(id) => Some(input.check(trace.info(id))?),
        None => input.check(trace.summary())?.0.slowest_root,
    };
    let Some(root) = root else {
        writeln!(out, "no spans in this trace")?;
        return Ok(());
    };
    writeln!(
        out,
        "{} of {} #{} ({}, {} segments)",
        out.paint(Style::Bold, "critical path"),
        root.name,
        root.id,
        dur(root.duration_ns()),
        path.len()
    )?;
    print_path(out, &input, &path, root.start_ns, root.end_ns)
}
