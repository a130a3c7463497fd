//! `bhtrace info FILE`: header, section sizes, counts, format version.

use std::io::Write;
use std::path::PathBuf;

use bhtrace::ENVELOPE_VERSION;
use serde::Serialize;

use super::ReadJson;
use super::recover::{journal_line, stop_reason};
use crate::input::Input;
use crate::out::{Out, Style, bytes, dur, n, percent, utc};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A .bht envelope or a .bhtj journal.
    file: PathBuf,
    /// Also read the field names (every callsite's) and the whole payload,
    /// check their checksums and decode every block (open checks
    /// everything else).
    #[arg(long)]
    verify: bool,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct InfoJson {
    file: String,
    kind: &'static str,
    format_version: u32,
    writer_version: String,
    pid: u32,
    executable: String,
    service_name: Option<String>,
    wall_start_unix_ns: u64,
    end_ns: u64,
    spans: u32,
    traces: u32,
    events: u64,
    threads: Vec<ThreadJson>,
    callsites: u32,
    strings: u32,
    services: Vec<String>,
    records_dropped: u64,
    incomplete_spans: u32,
    orphan_records: u64,
    clean_shutdown: bool,
    journal_torn: bool,
    /// The envelope's length (converted in memory, for a journal).
    file_len: u64,
    sections: Vec<SectionJson>,
    read: ReadJson,
    /// Whether the field names and the payload were checked
    /// (`--verify`) and passed.
    verified: bool,
    /// How the journal was read, for a journal.
    journal: Option<JournalJson>,
}

#[derive(Serialize)]
struct ThreadJson {
    thread: u32,
    name: Option<String>,
}

#[derive(Serialize)]
struct SectionJson {
    name: &'static str,
    offset: u64,
    len: u64,
}

#[derive(Serialize)]
struct JournalJson {
    format_version: u32,
    file_len: u64,
    valid_bytes: u64,
    frames: u64,
    records: u64,
    torn_tail: bool,
    stopped_at: u64,
    stop_reason: Option<String>,
}

pub(crate) fn run(args: Args, out: &mut Out) -> anyhow::Result<()> {
    let input = Input::open(&args.file)?;
    let trace = &input.reader;
    let h = trace.header();
    let p = &h.process;
    let read = match args.verify {
        true => input.check(trace.verify())?,
        false => trace.open_stats(),
    };
    if args.json {
        out.json_pretty(&InfoJson {
            file: input.path.display().to_string(),
            kind: input.kind(),
            format_version: ENVELOPE_VERSION,
            writer_version: p.writer_version.clone(),
            pid: p.pid,
            executable: p.executable.clone(),
            service_name: p.service_name.clone(),
            wall_start_unix_ns: p.wall_start_unix_ns,
            end_ns: h.end_ns,
            spans: h.spans,
            traces: h.roots,
            events: h.events,
            threads: trace
                .threads()
                .into_iter()
                .map(|(thread, name)| ThreadJson {
                    thread,
                    name: name.map(str::to_owned),
                })
                .collect(),
            callsites: h.callsites,
            strings: h.strings,
            services: trace.services().into_iter().map(str::to_owned).collect(),
            records_dropped: h.records_dropped,
            incomplete_spans: h.incomplete_spans,
            orphan_records: h.orphan_records,
            clean_shutdown: h.clean_shutdown,
            journal_torn: h.journal_torn,
            file_len: read.file_len,
            sections: trace
                .sections()
                .into_iter()
                .map(|(name, offset, len)| SectionJson { name, offset, len })
                .collect(),
            read: read.into(),
            verified: args.verify,
            journal: input.journal.as_ref().map(|c| JournalJson {
                format_version: c.journal.version,
                file_len: c.journal.file_len,
                valid_bytes: c.journal.bytes,
                frames: c.journal.frames,
                records: c.journal.records,
                torn_tail: c.journal.torn_tail,
                stopped_at: c.journal.stopped_at,
                stop_reason: c.journal.stop_reason.as_ref().map(stop_reason),
            }),
        })?;
        return Ok(());
    }

    let mut row = |key: &str, value: String| writeln!(out, "{key:<12}{value}");
    match &input.journal {
        None => row(
            "file",
            format!(
                "{} (envelope, format version {ENVELOPE_VERSION}, {})",
                input.path.display(),
                bytes(read.file_len)
            ),
        )?,
        Some(c) => {
            row(
                "file",
                format!(
                    "{} (journal, format version {}, {}; converted in memory to a {} envelope)",
                    input.path.display(),
                    c.journal.version,
                    bytes(c.journal.file_len),
                    bytes(read.file_len)
                ),
            )?;
            row("journal", journal_line(&c.journal))?;
        }
    }
    row("writer", format!("bhtrace {}", p.writer_version))?;
    row("process", format!("pid {}, {}", p.pid, p.executable))?;
    row(
        "service",
        p.service_name
            .clone()
            .unwrap_or_else(|| "(not set)".to_owned()),
    )?;
    row("started", utc(p.wall_start_unix_ns))?;
    row("duration", dur(h.end_ns))?;
    row(
        "spans",
        format!(
            "{} in {}, {}",
            h.spans,
            n(h.roots, "trace"),
            n(h.events, "event")
        ),
    )?;
    row(
        "tables",
        format!("{}, {}", n(h.callsites, "callsite"), n(h.strings, "string")),
    )?;
    let threads: Vec<String> = trace
        .threads()
        .into_iter()
        .map(|(t, name)| match name {
            Some(n) => format!("{t} {n}"),
            None => t.to_string(),
        })
        .collect();
    row(
        "threads",
        format!("{}: {}", threads.len(), threads.join(", ")),
    )?;
    let services = trace.services();
    row(
        "services",
        format!("{}: {}", services.len(), services.join(", ")),
    )?;
    row("dropped", n(h.records_dropped, "record"))?;
    row("incomplete", n(h.incomplete_spans, "span"))?;
    row(
        "orphans",
        format!("{} of lost spans", n(h.orphan_records, "record")),
    )?;
    row(
        "shutdown",
        match (h.clean_shutdown, h.journal_torn) {
            (true, _) => "clean".to_owned(),
            (false, true) => "none: the journal was torn (the process died)".to_owned(),
            (false, false) => "none: the process stopped without finishing".to_owned(),
        },
    )?;

    writeln!(out)?;
    writeln!(
        out,
        "{}",
        out.paint(
            Style::Bold,
            format!(
                "{:<16} {:>10} {:>12} {:>7}",
                "SECTION", "OFFSET", "LENGTH", "SHARE"
            )
        )
    )?;
    for (name, offset, len) in trace.sections() {
        // The orphan events are the tail of the payload section, not a
        // section after it.
        let name = match name {
            "orphan events" => "└ orphan events".to_owned(),
            other => other.to_owned(),
        };
        writeln!(
            out,
            "{name:<16} {offset:>10} {:>12} {:>7}",
            bytes(len),
            percent(len, read.file_len)
        )?;
    }
    writeln!(out)?;
    if args.verify {
        writeln!(
            out,
            "field names and payload: checksums {}",
            out.paint(Style::Green, "ok")
        )?;
    }
    writeln!(
        out,
        "{} {} of {} ({}) in {} reads",
        if args.verify {
            "verify read"
        } else {
            "open read"
        },
        bytes(read.bytes_read),
        bytes(read.file_len),
        percent(read.bytes_read, read.file_len),
        read.reads
    )?;
    Ok(())
}
