//! `bhtrace recover JOURNAL [-o OUT]`: journal → envelope, with a progress
//! bar on a terminal.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use bhtrace::ConvertStats;
use bhtrace::journal::{RecoverStats, StopReason};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::input::bad;
use crate::out::{Out, Style, bytes, n};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The journal (.bhtj) left by the traced process.
    journal: PathBuf,
    /// The envelope to write (default: the journal's name with .bht).
    #[arg(long, short = 'o', value_name = "OUT")]
    output: Option<PathBuf>,
    /// Replace OUT if it exists.
    #[arg(long)]
    force: bool,
    /// Print what was recovered as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct RecoverJson {
    journal: String,
    envelope: String,
    spans: u32,
    traces: u32,
    events: u64,
    records: u64,
    incomplete_spans: u32,
    orphan_records: u64,
    records_dropped: u64,
    envelope_bytes: u64,
    journal_bytes: u64,
    journal_valid_bytes: u64,
    torn_tail: bool,
    stopped_at: u64,
    stop_reason: Option<String>,
}

/// Why reading a journal stopped, in words.
pub(crate) fn stop_reason(r: &StopReason) -> String {
    match r {
        StopReason::TornFrame { declared, present } => {
            format!("the last frame is torn ({present} of {declared} bytes present)")
        }
        StopReason::BadFrameLength(n) => format!("a frame declares an impossible length ({n})"),
        StopReason::Checksum { stored, computed } => format!(
            "a frame's checksum does not match (stored {stored:#010x}, computed {computed:#010x})"
        ),
        StopReason::BadRecord(what) => format!("a record does not decode: {what}"),
        other => format!("{other:?}"),
    }
}

/// How far the journal was read, in one line.
pub(crate) fn journal_line(j: &RecoverStats) -> String {
    match &j.stop_reason {
        _ if !j.torn_tail => format!(
            "whole: {}, {}",
            n(j.frames, "frame"),
            n(j.records, "record")
        ),
        Some(r) => format!(
            "{}, {}; stopped at byte {} of {}: {}",
            n(j.frames, "frame"),
            n(j.records, "record"),
            j.stopped_at,
            j.file_len,
            stop_reason(r)
        ),
        None => format!(
            "{}, {}; stopped at byte {} of {}",
            n(j.frames, "frame"),
            n(j.records, "record"),
            j.stopped_at,
            j.file_len
        ),
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

pub(crate) fn run(args: Args, out: &mut Out) -> anyhow::Result<()> {
    let journal = &args.journal;
    // A missing journal is the first thing to report, before the output.
    std::fs::metadata(journal).map_err(|source| {
        let path = journal.clone();
        bad(journal, bhtrace::Error::Io { path, source })
    })?;
    let target = args
        .output
        .clone()
        .unwrap_or_else(|| journal.with_extension("bht"));
    if same_file(journal, &target) {
        anyhow::bail!(
            "{}: the output would replace the journal itself; pass -o OUT",
            target.display()
        );
    }
    if target.exists() && !args.force {
        anyhow::bail!(
            "{}: already exists; pass --force to replace it",
            target.display()
        );
    }

    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(0);
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} recovering [{bar:40}] {bytes}/{total_bytes} ({eta})",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    let result = bhtrace::recover_with_progress(journal, &target, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    });
    bar.finish_and_clear();
    let stats: ConvertStats = result.map_err(|e| bad(journal, e))?;

    if args.json {
        let j = &stats.journal;
        out.json_pretty(&RecoverJson {
            journal: journal.display().to_string(),
            envelope: target.display().to_string(),
            spans: stats.spans,
            traces: stats.roots,
            events: stats.events,
            records: stats.records,
            incomplete_spans: stats.incomplete_spans,
            orphan_records: stats.orphan_records,
            records_dropped: stats.records_dropped,
            envelope_bytes: stats.envelope_bytes,
            journal_bytes: j.file_len,
            journal_valid_bytes: j.bytes,
            torn_tail: j.torn_tail,
            stopped_at: j.stopped_at,
            stop_reason: j.stop_reason.as_ref().map(stop_reason),
        })?;
        return Ok(());
    }
    writeln!(
        out,
        "{} {} → {} ({})",
        out.paint(Style::Bold, "recovered"),
        journal.display(),
        target.display(),
        bytes(stats.envelope_bytes)
    )?;
    writeln!(
        out,
        "  {} in {}, {}",
        n(stats.spans, "span"),
        n(stats.roots, "trace"),
        n(stats.events, "event")
    )?;
    if stats.incomplete_spans > 0 {
        writeln!(
            out,
            "  {} never closed: ended at the last time seen and marked incomplete",
            out.paint(Style::Yellow, n(stats.incomplete_spans, "span"))
        )?;
    }
    if stats.records_dropped > 0 || stats.orphan_records > 0 {
        writeln!(
            out,
            "  {} dropped by the capture, {} of lost spans",
            n(stats.records_dropped, "record"),
            n(stats.orphan_records, "record")
        )?;
    }
    let line = journal_line(&stats.journal);
    let line = if stats.journal.torn_tail {
        out.paint(Style::Yellow, line)
    } else {
        line
    };
    writeln!(out, "  journal {line}")?;
    Ok(())
}
