//! Threads and futures the test starts record into its capture when they
//! are given it: `Capture::bind`, `Capture::dispatch` with
//! `tracing::dispatcher::with_default`, and `WithSubscriber` for futures.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bhtrace::testing::capture;
use tracing::Instrument;
use tracing::instrument::WithSubscriber;

/// Polls `fut` to completion on the current thread.
fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// A future that is pending once, so it is polled twice.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

async fn handler(id: u32) -> u32 {
    tracing::info!(id, "handling");
    YieldOnce(false).await;
    async { tracing::debug!("inner") }
        .instrument(tracing::info_span!("step", id))
        .await;
    id * 2
}

#[test]
fn threads_given_the_capture_record_into_it() {
    let cap = capture();
    let parent = tracing::info_span!("parent");
    let handle = {
        let parent = parent.clone();
        std::thread::spawn(cap.bind(move || {
            parent.in_scope(|| tracing::info_span!("bound_child").in_scope(|| {}));
        }))
    };
    handle.join().unwrap();
    let dispatch = cap.dispatch();
    std::thread::spawn(move || {
        tracing::dispatcher::with_default(&dispatch, || {
            tracing::info_span!("with_default").in_scope(|| tracing::info!("there"));
        });
    })
    .join()
    .unwrap();
    std::thread::spawn(|| tracing::info_span!("not_given").in_scope(|| {}))
        .join()
        .unwrap();
    drop(parent);

    let t = cap.finish();
    t.span("bound_child").ancestor("parent");
    t.span("with_default").event("there");
    t.assert_no_span("not_given");
    let threads = t.threads().len();
    assert_eq!(threads, 3, "{:?}", t.threads());
}

#[test]
fn futures_carry_the_capture_to_the_thread_that_polls_them() {
    let cap = capture();
    // Taken from the current default while the capture is installed.
    let a = handler(1)
        .instrument(tracing::info_span!("request", id = 1))
        .with_current_subscriber();
    // Or given the capture explicitly.
    let b = handler(2)
        .instrument(tracing::info_span!("request", id = 2))
        .with_subscriber(cap.dispatch());
    // A future without it records nowhere when polled elsewhere.
    let c = async { tracing::info_span!("lost").in_scope(|| {}) };
    let (x, y) = std::thread::spawn(move || {
        block_on(c);
        (block_on(a), block_on(b))
    })
    .join()
    .unwrap();
    assert_eq!((x, y), (2, 4));

    let t = cap.finish();
    t.assert_no_span("lost");
    for id in [1, 2] {
        let req = t.span_with("request", "id", id);
        req.event("handling").assert_field("id", id);
        req.child("step").assert_field("id", id).event("inner");
        // Created on the test thread, entered at each poll on the other.
        let intervals = &req.data().intervals;
        assert!(intervals.len() >= 2, "{intervals:?}");
        assert!(intervals.iter().all(|i| i.thread != req.info().thread));
    }
}
