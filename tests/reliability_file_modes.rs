//! Traces carry secrets: on Unix the journal (while it is written and when
//! kept), the envelope, and an envelope written by `recover`, are readable
//! and writable by their owner only (mode 0600) — also when a file of that
//! name was already there with wider permissions.
#![cfg(unix)]

mod core_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use core_support::TempDir;
use tracing_subscriber::prelude::*;

/// The permission bits, in octal.
fn mode(path: &Path) -> String {
    let m = std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode();
    format!("{:o}", m & 0o777)
}

fn trace_into(path: &Path, stale: bool) {
    let journal = bhtrace::journal::journal_path(path);
    if stale {
        // Left by an earlier run, readable by everyone.
        for p in [path, journal.as_path(), &path.with_extension("bht.tmp")] {
            std::fs::write(p, b"stale").unwrap();
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
    let (layer, guard) = bhtrace::Builder::new(path)
        .keep_journal(true)
        .build()
        .unwrap();
    assert_eq!(guard.journal_path(), Some(journal.as_path()));
    assert_eq!(
        mode(&journal),
        "600",
        "journal while recording (stale: {stale})"
    );
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info_span!("login", password = "hunter2").in_scope(|| {});
    });
    guard.finish().unwrap();
    assert_eq!(mode(path), "600", "envelope (stale: {stale})");
    assert_eq!(mode(&journal), "600", "kept journal (stale: {stale})");

    let recovered = path.with_extension("recovered.bht");
    if stale {
        std::fs::write(&recovered, b"stale").unwrap();
        std::fs::set_permissions(&recovered, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    bhtrace::recover(&journal, &recovered).unwrap();
    assert_eq!(
        mode(&recovered),
        "600",
        "recovered envelope (stale: {stale})"
    );
}

#[test]
fn trace_files_are_readable_by_their_owner_only() {
    let dir = TempDir::new("reliability-file-modes");
    trace_into(&dir.join("fresh.bht"), false);
    trace_into(&dir.join("stale.bht"), true);
}
