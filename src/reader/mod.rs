//! Reading an envelope: [`TraceReader::open`] reads the header and the
//! structure index; every query then answers from the index alone or reads
//! just the payload blocks it needs (and the field names of the callsites
//! it decodes), and returns the bytes it read.

mod critical;
mod model;
mod names;
mod payload;
mod source;
mod structure;

pub use model::{
    EventData, Interval, Segment, ServiceSummary, Span, SpanId, SpanInfo, Summary, Trace,
};
pub use source::ReadStats;

use std::path::Path;
use std::sync::Arc;

use crate::envelope::TraceHeader;
use crate::envelope::layout::*;
use crate::error::{Error, Section};
use source::Source;
use structure::{Structure, read_structure};

/// How many spans [`TraceReader::summary`] lists as the slowest.
pub const SUMMARY_SLOWEST: usize = 10;

pub(crate) use crate::journal::record::level_from_byte as level;

/// A `.bht` envelope opened for queries.
///
/// `open` reads and validates the header and the structure index — nothing
/// else. Every query returns its answer with the [`ReadStats`] of what it
/// read: the structure (read once, at open) plus the payload bytes the
/// query needed, plus, for queries that decode payload, the field names of
/// the callsites they decode (each callsite's read once, by the first query
/// that needs it, and kept). A corrupt or hostile file gives an [`Error`]
/// naming the section and offset, never a panic.
///
/// Queries take `&self`, and a `TraceReader` is `Send + Sync`: threads can
/// share one.
///
/// ```no_run
/// # fn main() -> Result<(), bhtrace::Error> {
/// let trace = bhtrace::TraceReader::open("app.bht")?;
/// let (summary, stats) = trace.summary()?;
/// println!("{} traces, {:.1}% of the file read", summary.traces, 100.0 * stats.fraction());
/// for seg in trace.critical_path()?.0 {
///     println!("{} {} ns", trace.info(seg.span)?.name, seg.end_ns - seg.start_ns);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TraceReader {
    src: Source,
    s: Structure,
    open_stats: ReadStats,
}

