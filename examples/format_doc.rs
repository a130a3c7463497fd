//! The two-span trace of the worked examples in `docs/format.md` (§3.4.4,
//! §3.5.2 and §4): a root span with a redacted field, a child with a
//! `service` and an ERROR event, an event in the root. Regenerate the
//! examples from its file when the envelope format changes:
//!
//! ```text
//! cargo run --release --example format_doc -- target/format_doc.bht
//! ```

use tracing_subscriber::prelude::*;

fn main() -> Result<(), bhtrace::Error> {
    let out = std::env::args_os()
        .nth(1)
        .map_or_else(|| "target/format_doc.bht".into(), std::path::PathBuf::from);
    let (layer, guard) = bhtrace::Builder::new(&out)
        .redact_fields(["secret"])
        .build()?;
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let root = tracing::info_span!("root", n = 5i64, secret = "hunter2");
        let _r = root.enter();
        {
            let child = tracing::info_span!("child", service = "db", ok = true);
            let _c = child.enter();
            tracing::error!(code = 7u64, "boom");
        }
        tracing::info!("done");
    });
    guard.finish()?;
    println!("{}", out.display());
    Ok(())
}
