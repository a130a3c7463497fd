//! `bhtrace spans FILE [--service S] [--name N] [--min-duration D] [--errors]`:
//! a filterable listing. The table comes from the index; `--json` reads the
//! payload of the trees that hold a listed span, one tree at a time.

use std::io::Write;
use std::path::PathBuf;

use bhtrace::SpanInfo;

use super::{FullSpan, id, infos, marks, self_times, service_matches, trees};
use crate::input::Input;
use crate::out::{Out, Style, dur, parse_duration};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A .bht envelope or a .bhtj journal.
    file: PathBuf,
    /// Only spans of this service (or a target under SERVICE::).
    #[arg(long, value_name = "SERVICE")]
    service: Option<String>,
    /// Only spans with this name.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Only spans at least this long: 5ms, 200us, 1.5s.
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    min_duration: Option<u64>,
    /// Only spans flagged as errors.
    #[arg(long)]
    errors: bool,
    /// Print one JSON object per span and line, with fields and events.
    #[arg(long)]
    json: bool,
}

impl Args {
    fn wants(&self, info: &SpanInfo) -> bool {
        self.service
            .as_deref()
            .is_none_or(|s| service_matches(&info.service, s))
            && self.name.as_deref().is_none_or(|n| &*info.name == n)
            && self.min_duration.is_none_or(|d| info.duration_ns() >= d)
            && (!self.errors || info.error)
    }
}

pub(crate) fn run(args: Args, out: &mut Out) -> anyhow::Result<()> {
    let input = Input::open(&args.file)?;
    let trace = &input.reader;
    if !args.json {
        writeln!(
            out,
            "{}",
            out.paint(
                Style::Bold,
                format!(
                    "{:<6} {:>10} {:>9} {:>9} {:>9}  {:<16} {}",
                    "ID", "START", "DURATION", "BUSY", "SELF", "SERVICE", "SPAN"
                )
            )
        )?;
    }
    let mut shown = 0usize;
    // One tree at a time: its index entries, and its payload (one read)
    // only when --json lists one of its spans.
    for (root, end) in trees(&input)? {
        let infos = infos(&input, root, end)?;
        let wanted: Vec<usize> = (0..infos.len())
            .filter(|&i| args.wants(&infos[i]))
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let self_ns = self_times(&input, &infos)?;
        if args.json {
            let (spans, _) = input.check(trace.subtree(root))?;
            for &i in &wanted {
                if let Some(span) = spans.get(i) {
                    out.json_line(&FullSpan::new(span, self_ns[i]))?;
                }
            }
        } else {
            for &i in &wanted {
                let info = &infos[i];
                writeln!(
                    out,
                    "{} {:>10} {:>9} {:>9} {:>9}  {:<16} {}{}",
                    id(out, info, 6),
                    format!("+{}", dur(info.start_ns)),
                    dur(info.duration_ns()),
                    dur(info.busy_ns),
                    dur(self_ns[i]),
                    info.service,
                    info.name,
                    marks(out, info)
                )?;
            }
        }
        shown += wanted.len();
    }
    if !args.json {
        writeln!(
            out,
            "{}",
            out.paint(Style::Dim, format!("{shown} of {} spans", trace.len()))
        )?;
    }
    Ok(())
}
