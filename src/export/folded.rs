//! Folded stacks, the input of [inferno] and `flamegraph.pl`.
//!
//! One line per distinct stack of span names, from the root to the span,
//! separated by `;`, then a space and the stack's weight: the summed *self
//! time* in nanoseconds of the spans with that stack (their duration minus
//! the time covered by their children, see [`TraceReader::self_ns`]).
//! Lines are sorted by stack; stacks of weight 0 are left out. Because
//! children are clamped to their parent, the weights of one root's spans
//! add up to the root's duration when its children do not overlap.
//!
//! ```text
//! request 1200
//! request;auth 300
//! request;query 5400
//! ```
//!
//! # Escaping
//!
//! A frame cannot contain `;` (the separator) or a line break, so these
//! bytes in a span name are percent-encoded, and so is `%` itself to keep
//! the encoding reversible: `%` → `%25`, `;` → `%3B`, `\n` → `%0A`,
//! `\r` → `%0D`. Nothing else is changed; spaces are fine, since the
//! weight is what follows the *last* space.
//!
//! The export reads the index only: not one payload byte. It keeps one
//! node per distinct stack (never a stack's whole text), so its memory is
//! linear in the spans however deep they nest.
//!
//! [inferno]: https://github.com/jonhoo/inferno

use std::cmp::Ordering;
use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use super::{Counting, ExportError, ExportStats, subtree_infos, tree_roots};
use crate::{SpanId, TraceReader};

/// The escaped form of one character of a span name, if it has one.
fn escaped_char(c: char) -> Option<&'static str> {
    match c {
        '%' => Some("%25"),
        ';' => Some("%3B"),
        '\n' => Some("%0A"),
        '\r' => Some("%0D"),
        _ => None,
    }
}

/// A span name as a folded-stack frame (see the [module docs](self)).
///
/// ```
/// use bhtrace::export::folded::escape_frame;
/// assert_eq!(escape_frame("a;b"), "a%3Bb");
/// assert_eq!(escape_frame("100%"), "100%25");
/// assert_eq!(escape_frame("plain name"), "plain name");
/// ```
pub fn escape_frame(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match escaped_char(c) {
            Some(e) => out.push_str(e),
            None => out.push(c),
        }
    }
    out
}

/// The bytes of `name` as a frame, without building it.
fn frame_bytes(name: &str) -> impl Iterator<Item = u8> + '_ {
    name.chars().flat_map(|c| {
        let mut buf = [0u8; 4];
        let n = match escaped_char(c) {
            Some(e) => {
                for (d, b) in buf.iter_mut().zip(e.bytes()) {
                    *d = b;
                }
                e.len()
            }
            None => c.encode_utf8(&mut buf).len(),
        };
        buf.into_iter().take(n)
    })
}

/// One distinct stack: the last frame's name (shared with the reader's
/// string table), its summed weight, and the stacks one frame longer.
struct Stack {
    name: Arc<str>,
    weight: u64,
    children: Vec<u32>,
}

/// Every distinct stack, as a tree of frames: a span costs at most one
/// node, however deep it sits, so memory is linear in the spans (a map of
/// whole stack strings would hold depth × name length per stack).
struct Stacks {
    /// Node 0 stands above the top-level frames.
    nodes: Vec<Stack>,
    /// (parent node, frame name) → node.
    index: HashMap<(u32, Arc<str>), u32>,
}

impl Stacks {
    fn new() -> Self {
        Stacks {
            nodes: vec![Stack {
                name: Arc::from(""),
                weight: 0,
                children: Vec::new(),
            }],
            index: HashMap::new(),
        }
    }

    /// The node of `parent`'s stack extended by `name`, made if new.
    fn child(&mut self, parent: u32, name: &Arc<str>) -> u32 {
        let key = (parent, Arc::clone(name));
        if let Some(&n) = self.index.get(&key) {
            return n;
        }
        let n = self.nodes.len() as u32;
        self.nodes.push(Stack {
            name: Arc::clone(name),
            weight: 0,
            children: Vec::new(),
        });
        if let Some(p) = self.nodes.get_mut(parent as usize) {
            p.children.push(n);
        }
        self.index.insert(key, n);
        n
    }

