//! `bhtrace tree FILE [--root ID] [--depth N] [--min-duration D]`: the span
//! tree, from the index alone.

use std::io::Write;
use std::path::PathBuf;

use bhtrace::{SpanId, SpanInfo};
use serde::Serialize;

use super::{IndexSpan, id, infos, marks, self_times, trees};
use crate::input::Input;
use crate::out::{Out, Style, bar, dur, parse_duration};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A .bht envelope or a .bhtj journal.
    file: PathBuf,
    /// Only the subtree of this span (default: every root).
    #[arg(long, value_name = "ID")]
    root: Option<SpanId>,
    /// Levels to show below each root (0: the roots only).
    #[arg(long, value_name = "N")]
    depth: Option<usize>,
    /// Hide spans shorter than this (with their subtrees): 5ms, 200us, 1.5s.
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    min_duration: Option<u64>,
    /// Print one JSON object per shown span and line, in tree order.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct TreeJson {
    #[serde(flatten)]
    span: IndexSpan,
    depth: usize,
    /// Descendants not shown (depth or duration limit).
    hidden: u64,
}

/// A span to print: where it sits and how to draw its branch.
struct Node {
    /// Position in the tree's entries (its id minus the root's).
    id: usize,
    depth: usize,
    /// The last of its parent's shown children.
    last: bool,
}

pub(crate) fn run(args: Args, out: &mut Out) -> anyhow::Result<()> {
    let input = Input::open(&args.file)?;
    let trace = &input.reader;
    let roots = match args.root {
        Some(r) => vec![(r, input.check(trace.info(r))?.subtree_end)],
        None => trees(&input)?,
    };
    if !args.json {
        writeln!(
            out,
            "{}",
            out.paint(
                Style::Bold,
                format!(
                    "{:>9} {:>9} {:>9}  {:<w$}  SPAN",
                    "DURATION",
                    "BUSY",
                    "SELF",
                    "TIMELINE",
                    w = crate::out::BAR
                )
            )
        )?;
    }
    let mut hidden = 0u64;
    for (root, end) in roots {
        // One tree's index entries at a time.
        let infos = infos(&input, root, end)?;
        let self_ns = self_times(&input, &infos)?;
        hidden += print_tree(out, &args, &infos, &self_ns)?;
    }
    if !args.json && hidden > 0 {
        writeln!(
            out,
            "{}",
            out.paint(
                Style::Dim,
                format!("({hidden} spans hidden by --depth or --min-duration)")
            )
        )?;
    }
    Ok(())
}

/// Prints the tree whose index entries are `infos` (a root and all its
/// descendants); returns how many spans it hid.
fn print_tree(
    out: &mut Out,
    args: &Args,
    infos: &[SpanInfo],
    self_ns: &[u64],
) -> anyhow::Result<u64> {
    let Some(r) = infos.first() else {
        return Ok(0);
    };
    let min = args.min_duration.unwrap_or(0);
    let max_depth = args.depth.unwrap_or(usize::MAX);
    if r.duration_ns() < min {
        return Ok(subtree_len(r));
    }
    let base = r.id.index();
    let mut hidden_total = 0u64;
    let mut stack = vec![Node {
        id: 0,
        depth: 0,
        last: true,
    }];
    // `last` of each ancestor below the root on the current path: the
    // branch glyphs are drawn from it, so memory is one path, not a
    // prefix string per pending span.
    let mut lasts: Vec<bool> = Vec::new();
    while let Some(node) = stack.pop() {
        lasts.truncate(node.depth.saturating_sub(1));
        let info = &infos[node.id];
        let mut kids = Vec::new();
        let mut hidden = 0u64;
        if node.depth < max_depth {
            let end = info.subtree_end.index() - base;
            let mut c = node.id + 1;
            while let Some(kid) = infos.get(c).filter(|_| c < end) {
                if kid.duration_ns() >= min {
                    kids.push(c);
                } else {
                    hidden += subtree_len(kid);
                }
                c = (kid.subtree_end.index() - base).max(c + 1);
            }
        } else {
            hidden = subtree_len(info) - 1;
        }
        hidden_total += hidden;
        let self_ns = self_ns.get(node.id).copied().unwrap_or(0);
        if args.json {
            out.json_line(&TreeJson {
                span: IndexSpan::new(info, self_ns),
                depth: node.depth,
                hidden,
            })?;
        } else {
            let parent = info
                .parent
                .and_then(|p| p.index().checked_sub(base))
                .and_then(|p| infos.get(p));
            print_line(
                out,
                &branch(&node, &lasts),
                info,
                parent,
                self_ns,
                hidden,
                (r.start_ns, r.end_ns),
            )?;
        }
        if node.depth > 0 {
            lasts.push(node.last);
        }
        let n = kids.len();
        for (i, &k) in kids.iter().enumerate().rev() {
            stack.push(Node {
                id: k,
                depth: node.depth + 1,
                last: i + 1 == n,
            });
        }
    }
    Ok(hidden_total)
}

/// The span and its descendants.
fn subtree_len(info: &SpanInfo) -> u64 {
    u64::from(info.subtree_end.0.saturating_sub(info.id.0))
}

/// The glyphs before a span's name: one column per ancestor below the
/// root (`lasts`: whether each was its parent's last shown child), then
/// its own branch.
fn branch(node: &Node, lasts: &[bool]) -> String {
    let mut branch = String::new();
    if node.depth > 0 {
        for &last in lasts {
            branch.push_str(if last { "   " } else { "│  " });
        }
        branch.push_str(if node.last { "└─ " } else { "├─ " });
    }
    branch
}

fn print_line(
    out: &mut Out,
    branch: &str,
    info: &SpanInfo,
    parent: Option<&SpanInfo>,
    self_ns: u64,
    hidden: u64,
    (lo, hi): (u64, u64),
) -> std::io::Result<()> {
    // The service, when it is not the parent's.
    let parent_service = parent.map(|p| &*p.service);
    let service = if parent_service == Some(&*info.service) {
        String::new()
    } else {
        format!(" {}", out.paint(Style::Cyan, format!("[{}]", info.service)))
    };
    let hidden = if hidden > 0 {
        format!(" {}", out.paint(Style::Dim, format!("(+{hidden} hidden)")))
    } else {
        String::new()
    };
    let bar_style = if info.error {
        Style::Red
    } else {
        Style::Magenta
    };
    writeln!(
        out,
        "{:>9} {:>9} {:>9}  {}  {}{} {}{}{}{}",
        dur(info.duration_ns()),
        dur(info.busy_ns),
        dur(self_ns),
        out.paint(bar_style, bar(info.start_ns, info.end_ns, lo, hi)),
        out.paint(Style::Dim, branch),
        info.name,
        id(out, info, 0),
        service,
        marks(out, info),
        hidden
    )
}
