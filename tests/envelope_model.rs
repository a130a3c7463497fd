//! Random span programs — nesting, several threads, `span.record`, events
//! inside and outside spans, explicit parents, `follows_from`, spans closed
//! early or left open (or entered) when the guard finishes — run through
//! the real layer into an envelope. `full()` must equal a model built from
//! the program alone; `subtree(id)` must return exactly the descendants,
//! `service(name)` exactly that service's spans.

mod core_support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use bhtrace::{EventData, Level, SpanId, TraceReader, Value};
use core_support::TempDir;
use proptest::collection::vec;
use proptest::prelude::*;
use tracing_subscriber::prelude::*;

// ---------------------------------------------------------------- programs

/// A value given to `span.record`, for the field of its type.
#[derive(Debug, Clone)]
enum RecordOp {
    Num(i64),
    Flag(bool),
    Text(String),
    Big(u128),
    Service(&'static str),
    Error(bool),
}

#[derive(Debug, Clone)]
struct Ev {
    /// 0: info with a message and `k`; 1: warn without a message, with `s`;
    /// 2: error with a message.
    kind: u8,
    k: Option<i64>,
    s: Option<String>,
    /// Unique id, the `ev` field (set by `number`).
    id: u64,
}

#[derive(Debug, Clone)]
struct Node {
    /// Which span callsite (name, target and level).
    kind: u8,
    service: Option<&'static str>,
    num: Option<i64>,
    flag: Option<bool>,
    text: Option<String>,
    big: Option<u128>,
    error: Option<bool>,
    records: Vec<RecordOp>,
    /// Emitted in the span's first entry, before and after its children.
    events_before: Vec<Ev>,
    events_after: Vec<Ev>,
    /// Emitted with `parent: None` while the span is entered.
    orphans: Vec<Ev>,
    /// Emitted with `parent: &span` after its entries, while its parent
    /// is the current span.
    explicit_events: Vec<Ev>,
    /// How many times the span is entered (and exited) by its body.
    enters: usize,
    /// `Some(k)`: created by the parent's thread, run on a new thread "w{k}".
    thread: Option<u8>,
    /// Created with `parent: &span` (or `parent: None` for a root) instead of
    /// the contextual parent.
    explicit_parent: bool,
    /// The handle lives until the end of the program (for `follows_from`).
    keep: bool,
    /// The handle lives past the guard's finish: the span never closes.
    left_open: bool,
    /// And is entered on the main thread when the guard finishes.
    left_entered: bool,
    children: Vec<Node>,
    /// Unique id, the `node` field (set by `number`).
    id: usize,
}

#[derive(Debug, Clone)]
struct Program {
    roots: Vec<Node>,
    /// Pairs of indices into the kept spans (sorted by node id), modulo
    /// their number: `a.follows_from(b)`.
    follows: Vec<(usize, usize)>,
    batch_bytes: usize,
}

fn ev() -> impl Strategy<Value = Ev> {
    (
        0..3u8,
        proptest::option::of(-5..5i64),
        proptest::option::of("[a-z]{0,5}"),
    )
        .prop_map(|(kind, k, s)| Ev { kind, k, s, id: 0 })
}

fn record_op() -> impl Strategy<Value = RecordOp> {
    prop_oneof![
        any::<i64>().prop_map(RecordOp::Num),
        any::<bool>().prop_map(RecordOp::Flag),
        "[a-zé ]{0,6}".prop_map(RecordOp::Text),
        any::<u128>().prop_map(RecordOp::Big),
        prop_oneof![Just("api"), Just("db"), Just("billing")].prop_map(RecordOp::Service),
        any::<bool>().prop_map(RecordOp::Error),
    ]
}

fn service() -> impl Strategy<Value = Option<&'static str>> {
    proptest::option::weighted(0.3, prop_oneof![Just("api"), Just("db"), Just("billing")])
}

