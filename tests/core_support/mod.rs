//! Helpers shared by the core integration tests (capture, journal,
//! envelope, reader): a private temporary folder per test, and checks of
//! the invariants every envelope must satisfy.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use bhtrace::{SpanId, SpanInfo, TraceReader};

/// A layer (default settings) writing the envelope at `path` and keeping
/// its journal: the layer, its guard and the journal's path.
pub fn keeping_journal(path: &Path) -> (bhtrace::BhtLayer, bhtrace::Guard, PathBuf) {
    let (layer, guard) = bhtrace::Builder::new(path)
        .keep_journal(true)
        .build()
        .unwrap();
    let journal = guard.journal_path().unwrap().to_owned();
    (layer, guard, journal)
}

/// A folder under the system temp dir, unique to this process and test,
/// removed when dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(test: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("bhtrace-core-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the test folder");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `f` on a new named thread that records through `dispatch`.
pub fn on_thread<T: Send + 'static>(
    name: &str,
    dispatch: &tracing::Dispatch,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let d = dispatch.clone();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || tracing::dispatcher::with_default(&d, f))
        .expect("spawn a test thread")
}

/// Checks what every envelope must satisfy, whatever produced it: spans
/// end after they start; a parent precedes its child and its subtree
/// range holds the child's; children() and roots() agree with the parent
/// links; the critical path of every root is contiguous from the root's
/// start to its end and stays inside its subtree.
pub fn check_well_formed(trace: &TraceReader) {
    // Linear in the spans: killed children leave traces of 100,000 spans.
    let (infos, _) = trace.infos();
    assert_eq!(infos.len(), trace.len());
    let mut kids: Vec<Vec<SpanId>> = vec![Vec::new(); infos.len()];
    for (i, s) in infos.iter().enumerate() {
        assert_eq!(s.id, SpanId(i as u32));
        assert!(
            s.start_ns <= s.end_ns,
            "span {i} ends before it starts: {s:?}"
        );
        assert!(
            s.subtree_end.0 > s.id.0 && s.subtree_end.index() <= infos.len(),
            "span {i}: subtree end out of range: {s:?}"
        );
        if let Some(p) = s.parent {
            assert!(p.0 < s.id.0, "span {i}: parent {p} does not precede it");
            let parent = &infos[p.index()];
            assert!(
                parent.subtree_end.0 > s.id.0 && s.subtree_end.0 <= parent.subtree_end.0,
                "span {i}: subtree does not nest in its parent's: {s:?} in {parent:?}"
            );
            kids[p.index()].push(s.id);
        }
    }
    // children() in id order, exactly the spans whose parent link says so.
    for (i, k) in kids.iter().enumerate() {
        let got = trace
            .children(SpanId(i as u32))
            .expect("children of a known span");
        assert_eq!(&got, k, "children of span {i}");
    }
    let (roots, _) = trace.roots();
    let mut root_ids: Vec<SpanId> = roots.iter().map(|r| r.id).collect();
    root_ids.sort();
    let expected: Vec<SpanId> = infos
        .iter()
        .filter(|s| s.parent.is_none())
        .map(|s| s.id)
        .collect();
    assert_eq!(root_ids, expected, "roots table");
    for r in &roots {
        check_critical_path(trace, r);
    }
}

/// The critical path of `root`: contiguous segments from the root's start
/// to its end, each inside its span's interval and the root's subtree.
pub fn check_critical_path(trace: &TraceReader, root: &SpanInfo) {
    let (path, _) = trace.critical_path_of(root.id).expect("critical path");
    if root.end_ns == root.start_ns {
        assert!(
            path.is_empty(),
            "zero-length root {root:?} has a path {path:?}"
        );
        return;
    }
    assert!(!path.is_empty(), "root {root:?} has no critical path");
    assert_eq!(
        path[0].start_ns, root.start_ns,
        "path starts at the root's start"
    );
    assert_eq!(
        path.last().map(|s| s.end_ns),
        Some(root.end_ns),
        "path ends at the root's end"
    );
    for w in path.windows(2) {
        assert_eq!(
            w[0].end_ns, w[1].start_ns,
            "path is not contiguous: {path:?}"
        );
    }
    for seg in &path {
        assert!(
            seg.start_ns < seg.end_ns,
            "empty or reversed segment {seg:?}"
        );
        assert!(
            seg.span.0 >= root.id.0 && seg.span.0 < root.subtree_end.0,
            "segment {seg:?} outside the subtree of {root:?}"
        );
        let info = trace.info(seg.span).expect("segment span");
        assert!(
            info.start_ns <= seg.start_ns && seg.end_ns <= info.end_ns.max(info.start_ns),
            "segment {seg:?} outside its span {info:?}"
        );
    }
}
