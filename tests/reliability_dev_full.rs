//! A journal that cannot take a single byte — its path leads to
//! `/dev/full`, where every write fails with ENOSPC — makes `build()`
//! return a typed I/O error naming the journal, before any layer or writer
//! thread exists. Nothing panics and no envelope appears.
#![cfg(target_os = "linux")]

mod core_support;

use core_support::TempDir;

const ENOSPC: i32 = 28;

#[test]
fn a_journal_on_dev_full_is_a_typed_error_from_build() {
    let dir = TempDir::new("reliability-dev-full");
    let envelope = dir.join("app.bht");
    let journal = bhtrace::journal::journal_path(&envelope);
    // The journal's path is derived from the envelope's: point it at the
    // full device.
    std::os::unix::fs::symlink("/dev/full", &journal).expect("symlink to /dev/full");

    let err = bhtrace::Builder::new(&envelope)
        .build()
        .expect_err("nothing can be written to /dev/full");
    match &err {
        bhtrace::Error::Io { path, source } => {
            assert_eq!(path, &journal);
            assert_eq!(source.raw_os_error(), Some(ENOSPC), "{source:?}");
        }
        other => panic!("expected Error::Io, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains("app.bhtj"), "{message}");
    assert!(!envelope.exists());
}
