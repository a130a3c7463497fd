//! The app thread's cost of bhtrace in instructions, which, unlike time,
//! does not depend on what else the machine is doing.
//!
//! ```text
//! cargo build --release --example hotpath
//! valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file=cg.noop \
//!     target/release/examples/hotpath noop lifecycle 200000
//! valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file=cg.bht \
//!     target/release/examples/hotpath bhtrace lifecycle 200000
//! grep ^summary cg.noop-01 cg.bht-01     # thread 1 is the app thread
//! ```
//!
//! Divide each summary by the iteration count: instructions per span
//! lifecycle (new span with 3 fields, enter, one 3-field event, exit, close)
//! or per event (`event` instead of `lifecycle`: a 3-field event inside an
//! entered span). Without valgrind it prints wall-clock ns per iteration.
//!
//! The bhtrace figures also carry the one-time set-up (the writer, and the
//! clock's calibration, whose length varies from run to run): about 50
//! instructions per iteration at 200,000 iterations, give or take 30. To
//! compare two builds to the instruction, count only inside the loop:
//!
//! ```text
//! valgrind --tool=callgrind --separate-threads=yes --toggle-collect='hotpath::run' \
//!     --callgrind-out-file=cg.run target/release/examples/hotpath bhtrace event 200000
//! ```
//!
//! Build both sides of a comparison the same way: a build made with
//! `CARGO_PROFILE_RELEASE_DEBUG=line-tables-only` (for line-level
//! annotations) and a plain release build of the same code differed here by
//! 70 instructions per span lifecycle.

use std::time::Instant;

use tracing::{Subscriber, info, info_span};
use tracing_subscriber::Layer;
use tracing_subscriber::prelude::*;

struct Noop;
impl<S: Subscriber> Layer<S> for Noop {}

fn run(what: &str, n: u64) {
    let outer = info_span!("outer");
    let _o = (what == "event").then(|| outer.enter());
    for i in 0..n {
        if what == "event" {
            info!(a = i, b = "str", c = 1.5, "msg");
        } else {
            let span = info_span!("op", id = i, user = "alice", path = "/api/v1/items");
            let _e = span.enter();
            info!(a = i, b = "str", c = 1.5, "msg");
        }
    }
}

fn main() -> Result<(), bhtrace::Error> {
    let mut args = std::env::args().skip(1);
    let layer = args.next().unwrap_or_else(|| "bhtrace".into());
    let what = args.next().unwrap_or_else(|| "lifecycle".into());
    let n: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let t = Instant::now();
    if layer == "noop" {
        tracing::subscriber::with_default(tracing_subscriber::registry().with(Noop), || {
            run(&what, n)
        });
    } else {
        let path = std::env::temp_dir().join(format!("bhtrace-hotpath-{}.bht", std::process::id()));
        let (bht, guard) = bhtrace::Builder::new(&path).convert(false).build()?;
        tracing::subscriber::with_default(tracing_subscriber::registry().with(bht), || {
            run(&what, n)
        });
        let done = guard.finish()?;
        if let Some(j) = done.journal {
            let _ = std::fs::remove_file(j);
        }
    }
    println!(
        "{layer} {what}: {} ns per iteration",
        t.elapsed().as_nanos() / u128::from(n.max(1))
    );
    Ok(())
}
