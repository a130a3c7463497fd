//! The markdown report: the side-by-side table of medians, bhtrace's ratios,
//! the targets of issue 6 this harness can check, and the writer's numbers.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::checkout;
use crate::child::Sample;
use crate::machine;
use crate::peers::Peer;
use crate::workloads::Workload;

/// Everything a report is made from.
pub struct Report<'a> {
    pub peers: &'a [Peer],
    pub workloads: &'a [Workload],
    /// Samples by (index in `peers`, index in `workloads`).
    pub samples: &'a BTreeMap<(usize, usize), Vec<Sample>>,
    pub runs: usize,
    pub scale: f64,
    pub load_before: String,
    pub load_after: String,
    /// What one `Instant::now()` cost on this machine, ns.
    pub clock_ns: f64,
    pub failures: &'a [String],
}

/// The medians of one (peer, workload) cell.
#[derive(Debug, Clone, Copy)]
struct Cell {
    ns: f64,
    cpu_ns: f64,
    ns_min: f64,
    ns_max: f64,
    total_s: f64,
    finish_s: f64,
    bytes: f64,
    rss_mb: f64,
    cpu_s: f64,
    runs: usize,
}

/// Targets of issue 6: app-thread ns per op, and envelope bytes per op.
fn target_ns(w: Workload) -> f64 {
    match w {
        Workload::Spans => 350.0,
        Workload::Events => 60.0,
        Workload::Checkout => 500.0,
        Workload::Threads => 300.0,
    }
}

fn target_bytes(w: Workload) -> Option<f64> {
    match w {
        Workload::Spans => Some(100.0),
        Workload::Events => Some(40.0),
        Workload::Checkout => Some(350.0),
        Workload::Threads => None,
    }
}

const TARGET_RSS_MB: f64 = 64.0;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn ns(x: f64) -> String {
    if x < 100.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.0}")
    }
}

fn secs(x: f64) -> String {
    if x < 0.1 {
        format!("{x:.3}")
    } else {
        format!("{x:.2}")
    }
}

fn ratio(x: f64) -> String {
    if !x.is_finite() {
        "–".into()
    } else if x < 10.0 {
        format!("{x:.1}×")
    } else {
        format!("{x:.0}×")
    }
}

/// `f(x)`, or a dash when there is no value.
fn shown(x: f64, f: impl Fn(f64) -> String) -> String {
    if x.is_finite() { f(x) } else { "–".into() }
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "**not met**" }
}