    /// The order of the lines below one stack, exactly as sorting the
    /// lines as text would give it: each child's own line (its frame) and
    /// the lines of its descendants (its frame, then `;`) are placed by
    /// those bytes. Frames hold no `;`, so the descendants of a child
    /// always sort together.
    fn ordered(&self, node: u32) -> Vec<Entry> {
        let Some(stack) = self.nodes.get(node as usize) else {
            return Vec::new();
        };
        let mut entries = Vec::with_capacity(2 * stack.children.len());
        for &c in &stack.children {
            let Some(child) = self.nodes.get(c as usize) else {
                continue;
            };
            if child.weight > 0 {
                entries.push(Entry::Line(c));
            }
            if !child.children.is_empty() {
                entries.push(Entry::Below(c));
            }
        }
        entries.sort_by(|a, b| self.key_cmp(*a, *b));
        entries
    }

    fn key_cmp(&self, a: Entry, b: Entry) -> Ordering {
        let key = |e: Entry| {
            let (n, below) = match e {
                Entry::Line(n) => (n, false),
                Entry::Below(n) => (n, true),
            };
            let name = self.nodes.get(n as usize).map_or("", |s| &*s.name);
            frame_bytes(name).chain(below.then_some(b';'))
        };
        key(a).cmp(key(b))
    }
}

/// Writes `name` as a frame, in pieces: the unescaped runs as they are.
fn write_frame(out: &mut impl Write, name: &str) -> std::io::Result<()> {
    let mut run = 0;
    for (i, c) in name.char_indices() {
        if let Some(e) = escaped_char(c) {
            out.write_all(name.get(run..i).unwrap_or_default().as_bytes())?;
            out.write_all(e.as_bytes())?;
            run = i + c.len_utf8();
        }
    }
    out.write_all(name.get(run..).unwrap_or_default().as_bytes())
}

/// Writes the line of stack `node`, whose ancestors below the top are
/// `path`: its frames joined by `;`, a space, its weight.
fn write_line(
    out: &mut impl Write,
    stacks: &Stacks,
    path: &[u32],
    node: u32,
) -> std::io::Result<()> {
    let stack = |n: u32| stacks.nodes.get(n as usize);
    for &n in path {
        write_frame(out, stack(n).map_or("", |s| &*s.name))?;
        out.write_all(b";")?;
    }
    let (name, weight) = stack(node).map_or(("", 0), |s| (&*s.name, s.weight));
    write_frame(out, name)?;
    writeln!(out, " {weight}")
}

/// What comes next in the output below a stack.
#[derive(Clone, Copy)]
enum Entry {
    /// The line of this node's stack.
    Line(u32),
    /// The lines of the stacks below this node.
    Below(u32),
}

