//! `bhtrace`: inspect, export and recover bhtrace traces.
//!
//! Every command opens a `.bht` envelope or a journal (`.bhtj`, converted
//! in memory). Exit codes: 0 success (also when stdout is closed early, as
//! by `head`), 2 bad input (missing, foreign, truncated or corrupt file,
//! unknown span id, bad arguments), 1 any other failure. The commands and
//! their `--json` keys are documented in `docs/cli.md`.

mod cmd;
mod input;
mod out;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use input::BadInput;
use out::Out;

/// Inspect, export and recover bhtrace traces (.bht envelopes and .bhtj journals).
#[derive(Debug, Parser)]
#[command(name = "bhtrace", version, max_term_width = 100)]
struct Cli {
    /// When to colour the output: on a terminal unless NO_COLOR is set
    /// (auto), always, or never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Per-service rollup, critical path, slowest spans, counts and bytes read.
    Summary(cmd::summary::Args),
    /// The span tree with durations, busy and self time and a timeline bar.
    Tree(cmd::tree::Args),
    /// The critical path of the slowest root, or of one span.
    CriticalPath(cmd::critical_path::Args),
    /// The longest spans.
    Slow(cmd::slow::Args),
    /// One span with every field, event, enter/exit interval and link.
    Show(cmd::show::Args),
    /// A filterable listing of spans.
    Spans(cmd::spans::Args),
    /// Events in time order with their span path, like a log viewer.
    Logs(cmd::logs::Args),
    /// Export to Chrome trace-event JSON, folded stacks or OTLP JSON lines.
    Export(cmd::export::Args),
    /// Convert a journal left by a crashed process into an envelope.
    Recover(cmd::recover::Args),
    /// Header, section sizes, counts and format version.
    Info(cmd::info::Args),
}

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        // One line, no backtrace: a panic here is a bug to report.
        let _ = writeln!(io::stderr(), "bhtrace: internal error: {info}");
    }));
    let cli = Cli::parse();
    let color = match cli.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => out::color_wanted(),
    };
    let mut out = Out::stdout(color);
    let result = run(cli.command, &mut out).and_then(|()| out.flush().map_err(Into::into));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e),
    }
}

fn run(command: Command, out: &mut Out) -> anyhow::Result<()> {
    match command {
        Command::Summary(a) => cmd::summary::run(a, out),
        Command::Tree(a) => cmd::tree::run(a, out),
        Command::CriticalPath(a) => cmd::critical_path::run(a, out),
        Command::Slow(a) => cmd::slow::run(a, out),
        Command::Show(a) => cmd::show::run(a, out),
        Command::Spans(a) => cmd::spans::run(a, out),
        Command::Logs(a) => cmd::logs::run(a, out),
        Command::Export(a) => cmd::export::run(a, out),
        Command::Recover(a) => cmd::recover::run(a, out),
        Command::Info(a) => cmd::info::run(a, out),
    }
}

/// Prints the error as one line and picks the exit code: 0 (silently) when
/// the reader of our stdout went away, 2 for bad input, 1 otherwise.
fn report(e: &anyhow::Error) -> ExitCode {
    let broken_pipe = e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    });
    if broken_pipe {
        return ExitCode::SUCCESS;
    }
    let _ = writeln!(io::stderr(), "bhtrace: {e:#}");
    if e.downcast_ref::<BadInput>().is_some() {
        ExitCode::from(2)
    } else {
        ExitCode::from(1)
    }
}
