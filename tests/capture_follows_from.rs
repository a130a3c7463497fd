//! `follows_from` links are captured, reach the envelope as span ids (also
//! across traces and threads), flag the follower, and keep it off its
//! parent's critical path.

mod core_support;

use bhtrace::TraceReader;
use bhtrace::journal::{Record, read_journal};
use core_support::{TempDir, on_thread};
use tracing_subscriber::prelude::*;

#[test]
fn follows_from_links_are_kept() {
    let dir = TempDir::new("follows_from");
    let path = dir.join("t.bht");
    let (layer, guard, journal) = core_support::keeping_journal(&path);
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));

    let (producer, scheduler) = tracing::dispatcher::with_default(&dispatch, || {
        (
            tracing::info_span!("producer"),
            tracing::info_span!("scheduler"),
        )
    });
    // A root on another thread that follows from two spans of other traces.
    let links = (producer.clone(), scheduler.clone());
    on_thread("consumer", &dispatch, move || {
        let consumer = tracing::info_span!("consumer");
        consumer.follows_from(&links.0);
        consumer.follows_from(links.1.id());
        consumer.in_scope(|| tracing::info!("consumed"));
    })
    .join()
    .unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        let request = tracing::info_span!("request");
        let _r = request.enter();
        let fetch = tracing::info_span!("fetch");
        fetch.in_scope(|| tracing::info!("fetched"));
        // Spawned work that follows from `fetch`: a child of the request
        // that must not block it.
        let background = tracing::info_span!("background");
        background.follows_from(&fetch);
        background.in_scope(|| tracing::info!("background work"));
        drop(fetch);
        drop(background);
    });
    drop((producer, scheduler));
    drop(dispatch);
    guard.finish().unwrap();

    // The journal: one FOLLOWS record per call, with bhtrace's numbers.
    let (records, _) = read_journal(&journal).unwrap();
    let mut names = std::collections::HashMap::new();
    let mut callsite_names = std::collections::HashMap::new();
    for r in &records {
        match r {
            Record::Callsite(c) => {
                callsite_names.insert(c.id, c.name.clone());
            }
            Record::NewSpan { span, callsite, .. } => {
                names.insert(*span, callsite_names[callsite].clone());
            }
            _ => {}
        }
    }
    let mut links: Vec<(String, String)> = records
        .iter()
        .filter_map(|r| match r {
            Record::FollowsFrom { span, follows } => {
                Some((names[span].clone(), names[follows].clone()))
            }
            _ => None,
        })
        .collect();
    // Each thread's records keep their order; threads interleave by batch.
    links.sort();
    let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    assert_eq!(
        links,
        vec![
            pair("background", "fetch"),
            pair("consumer", "producer"),
            pair("consumer", "scheduler"),
        ]
    );

    // The envelope: links as span ids, in the order they were made.
    let trace = TraceReader::open(&path).unwrap();
    let id = |name: &str| trace.spans_named(name).0[0].id;
    let (consumer, _) = trace.span(id("consumer")).unwrap();
    assert_eq!(consumer.follows_from, vec![id("producer"), id("scheduler")]);
    assert!(consumer.info.follows);
    assert_eq!(consumer.info.parent, None, "a link is not a parent");
    assert_eq!(trace.thread_name(consumer.info.thread), Some("consumer"));
    let (background, _) = trace.span(id("background")).unwrap();
    assert_eq!(background.follows_from, vec![id("fetch")]);
    assert!(background.info.follows);
    assert_eq!(background.info.parent, Some(id("request")));
    for name in ["producer", "scheduler", "request", "fetch"] {
        let (s, _) = trace.span(id(name)).unwrap();
        assert!(s.follows_from.is_empty(), "{name} follows nothing");
        assert!(!s.info.follows, "{name} is not flagged");
    }

    // A follower never blocks its parent.
    let (path_of_request, _) = trace.critical_path_of(id("request")).unwrap();
    assert!(!path_of_request.is_empty());
    assert!(
        path_of_request
            .iter()
            .all(|seg| seg.span != id("background")),
        "{path_of_request:?}"
    );
    assert!(path_of_request.iter().any(|seg| seg.span == id("request")));
    let request = trace.info(id("request")).unwrap();
    core_support::check_critical_path(&trace, &request);
    core_support::check_well_formed(&trace);
}
