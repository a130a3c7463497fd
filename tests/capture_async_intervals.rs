//! An async-style span, entered and exited 200 times from several threads,
//! keeps every interval (with its thread) and its busy time — in the
//! journal and in the envelope's `Span::intervals` and `SpanInfo::busy_ns`.
//! Also when threads enter the same span at once, and when one of them
//! re-enters it while another still has it entered.

mod core_support;

use std::collections::HashMap;
use std::sync::mpsc;

use bhtrace::journal::{Record, read_journal};
use bhtrace::{Interval, Span, TraceReader};
use core_support::{TempDir, on_thread};
use tracing_subscriber::prelude::*;

const POLLS: usize = 200;
const THREADS: usize = 4;

/// A thread that enters and exits `span` on command, keeping the guards.
struct Actor {
    cmd: mpsc::Sender<bool>,
    done: mpsc::Receiver<()>,
    handle: std::thread::JoinHandle<()>,
}

impl Actor {
    fn new(name: &str, dispatch: &tracing::Dispatch, span: tracing::Span) -> Actor {
        let (cmd, cmd_rx) = mpsc::channel::<bool>();
        let (done_tx, done) = mpsc::channel();
        let handle = on_thread(name, dispatch, move || {
            let mut held = Vec::new();
            for enter in cmd_rx {
                if enter {
                    held.push(span.clone().entered());
                } else {
                    held.pop();
                }
                done_tx.send(()).unwrap();
            }
        });
        Actor { cmd, done, handle }
    }

    fn step(&self, enter: bool) {
        self.cmd.send(enter).unwrap();
        self.done.recv().unwrap();
    }
}

fn busy_of(intervals: &[Interval]) -> u64 {
    intervals
        .iter()
        .map(|i| i.exit_ns.expect("every interval was exited") - i.enter_ns)
        .sum()
}

fn intervals_by_thread(trace: &TraceReader, span: &Span) -> HashMap<String, Vec<Interval>> {
    let mut out: HashMap<String, Vec<Interval>> = HashMap::new();
    for i in &span.intervals {
        let name = trace.thread_name(i.thread).unwrap_or("?").to_owned();
        out.entry(name).or_default().push(*i);
    }
    out
}