fn leaf() -> impl Strategy<Value = Node> {
    let fields = (
        0..5u8,
        service(),
        proptest::option::of(any::<i64>()),
        proptest::option::of(any::<bool>()),
        proptest::option::of("[a-z]{0,6}"),
        proptest::option::of(any::<u128>()),
        proptest::option::weighted(0.2, any::<bool>()),
    );
    let body = (
        vec(record_op(), 0..3),
        vec(ev(), 0..3),
        vec(ev(), 0..2),
        vec(ev(), 0..2),
        vec(ev(), 0..2),
        1..4usize,
    );
    let shape = (
        proptest::option::weighted(0.3, 0..3u8),
        any::<bool>(),
        proptest::bool::weighted(0.25),
        proptest::bool::weighted(0.1),
        any::<bool>(),
    );
    (fields, body, shape).prop_map(
        |(
            (kind, service, num, flag, text, big, error),
            (records, events_before, events_after, orphans, explicit_events, enters),
            (thread, explicit_parent, keep, left_open, entered),
        )| Node {
            kind,
            service,
            num,
            flag,
            text,
            big,
            error,
            records,
            events_before,
            events_after,
            orphans,
            explicit_events,
            enters,
            thread,
            explicit_parent,
            keep,
            left_open,
            left_entered: left_open && entered,
            children: Vec::new(),
            id: 0,
        },
    )
}

fn node() -> impl Strategy<Value = Node> {
    leaf().prop_recursive(3, 20, 3, |inner| {
        (leaf(), vec(inner, 0..3)).prop_map(|(mut n, children)| {
            n.children = children;
            n
        })
    })
}

fn program() -> impl Strategy<Value = Program> {
    (
        vec(node(), 1..4),
        vec((any::<usize>(), any::<usize>()), 0..4),
        prop_oneof![Just(64usize), Just(512), Just(16 << 10)],
    )
        .prop_map(|(mut roots, follows, batch_bytes)| {
            let (mut next_node, mut next_ev) = (0, 0);
            for r in &mut roots {
                r.thread = None; // roots run on the main thread
                number(r, &mut next_node, &mut next_ev);
            }
            Program {
                roots,
                follows,
                batch_bytes,
            }
        })
}

/// Gives every node and event its id, in preorder.
fn number(n: &mut Node, next_node: &mut usize, next_ev: &mut u64) {
    n.id = *next_node;
    *next_node += 1;
    for e in n
        .events_before
        .iter_mut()
        .chain(&mut n.events_after)
        .chain(&mut n.orphans)
        .chain(&mut n.explicit_events)
    {
        e.id = *next_ev;
        *next_ev += 1;
    }
    for c in &mut n.children {
        number(c, next_node, next_ev);
    }
}

// --------------------------------------------------------------- the model

const SPAN_KINDS: [(&str, &str, Level); 5] = [
    ("handle", "app", Level::INFO),
    ("query", "db::query", Level::DEBUG),
    ("pool", "db", Level::INFO),
    ("other", "dbx", Level::TRACE),
    ("get", "cache::redis", Level::WARN),
];

#[derive(Debug, Clone, PartialEq)]
struct ModelEvent {
    target: String,
    level: Level,
    fields: Vec<(String, Value)>,
}

#[derive(Debug, Clone, Default)]
struct ModelSpan {
    name: &'static str,
    target: &'static str,
    level: Option<Level>,
    parent: Option<usize>,
    fields: Vec<(String, Value)>,
    service: String,
    error: bool,
    events: Vec<ModelEvent>,
    follows: Vec<usize>,
    /// Thread name of each closed interval, in order, then open ones.
    intervals: Vec<String>,
    open_intervals: usize,
    incomplete: bool,
    creator: String,
    descendants: BTreeSet<usize>,
}

#[derive(Debug, Default)]
struct Model {
    spans: BTreeMap<usize, ModelSpan>,
    orphans: Vec<(u64, ModelEvent)>,
}

fn model_event(e: &Ev) -> ModelEvent {
    let id = ("ev".to_owned(), Value::U64(e.id));
    let (target, level, fields) = match e.kind {
        0 => {
            let mut f = vec![
                ("message".to_owned(), Value::Str(format!("event {}", e.id))),
                id,
            ];
            f.extend(e.k.map(|k| ("k".to_owned(), Value::I64(k))));
            ("app", Level::INFO, f)
        }
        1 => {
            let mut f = vec![id];
            f.extend(e.s.clone().map(|s| ("s".to_owned(), Value::Str(s))));
            ("db::query", Level::WARN, f)
        }
        _ => {
            let f = vec![
                ("message".to_owned(), Value::Str(format!("failed {}", e.id))),
                id,
            ];
            ("app", Level::ERROR, f)
        }
    };
    ModelEvent {
        target: target.to_owned(),
        level,
        fields,
    }
}

