#![cfg(feature = "export")]
//! `Builder::redact_fields`: the values of the named fields — on spans, on
//! events, recorded later with `span.record`, formatted with `?` — are
//! replaced by `[redacted]` on the app thread, so the secret is in no file
//! and no output: not in the journal, not in the envelope, not in any
//! export (Chrome JSON, folded stacks, OTLP). A redacted value's `Debug` is
//! never even called. Other fields keep their values.

mod core_support;

use bhtrace::{TraceReader, Value};
use core_support::TempDir;
use tracing_subscriber::prelude::*;

const SECRET: &[u8] = b"SECRET";

/// Panics if formatted: a redacted value must not be.
struct Credentials;

impl std::fmt::Debug for Credentials {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        panic!("a redacted value was formatted");
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn redacted_fields_reach_no_file_and_no_export() {
    let dir = TempDir::new("reliability-redaction");
    let path = dir.join("r.bht");
    let (layer, guard) = bhtrace::Builder::new(&path)
        .redact_fields(["password", "authorization", "credentials"])
        .keep_journal(true)
        .build()
        .unwrap();
    let journal = guard.journal_path().unwrap().to_owned();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let login = tracing::info_span!(
            "login",
            user = "ada",
            password = "hunter2-SECRET",
            credentials = ?Credentials,
            service = "auth"
        );
        login.in_scope(|| {
            tracing::info!(
                authorization = "Bearer tok-SECRET",
                path = "/login",
                "request"
            );
            tracing::warn!(password = %"display-SECRET", "retry");
        });
        let change = tracing::info_span!("change", password = tracing::field::Empty);
        change.record("password", "later-SECRET");
        change.in_scope(|| {});
    });
    guard.finish().unwrap();

    // No file holds a secret.
    for file in [&journal, &path] {
        let bytes = std::fs::read(file).unwrap();
        assert!(
            !contains(&bytes, SECRET),
            "{} holds a secret",
            file.display()
        );
        assert!(contains(&bytes, b"[redacted]"), "{}", file.display());
    }

    // The reader shows the marker, and the other values.
    let trace = TraceReader::open(&path).unwrap();
    let (full, _) = trace.full().unwrap();
    let red = Value::Str("[redacted]".into());
    let login = full
        .spans
        .iter()
        .find(|s| &*s.info.name == "login")
        .unwrap();
    assert_eq!(login.field("password"), Some(&red));
    assert_eq!(login.field("credentials"), Some(&red));
    assert_eq!(login.field("user"), Some(&Value::Str("ada".into())));
    assert_eq!(&*login.info.service, "auth");
    assert_eq!(login.events[0].field("authorization"), Some(&red));
    assert_eq!(
        login.events[0].field("path"),
        Some(&Value::Str("/login".into()))
    );
    assert_eq!(login.events[1].field("password"), Some(&red));
    let change = full
        .spans
        .iter()
        .find(|s| &*s.info.name == "change")
        .unwrap();
    assert_eq!(change.field("password"), Some(&red));

    // No export holds one.
    let mut chrome = Vec::new();
    bhtrace::export::write_chrome(&trace, &mut chrome).unwrap();
    let mut folded = Vec::new();
    bhtrace::export::write_folded(&trace, &mut folded).unwrap();
    let mut otlp = Vec::new();
    bhtrace::export::write_otlp(&trace, &mut otlp).unwrap();
    for (name, out) in [("chrome", &chrome), ("folded", &folded), ("otlp", &otlp)] {
        assert!(!out.is_empty(), "{name} wrote nothing");
        assert!(!contains(out, SECRET), "the {name} export holds a secret");
    }
    assert!(contains(&chrome, b"[redacted]") && contains(&otlp, b"[redacted]"));
    assert!(contains(&folded, b"login"));
}
