//! Writes the seed corpora for the fuzz targets from real traces recorded
//! by the layer: `cargo run --example seed -- <corpus dir> [target]` creates
//! `<dir>/envelope/` and `<dir>/journal/` (or only the named target's).
//! The seeds are written in the format this build writes, over any seeds
//! of the same names already there.
//!
//! Each file is stored twice, behind the mode byte the targets read first
//! (0: checksums fixed up, 1: bytes as is).

use std::path::Path;

use tracing_subscriber::prelude::*;

/// Records `body` into an envelope (journal kept, a frame per flush) and
/// returns (envelope bytes, journal bytes).
fn record(dir: &Path, name: &str, body: impl FnOnce(&bhtrace::Guard)) -> (Vec<u8>, Vec<u8>) {
    let path = dir.join(format!("{name}.bht"));
    let (layer, guard) = bhtrace::Builder::new(&path)
        .keep_journal(true)
        .service_name("seed")
        .build()
        .expect("build the layer");
    let journal = guard.journal_path().expect("journal path").to_owned();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || body(&guard));
    guard.finish().expect("finish the trace");
    let out = (
        std::fs::read(&path).expect("read the envelope"),
        std::fs::read(&journal).expect("read the journal"),
    );
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(journal);
    out
}

fn save(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).expect("create the corpus folder");
    for mode in [0u8, 1] {
        let mut b = vec![mode];
        b.extend_from_slice(bytes);
        std::fs::write(dir.join(format!("{name}-{mode}")), b).expect("write a seed");
    }
}

fn main() {
    let corpus = std::env::args_os()
        .nth(1)
        .map(std::path::PathBuf::from)
        .expect("usage: seed <corpus dir> [envelope|journal]");
    let only = std::env::args().nth(2);
    let wanted = |target: &str| only.as_deref().is_none_or(|o| o == target);
    let scratch = std::env::temp_dir().join(format!("bhtrace-fuzz-seed-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("create the scratch folder");

    let traces = [
        (
            "one-span",
            record(&scratch, "one", |_| {
                tracing::info_span!("root").in_scope(|| tracing::info!(n = 1, "hello"));
            }),
        ),
        (
            "services",
            record(&scratch, "services", |guard| {
                let root = tracing::info_span!("request", service = "api", user = "ada");
                let _r = root.enter();
                tracing::info!(parent: None, "outside every span");
                for i in 0..3u64 {
                    let q = tracing::info_span!(target: "db::pool", "query", i, sql = "select 1");
                    q.follows_from(&root);
                    q.in_scope(|| tracing::warn!(i, ok = true, ratio = 0.5, "slow"));
                    let _ = guard.flush(); // a frame per query
                }
                tracing::error!(code = -7i64, big = u128::MAX, bytes = ?[1u8, 2], "failed");
                root.record("user", "grace");
                std::thread::scope(|s| {
                    s.spawn(|| tracing::info_span!(parent: &root, "worker").in_scope(|| {}));
                });
            }),
        ),
        (
            "incomplete",
            record(&scratch, "incomplete", |_| {
                let open = tracing::info_span!("never_closed", error = true);
                let entered = open.clone();
                std::mem::forget(entered.entered());
                tracing::info_span!("child").in_scope(|| {});
                std::mem::forget(open);
            }),
        ),
    ];
    for (name, (envelope, journal)) in &traces {
        if wanted("envelope") {
            save(&corpus.join("envelope"), name, envelope);
        }
        if wanted("journal") {
            save(&corpus.join("journal"), name, journal);
            // A journal cut inside its last frame, as a killed process leaves it.
            save(
                &corpus.join("journal"),
                &format!("{name}-torn"),
                &journal[..journal.len() - 3],
            );
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    println!("seeds written to {}", corpus.display());
}