fn set_field(fields: &mut Vec<(String, Value)>, name: &str, v: Value) {
    match fields.iter_mut().find(|(n, _)| n == name) {
        Some(slot) => slot.1 = v,
        None => fields.push((name.to_owned(), v)),
    }
}

/// Builds the model of `n` (run on thread `thread`, created by `creator`
/// under `parent`); returns whether it stays incomplete.
fn model_node(m: &mut Model, n: &Node, parent: Option<usize>, creator: &str, thread: &str) -> bool {
    let (name, target, level) = SPAN_KINDS[n.kind as usize];
    let mut fields = vec![("node".to_owned(), Value::U64(n.id as u64))];
    let mut service = n.service.map(str::to_owned);
    let mut error = n.error.is_some_and(|e| e);
    let creation: [(&str, Option<Value>); 6] = [
        ("service", n.service.map(Value::from)),
        ("num", n.num.map(Value::from)),
        ("flag", n.flag.map(Value::from)),
        ("text", n.text.as_deref().map(Value::from)),
        ("big", n.big.map(Value::from)),
        ("error", n.error.map(Value::from)),
    ];
    fields.extend(
        creation
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v))),
    );
    for r in &n.records {
        let (k, v) = match r {
            RecordOp::Num(x) => ("num", Value::from(*x)),
            RecordOp::Flag(x) => ("flag", Value::from(*x)),
            RecordOp::Text(x) => ("text", Value::from(x.as_str())),
            RecordOp::Big(x) => ("big", Value::from(*x)),
            RecordOp::Service(x) => {
                service = Some((*x).to_owned());
                ("service", Value::from(*x))
            }
            RecordOp::Error(x) => {
                error |= *x;
                ("error", Value::from(*x))
            }
        };
        set_field(&mut fields, k, v);
    }
    let events: Vec<ModelEvent> = n
        .events_before
        .iter()
        .chain(&n.events_after)
        .chain(&n.explicit_events)
        .map(model_event)
        .collect();
    error |= events.iter().any(|e| e.level == Level::ERROR);
    for o in &n.orphans {
        m.orphans.push((o.id, model_event(o)));
    }
    let mut intervals = vec![thread.to_owned(); n.enters];
    if n.left_entered {
        intervals.push(main_thread());
    }
    let mut incomplete = n.left_open;
    let mut descendants = BTreeSet::from([n.id]);
    for c in &n.children {
        let runs_on = c
            .thread
            .map_or_else(|| thread.to_owned(), |k| format!("w{k}"));
        incomplete |= model_node(m, c, Some(n.id), thread, &runs_on);
        descendants.extend(m.spans[&c.id].descendants.iter().copied());
    }
    m.spans.insert(
        n.id,
        ModelSpan {
            name,
            target,
            level: Some(level),
            parent,
            fields,
            service: service.unwrap_or_else(|| target.to_owned()),
            error,
            events,
            follows: Vec::new(),
            intervals,
            open_intervals: usize::from(n.left_entered),
            incomplete,
            creator: creator.to_owned(),
            descendants,
        },
    );
    incomplete
}

fn kept_ids(p: &Program) -> Vec<usize> {
    fn walk(n: &Node, out: &mut Vec<usize>) {
        if n.keep || n.left_open {
            out.push(n.id);
        }
        for c in &n.children {
            walk(c, out);
        }
    }
    let mut out = Vec::new();
    for r in &p.roots {
        walk(r, &mut out);
    }
    out.sort_unstable();
    out
}

fn model(p: &Program) -> Model {
    let mut m = Model::default();
    let main = main_thread();
    for r in &p.roots {
        model_node(&mut m, r, None, &main, &main);
    }
    let kept = kept_ids(p);
    if !kept.is_empty() {
        for &(a, b) in &p.follows {
            let (a, b) = (kept[a % kept.len()], kept[b % kept.len()]);
            m.spans.get_mut(&a).unwrap().follows.push(b);
        }
    }
    m
}

fn main_thread() -> String {
    std::thread::current().name().unwrap_or("").to_owned()
}

// ----------------------------------------------------------- running it

#[derive(Clone, Copy)]
enum Parent<'a> {
    Current,
    Explicit(&'a tracing::Span),
    Root,
}

