//! The four workloads of issue 6, each returning how many operations it did
//! and how long the app thread(s) spent doing them.

use std::hint::black_box;
use std::thread;
use std::time::{Duration, Instant};

use tracing::{info, info_span};

use crate::checkout;
use crate::machine::thread_cpu_ns;

/// What a workload did and what it took.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    /// Spans, or events for the events workload.
    pub ops: u64,
    /// Wall time of the loop (for two threads: first spawn to join).
    pub wall: Duration,
    /// CPU time the app thread(s) spent in the loop, ns (0 if unknown).
    pub cpu_ns: u64,
}

/// Runs `f` and returns its CPU time on this thread, ns.
fn on_cpu(f: impl FnOnce()) -> u64 {
    let start = thread_cpu_ns();
    f();
    match (start, thread_cpu_ns()) {
        (Some(a), Some(b)) => b.saturating_sub(a),
        _ => 0,
    }
}

/// A workload: what the app does while a peer records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// Chains of three nested spans, each with one event inside.
    Spans,
    /// Events in one span.
    Events,
    /// Checkout requests of [`checkout::SPANS_PER_REQUEST`] spans.
    Checkout,
    /// The spans workload split across two threads.
    Threads,
}

/// Spans in the spans and threads workloads at scale 1.
const SPANS: f64 = 200_000.0;
/// Events in the events workload at scale 1.
const EVENTS: f64 = 1_000_000.0;
/// Requests in the checkout workload at scale 1.
const REQUESTS: f64 = 500.0;

impl Workload {
    pub const ALL: [Workload; 4] = [
        Workload::Spans,
        Workload::Events,
        Workload::Checkout,
        Workload::Threads,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::Spans => "spans",
            Workload::Events => "events",
            Workload::Checkout => "checkout",
            Workload::Threads => "threads",
        }
    }

    pub fn parse(s: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.name() == s)
    }

    /// What one operation is, for the table's legend.
    pub fn unit(self) -> &'static str {
        match self {
            Workload::Events => "event",
            _ => "span",
        }
    }

    /// Runs the workload at `scale` (1.0 = the sizes of issue 6) under the
    /// global subscriber.
    pub fn run(self, scale: f64) -> Run {
        match self {
            Workload::Spans => {
                let chains = chains(scale);
                let t = Instant::now();
                let cpu_ns = on_cpu(|| (0..chains).for_each(chain));
                Run {
                    ops: 3 * chains,
                    wall: t.elapsed(),
                    cpu_ns,
                }
            }
            Workload::Threads => {
                let chains = chains(scale);
                let half = chains / 2;
                let t = Instant::now();
                let other = thread::spawn(move || on_cpu(|| (half..chains).for_each(chain)));
                let mine = on_cpu(|| (0..half).for_each(chain));
                // A panic in the other thread is a bug of this harness.
                let theirs = other.join().expect("the second app thread panicked");
                Run {
                    ops: 3 * chains,
                    wall: t.elapsed(),
                    cpu_ns: mine + theirs,
                }
            }
            Workload::Events => {
                let n = (EVENTS * scale).round().max(1.0) as u64;
                let span = info_span!("batch", n);
                let _e = span.enter();
                let t = Instant::now();
                let cpu_ns = on_cpu(|| {
                    for i in 0..n {
                        info!(a = black_box(i), b = "str", c = 1.5, "msg");
                    }
                });
                Run {
                    ops: n,
                    wall: t.elapsed(),
                    cpu_ns,
                }
            }
            Workload::Checkout => {
                let n = (REQUESTS * scale).round().max(1.0) as u64;
                let t = Instant::now();
                let cpu_ns = on_cpu(|| (0..n).for_each(checkout::request));
                Run {
                    ops: n * checkout::SPANS_PER_REQUEST,
                    wall: t.elapsed(),
                    cpu_ns,
                }
            }
        }
    }
}

/// Chains of three spans making up about 200,000 × `scale` spans.
fn chains(scale: f64) -> u64 {
    (SPANS * scale / 3.0).round().max(2.0) as u64
}

/// Three nested spans; each is entered, holds one 3-field event, is exited
/// and closed.
fn chain(i: u64) {
    let outer = info_span!(
        "op",
        id = black_box(i),
        user = "alice",
        path = "/api/v1/items"
    );
    let _o = outer.enter();
    info!(a = i, b = "str", c = 1.5, "msg");
    let middle = info_span!("op", id = i, user = "alice", path = "/api/v1/items");
    let _m = middle.enter();
    info!(a = i, b = "str", c = 1.5, "msg");
    let inner = info_span!("op", id = i, user = "alice", path = "/api/v1/items");
    let _i = inner.enter();
    info!(a = i, b = "str", c = 1.5, "msg");
}