impl TraceReader {
    /// Opens an envelope, reading and checking its header and structure.
    ///
    /// # Errors
    /// The file cannot be read, is not an envelope, has an unsupported
    /// version, or any of its structure fails validation.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        Self::from_source(Source::open(path.as_ref())?)
    }

    /// Opens a journal (left by a crashed process, or kept) by converting it
    /// into an envelope in memory; nothing is written to disk.
    ///
    /// # Errors
    /// As [`recover`](crate::recover), then as [`TraceReader::open`].
    pub fn open_journal(path: impl AsRef<Path>) -> Result<(Self, crate::ConvertStats), Error> {
        let (bytes, stats) = crate::recover_to_vec(path)?;
        Ok((Self::from_bytes(bytes)?, stats))
    }

    /// Opens an envelope held in memory.
    ///
    /// # Errors
    /// As [`TraceReader::open`].
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, Error> {
        Self::from_source(Source::memory(bytes))
    }

    fn from_source(src: Source) -> Result<Self, Error> {
        let mut open_stats = ReadStats {
            file_len: src.len(),
            ..ReadStats::default()
        };
        let s = read_structure(&src, &mut open_stats)?;
        Ok(TraceReader { src, s, open_stats })
    }

    /// Reads the field names of the callsites `wanted` marks, those not
    /// kept yet (adjacent blocks in one read). When `count`, adds what
    /// reading them all costs to `stats`, kept or not, so that a query's
    /// figure does not depend on which queries ran before it. A block that
    /// fails to decode is not kept: the next query tries again (and fails
    /// again).
    fn load_names(&self, wanted: &[bool], count: bool, stats: &mut ReadStats) -> Result<(), Error> {
        let mut uncounted = ReadStats::default();
        let stats = if count { stats } else { &mut uncounted };
        let section = self.s.extents[S_FIELDS];
        self.s.names.load(&self.src, section, wanted, stats)
    }

    /// Reads the whole fields section (once per reader: after that, it only
    /// counts the read), checks its checksum and decodes every callsite's
    /// field names.
    fn load_all_names(&self, stats: &mut ReadStats) -> Result<(), Error> {
        let section = self.s.extents[S_FIELDS];
        self.s
            .names
            .load_all(&self.src, section, self.s.fields_crc, stats)
    }

    /// What an export made of many payload queries reads besides their
    /// payload: the structure (at open) and the whole fields section, which
    /// it checks and keeps. The queries it then makes (`subtree_with`,
    /// `orphan_events_with` without counting names) add their payload only.
    #[cfg(feature = "export")]
    pub(crate) fn decode_base(&self) -> Result<ReadStats, Error> {
        let mut stats = self.open_stats;
        self.load_all_names(&mut stats)?;
        Ok(stats)
    }

    /// The path this envelope was opened from (`<memory>` for bytes).
    pub fn path(&self) -> &Path {
        self.src.path()
    }

    /// The header: process, counts, dropped records, incomplete spans.
    pub fn header(&self) -> &TraceHeader {
        &self.s.header
    }

    /// What `open` read.
    pub fn open_stats(&self) -> ReadStats {
        self.open_stats
    }

    /// Number of spans.
    pub fn len(&self) -> usize {
        self.s.rows.len()
    }

    /// True if the trace has no spans.
    pub fn is_empty(&self) -> bool {
        self.s.rows.is_empty()
    }

    /// True when the trace is known to miss something: dropped records, a
    /// torn journal, spans never closed, records whose span was lost, or a
    /// writer that never shut down cleanly (a crashed process's journal,
    /// whose last records may not have reached it).
    pub fn is_incomplete(&self) -> bool {
        let h = &self.s.header;
        h.records_dropped > 0
            || h.journal_torn
            || h.incomplete_spans > 0
            || h.orphan_records > 0
            || !h.clean_shutdown
    }

    /// The name of thread `thread` (as in [`SpanInfo::thread`]), if it had one.
    pub fn thread_name(&self, thread: u32) -> Option<&str> {
        let i = (thread as usize).checked_sub(1)?;
        self.s
            .threads
            .get(i)
            .copied()
            .flatten()
            .map(|s| self.str(s))
    }

    /// Every thread number with its name, if it had one.
    pub fn threads(&self) -> Vec<(u32, Option<&str>)> {
        (1..=self.s.threads.len() as u32)
            .map(|t| (t, self.thread_name(t)))
            .collect()
    }

    /// Sizes of the file's sections as (name, offset, length), in file order.
    pub fn sections(&self) -> Vec<(&'static str, u64, u64)> {
        const NAMES: [&str; SECTION_COUNT] = [
            "strings",
            "callsites",
            "threads",
            "index",
            "roots",
            "services",
            "fields",
            "payload",
            "orphan events",
        ];
        NAMES
            .iter()
            .zip(self.s.extents.iter())
            .map(|(n, e)| (*n, e.offset, e.len))
            .collect()
    }

    pub(crate) fn str(&self, id: u32) -> &str {
        self.s.strings.get(id as usize).map_or("", |s| s)
    }

    /// String `id`, shared: a reference count, not a copy. (Ids were
    /// checked at open; an unknown one reads as the empty string.)
    pub(crate) fn arc(&self, id: u32) -> Arc<str> {
        self.s
            .strings
            .get(id as usize)
            .map_or_else(|| Arc::from(""), Arc::clone)
    }

    /// The name of service number `service` (a row's; checked at open).
    fn service_name(&self, service: u32) -> Arc<str> {
        let id = self.s.services.get(service as usize).copied();
        id.map_or_else(|| Arc::from(""), |id| self.arc(id))
    }

    fn check(&self, id: SpanId) -> Result<u32, Error> {
        if id.index() < self.s.rows.len() {
            Ok(id.0)
        } else {
            Err(Error::UnknownSpan {
                id: id.0,
                spans: self.s.rows.len() as u32,
            })
        }
    }

    /// Payload-relative byte range of span `row`'s block.
    pub(crate) fn block_range(&self, row: u32) -> (u64, u64) {
        let from = if row == 0 {
            0
        } else {
            self.s.rows[row as usize - 1].payload_end
        };
        (from, self.s.rows[row as usize].payload_end)
    }

    /// A span from the index alone.
    ///
    /// # Errors
    /// [`Error::UnknownSpan`] if `id` is not in the trace.
    pub fn info(&self, id: SpanId) -> Result<SpanInfo, Error> {
        let r = self.check(id)?;
        Ok(self.info_row(r))
    }

    fn info_row(&self, r: u32) -> SpanInfo {
        let row = &self.s.rows[r as usize];
        let cs = &self.s.callsites[row.callsite as usize];
        SpanInfo {
            id: SpanId(r),
            parent: (row.parent != NO_PARENT).then_some(SpanId(row.parent)),
            subtree_end: SpanId(row.subtree_end),
            name: self.arc(cs.name),
            target: self.arc(cs.target),
            level: level(cs.level),
            service: self.service_name(row.service),
            thread: row.thread,
            start_ns: row.start,
            end_ns: row.end,
            busy_ns: row.busy,
            incomplete: row.flags & FLAG_INCOMPLETE != 0,
            error: row.flags & FLAG_ERROR != 0,
            follows: row.flags & FLAG_FOLLOWS != 0,
            parent_lost: row.flags & FLAG_PARENT_LOST != 0,
            file: cs.file.map(|f| self.arc(f)),
            line: (cs.line != 0).then_some(cs.line),
        }
    }

    /// The direct children of a span, in start order (index only).
    ///
    /// # Errors
    /// [`Error::UnknownSpan`] if `id` is not in the trace.
    pub fn children(&self, id: SpanId) -> Result<Vec<SpanId>, Error> {
        let r = self.check(id)?;
        let end = self.s.rows[r as usize].subtree_end;
        let mut out = Vec::new();
        let mut c = r + 1;
        while c < end {
            out.push(SpanId(c));
            c = self.s.rows[c as usize].subtree_end;
        }
        Ok(out)
    }

    /// Reads the payload range `[from, to)` (payload-relative) in one read.
    fn read_payload(&self, from: u64, to: u64, stats: &mut ReadStats) -> Result<Vec<u8>, Error> {
        let base = self.s.extents[S_PAYLOAD].offset;
        self.src
            .read(Section::Payload, base + from, to - from, stats)
    }

    fn span_from(&self, r: u32, bytes: &[u8], base: u64) -> Result<Span, Error> {
        let block = self.decode_block(r, bytes, base)?;
        Ok(Span {
            info: self.info_row(r),
            fields: block.fields,
            events: block.events,
            intervals: block.intervals,
            follows_from: block.follows_from,
        })
    }

    /// Decodes the rows of `runs`, each a range `[first, end)` of rows
    /// whose blocks are contiguous, with one payload read per run; then
    /// reads the field names of the callsites they decode (the rows' own,
    /// and their events'), counted in `stats` when `count_names`.
    fn read_runs(
        &self,
        runs: &[(u32, u32)],
        count_names: bool,
        stats: &mut ReadStats,
    ) -> Result<Vec<Span>, Error> {
        let mut read = Vec::with_capacity(runs.len());
        let mut wanted = vec![false; self.s.callsites.len()];
        let mut spans = 0;
        for &(first, end) in runs {
            let from = self.block_range(first).0;
            let to = self.block_range(end - 1).1;
            let bytes = self.read_payload(from, to, stats)?;
            for r in first..end {
                wanted[self.s.rows[r as usize].callsite as usize] = true;
                self.mark_block_events(r, &bytes, from, &mut wanted)?;
            }
            spans += (end - first) as usize;
            read.push((first, end, from, bytes));
        }
        self.load_names(&wanted, count_names, stats)?;
        let mut out = Vec::with_capacity(spans);
        for (first, end, from, bytes) in read {
            for r in first..end {
                out.push(self.span_from(r, &bytes, from)?);
            }
        }
        Ok(out)
    }

    /// One span with its payload.
    ///
    /// # Errors
    /// [`Error::UnknownSpan`], or a read or decoding error of its block.
    pub fn span(&self, id: SpanId) -> Result<(Span, ReadStats), Error> {
        let r = self.check(id)?;
        let mut stats = self.open_stats;
        let mut out = self.read_runs(&[(r, r + 1)], true, &mut stats)?;
        let span = out.pop().ok_or(Error::UnknownSpan {
            id: r,
            spans: self.s.rows.len() as u32,
        })?;
        Ok((span, stats))
    }

    /// A span and all its descendants, with their payload, in one read,
    /// and the field names of the callsites they decode (adjacent
    /// callsites' in one read).
    ///
    /// # Errors
    /// [`Error::UnknownSpan`], or a read or decoding error.
    pub fn subtree(&self, id: SpanId) -> Result<(Vec<Span>, ReadStats), Error> {
        self.subtree_with(id, true)
    }

    /// [`TraceReader::subtree`], counting the field names it reads in its
    /// stats only when `count_names` (an export counts the whole fields
    /// section once instead).
    pub(crate) fn subtree_with(
        &self,
        id: SpanId,
        count_names: bool,
    ) -> Result<(Vec<Span>, ReadStats), Error> {
        let r = self.check(id)?;
        let mut stats = self.open_stats;
        let end = self.s.rows[r as usize].subtree_end;
        let out = self.read_runs(&[(r, end)], count_names, &mut stats)?;
        Ok((out, stats))
    }

    /// Rows of the services matching `name`: the service itself, or a
    /// target under `name::`, in ascending order. The rows name their
    /// service, so this is one pass over the index in memory.
    fn service_rows(&self, name: &str) -> Vec<u32> {
        let wanted: Vec<bool> = self
            .s
            .services
            .iter()
            .map(|&svc| {
                let s = self.str(svc);
                s == name
                    || s.strip_prefix(name)
                        .is_some_and(|rest| rest.starts_with("::"))
            })
            .collect();
        if !wanted.contains(&true) {
            return Vec::new();
        }
        (0..self.s.rows.len() as u32)
            .filter(|&r| wanted[self.s.rows[r as usize].service as usize])
            .collect()
    }

    /// Every span of a service with its payload, reading only their blocks
    /// (adjacent blocks in one read). A span's service is its `service`
    /// field, else its target; `"db"` also matches targets under `db::`.
    ///
    /// # Errors
    /// A read or decoding error.
    pub fn service(&self, name: &str) -> Result<(Vec<Span>, ReadStats), Error> {
        let rows = self.service_rows(name);
        let mut stats = self.open_stats;
        let mut runs = Vec::new();
        let mut i = 0;
        while i < rows.len() {
            let mut j = i + 1;
            while j < rows.len() && rows[j] == rows[j - 1] + 1 {
                j += 1;
            }
            runs.push((rows[i], rows[j - 1] + 1));
            i = j;
        }
        let out = self.read_runs(&runs, true, &mut stats)?;
        Ok((out, stats))
    }

    /// The names of every service, sorted.
    pub fn services(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.s.services.iter().map(|&n| self.str(n)).collect();
        v.sort_unstable();
        v
    }

    /// Compares the payload's checksum with the trailer's.
    fn check_payload_crc(&self, bytes: &[u8]) -> Result<(), Error> {
        let computed = crc32fast::hash(bytes);
        if computed != self.s.payload_crc {
            return Err(Error::Checksum {
                section: Section::Payload,
                offset: self.s.extents[S_PAYLOAD].offset,
                stored: self.s.payload_crc,
                computed,
            });
        }
        Ok(())
    }

    /// Everything: every span with its payload, and the events outside
    /// spans. The baseline the other queries are measured against. Since it
    /// reads the whole fields section and the whole payload, it also checks
    /// their checksums.
    ///
    /// # Errors
    /// A read or decoding error, or [`Error::Checksum`] for the fields
    /// section or the payload.
    pub fn full(&self) -> Result<(Trace, ReadStats), Error> {
        let mut stats = self.open_stats;
        self.load_all_names(&mut stats)?;
        let payload = self.s.extents[S_PAYLOAD];
        let bytes = self.read_payload(0, payload.len, &mut stats)?;
        self.check_payload_crc(&bytes)?;
        let mut spans = Vec::with_capacity(self.s.rows.len());
        for r in 0..self.s.rows.len() as u32 {
            spans.push(self.span_from(r, &bytes, 0)?);
        }
        let orphan_events = self.decode_orphans(&bytes, 0)?;
        Ok((
            Trace {
                spans,
                orphan_events,
            },
            stats,
        ))
    }

    /// Events that happened outside every span, in time order.
    ///
    /// # Errors
    /// A read or decoding error.
    pub fn orphan_events(&self) -> Result<(Vec<EventData>, ReadStats), Error> {
        self.orphan_events_with(true)
    }

    /// [`TraceReader::orphan_events`], counting the field names it reads
    /// only when `count_names` (as [`TraceReader::subtree_with`]).
    pub(crate) fn orphan_events_with(
        &self,
        count_names: bool,
    ) -> Result<(Vec<EventData>, ReadStats), Error> {
        let mut stats = self.open_stats;
        let payload = self.s.extents[S_PAYLOAD];
        let from = self.s.extents[S_ORPHANS].offset - payload.offset;
        let bytes = self.read_payload(from, payload.len, &mut stats)?;
        let mut wanted = vec![false; self.s.callsites.len()];
        self.mark_orphan_events(&bytes, from, &mut wanted)?;
        self.load_names(&wanted, count_names, &mut stats)?;
        Ok((self.decode_orphans(&bytes, from)?, stats))
    }

    /// The top-level spans (one per request or job), in start order.
    pub fn roots(&self) -> (Vec<SpanInfo>, ReadStats) {
        (
            self.s.roots.iter().map(|&r| self.info_row(r)).collect(),
            self.open_stats,
        )
    }

    /// The `n` longest spans, longest first (index only).
    pub fn slowest(&self, n: usize) -> (Vec<SpanInfo>, ReadStats) {
        (
            self.slowest_rows(n)
                .into_iter()
                .map(|r| self.info_row(r))
                .collect(),
            self.open_stats,
        )
    }

    /// The `n` longest rows, longest first (ties: lower id first), in one
    /// sequential pass keeping the best `n` (a min-heap), so a large trace
    /// costs a scan, not a selection over every row.
    fn slowest_rows(&self, n: usize) -> Vec<u32> {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        if n == 0 {
            return Vec::new();
        }
        // Ordered so that the heap's top is the worst kept: shortest, then
        // highest id.
        let mut best: BinaryHeap<Reverse<(u64, Reverse<u32>)>> = BinaryHeap::with_capacity(n + 1);
        for (r, row) in self.s.rows.iter().enumerate() {
            let key = (row.end - row.start, Reverse(r as u32));
            if best.len() < n {
                best.push(Reverse(key));
            } else if best.peek().is_some_and(|worst| key > worst.0) {
                best.pop();
                best.push(Reverse(key));
            }
        }
        let mut out: Vec<(u64, Reverse<u32>)> = best.into_iter().map(|r| r.0).collect();
        out.sort_unstable_by(|a, b| b.cmp(a));
        out.into_iter().map(|(_, Reverse(r))| r).collect()
    }

    /// Spans with this name, in id order (index only).
    pub fn spans_named(&self, name: &str) -> (Vec<SpanInfo>, ReadStats) {
        let wanted: Vec<u32> = (0..self.s.callsites.len() as u32)
            .filter(|&c| self.str(self.s.callsites[c as usize].name) == name)
            .collect();
        let out = (0..self.s.rows.len() as u32)
            .filter(|&r| wanted.contains(&self.s.rows[r as usize].callsite))
            .map(|r| self.info_row(r))
            .collect();
        (out, self.open_stats)
    }

    /// Every span from the index, in id order (no payload read).
    pub fn infos(&self) -> (Vec<SpanInfo>, ReadStats) {
        (
            (0..self.s.rows.len() as u32)
                .map(|r| self.info_row(r))
                .collect(),
            self.open_stats,
        )
    }

    fn slowest_root(&self) -> Option<u32> {
        let rows = &self.s.rows;
        self.s.roots.iter().copied().max_by(|&a, &b| {
            let (ra, rb) = (&rows[a as usize], &rows[b as usize]);
            (ra.end - ra.start)
                .cmp(&(rb.end - rb.start))
                .then(b.cmp(&a))
        })
    }

    /// The critical path of the slowest root (index only).
    ///
    /// # Errors
    /// None today; kept fallible like every query.
    pub fn critical_path(&self) -> Result<(Vec<Segment>, ReadStats), Error> {
        let path = match self.slowest_root() {
            Some(r) => critical::critical_path(&self.s.rows, r),
            None => Vec::new(),
        };
        Ok((path, self.open_stats))
    }

    /// The critical path of any span's subtree (index only).
    ///
    /// # Errors
    /// [`Error::UnknownSpan`] if `id` is not in the trace.
    pub fn critical_path_of(&self, id: SpanId) -> Result<(Vec<Segment>, ReadStats), Error> {
        let r = self.check(id)?;
        Ok((critical::critical_path(&self.s.rows, r), self.open_stats))
    }

    /// A span's self time: its duration minus the union of its children's
    /// intervals (clamped to it), from the index alone.
    ///
    /// # Errors
    /// [`Error::UnknownSpan`] if `id` is not in the trace.
    pub fn self_ns(&self, id: SpanId) -> Result<u64, Error> {
        Ok(self.self_time(self.check(id)?))
    }

    fn self_time(&self, r: u32) -> u64 {
        let rows = &self.s.rows;
        let row = &rows[r as usize];
        let (lo, hi) = (row.start, row.end);
        let mut covered = 0u64;
        let mut cur: Option<(u64, u64)> = None;
        let mut c = r + 1;
        while c < row.subtree_end {
            let k = &rows[c as usize];
            let (s, e) = (k.start.clamp(lo, hi), k.end.clamp(lo, hi));
            cur = match cur {
                Some((cs, ce)) if s <= ce => Some((cs, ce.max(e))),
                Some((cs, ce)) => {
                    covered += ce - cs;
                    Some((s, e))
                }
                None => Some((s, e)),
            };
            c = k.subtree_end;
        }
        if let Some((cs, ce)) = cur {
            covered += ce - cs;
        }
        (hi - lo).saturating_sub(covered)
    }

    /// Per-service rollup, trace count, the critical path of the slowest
    /// root, and the slowest spans — from the index alone: not one payload
    /// byte is read.
    ///
    /// # Errors
    /// None today; kept fallible like every query.
    pub fn summary(&self) -> Result<(Summary, ReadStats), Error> {
        let rows = &self.s.rows;
        // One pass over the rows: each row adds to its own service.
        let mut services: Vec<ServiceSummary> = self
            .s
            .services
            .iter()
            .map(|&name| ServiceSummary {
                service: self.arc(name),
                spans: 0,
                total_ns: 0,
                self_ns: 0,
                busy_ns: 0,
                errors: 0,
            })
            .collect();
        for (r, row) in rows.iter().enumerate() {
            let Some(s) = services.get_mut(row.service as usize) else {
                continue;
            };
            // Sums of times from a hostile file may not fit: saturate.
            s.spans += 1;
            s.total_ns = s.total_ns.saturating_add(row.end - row.start);
            s.self_ns = s.self_ns.saturating_add(self.self_time(r as u32));
            s.busy_ns = s.busy_ns.saturating_add(row.busy);
            s.errors += u64::from(row.flags & FLAG_ERROR != 0);
        }
        services.sort_by(|a, b| {
            b.total_ns
                .cmp(&a.total_ns)
                .then_with(|| a.service.cmp(&b.service))
        });
        let slowest_root = self.slowest_root();
        let critical_path =
            slowest_root.map_or_else(Vec::new, |r| critical::critical_path(rows, r));
        let h = &self.s.header;
        let summary = Summary {
            traces: self.s.roots.len() as u32,
            spans: rows.len() as u32,
            events: h.events,
            services,
            slowest_root: slowest_root.map(|r| self.info_row(r)),
            critical_path,
            slowest: self
                .slowest_rows(SUMMARY_SLOWEST)
                .into_iter()
                .map(|r| self.info_row(r))
                .collect(),
            records_dropped: h.records_dropped,
            incomplete_spans: h.incomplete_spans,
        };
        Ok((summary, self.open_stats))
    }

    /// Reads the whole fields section and the whole payload, checks both
    /// checksums and decodes every callsite's field names and every block:
    /// what `open` leaves out, because it costs reading everything.
    ///
    /// # Errors
    /// [`Error::Checksum`] on a mismatch, [`Error::Corrupt`] for what does
    /// not decode, or a read error.
    pub fn verify(&self) -> Result<ReadStats, Error> {
        let mut stats = self.open_stats;
        self.load_all_names(&mut stats)?;
        let payload = self.s.extents[S_PAYLOAD];
        let bytes = self.read_payload(0, payload.len, &mut stats)?;
        self.check_payload_crc(&bytes)?;
        for r in 0..self.s.rows.len() as u32 {
            self.decode_block(r, &bytes, 0)?;
        }
        self.decode_orphans(&bytes, 0)?;
        Ok(stats)
    }
}
