//! `bhtrace spans FILE [--service S] [--name N] [--min-duration D] [--errors]`:
//! a filterable listing. The table comes from the index; `--json` reads the
//! payload of the listed spans only.

use std::io::Write;
use std::path::PathBuf;

use bhtrace::SpanInfo;
use bhtrace::export::self_times;

use super::{FullSpan, id, marks, service_matches};
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
            && self.name.as_deref().is_none_or(|n| info.name == n)
            && self.min_duration.is_none_or(|d| info.duration_ns() >= d)
            && (!self.errors || info.error)
    }

    fn filtered(&self) -> bool {
        self.service.is_some() || self.name.is_some() || self.min_duration.is_some() || self.errors
    }
}

pub(crate) fn run(args: Args, out: &mut Out) -> anyhow::Result<()> {
    let input = Input::open(&args.file)?;
    let trace = &input.reader;
    let self_ns = self_times(trace);
    let self_of = |i: &SpanInfo| self_ns.get(i.id.index()).copied().unwrap_or(0);

    if args.json {
        if args.filtered() {
            let wanted: Vec<SpanInfo> = trace
                .infos()
                .0
                .into_iter()
                .filter(|i| args.wants(i))
                .collect();
            for info in &wanted {
                let (span, _) = input.check(trace.span(info.id))?;
                out.json_line(&FullSpan::new(&span, self_of(info)))?;
            }
        } else {
            // Everything: one read of the whole payload.
            let (all, _) = input.check(trace.full())?;
            for span in &all.spans {
                out.json_line(&FullSpan::new(span, self_of(&span.info)))?;
            }
        }
        return Ok(());
    }

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
    let mut shown = 0u64;
    for info in trace.infos().0.iter().filter(|i| args.wants(i)) {
        writeln!(
            out,
            "{} {:>10} {:>9} {:>9} {:>9}  {:<16} {}{}",
            id(out, info, 6),
            format!("+{}", dur(info.start_ns)),
            dur(info.duration_ns()),
            dur(info.busy_ns),
            dur(self_of(info)),
            info.service,
            info.name,
            marks(out, info)
        )?;
        shown += 1;
    }
    writeln!(
        out,
        "{}",
        out.paint(Style::Dim, format!("{shown} of {} spans", trace.len()))
    )?;
    Ok(())
}
