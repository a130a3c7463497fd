//! The assertions of `bhtrace::testing` answer what the traced code did:
//! spans by name and field, children and ancestors, order and overlap in
//! time, durations, and events with their fields.

use std::time::Duration;

use bhtrace::Value;
use bhtrace::testing::{TestTrace, with_capture};

/// A request with two sequential steps, one of them with two concurrent
/// queries (overlapping because both are open at once), and events.
fn checkout() -> TestTrace {
    let ((), t) = with_capture(|| {
        let _req = tracing::info_span!("request", path = "/checkout", user = 7u64).entered();
        tracing::info!(items = 3, "validated");
        tracing::info_span!("fetch", cache = false).in_scope(|| {
            let users = tracing::debug_span!("query", table = "users");
            let orders = tracing::debug_span!("query", table = "orders");
            users.in_scope(|| tracing::debug!(rows = 1u8, "read"));
            orders.in_scope(|| tracing::debug!(rows = 12i64, "read"));
        });
        tracing::info_span!("price", currency = "EUR").in_scope(|| {
            tracing::warn!(total = 19.5, ok = true, "priced");
        });
    });
    t
}

#[test]
fn spans_by_name_and_field() {
    let t = checkout();
    assert_eq!(t.spans("query").len(), 2);
    assert!(t.spans("nothing").is_empty());
    let users = t.span_with("query", "table", "users");
    assert_eq!(users.field("table"), Some(&Value::Str("users".into())));
    assert_eq!(t.spans_with("query", "table", "orders").len(), 1);
    // Integers compare by value whatever their recorded width or sign.
    t.span("request")
        .assert_field("user", 7)
        .assert_field("user", 7u64)
        .assert_field("path", "/checkout")
        .assert_no_field("password");
    assert!(t.span("fetch").has_field("cache", false));
    assert!(!t.span("fetch").has_field("cache", "false"));
    t.assert_no_span("retry");
    assert_eq!(t.find(|s| s.fields().is_empty()).len(), 0);
}

#[test]
fn children_and_ancestors() {
    let t = checkout();
    let req = t.span("request");
    let names: Vec<&str> = req.children().iter().map(|c| c.name()).collect();
    assert_eq!(names, ["fetch", "price"]);
    let fetch = req.child("fetch");
    assert_eq!(fetch.children_named("query").len(), 2);
    assert_eq!(req.descendants().len(), 4);
    let orders = req.descendant("price").parent().map(|p| p.name());
    assert_eq!(orders, Some("request"));

    let users = t.span_with("query", "table", "users");
    assert_eq!(users.ancestors(), vec![fetch, req]);
    assert_eq!(users.ancestor("request"), req);
    assert!(users.is_descendant_of(&req));
    assert!(!req.is_descendant_of(&users));
    assert_eq!(t.roots(), vec![req]);
    assert_eq!(req.parent(), None);
}

#[test]
fn order_and_overlap_in_time() {
    let t = checkout();
    let fetch = t.span("fetch");
    let price = t.span("price");
    assert!(fetch.happened_before(&price));
    assert!(!price.happened_before(&fetch));
    assert!(!fetch.overlaps(&price));
    fetch.assert_happened_before(&price);

    let users = t.span_with("query", "table", "users");
    let orders = t.span_with("query", "table", "orders");
    users.assert_overlaps(&orders);
    orders.assert_overlaps(&users);
    assert!(!users.happened_before(&orders));
    // A parent overlaps its children.
    t.span("request").assert_overlaps(&price);
}

#[test]
fn durations() {
    let t = checkout();
    let req = t.span("request");
    let fetch = t.span("fetch");
    assert!(req.duration() >= fetch.duration());
    assert!(fetch.start() >= req.start() && fetch.end() <= req.end());
    assert_eq!(req.duration(), req.end() - req.start());
    assert!(fetch.busy() <= fetch.duration());
    req.assert_duration(..Duration::from_secs(60))
        .assert_duration(Duration::ZERO..)
        .assert_duration(fetch.duration()..=req.duration());
    assert!(!req.is_incomplete());
}

#[test]
fn events_with_their_fields() {
    let t = checkout();
    let priced = t.span("price").event("priced");
    priced
        .assert_field("total", 19.5)
        .assert_field("ok", true)
        .assert_field("message", "priced");
    assert_eq!(priced.level(), tracing::Level::WARN);
    assert_eq!(priced.span().map(|s| s.name()), Some("price"));

    let users = t.span_with("query", "table", "users");
    assert!(users.has_event("read"));
    users.event("read").assert_field("rows", 1);
    t.span_with("query", "table", "orders")
        .event("read")
        .assert_field("rows", 12u32);

    let req = t.span("request");
    let messages: Vec<Option<&str>> = req.events().iter().map(|e| e.message()).collect();
    assert_eq!(messages, [Some("validated")]);
    assert_eq!(t.event("validated").span(), Some(req));
    assert_eq!(t.events().len(), 4);
    assert!(t.events_outside_spans().is_empty());
    assert!(!t.span("price").is_error());
}

#[test]
fn the_reader_queries_stay_available() {
    let t = checkout();
    assert_eq!(t.len(), 5);
    let (summary, _) = t.summary().unwrap();
    assert_eq!(summary.traces, 1);
    assert_eq!(t.reader().roots().0.len(), 1);
    assert!(!t.is_incomplete());
}
