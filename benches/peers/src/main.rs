//! bhtrace side by side with its peers (issue 6).
//!
//! ```text
//! export CARGO_TARGET_DIR=...   # optional
//! cargo run --release --manifest-path benches/peers/Cargo.toml [-- OPTIONS]
//! ```
//!
//! The parent runs every (peer, workload) pair in a child process of its own
//! (this binary again, with `child PEER WORKLOAD DIR SCALE`), a few times,
//! and prints the medians as a markdown table that it also writes to
//! `benches/peers/RESULTS.md`. See README.md for what is measured.

mod checkout;
mod child;
mod machine;
mod peers;
mod report;
mod workloads;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

use peers::Peer;
use workloads::Workload;

const USAGE: &str = "\
usage: bhtrace-peers [--runs N] [--scale X] [--peers a,b,..] [--workloads a,b,..] [--out FILE | --no-write]
       bhtrace-peers child PEER WORKLOAD DIR SCALE

  --runs N        runs of every (peer, workload) pair; the tables show medians (default 3)
  --scale X       workload size relative to issue 6 (default 1.0 = 200k spans, 1M events, 500 requests)
  --peers         any of: floor,bhtrace,chrome,flame,fmt-json,entrace,bhtrace-journal,bhtrace-lossy (default all)
  --workloads     any of: spans,events,checkout,threads (default all)
  --out FILE      where to write the report (default benches/peers/RESULTS.md)
  --no-write      print the report only";

/// The options of a measurement run.
#[derive(Debug)]
struct Options {
    runs: usize,
    scale: f64,
    peers: Vec<Peer>,
    workloads: Vec<Workload>,
    out: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("child") {
        return match child::main(&args[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("child: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let opts = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut opts = Options {
        runs: 3,
        scale: 1.0,
        peers: Peer::ALL.to_vec(),
        workloads: Workload::ALL.to_vec(),
        out: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("RESULTS.md")),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--runs" => {
                opts.runs = value()?
                    .parse()
                    .map_err(|_| "--runs takes a whole number".to_string())?;
                if opts.runs == 0 {
                    return Err("--runs must be at least 1".into());
                }
            }
            "--scale" => {
                opts.scale = value()?
                    .parse()
                    .map_err(|_| "--scale takes a number".to_string())?;
                if !(opts.scale > 0.0 && opts.scale <= 100.0) {
                    return Err("--scale must be in (0, 100]".into());
                }
            }
            "--peers" => {
                opts.peers = value()?
                    .split(',')
                    .map(|s| Peer::parse(s).ok_or_else(|| format!("unknown peer {s}")))
                    .collect::<Result<_, _>>()?;
            }
            "--workloads" => {
                opts.workloads = value()?
                    .split(',')
                    .map(|s| Workload::parse(s).ok_or_else(|| format!("unknown workload {s}")))
                    .collect::<Result<_, _>>()?;
            }
            "--out" => opts.out = Some(PathBuf::from(value()?)),
            "--no-write" => opts.out = None,
            "-h" | "--help" => return Err("help".into()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(opts)
}

/// Runs every pair `opts.runs` times, round-robin so that a burst of load on
/// the machine hits all peers alike, then reports.
fn run(opts: &Options) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let base = std::env::temp_dir().join(format!("bhtrace-peers-{}", std::process::id()));
    let load_before = machine::loadavg();
    let clock_ns = machine::clock_read_ns();
    let mut samples: BTreeMap<(usize, usize), Vec<child::Sample>> = BTreeMap::new();
    let mut failures = Vec::new();
    let total = opts.runs * opts.workloads.len() * opts.peers.len();
    let mut done = 0;
    for run in 0..opts.runs {
        for (wi, &w) in opts.workloads.iter().enumerate() {
            for (pi, &p) in opts.peers.iter().enumerate() {
                done += 1;
                let dir = base.join(format!("{}-{}-{run}", p.name(), w.name()));
                let out = Command::new(&exe)
                    .args(["child", p.name(), w.name()])
                    .arg(&dir)
                    .arg(opts.scale.to_string())
                    .output()
                    .map_err(|e| format!("cannot start a child: {e}"))?;
                let _ = std::fs::remove_dir_all(&dir);
                let stdout = String::from_utf8_lossy(&out.stdout);
                match child::Sample::parse(&stdout) {
                    Some(s) if out.status.success() => {
                        eprintln!(
                            "[{done}/{total}] {:<16} {:<9} {}",
                            p.name(),
                            w.name(),
                            s.brief()
                        );
                        samples.entry((pi, wi)).or_default().push(s);
                    }
                    _ => {
                        let why = format!(
                            "{} {} run {run}: {} {}",
                            p.name(),
                            w.name(),
                            out.status,
                            String::from_utf8_lossy(&out.stderr).trim()
                        );
                        eprintln!("[{done}/{total}] FAILED {why}");
                        failures.push(why);
                    }
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&base);
    let report = report::Report {
        peers: &opts.peers,
        workloads: &opts.workloads,
        samples: &samples,
        runs: opts.runs,
        scale: opts.scale,
        load_before,
        load_after: machine::loadavg(),
        clock_ns,
        failures: &failures,
    }
    .render();
    println!("{report}");
    if let Some(path) = &opts.out {
        std::fs::write(path, &report).map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!("written to {}", path.display());
    }
    Ok(())
}
