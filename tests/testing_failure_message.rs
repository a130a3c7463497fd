//! A failing assertion's message says what was expected and shows the part
//! of the tree the assertion looked at, with the spans concerned marked.

use std::panic::{AssertUnwindSafe, catch_unwind};

use bhtrace::testing::{TestTrace, with_capture};

fn trace() -> TestTrace {
    let ((), t) = with_capture(|| {
        tracing::info_span!("other_request").in_scope(|| {
            tracing::info_span!("unrelated", n = 1).in_scope(|| {});
        });
        let _req = tracing::info_span!("request", id = 42).entered();
        tracing::info_span!("fetch", key = "a").in_scope(|| tracing::debug!(rows = 2, "read"));
        tracing::info_span!("fetch", key = "b").in_scope(|| {});
        tracing::info_span!("price").in_scope(|| tracing::warn!("slow"));
    });
    t
}

/// The panic message of `f`.
fn failure(f: impl FnOnce()) -> String {
    let err = catch_unwind(AssertUnwindSafe(f)).expect_err("the assertion should fail");
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn a_missing_span_shows_the_whole_trace() {
    let t = trace();
    let msg = failure(|| {
        t.span("checkout");
    });
    assert!(
        msg.starts_with("bhtrace: expected one span named \"checkout\", found none"),
        "{msg}"
    );
    assert!(msg.contains("other_request"), "{msg}");
    assert!(msg.contains("request{id=42}"), "{msg}");
    assert!(msg.contains("DEBUG read rows=2"), "{msg}");
}

#[test]
fn an_ambiguous_child_marks_the_candidates() {
    let t = trace();
    let req = t.span("request");
    let msg = failure(|| {
        req.child("fetch");
    });
    assert!(
        msg.contains("expected one child named \"fetch\", found 2"),
        "{msg}"
    );
    // Only the request's subtree, with both fetches marked.
    assert!(!msg.contains("other_request"), "{msg}");
    assert_eq!(msg.matches("<==").count(), 3, "{msg}");
    let fetch_line = msg
        .lines()
        .find(|l| l.contains("fetch{key=\"a\"}"))
        .unwrap();
    assert!(fetch_line.ends_with("<=="), "{msg}");
}

#[test]
fn a_wrong_field_shows_the_span_and_both_values() {
    let t = trace();
    let msg = failure(|| {
        t.span("request").assert_field("id", 41);
    });
    assert!(msg.contains("span \"request\""), "{msg}");
    assert!(msg.contains("expected id=41, found id=42"), "{msg}");
    assert!(
        msg.lines()
            .any(|l| l.starts_with("request{id=42}") && l.ends_with("<==")),
        "{msg}"
    );
    assert!(msg.contains("  price"), "{msg}");

    let msg = failure(|| {
        t.span("price").assert_field("currency", "EUR");
    });
    assert!(
        msg.contains("expected currency=\"EUR\", but it has no field \"currency\""),
        "{msg}"
    );

    let msg = failure(|| {
        t.span_with("fetch", "key", "a")
            .event("read")
            .assert_field("rows", 3);
    });
    assert!(
        msg.contains("event `DEBUG read rows=2`: expected rows=3, found rows=2"),
        "{msg}"
    );
}

#[test]
fn an_order_failure_shows_both_spans_with_times() {
    let t = trace();
    let a = t.span_with("fetch", "key", "a");
    let price = t.span("price");
    let msg = failure(|| {
        price.assert_happened_before(&a);
    });
    assert!(msg.contains("expected span \"price\""), "{msg}");
    assert!(msg.contains("to end before span \"fetch\""), "{msg}");
    // The common ancestor's subtree, with times, both marked.
    assert!(msg.contains("request{id=42} [at +"), "{msg}");
    assert!(!msg.contains("other_request"), "{msg}");
    assert_eq!(msg.matches("<==").count(), 2, "{msg}");

    let msg = failure(|| {
        a.assert_overlaps(&price);
    });
    assert!(msg.contains("to overlap"), "{msg}");
    // Spans under different roots: the whole trace is shown.
    let unrelated = t.span("unrelated");
    let msg = failure(|| {
        price.assert_overlaps(&unrelated);
    });
    assert!(msg.contains("other_request"), "{msg}");
}

#[test]
fn a_missing_ancestor_shows_the_root() {
    let t = trace();
    let msg = failure(|| {
        t.span("price").ancestor("session");
    });
    assert!(
        msg.contains("to be inside a span named \"session\""),
        "{msg}"
    );
    assert!(msg.lines().next_back().is_some());
    assert!(msg.contains("request{id=42}"), "{msg}");
    assert!(!msg.contains("other_request"), "{msg}");
}

#[test]
fn a_duration_failure_says_how_long_it_took() {
    let t = trace();
    let msg = failure(|| {
        t.span("price")
            .assert_duration(std::time::Duration::from_secs(3600)..);
    });
    assert!(
        msg.contains("expected a duration in 3600s.., it took"),
        "{msg}"
    );
    assert!(msg.contains("took "), "{msg}");
}
