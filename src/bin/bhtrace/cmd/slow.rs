//! `bhtrace slow FILE [-n N] [--service S]`: the longest spans.

use std::io::Write;
use std::path::PathBuf;

use bhtrace::SpanId;

use super::{IndexSpan, id, marks, self_time, service_matches};
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
            // (duration, id) of the service's spans, longest first.
            let mut v: Vec<(u64, SpanId)> = Vec::new();
            for i in 0..trace.len() as u32 {
                let info = input.check(trace.info(SpanId(i)))?;
                if service_matches(&info.service, want) {
                    v.push((info.duration_ns(), info.id));
                }
            }
            v.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            v.truncate(args.count);
            v.iter()
                .map(|&(_, id)| input.check(trace.info(id)))
                .collect::<anyhow::Result<_>>()?
        }
    };
    if args.json {
        for info in &spans {
            out.json_line(&IndexSpan::new(info, self_time(&input, info.id)?))?;
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
            dur(self_time(&input, info.id)?),
            id(out, info, 6),
            info.service,
            info.name,
            marks(out, info)
        )?;
    }
    Ok(())
}