impl Report<'_> {
    fn cell(&self, p: Peer, w: Workload) -> Option<Cell> {
        let pi = self.peers.iter().position(|&x| x == p)?;
        let wi = self.workloads.iter().position(|&x| x == w)?;
        let s = self.samples.get(&(pi, wi)).filter(|s| !s.is_empty())?;
        let of = |f: &dyn Fn(&Sample) -> f64| median(s.iter().map(f).collect());
        let nss: Vec<f64> = s.iter().map(Sample::app_ns_per_op).collect();
        Some(Cell {
            ns: median(nss.clone()),
            cpu_ns: of(&Sample::app_cpu_ns_per_op),
            ns_min: nss.iter().copied().fold(f64::INFINITY, f64::min),
            ns_max: nss.iter().copied().fold(0.0, f64::max),
            total_s: of(&Sample::total_s),
            finish_s: of(&|s| s.finish_ns as f64 / 1e9),
            bytes: of(&Sample::bytes_per_op),
            rss_mb: of(&Sample::rss_mib),
            cpu_s: of(&|s| s.cpu_ms as f64 / 1e3),
            runs: s.len(),
        })
    }

    fn samples_of(&self, p: Peer, w: Workload) -> &[Sample] {
        let pi = self.peers.iter().position(|&x| x == p);
        let wi = self.workloads.iter().position(|&x| x == w);
        match (pi, wi) {
            (Some(pi), Some(wi)) => self.samples.get(&(pi, wi)).map_or(&[], Vec::as_slice),
            _ => &[],
        }
    }

    fn table_peers(&self) -> Vec<Peer> {
        Peer::TABLE
            .into_iter()
            .filter(|p| self.peers.contains(p))
            .collect()
    }

    pub fn render(&self) -> String {
        let mut o = String::new();
        self.header(&mut o);
        self.main_table(&mut o);
        self.ratios(&mut o);
        self.cpu_table(&mut o);
        self.targets(&mut o);
        self.writer(&mut o);
        self.spread(&mut o);
        self.settings(&mut o);
        if !self.failures.is_empty() {
            o.push_str("\n## Runs that failed\n\n");
            for f in self.failures {
                let _ = writeln!(o, "- {f}");
            }
        }
        o
    }

    fn header(&self, o: &mut String) {
        let cores = machine::nproc();
        let _ = writeln!(o, "# bhtrace and its peers, side by side\n");
        let _ = writeln!(
            o,
            "`cargo run --release --manifest-path benches/peers/Cargo.toml` on {}.\n",
            machine::now_utc()
        );
        let _ = writeln!(
            o,
            "- Machine: {cores} CPUs (nproc), {}; one `Instant::now()` costs {:.0} ns here.\n- Load average (1, 5, 15 min): {} before, {} after.\n- {} run(s) of every (peer, workload) pair, each in its own process, round-robin; medians shown. Scale {}: {} requests of {} spans and {} events in checkout.",
            machine::cpu_model(),
            self.clock_ns,
            self.load_before,
            self.load_after,
            self.runs,
            self.scale,
            (500.0 * self.scale).round().max(1.0),
            checkout::SPANS_PER_REQUEST,
            checkout::EVENTS_PER_REQUEST
        );
        let busy = [&self.load_before, &self.load_after].iter().any(|l| {
            l.split_whitespace()
                .next()
                .and_then(|x| x.parse::<f64>().ok())
                .is_some_and(|x| x > 0.5 * cores as f64)
        });
        if busy {
            let _ = writeln!(
                o,
                "\n> **Noisy figures.** Other work was running on this machine (the load average \
                 was above half the number of CPUs), so the times are inflated and vary from run \
                 to run; bytes per op are exact. Re-run on a quiet machine before quoting times."
            );
        }
    }

    fn main_table(&self, o: &mut String) {
        let _ = writeln!(
            o,
            "\n## Side by side\n\nCells: app-thread ns per span (per event for events) / total s \
             including set-up, flush and finish (bhtrace: `guard.finish()` with the conversion \
             to the envelope) / bytes written per op / peak RSS MB.\n"
        );
        self.workload_header(o);
        for p in self.table_peers() {
            let _ = write!(o, "| {} |", p.label());
            for &w in self.workloads {
                match self.cell(p, w) {
                    Some(c) => {
                        let _ = write!(
                            o,
                            " {} / {} s / {:.0} B / {:.0} MB |",
                            ns(c.ns),
                            secs(c.total_s),
                            c.bytes,
                            c.rss_mb
                        );
                    }
                    None => o.push_str(" – |"),
                }
            }
            o.push('\n');
        }
    }

    fn workload_header(&self, o: &mut String) {
        o.push_str("| |");
        for &w in self.workloads {
            let ops = self
                .workloads
                .iter()
                .position(|&x| x == w)
                .and_then(|wi| {
                    self.samples
                        .iter()
                        .find(|((_, i), s)| *i == wi && !s.is_empty())
                })
                .map(|(_, s)| s[0].ops);
            match ops {
                Some(n) => {
                    let _ = write!(o, " {} ({n} {}s) |", w.name(), w.unit());
                }
                None => {
                    let _ = write!(o, " {} |", w.name());
                }
            }
        }
        o.push_str("\n|---|");
        for _ in self.workloads {
            o.push_str("---|");
        }
        o.push('\n');
    }

    fn ratios(&self, o: &mut String) {
        if !self.peers.contains(&Peer::Bhtrace) {
            return;
        }
        let _ = writeln!(
            o,
            "\n## bhtrace's ratios\n\nEach peer's median divided by bhtrace's: app-thread time / \
             total time / bytes per op / peak RSS (above 1× means bhtrace is cheaper). The last \
             row is bhtrace's app-thread time divided by the floor's.\n"
        );
        self.workload_header(o);
        for p in self.table_peers() {
            if matches!(p, Peer::Floor | Peer::Bhtrace) {
                continue;
            }
            let _ = write!(o, "| {} |", p.label());
            for &w in self.workloads {
                match (self.cell(p, w), self.cell(Peer::Bhtrace, w)) {
                    (Some(c), Some(b)) => {
                        let _ = write!(
                            o,
                            " {} / {} / {} / {} |",
                            ratio(c.ns / b.ns),
                            ratio(c.total_s / b.total_s),
                            ratio(c.bytes / b.bytes),
                            ratio(c.rss_mb / b.rss_mb)
                        );
                    }
                    _ => o.push_str(" – |"),
                }
            }
            o.push('\n');
        }
        if self.peers.contains(&Peer::Floor) {
            o.push_str("| bhtrace ÷ floor, app thread |");
            for &w in self.workloads {
                match (self.cell(Peer::Bhtrace, w), self.cell(Peer::Floor, w)) {
                    (Some(b), Some(f)) => {
                        let _ = write!(o, " {} |", ratio(b.ns / f.ns));
                    }
                    _ => o.push_str(" – |"),
                }
            }
            o.push('\n');
        }
    }

    fn cpu_table(&self, o: &mut String) {
        let _ = writeln!(
            o,
            "\n## App-thread CPU time\n\nThe app thread(s)' on-CPU ns per op during the loop \
             (`CLOCK_THREAD_CPUTIME_ID`), median: what the loop cost without the time spent \
             descheduled by other work or blocked. Less sensitive to a busy machine than the \
             wall times above. In brackets: the peer's CPU time ÷ bhtrace's.\n"
        );
        self.workload_header(o);
        for p in self.table_peers() {
            let _ = write!(o, "| {} |", p.label());
            for &w in self.workloads {
                match (self.cell(p, w), self.cell(Peer::Bhtrace, w)) {
                    (Some(c), Some(b)) if p != Peer::Bhtrace => {
                        let _ = write!(o, " {} ({}) |", ns(c.cpu_ns), ratio(c.cpu_ns / b.cpu_ns));
                    }
                    (Some(c), _) => {
                        let _ = write!(o, " {} |", ns(c.cpu_ns));
                    }
                    _ => o.push_str(" – |"),
                }
            }
            o.push('\n');
        }
    }

    fn targets(&self, o: &mut String) {
        if !self.peers.contains(&Peer::Bhtrace) {
            return;
        }
        let _ = writeln!(
            o,
            "\n## Targets of issue 6 this harness checks\n\n\"Recording peers\" are the ones \
             that record fields: tracing-chrome, fmt JSON, entrace_core (tracing-flame records \
             neither fields nor events; the issue's own \"spans: 0.18 s\" is a third of \
             entrace_core's time, not of tracing-flame's).\n\n| target | workload | bhtrace | \
             bound | |\n|---|---|---|---|---|"
        );
        let recording: Vec<Peer> = self
            .table_peers()
            .into_iter()
            .filter(|p| p.records_fields())
            .collect();
        for &w in self.workloads {
            let Some(b) = self.cell(Peer::Bhtrace, w) else {
                continue;
            };
            let name = w.name();
            let t = target_ns(w);
            let _ = writeln!(
                o,
                "| app thread ns per {} | {name} | {} | ≤ {t:.0} | {} |",
                w.unit(),
                ns(b.ns),
                met(b.ns <= t)
            );
            let peer_cells: Vec<(Peer, Cell)> = recording
                .iter()
                .filter_map(|&p| Some((p, self.cell(p, w)?)))
                .collect();
            if let Some((p, c)) = peer_cells.iter().min_by(|a, b| a.1.ns.total_cmp(&b.1.ns)) {
                let r = c.ns / b.ns;
                let _ = writeln!(
                    o,
                    "| ≥ 5× faster on the app thread than every recording peer | {name} | {} (vs {}) | ≥ 5× | {} |",
                    ratio(r),
                    p.name(),
                    met(r >= 5.0)
                );
            }
            if let Some(f) = self.cell(Peer::Floor, w) {
                let r = b.ns / f.ns;
                let _ = writeln!(
                    o,
                    "| within about 3× of the floor | {name} | {} | ≤ 3× | {} |",
                    ratio(r),
                    met(r <= 3.0)
                );
            }
            if let Some((p, c)) = peer_cells
                .iter()
                .min_by(|a, b| a.1.total_s.total_cmp(&b.1.total_s))
            {
                let bound = c.total_s / 3.0;
                let _ = writeln!(
                    o,
                    "| total time ≤ ⅓ of the fastest recording peer's | {name} | {} s | ≤ {} s (⅓ of {}) | {} |",
                    secs(b.total_s),
                    secs(bound),
                    p.name(),
                    met(b.total_s <= bound)
                );
            }
            if let Some(tb) = target_bytes(w) {
                let _ = writeln!(
                    o,
                    "| envelope bytes per {} | {name} | {:.0} | ≤ {tb:.0} | {} |",
                    w.unit(),
                    b.bytes,
                    met(b.bytes <= tb)
                );
            }
            if let Some((p, c)) = peer_cells
                .iter()
                .min_by(|a, b| a.1.bytes.total_cmp(&b.1.bytes))
            {
                let _ = writeln!(
                    o,
                    "| smaller file than every recording peer | {name} | {:.0} B (smallest: {} {:.0} B) | < | {} |",
                    b.bytes,
                    p.name(),
                    c.bytes,
                    met(b.bytes < c.bytes)
                );
            }
            let _ = writeln!(
                o,
                "| peak RSS | {name} | {:.0} MB | ≤ {TARGET_RSS_MB:.0} MB | {} |",
                b.rss_mb,
                met(b.rss_mb <= TARGET_RSS_MB)
            );
        }
        let _ = writeln!(
            o,
            "\nNot measured here: the 1M-span conversion (examples/million.rs), reading \
             (the reader bench)."
        );
    }

    fn writer(&self, o: &mut String) {
        if !self.peers.contains(&Peer::BhtraceJournal) && !self.peers.contains(&Peer::BhtraceLossy)
        {
            return;
        }
        let _ = writeln!(
            o,
            "\n## The writer: throughput, and whether the app ever waited for it\n\n\
             bhtrace with the conversion off (`bhtrace-journal`, lossless as by default, and \
             `bhtrace-lossy`). *Records/s* = records written to the journal ÷ (loop + drain at \
             `finish()`): the rate the app produced, unless the writer fell behind. *Writer CPU* \
             is the writer thread's own CPU time per record (its schedstat), so *capacity* is \
             what it sustains on a core of its own; *run-queue wait* is how long it was ready \
             to run but had no CPU. A lossy run drops a batch exactly when it finds the channel \
             full, which is when a lossless run blocks the app thread: a lossy run with no drops \
             is one where the writer never held the app up. Medians, except the drops (every \
             run).\n\n\
             | workload | records | records/s | journal MB/s | journal B/op | drain after the loop \
             | writer CPU ns/record | capacity, records/s per core | writer run-queue wait | app ns \
             lossless | app ns lossy | records dropped by each lossy run |\n\
             |---|---|---|---|---|---|---|---|---|---|---|---|"
        );
        for &w in self.workloads {
            let js = self.samples_of(Peer::BhtraceJournal, w);
            let ls = self.samples_of(Peer::BhtraceLossy, w);
            // The median over lossless runs of `f`, where it is defined.
            let med =
                |f: &dyn Fn(&Sample) -> Option<f64>| median(js.iter().filter_map(f).collect());
            let ext = |s: &Sample, k: &str| s.extra.get(k).map(|&v| v as f64);
            let busy_s = |s: &Sample| (s.app_ns + s.finish_ns) as f64 / 1e9;
            let records = med(&|s| ext(s, "records_written"));
            let rate = med(&|s| Some(ext(s, "records_written")? / busy_s(s)));
            let mbs = med(&|s| Some(ext(s, "journal_bytes")? / 1e6 / busy_s(s)));
            let cpu = med(&|s| {
                let c = ext(s, "writer_cpu_ns")?;
                (c > 0.0).then_some(c / ext(s, "records_written")?.max(1.0))
            });
            let runq = med(&|s| ext(s, "writer_runq_ns"));
            let jc = self.cell(Peer::BhtraceJournal, w);
            let lc = self.cell(Peer::BhtraceLossy, w);
            let dropped: Vec<String> = ls
                .iter()
                .filter_map(|s| s.extra.get("records_dropped").map(u64::to_string))
                .collect();
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                w.name(),
                shown(records, |x| format!("{x:.0}")),
                shown(rate, |x| format!("{:.2} M", x / 1e6)),
                shown(mbs, |x| format!("{x:.0}")),
                jc.map_or("–".into(), |c| format!("{:.0}", c.bytes)),
                jc.map_or("–".into(), |c| format!("{:.1} ms", c.finish_s * 1e3)),
                shown(cpu, |x| format!("{x:.0}")),
                shown(cpu, |x| format!("{:.0} M", 1e3 / x)),
                shown(runq, |x| format!("{:.0} ms", x / 1e6)),
                jc.map_or("–".into(), |c| ns(c.ns)),
                lc.map_or("–".into(), |c| ns(c.ns)),
                if dropped.is_empty() {
                    "–".into()
                } else {
                    dropped.join(", ")
                },
            );
        }
    }

    fn spread(&self, o: &mut String) {
        let _ = writeln!(
            o,
            "\n## Spread and CPU\n\nApp-thread ns per op, min – median – max over the runs, \
             then the process's CPU seconds (all threads; median) and the flush/finish time \
             alone (median).\n"
        );
        self.workload_header(o);
        for p in Peer::ALL.into_iter().filter(|p| self.peers.contains(p)) {
            let _ = write!(o, "| {} |", p.label());
            for &w in self.workloads {
                match self.cell(p, w) {
                    Some(c) => {
                        let _ = write!(
                            o,
                            " {} – {} – {} ns; cpu {} s; finish {} s; {} runs |",
                            ns(c.ns_min),
                            ns(c.ns),
                            ns(c.ns_max),
                            secs(c.cpu_s),
                            secs(c.finish_s),
                            c.runs
                        );
                    }
                    None => o.push_str(" – |"),
                }
            }
            o.push('\n');
        }
    }

    fn settings(&self, o: &mut String) {
        o.push_str(
            "\n## How each peer is set up\n\n\
             Every peer is `tracing_subscriber::registry().with(layer)` installed with \
             `set_global_default`, in a fresh process, writing into its own folder in the temp \
             directory; bytes are those of every file left there after it finished.\n\n\
             - floor: a `Layer` with no methods.\n\
             - bhtrace: `Builder::new(path).build()` (the defaults: lossless, 16 KiB batches, 256 in flight); \
             `guard.finish()` drains the writer and converts the journal into the envelope; the \
             journal is removed, the envelope counted.\n\
             - tracing-chrome: `ChromeLayerBuilder::new().file(..).include_args(true)`; the \
             `FlushGuard` is dropped.\n\
             - tracing-flame: `FlameLayer::with_file(..)`; `guard.flush()`.\n\
             - fmt JSON: `fmt::layer().json().with_span_events(FmtSpan::CLOSE)` into \
             `NonBlockingBuilder::default().lossy(false)` over a `File` (lossless like bhtrace; \
             the default is lossy); the `WorkerGuard` is dropped.\n\
             - entrace_core: `ETBuilder::from_file(..)` (IET temp file converted to ET when the \
             guard drops).\n",
        );
    }
}
