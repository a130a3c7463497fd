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
//! The export reads the index only: not one payload byte.
//!
//! [inferno]: https://github.com/jonhoo/inferno

use std::collections::BTreeMap;
use std::io::Write;

use super::{Counting, ExportError, ExportStats, subtree_infos, tree_roots};
use crate::{SpanId, TraceReader};

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
        match c {
            '%' => out.push_str("%25"),
            ';' => out.push_str("%3B"),
            '\n' => out.push_str("%0A"),
            '\r' => out.push_str("%0D"),
            c => out.push(c),
        }
    }
    out
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
    let mut stacks: BTreeMap<String, u64> = BTreeMap::new();
    let mut spans = 0u64;
    for (root, _) in tree_roots(reader)? {
        let infos = subtree_infos(reader, root)?;
        let self_ns = infos
            .iter()
            .map(|s| reader.self_ns(s.id))
            .collect::<Result<Vec<u64>, _>>()?;
        // The current path: (subtree end, length of the stack string before
        // this span's frame was added).
        let mut path: Vec<(SpanId, usize)> = Vec::new();
        let mut stack = String::new();
        for (info, &weight) in infos.iter().zip(&self_ns) {
            while let Some(&(end, len)) = path.last() {
                if info.id < end {
                    break;
                }
                stack.truncate(len);
                path.pop();
            }
            let len = stack.len();
            if !path.is_empty() {
                stack.push(';');
            }
            stack.push_str(&escape_frame(&info.name));
            path.push((info.subtree_end, len));
            if weight > 0 {
                // Times from a hostile file may not add up in a u64: saturate.
                let total = stacks.entry(stack.clone()).or_default();
                *total = total.saturating_add(weight);
            }
            spans += 1;
        }
    }

    let mut out = Counting::new(out);
    for (stack, weight) in &stacks {
        writeln!(out, "{stack} {weight}").map_err(ExportError::Write)?;
    }
    Ok(ExportStats {
        spans,
        events: 0,
        records: stacks.len() as u64,
        bytes: out.bytes,
        read: reader.open_stats(),
    })
}