/// Writes the trace as folded stacks weighted by self time (see the
/// [module docs](self)), from the index alone.
///
/// # Errors
/// [`ExportError::Read`] if the index cannot be read,
/// [`ExportError::Write`] if `out` fails.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let trace = bhtrace::TraceReader::open("app.bht")?;
/// let mut out = std::io::BufWriter::new(std::fs::File::create("app.folded")?);
/// let stats = bhtrace::export::write_folded(&trace, &mut out)?;
/// std::io::Write::flush(&mut out)?;
/// assert_eq!(stats.read.bytes_read, trace.open_stats().bytes_read);
/// // inferno-flamegraph app.folded > app.svg
/// # Ok(()) }
/// ```
pub fn write_folded(reader: &TraceReader, out: impl Write) -> Result<ExportStats, ExportError> {
    let mut stacks = Stacks::new();
    let mut spans = 0u64;
    for (root, _) in tree_roots(reader)? {
        let infos = subtree_infos(reader, root)?;
        // The current path: (subtree end, stack node) per span on it.
        let mut path: Vec<(SpanId, u32)> = Vec::new();
        for info in &infos {
            while path.last().is_some_and(|&(end, _)| info.id >= end) {
                path.pop();
            }
            let parent = path.last().map_or(0, |&(_, n)| n);
            let node = stacks.child(parent, &info.name);
            let weight = reader.self_ns(info.id)?;
            if let Some(s) = stacks.nodes.get_mut(node as usize) {
                // Times from a hostile file may not add up in a u64: saturate.
                s.weight = s.weight.saturating_add(weight);
            }
            path.push((info.subtree_end, node));
            spans += 1;
        }
    }

    // Depth first, without recursion (a hostile file can nest deeply),
    // each line written frame by frame: memory holds the path to the
    // current stack, never its text (depth × name length).
    let mut out = Counting::new(out);
    let mut lines = 0u64;
    let mut path: Vec<u32> = Vec::new();
    let mut todo: Vec<(Entry, usize)> = stacks
        .ordered(0)
        .into_iter()
        .rev()
        .map(|e| (e, 0))
        .collect();
    while let Some((entry, depth)) = todo.pop() {
        path.truncate(depth);
        match entry {
            Entry::Line(n) => {
                write_line(&mut out, &stacks, &path, n).map_err(ExportError::Write)?;
                lines += 1;
            }
            Entry::Below(n) => {
                path.push(n);
                todo.extend(stacks.ordered(n).into_iter().rev().map(|e| (e, depth + 1)));
            }
        }
    }
    Ok(ExportStats {
        spans,
        events: 0,
        records: lines,
        bytes: out.bytes,
        read: reader.open_stats(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// The lines as the export defines them: every span's whole stack as
    /// text, weights summed per stack, sorted as text.
    fn by_text(reader: &TraceReader) -> String {
        let (infos, _) = reader.infos();
        let mut stacks: BTreeMap<String, u64> = BTreeMap::new();
        for info in &infos {
            let mut frames = Vec::new();
            let mut cur = Some(info.id);
            while let Some(id) = cur {
                frames.push(escape_frame(&infos[id.index()].name));
                cur = infos[id.index()].parent;
            }
            frames.reverse();
            let w = reader.self_ns(info.id).unwrap();
            let total = stacks.entry(frames.join(";")).or_default();
            *total = total.saturating_add(w);
        }
        stacks
            .iter()
            .filter(|&(_, &w)| w > 0)
            .map(|(s, w)| format!("{s} {w}\n"))
            .collect()
    }

    #[test]
    fn stacks_come_out_sorted_as_text() {
        use tracing::info_span;
        use tracing_subscriber::prelude::*;
        let dir = std::env::temp_dir().join(format!("bhtrace-folded-order-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.bht");
        let (layer, guard) = crate::Builder::new(&path).build().unwrap();
        let work = || std::thread::sleep(std::time::Duration::from_micros(50));
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            // Frames that extend one another with bytes before and after
            // `;` (space, digit, `:`, `<`, `a`), escaped ones, and a name
            // repeated under different parents and roots.
            for _ in 0..2 {
                info_span!("a").in_scope(|| {
                    work();
                    info_span!("x").in_scope(work);
                    info_span!("a b").in_scope(|| {
                        work();
                        info_span!("y").in_scope(work);
                    });
                    info_span!("a").in_scope(|| info_span!("z").in_scope(work));
                    info_span!("a2").in_scope(work);
                    info_span!("a:").in_scope(work);
                    info_span!("a<").in_scope(work);
                    info_span!("aa").in_scope(work);
                });
            }
            info_span!("a b").in_scope(|| info_span!("q").in_scope(work));
            info_span!("a;b").in_scope(|| {
                work();
                info_span!("%").in_scope(work);
            });
            info_span!("a%").in_scope(work);
            info_span!("").in_scope(|| info_span!("under empty").in_scope(work));
            info_span!("line\nbreak").in_scope(work);
        });
        guard.finish().unwrap();
        let reader = TraceReader::open(&path).unwrap();
        let mut out = Vec::new();
        let stats = write_folded(&reader, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, by_text(&reader));
        assert!(text.contains("a;a b;y "), "{text}");
        assert!(text.contains("a%3Bb;%25 "), "{text}");
        assert!(text.contains(";under empty "), "{text}");
        assert_eq!(stats.records, text.lines().count() as u64);
        assert_eq!(stats.spans, reader.len() as u64);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