macro_rules! new_span {
    ($mac:ident, $target:literal, $name:literal, $n:expr, $parent:expr) => {{
        let n: &Node = $n;
        let id = n.id as u64;
        let text = n.text.as_deref();
        match $parent {
            Parent::Current => tracing::$mac!(
                target: $target, $name,
                node = id, service = n.service, num = n.num, flag = n.flag,
                text = text, big = n.big, error = n.error
            ),
            Parent::Explicit(p) => tracing::$mac!(
                target: $target, parent: p, $name,
                node = id, service = n.service, num = n.num, flag = n.flag,
                text = text, big = n.big, error = n.error
            ),
            Parent::Root => tracing::$mac!(
                target: $target, parent: None, $name,
                node = id, service = n.service, num = n.num, flag = n.flag,
                text = text, big = n.big, error = n.error
            ),
        }
    }};
}

fn create(n: &Node, parent: Parent<'_>) -> tracing::Span {
    match n.kind {
        0 => new_span!(info_span, "app", "handle", n, parent),
        1 => new_span!(debug_span, "db::query", "query", n, parent),
        2 => new_span!(info_span, "db", "pool", n, parent),
        3 => new_span!(trace_span, "dbx", "other", n, parent),
        _ => new_span!(warn_span, "cache::redis", "get", n, parent),
    }
}

macro_rules! emit_with {
    ($($parent:tt)*) => {
        |e: &Ev| match e.kind {
            0 => tracing::info!(target: "app", $($parent)* ev = e.id, k = e.k, "event {}", e.id),
            1 => tracing::warn!(target: "db::query", $($parent)* ev = e.id, s = e.s.as_deref()),
            _ => tracing::error!(target: "app", $($parent)* ev = e.id, "failed {}", e.id),
        }
    };
}

fn emit(e: &Ev, parent: Parent<'_>) {
    match parent {
        Parent::Current => emit_with!()(e),
        Parent::Explicit(p) => emit_with!(parent: p,)(e),
        Parent::Root => emit_with!(parent: None,)(e),
    }
}

struct Run<'a> {
    dispatch: &'a tracing::Dispatch,
    kept: Mutex<Vec<(usize, tracing::Span)>>,
}

/// The body of node `n`, on the thread that runs it.
fn body(n: &Node, span: tracing::Span, run: &Run<'_>) {
    for entry in 0..n.enters {
        let _e = span.enter();
        if entry > 0 {
            continue;
        }
        for r in &n.records {
            match r {
                RecordOp::Num(x) => span.record("num", x),
                RecordOp::Flag(x) => span.record("flag", x),
                RecordOp::Text(x) => span.record("text", x.as_str()),
                RecordOp::Big(x) => span.record("big", x),
                RecordOp::Service(x) => span.record("service", x),
                RecordOp::Error(x) => span.record("error", x),
            };
        }
        for e in &n.events_before {
            emit(e, Parent::Current);
        }
        for e in &n.orphans {
            emit(e, Parent::Root);
        }
        std::thread::scope(|scope| {
            for c in &n.children {
                let parent = if c.explicit_parent {
                    Parent::Explicit(&span)
                } else {
                    Parent::Current
                };
                let child = create(c, parent);
                match c.thread {
                    Some(k) => {
                        std::thread::Builder::new()
                            .name(format!("w{k}"))
                            .spawn_scoped(scope, move || {
                                tracing::dispatcher::with_default(run.dispatch, || {
                                    body(c, child, run)
                                })
                            })
                            .unwrap();
                    }
                    None => body(c, child, run),
                }
            }
        });
        for e in &n.events_after {
            emit(e, Parent::Current);
        }
    }
    for e in &n.explicit_events {
        emit(e, Parent::Explicit(&span));
    }
    if n.keep || n.left_open {
        run.kept.lock().unwrap().push((n.id, span));
    }
}

