//! `bhtrace slow FILE [-n N] [--service S]`: the longest spans.

use std::io::Write;
use std::path::PathBuf;

use bhtrace::export::self_times;

use super::{IndexSpan, id, marks, service_matches};
use crate::input::Input;
use crate::out::{Out, Style, dur};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A .bht envelope or a .bhtj journal.
    file: PathBuf,
    /// How many spans to list.
    #[arg(short = 'n', long = "count", value_name = "N", default_value_t = 10)]
    count: usize,
    /// Only spans of this service (or a target under SERVICE::).
    #[arg(long, value_name = "SERVICE")]
    service: Option<String>,
    /// Print one JSON object per span and line.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args, out: &mut Out) -> anyhow::Result<()> {
    let input = Input::open(&args.file)?;
    let trace = &input.reader;
    let spans = match &args.service {
        // The reader's own ranking, from the index.
        None => trace.slowest(args.count).0,
        Some(want) => {
            let mut v = trace.infos().0;
            v.retain(|i| service_matches(&i.service, want));
            v.sort_by(|a, b| b.duration_ns().cmp(&a.duration_ns()).then(a.id.cmp(&b.id)));
            v.truncate(args.count);
            v
        }
    };
    let self_ns = self_times(trace);
    let self_of = |i: &bhtrace::SpanInfo| self_ns.get(i.id.index()).copied().unwrap_or(0);
    if args.json {
        for info in &spans {
            out.json_line(&IndexSpan::new(info, self_of(info)))?;
        }
        return Ok(());
    }
    writeln!(
        out,
        "{}",
        out.paint(
            Style::Bold,
            format!(
                "{:>9} {:>9} {:>9}  {:<6} {:<16} {}",
                "DURATION", "BUSY", "SELF", "ID", "SERVICE", "SPAN"
            )
        )
    )?;
    for info in &spans {
        writeln!(
            out,
            "{:>9} {:>9} {:>9}  {} {:<16} {}{}",
            dur(info.duration_ns()),
            dur(info.busy_ns),
            dur(self_of(info)),
            id(out, info, 6),
            info.service,
            info.name,
            marks(out, info)
        )?;
    }
    Ok(())
}