#[test]
fn async_span_keeps_every_interval_and_its_busy_time() {
    let dir = TempDir::new("async_intervals");
    let path = dir.join("t.bht");
    let (layer, guard, journal) = core_support::keeping_journal(&path);
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let (hopping, shared, reentrant) = tracing::dispatcher::with_default(&dispatch, || {
        (
            tracing::info_span!("hopping"),
            tracing::info_span!("shared"),
            tracing::info_span!("reentrant"),
        )
    });

    // 1. Like a future polled by a work-stealing runtime: one poll at a
    //    time, each on the next thread of a ring.
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for _ in 0..THREADS {
        let (tx, rx) = mpsc::channel::<Option<(usize, tracing::Span)>>();
        senders.push(tx);
        receivers.push(rx);
    }
    let mut workers = Vec::new();
    for (k, rx) in receivers.into_iter().enumerate() {
        let next = senders[(k + 1) % THREADS].clone();
        workers.push(on_thread(&format!("poller-{k}"), &dispatch, move || {
            while let Ok(Some((poll, span))) = rx.recv() {
                span.in_scope(|| tracing::info!(poll, "polled"));
                if poll + 1 == POLLS {
                    break;
                }
                next.send(Some((poll + 1, span))).unwrap();
            }
            // Stop the ring: each thread tells the next one.
            let _ = next.send(None);
        }));
    }
    senders[0].send(Some((0, hopping.clone()))).unwrap();
    drop(senders);
    for w in workers {
        w.join().unwrap();
    }

    // 2. Several threads inside the same span at once.
    let threads: Vec<_> = (0..THREADS)
        .map(|k| {
            let span = shared.clone();
            on_thread(&format!("sharer-{k}"), &dispatch, move || {
                for _ in 0..POLLS / THREADS {
                    let _e = span.enter();
                    std::hint::black_box(0u64);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }

    // 3. `a` has it entered while `b` enters it, and `b` enters it once
    //    more (nested) after `a` left. Flushing between the steps puts the
    //    records in the journal in the order they happened.
    let a = Actor::new("actor-a", &dispatch, reentrant.clone());
    let b = Actor::new("actor-b", &dispatch, reentrant.clone());
    a.step(true);
    guard.flush().unwrap();
    b.step(true);
    guard.flush().unwrap();
    a.step(false);
    guard.flush().unwrap();
    b.step(true);
    b.step(false);
    b.step(false);
    for actor in [a, b] {
        drop(actor.cmd);
        actor.handle.join().unwrap();
    }

    drop((hopping, shared, reentrant));
    drop(dispatch);
    guard.finish().unwrap();

    let trace = TraceReader::open(&path).unwrap();
    let id = |name: &str| trace.spans_named(name).0[0].id;

    // The hopping span: 200 intervals, one after the other, each on the
    // next thread of the ring, each holding its poll's event.
    let (hop, _) = trace.span(id("hopping")).unwrap();
    assert_eq!(hop.intervals.len(), POLLS);
    for (k, i) in hop.intervals.iter().enumerate() {
        let exit = i.exit_ns.expect("exited");
        assert!(i.enter_ns <= exit);
        assert_eq!(
            trace.thread_name(i.thread),
            Some(format!("poller-{}", k % THREADS).as_str()),
            "poll {k}"
        );
        if let Some(next) = hop.intervals.get(k + 1) {
            assert!(exit <= next.enter_ns, "polls {k} and {} overlap", k + 1);
        }
        let event = &hop.events[k];
        assert_eq!(event.field("poll"), Some(&bhtrace::Value::U64(k as u64)));
        assert_eq!(event.thread, i.thread);
        assert!(i.enter_ns <= event.t_ns && event.t_ns <= exit);
    }
    assert_eq!(hop.events.len(), POLLS);
    assert_eq!(hop.info.busy_ns, busy_of(&hop.intervals));
    assert!(hop.info.busy_ns <= hop.info.duration_ns());

    // The shared span: 200 intervals, 50 per thread, none overlapping on
    // its own thread; busy is their sum (it may exceed the duration).
    let (sh, _) = trace.span(id("shared")).unwrap();
    assert_eq!(sh.intervals.len(), POLLS);
    let per_thread = intervals_by_thread(&trace, &sh);
    assert_eq!(per_thread.len(), THREADS);
    for (name, list) in &per_thread {
        assert!(name.starts_with("sharer-"), "{name}");
        assert_eq!(list.len(), POLLS / THREADS);
        for w in list.windows(2) {
            assert!(w[0].exit_ns.unwrap() <= w[1].enter_ns, "{name}: {w:?}");
        }
    }
    assert_eq!(sh.info.busy_ns, busy_of(&sh.intervals));

    // The re-entered span: one interval per thread (b's nested entry is
    // inside its outer one), and busy counts b's time once.
    let (re, _) = trace.span(id("reentrant")).unwrap();
    let per_thread = intervals_by_thread(&trace, &re);
    assert_eq!(per_thread["actor-a"].len(), 1);
    assert_eq!(per_thread["actor-b"].len(), 1);
    let (ia, ib) = (per_thread["actor-a"][0], per_thread["actor-b"][0]);
    assert!(
        ia.enter_ns < ib.enter_ns && ia.exit_ns < ib.exit_ns,
        "{ia:?} {ib:?}"
    );
    assert_eq!(
        re.info.busy_ns,
        busy_of(&re.intervals),
        "busy time counts a nested entry once: {:?}",
        re.intervals
    );

    // The journal holds the same enters and exits, with the same times.
    let (records, _) = read_journal(&journal).unwrap();
    let mut callsite_of = HashMap::new();
    let mut number = None;
    for r in &records {
        match r {
            Record::Callsite(c) => {
                callsite_of.insert(c.name.clone(), c.id);
            }
            Record::NewSpan { span, callsite, .. } if *callsite == callsite_of["hopping"] => {
                number = Some(*span);
            }
            _ => {}
        }
    }
    let number = number.unwrap();
    let mut open: HashMap<u32, u64> = HashMap::new();
    let mut from_journal = Vec::new();
    for r in &records {
        match *r {
            Record::Enter { span, t_ns, thread } if span == number => {
                assert!(open.insert(thread, t_ns).is_none());
            }
            Record::Exit { span, t_ns, thread } if span == number => {
                let enter_ns = open.remove(&thread).expect("exit after enter");
                from_journal.push(Interval {
                    enter_ns,
                    exit_ns: Some(t_ns),
                    thread,
                });
            }
            _ => {}
        }
    }
    from_journal.sort_by_key(|i| i.enter_ns);
    assert_eq!(from_journal, hop.intervals);
}