/// Runs the program through the real layer; returns the envelope's path.
fn execute(p: &Program, dir: &TempDir) -> std::path::PathBuf {
    let path = dir.join("model.bht");
    let (layer, guard) = bhtrace::Builder::new(&path)
        .batch_bytes(p.batch_bytes)
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let run = Run {
        dispatch: &dispatch,
        kept: Mutex::new(Vec::new()),
    };
    let left = tracing::dispatcher::with_default(&dispatch, || {
        for r in &p.roots {
            let span = create(
                r,
                if r.explicit_parent {
                    Parent::Root
                } else {
                    Parent::Current
                },
            );
            body(r, span, &run);
        }
        let mut kept = std::mem::take(&mut *run.kept.lock().unwrap());
        kept.sort_by_key(|(id, _)| *id);
        if !kept.is_empty() {
            for &(a, b) in &p.follows {
                let target = kept[b % kept.len()].1.clone();
                kept[a % kept.len()].1.follows_from(&target);
            }
        }
        let open: Vec<Node> = all_nodes(p).into_iter().filter(|n| n.left_open).collect();
        let mut left = Vec::new();
        let mut entered = Vec::new();
        for (id, span) in kept {
            if let Some(n) = open.iter().find(|n| n.id == id) {
                if n.left_entered {
                    entered.push(span.clone().entered());
                }
                left.push(span);
            }
        }
        (left, entered)
    });
    guard.finish().unwrap();
    // Exits and closes after the finish are not part of the trace.
    drop(left);
    path
}

fn all_nodes(p: &Program) -> Vec<Node> {
    fn walk(n: &Node, out: &mut Vec<Node>) {
        out.push(n.clone());
        for c in &n.children {
            walk(c, out);
        }
    }
    let mut out = Vec::new();
    for r in &p.roots {
        walk(r, &mut out);
    }
    out
}

// ------------------------------------------------------------- comparing

fn node_of(span: &bhtrace::Span) -> usize {
    match span.field("node") {
        Some(Value::U64(n)) => *n as usize,
        other => panic!("span {} has no node field: {other:?}", span.info.id),
    }
}

