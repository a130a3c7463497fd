//! Trace files are never written through a symbolic link: in a shared
//! directory a link planted at the journal's or the envelope's temporary
//! path would otherwise make the app truncate and fill a file of someone
//! else's choosing with its trace (which carries secrets).
//!
//! A link at the journal path makes `build()` return a typed I/O error
//! naming the journal, before any layer or writer thread exists; a link at
//! the envelope's temporary path is replaced, and the link's target is
//! left as it was.
#![cfg(unix)]

mod core_support;

use core_support::TempDir;
use tracing_subscriber::prelude::*;

#[test]
fn a_link_at_the_journal_path_is_refused_not_followed() {
    let dir = TempDir::new("reliability-symlink-journal");
    let envelope = dir.join("app.bht");
    let journal = bhtrace::journal::journal_path(&envelope);
    let victim = dir.join("victim.txt");
    std::fs::write(&victim, "precious").expect("victim");
    std::os::unix::fs::symlink(&victim, &journal).expect("plant a link");

    let err = bhtrace::Builder::new(&envelope)
        .build()
        .expect_err("a link at the journal path is refused");
    match &err {
        bhtrace::Error::Io { path, .. } => assert_eq!(path, &journal),
        other => panic!("expected Error::Io, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("app.bhtj") && message.contains("symbolic link"),
        "{message}"
    );
    assert_eq!(
        std::fs::read_to_string(&victim).expect("victim"),
        "precious"
    );
    assert!(!envelope.exists());
}

#[test]
fn a_link_at_the_journal_path_to_dev_full_is_refused_too() {
    let dir = TempDir::new("reliability-symlink-dev-full");
    let envelope = dir.join("app.bht");
    let journal = bhtrace::journal::journal_path(&envelope);
    std::os::unix::fs::symlink("/dev/full", &journal).expect("symlink to /dev/full");
    let err = bhtrace::Builder::new(&envelope)
        .build()
        .expect_err("a link at the journal path is refused");
    assert!(
        matches!(&err, bhtrace::Error::Io { path, .. } if path == &journal),
        "{err:?}"
    );
}

#[test]
fn a_link_at_the_envelope_temporary_path_is_replaced_not_followed() {
    let dir = TempDir::new("reliability-symlink-envelope");
    let envelope = dir.join("app.bht");
    let victim = dir.join("victim.txt");
    std::fs::write(&victim, "precious").expect("victim");
    let tmp = dir.join("app.bht.tmp");
    std::os::unix::fs::symlink(&victim, &tmp).expect("plant a link");

    let (layer, guard) = bhtrace::Builder::new(&envelope).build().expect("build");
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info_span!("request").in_scope(|| tracing::info!("inside"));
    });
    guard.finish().expect("finish");

    assert_eq!(
        std::fs::read_to_string(&victim).expect("victim"),
        "precious"
    );
    assert!(!tmp.exists(), "the temporary name is gone after the rename");
    let trace = bhtrace::TraceReader::open(&envelope).expect("open");
    assert_eq!(trace.spans_named("request").0.len(), 1);
    assert!(
        !std::fs::symlink_metadata(&envelope)
            .expect("envelope")
            .file_type()
            .is_symlink()
    );
}
