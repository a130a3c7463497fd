//! The critical path, from the index alone.
//!
//! Semantics as in Jaeger's UI: start at a span's end and walk back in time;
//! at each point pick the child that finished last before it, descend into
//! that child from its own end, then continue in the parent from the child's
//! start. Time not covered by a chosen child is the parent's own. Children
//! are clamped to their parent's interval; a child that starts at or after
//! its parent's end, or that has follows-from links, does not block the
//! parent and is never chosen.

use super::model::{Segment, SpanId};
use crate::envelope::layout::{FLAG_FOLLOWS, Row};

struct Frame {
    row: u32,
    /// The span's interval, clamped to its parent's.
    lo: u64,
    /// The point in time the walk has reached inside this span.
    t: u64,
    /// Eligible children as (clamped end, clamped start, row), latest end first.
    kids: Vec<(u64, u64, u32)>,
    next: usize,
}

fn frame(rows: &[Row], row: u32, lo: u64, hi: u64) -> Frame {
    let mut kids = Vec::new();
    let r = &rows[row as usize];
    let mut c = row + 1;
    while c < r.subtree_end {
        let k = &rows[c as usize];
        let (start, end) = (k.start.max(lo), k.end.min(hi));
        if k.flags & FLAG_FOLLOWS == 0 && k.start < hi && start <= end {
            kids.push((end, start, c));
        }
        c = k.subtree_end;
    }
    // Latest end first; ties: the later-starting (shorter) child first.
    // Children come in start order; reversed, sequential children are
    // already in this order, which the sort recognises in one pass.
    kids.reverse();
    kids.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
    Frame {
        row,
        lo,
        t: hi,
        kids,
        next: 0,
    }
}

/// The critical path of the span at `root`, as segments in time order.
/// Segments of zero length are left out.
pub(crate) fn critical_path(rows: &[Row], root: u32) -> Vec<Segment> {
    let r = &rows[root as usize];
    let mut out = Vec::new();
    let mut stack = vec![frame(rows, root, r.start, r.end)];
    while let Some(f) = stack.last_mut() {
        while f.next < f.kids.len() && f.kids[f.next].0 > f.t {
            f.next += 1;
        }
        if let Some(&(end, start, child)) = f.kids.get(f.next) {
            f.next += 1;
            if end < f.t {
                out.push(Segment {
                    span: SpanId(f.row),
                    start_ns: end,
                    end_ns: f.t,
                });
            }
            f.t = start;
            let next = frame(rows, child, start, end);
            stack.push(next);
        } else {
            if f.lo < f.t {
                out.push(Segment {
                    span: SpanId(f.row),
                    start_ns: f.lo,
                    end_ns: f.t,
                });
            }
            stack.pop();
        }
    }
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows from (parent, start, end, follows) in preorder.
    fn rows(spec: &[(Option<u32>, u64, u64, bool)]) -> Vec<Row> {
        let n = spec.len();
        let mut rows: Vec<Row> = spec
            .iter()
            .map(|&(p, s, e, f)| Row {
                parent: p.unwrap_or(u32::MAX),
                start: s,
                end: e,
                flags: if f { FLAG_FOLLOWS } else { 0 },
                subtree_end: 0,
                ..Row::default()
            })
            .collect();
        for i in (0..n).rev() {
            let mut end = i as u32 + 1;
            while (end as usize) < n && is_desc(&rows, end, i as u32) {
                end += 1;
            }
            rows[i].subtree_end = end;
        }
        rows
    }

    fn is_desc(rows: &[Row], mut r: u32, anc: u32) -> bool {
        while rows[r as usize].parent != u32::MAX {
            r = rows[r as usize].parent;
            if r == anc {
                return true;
            }
        }
        false
    }

    fn path(rows: &[Row]) -> Vec<(u32, u64, u64)> {
        critical_path(rows, 0)
            .into_iter()
            .map(|s| (s.span.0, s.start_ns, s.end_ns))
            .collect()
    }

    #[test]
    fn sequential_children_and_gaps() {
        // root 0..100; a 10..40; b 50..90
        let r = rows(&[
            (None, 0, 100, false),
            (Some(0), 10, 40, false),
            (Some(0), 50, 90, false),
        ]);
        assert_eq!(
            path(&r),
            vec![
                (0, 0, 10),
                (1, 10, 40),
                (0, 40, 50),
                (2, 50, 90),
                (0, 90, 100)
            ]
        );
    }

    #[test]
    fn overlapping_children_pick_last_finishing() {
        // a 10..60 and b 20..80 overlap: b finishes last; a ends after b starts, so it is skipped.
        let r = rows(&[
            (None, 0, 100, false),
            (Some(0), 10, 60, false),
            (Some(0), 20, 80, false),
        ]);
        assert_eq!(path(&r), vec![(0, 0, 20), (2, 20, 80), (0, 80, 100)]);
    }

    #[test]
    fn child_outliving_parent_is_clamped_and_late_child_ignored() {
        // a 50..150 clamped to 50..100; c starts after the parent ended.
        let r = rows(&[
            (None, 0, 100, false),
            (Some(0), 50, 150, false),
            (Some(0), 120, 130, false),
        ]);
        assert_eq!(path(&r), vec![(0, 0, 50), (1, 50, 100)]);
    }

    #[test]
    fn follows_from_child_does_not_block() {
        let r = rows(&[(None, 0, 100, false), (Some(0), 10, 90, true)]);
        assert_eq!(path(&r), vec![(0, 0, 100)]);
    }

    #[test]
    fn zero_length_spans_terminate() {
        let r = rows(&[
            (None, 0, 0, false),
            (Some(0), 0, 0, false),
            (Some(0), 0, 0, false),
        ]);
        assert_eq!(path(&r), vec![]);
        let r = rows(&[
            (None, 0, 10, false),
            (Some(0), 10, 10, false),
            (Some(0), 10, 10, false),
        ]);
        assert_eq!(path(&r), vec![(0, 0, 10)]);
    }

    #[test]
    fn descends_into_grandchildren() {
        // root 0..100 > a 10..90 > b 20..30, c 40..80
        let r = rows(&[
            (None, 0, 100, false),
            (Some(0), 10, 90, false),
            (Some(1), 20, 30, false),
            (Some(1), 40, 80, false),
        ]);
        assert_eq!(
            path(&r),
            vec![
                (0, 0, 10),
                (1, 10, 20),
                (2, 20, 30),
                (1, 30, 40),
                (3, 40, 80),
                (1, 80, 90),
                (0, 90, 100)
            ]
        );
    }
}