/// Fields with their (shared) names as owned strings, as the model has them.
fn owned(fields: &[(std::sync::Arc<str>, Value)]) -> Vec<(String, Value)> {
    fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn as_model(e: &EventData) -> ModelEvent {
    ModelEvent {
        target: e.target.to_string(),
        level: e.level,
        fields: owned(&e.fields),
    }
}

fn check(p: &Program, path: &std::path::Path) -> Result<(), TestCaseError> {
    let m = model(p);
    let trace = TraceReader::open(path).unwrap();
    core_support::check_well_formed(&trace);
    let (all, full_stats) = trace.full().unwrap();
    prop_assert_eq!(all.spans.len(), m.spans.len());
    let header = trace.header();
    prop_assert_eq!(header.records_dropped, 0);

    // Every span is a model node, once.
    let node_ids: Vec<usize> = all.spans.iter().map(node_of).collect();
    let row_of: HashMap<usize, SpanId> = node_ids
        .iter()
        .enumerate()
        .map(|(r, n)| (*n, SpanId(r as u32)))
        .collect();
    prop_assert_eq!(row_of.len(), m.spans.len(), "node ids are unique");

    for span in &all.spans {
        let id = node_of(span);
        let want = &m.spans[&id];
        let info = &span.info;
        prop_assert_eq!(&*info.name, want.name, "node {}", id);
        prop_assert_eq!(&*info.target, want.target, "node {}", id);
        prop_assert_eq!(Some(info.level), want.level, "node {}", id);
        prop_assert_eq!(
            info.parent.map(|p| node_ids[p.index()]),
            want.parent,
            "node {}",
            id
        );
        prop_assert!(!info.parent_lost, "node {}", id);
        prop_assert_eq!(
            owned(&span.fields),
            want.fields.clone(),
            "fields of node {}",
            id
        );
        prop_assert_eq!(
            &*info.service,
            want.service.as_str(),
            "service of node {}",
            id
        );
        prop_assert_eq!(info.error, want.error, "error flag of node {}", id);
        let events: Vec<ModelEvent> = span.events.iter().map(as_model).collect();
        prop_assert_eq!(&events, &want.events, "events of node {}", id);
        let follows: Vec<usize> = span
            .follows_from
            .iter()
            .map(|f| node_ids[f.index()])
            .collect();
        prop_assert_eq!(&follows, &want.follows, "follows_from of node {}", id);
        prop_assert_eq!(info.follows, !want.follows.is_empty(), "node {}", id);
        prop_assert_eq!(
            info.incomplete,
            want.incomplete,
            "incomplete flag of node {}",
            id
        );
        if info.incomplete {
            prop_assert_eq!(info.end_ns, header.end_ns);
        }
        prop_assert_eq!(
            trace.thread_name(info.thread),
            Some(want.creator.as_str()),
            "node {}",
            id
        );

        // Intervals: one per entry, on the thread that ran the body; the
        // one still entered at the finish is open.
        let mut threads: Vec<String> = span
            .intervals
            .iter()
            .map(|i| trace.thread_name(i.thread).unwrap_or("?").to_owned())
            .collect();
        threads.sort();
        let mut want_threads = want.intervals.clone();
        want_threads.sort();
        prop_assert_eq!(threads, want_threads, "interval threads of node {}", id);
        let open = span
            .intervals
            .iter()
            .filter(|i| i.exit_ns.is_none())
            .count();
        prop_assert_eq!(open, want.open_intervals, "open intervals of node {}", id);
        let busy: u64 = span
            .intervals
            .iter()
            .map(|i| i.exit_ns.unwrap_or(info.end_ns) - i.enter_ns)
            .sum();
        prop_assert_eq!(info.busy_ns, busy, "busy time of node {}", id);
        for i in &span.intervals {
            prop_assert!(
                info.start_ns <= i.enter_ns && i.exit_ns.unwrap_or(info.end_ns) <= info.end_ns
            );
        }
        for e in &span.events {
            prop_assert!(
                info.start_ns <= e.t_ns && e.t_ns <= info.end_ns,
                "event time of node {}",
                id
            );
        }
        if let Some(parent) = info.parent {
            let p = &all.spans[parent.index()].info;
            prop_assert!(
                p.start_ns <= info.start_ns && info.end_ns <= p.end_ns,
                "node {} nests in time",
                id
            );
        }

        // subtree(id): exactly the descendants, contiguous from id.
        let (sub, _) = trace.subtree(info.id).unwrap();
        let got: BTreeSet<usize> = sub.iter().map(node_of).collect();
        prop_assert_eq!(&got, &want.descendants, "subtree of node {}", id);
        for (k, s) in sub.iter().enumerate() {
            prop_assert_eq!(s.info.id.index(), info.id.index() + k);
            prop_assert_eq!(s, &all.spans[s.info.id.index()]);
        }
    }

    // Orphan events: the model's, whatever the order threads flushed in.
    let mut orphans: Vec<ModelEvent> = all.orphan_events.iter().map(as_model).collect();
    let ev_id = |e: &ModelEvent| match e.fields.iter().find(|(n, _)| n == "ev") {
        Some((_, Value::U64(v))) => *v,
        _ => u64::MAX,
    };
    orphans.sort_by_key(ev_id);
    let mut want_orphans = m.orphans.clone();
    want_orphans.sort_by_key(|(id, _)| *id);
    let want_orphans: Vec<ModelEvent> = want_orphans.into_iter().map(|(_, e)| e).collect();
    prop_assert_eq!(orphans, want_orphans);
    prop_assert!(all.orphan_events.windows(2).all(|w| w[0].t_ns <= w[1].t_ns));
    let events = m.spans.values().map(|s| s.events.len()).sum::<usize>() + m.orphans.len();
    prop_assert_eq!(header.events as usize, events);
    prop_assert_eq!(
        header.incomplete_spans as usize,
        m.spans.values().filter(|s| s.incomplete).count()
    );

    // service(name): exactly the spans whose service is `name`, or whose
    // target is under `name::` when they have no service field.
    for name in [
        "api",
        "db",
        "billing",
        "app",
        "dbx",
        "cache",
        "db::query",
        "none",
    ] {
        let (spans, _) = trace.service(name).unwrap();
        let got: BTreeSet<usize> = spans.iter().map(node_of).collect();
        let want: BTreeSet<usize> = m
            .spans
            .iter()
            .filter(|(_, s)| {
                s.service == name
                    || s.service == s.target && s.target.starts_with(&format!("{name}::"))
            })
            .map(|(id, _)| *id)
            .collect();
        prop_assert_eq!(&got, &want, "service({})", name);
        for s in &spans {
            prop_assert_eq!(s, &all.spans[s.info.id.index()]);
        }
    }
    prop_assert!(full_stats.fraction() >= 0.99);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn envelope_matches_a_model_of_the_program(p in program()) {
        let dir = TempDir::new("model");
        let path = execute(&p, &dir);
        check(&p, &path)?;
    }
}
