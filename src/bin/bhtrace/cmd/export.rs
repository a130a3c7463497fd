//! `bhtrace export FILE --format chrome|folded|otlp [-o OUT]`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use bhtrace::TraceReader;
use bhtrace::export::{ExportError, ExportStats, write_chrome, write_folded, write_otlp};
use clap::ValueEnum;

use crate::input::{Input, bad};
use crate::out::{Out, bytes, percent};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A .bht envelope or a .bhtj journal.
    file: PathBuf,
    /// The output format.
    #[arg(long, short = 'f', value_enum)]
    format: Format,
    /// Where to write (default, or `-`: standard output). Written to a
    /// temporary name and renamed, so OUT is whole or absent.
    #[arg(long, short = 'o', value_name = "OUT")]
    output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// Chrome trace-event JSON, for Perfetto UI and chrome://tracing.
    Chrome,
    /// Folded stacks weighted by self time, for inferno and flamegraph.pl.
    Folded,
    /// OTLP/JSON lines (one request per line), for OpenTelemetry collectors, Jaeger and Tempo.
    Otlp,
}

impl Format {
    fn write(self, trace: &TraceReader, w: &mut dyn Write) -> Result<ExportStats, ExportError> {
        match self {
            Format::Chrome => write_chrome(trace, w),
            Format::Folded => write_folded(trace, w),
            Format::Otlp => write_otlp(trace, w),
        }
    }

    fn records(self) -> &'static str {
        match self {
            Format::Chrome => "trace events",
            Format::Folded => "stacks",
            Format::Otlp => "spans",
        }
    }
}

pub(crate) fn run(args: Args, out: &mut Out) -> anyhow::Result<()> {
    let input = Input::open(&args.file)?;
    let to_stdout = args.output.as_deref().is_none_or(|p| p == Path::new("-"));
    let result = match &args.output {
        Some(path) if !to_stdout => write_file(args.format, &input.reader, path),
        _ => args.format.write(&input.reader, out),
    };
    let stats = match result {
        Ok(stats) => stats,
        Err(ExportError::Read(e)) => return Err(bad(&input.path, e)),
        Err(e) => {
            let to = args
                .output
                .as_deref()
                .filter(|_| !to_stdout)
                .map_or_else(|| "standard output".to_owned(), |p| p.display().to_string());
            let e = match e {
                ExportError::Write(io) => anyhow::Error::new(io),
                other => anyhow::Error::new(other),
            };
            return Err(e.context(format!("cannot write {to}")));
        }
    };
    if let Some(path) = args.output.as_deref().filter(|_| !to_stdout) {
        writeln!(
            out,
            "wrote {} {} ({} spans, {} events, {}) to {}; read {} of {} ({})",
            stats.records,
            args.format.records(),
            stats.spans,
            stats.events,
            bytes(stats.bytes),
            path.display(),
            bytes(stats.read.bytes_read),
            bytes(stats.read.file_len),
            percent(stats.read.bytes_read, stats.read.file_len)
        )?;
    }
    Ok(())
}

/// Writes to a temporary name next to `path`, then renames it into place.
fn write_file(
    format: Format,
    trace: &TraceReader,
    path: &Path,
) -> Result<ExportStats, ExportError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let mut w = BufWriter::new(File::create(&tmp).map_err(ExportError::Write)?);
        let stats = format.write(trace, &mut w)?;
        w.into_inner()
            .map_err(|e| ExportError::Write(e.into_error()))?
            .sync_all()
            .map_err(ExportError::Write)?;
        std::fs::rename(&tmp, path).map_err(ExportError::Write)?;
        Ok(stats)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
