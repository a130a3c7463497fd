//! Journal → envelope.
//!
//! Pass 1 streams the journal and keeps only per-span structure (times,
//! parent, flags, payload size): memory grows with the number of spans, not
//! with their payload. The tree is then laid out in preorder and the
//! structure sections and the field names are written. Pass 2 streams the journal again and
//! scatters each payload item into its span's block, through a window of at
//! most [`WINDOW`] bytes: a payload larger than that takes one more pass per
//! window instead of more memory. The result goes to a temporary name and
//! is renamed into place.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::layout::*;
use crate::capture::local::AddrHasher;
use crate::capture::setup::create_private;
use crate::codec::{Cursor, put_bytes, put_uvarint, uvarint_array, uvarint_len};
use crate::error::{Error, Section};
use crate::journal::RecoverStats;
use crate::journal::read::FrameReader;
use crate::journal::record::{KIND_SPAN, RecordRef, next_record_as};
use crate::value::{RawValue, get_some_fields};

/// The most payload bytes held in memory at once while converting.
const WINDOW: u64 = 128 << 20;
const OPEN: u64 = u64::MAX;
const NONE: u32 = u32::MAX;

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<AddrHasher>>;

/// What a conversion read and wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConvertStats {
    /// Spans in the envelope.
    pub spans: u32,
    /// Top-level spans (traces).
    pub roots: u32,
    /// Events, inside spans or not.
    pub events: u64,
    /// Journal records read.
    pub records: u64,
    /// Spans never closed, ended at the last time seen and flagged.
    pub incomplete_spans: u32,
    /// Records that referred to a span whose creation was lost.
    pub orphan_records: u64,
    /// Records the capture reported dropped.
    pub records_dropped: u64,
    /// How reading the journal went (torn tail, where it stopped).
    pub journal: RecoverStats,
    /// Size of the envelope written.
    pub envelope_bytes: u64,
    /// Bytes of the structure (preamble, header, tables, index): what
    /// `open` reads, besides the 32-byte trailer.
    pub structure_bytes: u64,
    /// Bytes of the fields section, one block of field names per callsite,
    /// which sits between the structure and the payload: a query that
    /// decodes payload reads the blocks of the callsites it decodes.
    pub fields_bytes: u64,
    /// Bytes of payload blocks.
    pub payload_bytes: u64,
    /// How many times the journal was read (1 + payload windows).
    pub journal_passes: u32,
}

/// Converts a journal into an envelope: the journal a crashed process left
/// behind, or one kept with [`Builder::keep_journal`](crate::Builder::keep_journal).
///
/// Reads up to the journal's last whole frame; spans never closed end at
/// the last time seen and are flagged incomplete; the dropped-record count
/// carries into the header. `out` appears only when complete.
///
/// # Errors
/// The journal cannot be read or is not a journal, or `out` cannot be
/// written. A torn tail is not an error: see [`ConvertStats::journal`].
///
/// ```no_run
/// # fn main() -> Result<(), bhtrace::Error> {
/// let stats = bhtrace::recover("app.bhtj", "app.bht")?;
/// println!("{} spans, {} incomplete", stats.spans, stats.incomplete_spans);
/// # Ok(()) }
/// ```
pub fn recover(journal: impl AsRef<Path>, out: impl AsRef<Path>) -> Result<ConvertStats, Error> {
    convert_impl(journal.as_ref(), out.as_ref(), &mut |_, _| {})
}

/// [`recover`], calling `progress(done, total)` with journal bytes as it goes.
///
/// # Errors
/// As [`recover`].
pub fn recover_with_progress(
    journal: impl AsRef<Path>,
    out: impl AsRef<Path>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ConvertStats, Error> {
    convert_impl(journal.as_ref(), out.as_ref(), progress)
}

pub(crate) fn convert(journal: &Path, out: &Path) -> Result<ConvertStats, Error> {
    convert_impl(journal, out, &mut |_, _| {})
}

/// Per-span state of pass 1. A slot is created by the first record naming
/// a span number; it is a real span once its NEW_SPAN record is seen.
#[derive(Debug, Clone)]
struct Acc {
    parent: u64,
    start: u64,
    end: u64,
    busy: u64,
    payload: u64,
    /// Event bytes, moved to the orphan block if the span never appears.
    event_bytes: u64,
    enter_t: u64,
    /// Records naming this span (only counted for spans never created).
    records: u32,
    /// Journal callsite number (1-based); 0 until NEW_SPAN is seen.
    callsite: u32,
    thread: u32,
    service: u32,
    enter_thread: u32,
    depth: u32,
    flags: u32,
    /// Bytes of the creation item (tag + field list): it opens the span's
    /// block, whatever the journal order of the span's other records.
    head: u32,
}

impl Acc {
    fn new() -> Self {
        Acc {
            parent: 0,
            start: 0,
            end: OPEN,
            busy: 0,
            payload: 0,
            event_bytes: 0,
            records: 0,
            enter_t: 0,
            callsite: 0,
            thread: 0,
            service: NONE,
            enter_thread: 0,
            depth: 0,
            flags: 0,
            head: 0,
        }
    }
}

#[derive(Debug, Clone)]
struct Cs {
    kind: u8,
    level: u8,
    name: u32,
    target: u32,
    module: Option<u32>,
    file: Option<u32>,
    line: u32,
    /// Indices into the field-name table, in declaration order.
    fields: Vec<u32>,
    service_idx: Option<u8>,
    error_idx: Option<u8>,
    status_idx: Option<u8>,
    /// The string id of the service its last span named.
    last_service: u32,
}

#[derive(Debug, Default)]
struct Interner {
    map: HashMap<String, u32>,
    list: Vec<String>,
}

impl Interner {
    fn get(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.map.get(s) {
            return i;
        }
        let i = self.list.len() as u32;
        self.list.push(s.to_owned());
        self.map.insert(s.to_owned(), i);
        i
    }
}

/// Span number → slot. The writer hands numbers out in blocks of 1024 per
/// thread counting up from 1, so they are dense: a vector indexed by number
/// (4 bytes a span, no hashing) holds them, and the rare number far beyond
/// the others (a corrupt or hostile journal) goes to a hash map instead of
/// growing the vector.
#[derive(Debug, Default)]
struct SlotMap {
    dense: Vec<u32>,
    sparse: FastMap<u64, u32>,
}

impl SlotMap {
    fn get(&self, number: u64) -> Option<u32> {
        if let Some(&s) = usize::try_from(number).ok().and_then(|i| self.dense.get(i)) {
            if s != NONE {
                return Some(s);
            }
        }
        // A number may sit in the sparse map although the vector has grown
        // past it since.
        if self.sparse.is_empty() {
            None
        } else {
            self.sparse.get(&number).copied()
        }
    }

    fn insert(&mut self, number: u64, slot: u32) {
        let i = number as usize;
        // Grow the vector only up to a few times the spans it holds.
        let limit = 4 * (self.dense.len() + self.sparse.len()) + (1 << 20);
        if (number as u128) < limit as u128 {
            if i >= self.dense.len() {
                self.dense.resize(i + 1, NONE);
            }
            self.dense[i] = slot;
        } else {
            self.sparse.insert(number, slot);
        }
    }
}

/// A field value seen on a span before its creation record.
#[derive(Debug)]
enum Pending {
    Str(String),
    Bool(bool),
    Other,
}

/// What pass 1 needs of a field value, borrowed.
#[derive(Debug, Clone, Copy)]
enum Seen<'a> {
    Str(&'a str),
    Bool(bool),
    Other,
}

impl<'a> Seen<'a> {
    fn of(v: RawValue<'a>) -> Self {
        match v {
            RawValue::Str(s) => Seen::Str(s),
            RawValue::Bool(b) => Seen::Bool(b),
            _ => Seen::Other,
        }
    }
}

impl Pending {
    /// `v`, kept past the record it was read from.
    fn owned(v: Seen<'_>) -> Self {
        match v {
            Seen::Str(s) => Pending::Str(s.to_owned()),
            Seen::Bool(b) => Pending::Bool(b),
            Seen::Other => Pending::Other,
        }
    }

    fn seen(&self) -> Seen<'_> {
        match self {
            Pending::Str(s) => Seen::Str(s),
            Pending::Bool(b) => Seen::Bool(*b),
            Pending::Other => Seen::Other,
        }
    }
}

#[derive(Debug, Default)]
struct Pass1 {
    spans: Vec<Acc>,
    map: SlotMap,
    callsites: Vec<Cs>,
    /// Per thread: name string id + 1 (0 = unnamed).
    threads: Vec<u32>,
    strings: Interner,
    /// The distinct field names, which go to the fields section, not to
    /// the string table.
    field_names: Interner,
    /// Enter state of spans entered on a second thread at once.
    overflow: FastMap<(u32, u32), (u32, u64)>,
    /// Per slot: service/error values recorded (on another thread) before
    /// the span's creation record reached the journal. They happened after
    /// the creation, so they are applied right after it.
    pending: FastMap<u32, Vec<(u8, Pending)>>,
    orphan_bytes: u64,
    events: u64,
    records: u64,
    orphan_records: u64,
    dropped: u64,
    clean: bool,
    last_t: u64,
    /// The file offset of the first record that did not decode, if any.
    valid_end: u64,
}

impl Pass1 {
    fn slot(&mut self, number: u64) -> u32 {
        if let Some(s) = self.map.get(number) {
            return s;
        }
        let s = self.spans.len() as u32;
        self.spans.push(Acc::new());
        self.map.insert(number, s);
        s
    }

    fn callsite(&self, id: u32) -> Option<&Cs> {
        self.callsites.get((id as usize).wrapping_sub(1))
    }

    fn see(&mut self, t: u64) {
        self.last_t = self.last_t.max(t);
    }

    /// Looks at a span's fields for its service and error markers.
    fn scan_fields(&mut self, slot: u32, fields: &[u8], offset: u64) -> Result<(), Error> {
        let cs = self.spans[slot as usize].callsite;
        let mut c = Cursor::new(fields, offset, Section::Journal);
        let Some(cs) = self.callsite(cs) else {
            // Its callsite is not known yet (a RECORD before the span's
            // NEW_SPAN): keep every field until it is.
            let mut found = Vec::new();
            get_some_fields(
                &mut c,
                |_| true,
                |idx, v| {
                    found.push((idx, Pending::owned(Seen::of(v))));
                    Ok(())
                },
            )?;
            self.pending.entry(slot).or_default().extend(found);
            return Ok(());
        };
        let wanted = [cs.service_idx, cs.error_idx, cs.status_idx];
        if wanted == [None; 3] {
            return Ok(());
        }
        // Every occurrence counts: a list may name a field twice (a
        // `record_all` with a repeated field), and the later value wins.
        get_some_fields(
            &mut c,
            |idx| wanted.contains(&Some(idx)),
            |idx, v| {
                self.apply_field(slot, idx, Seen::of(v));
                Ok(())
            },
        )
    }

    fn apply_field(&mut self, slot: u32, idx: u8, v: Seen<'_>) {
        let Some(cs) = self.callsite(self.spans[slot as usize].callsite) else {
            return;
        };
        let (service_idx, error_idx, status_idx) = (cs.service_idx, cs.error_idx, cs.status_idx);
        let acc_flags_error = match v {
            _ if Some(idx) == error_idx => !matches!(v, Seen::Bool(false)),
            Seen::Str(s) if Some(idx) == status_idx => s.eq_ignore_ascii_case("error"),
            _ => false,
        };
        if Some(idx) == service_idx {
            if let Seen::Str(s) = v {
                // A callsite's spans nearly always name the same service:
                // a string compare spares the hash.
                let cs = self.spans[slot as usize].callsite as usize - 1;
                let last = self.callsites[cs].last_service;
                let id = match self.strings.list.get(last as usize) {
                    Some(known) if known == s => last,
                    _ => self.strings.get(s),
                };
                self.callsites[cs].last_service = id;
                self.spans[slot as usize].service = id;
            }
        }
        if acc_flags_error {
            self.spans[slot as usize].flags |= FLAG_ERROR;
        }
    }

    fn add_payload(&mut self, number: u64, bytes: u64, is_event: bool) -> u32 {
        let slot = self.slot(number);
        self.add_payload_at(slot, bytes, is_event);
        slot
    }

    fn add_payload_at(&mut self, slot: u32, bytes: u64, is_event: bool) {
        let acc = &mut self.spans[slot as usize];
        acc.payload += bytes;
        acc.records = acc.records.saturating_add(1);
        if is_event {
            acc.event_bytes += bytes;
        }
    }

    /// Adds an ENTER, EXIT or EVENT item to span `number`'s block, sized as
    /// pass 2 will write it (see [`Item::timed`]).
    fn add_timed(&mut self, number: u64, tag: u8, body: &[u8], t: u64) -> u32 {
        let slot = self.slot(number);
        let acc = &self.spans[slot as usize];
        let start = (acc.callsite != 0).then_some(acc.start);
        let size = Item::timed_len(tag, body, t, start);
        self.add_payload_at(slot, size, tag == P_EVENT);
        slot
    }

    fn record(&mut self, rec: RecordRef<'_>, offset: u64) -> Result<(), Error> {
        self.records += 1;
        match rec {
            RecordRef::Callsite(d) => {
                if d.id as usize != self.callsites.len() + 1 {
                    self.orphan_records += 1;
                    return Ok(());
                }
                let pos = |name: &str| d.fields.iter().position(|f| *f == name).map(|i| i as u8);
                let cs = Cs {
                    kind: d.kind,
                    level: d.level,
                    name: self.strings.get(d.name),
                    target: self.strings.get(d.target),
                    module: (!d.module.is_empty()).then(|| self.strings.get(d.module)),
                    file: (!d.file.is_empty()).then(|| self.strings.get(d.file)),
                    line: d.line,
                    fields: d.fields.iter().map(|f| self.field_names.get(f)).collect(),
                    service_idx: pos("service"),
                    error_idx: pos("error"),
                    status_idx: pos("otel.status_code"),
                    last_service: NONE,
                };
                self.callsites.push(cs);
            }
            RecordRef::Thread { thread, name } => {
                if thread as usize == self.threads.len() + 1 {
                    let id = if name.is_empty() {
                        0
                    } else {
                        self.strings.get(name) + 1
                    };
                    self.threads.push(id);
                } else {
                    self.orphan_records += 1;
                }
            }
            RecordRef::NewSpan {
                span,
                parent,
                callsite,
                t,
                thread,
                fields,
            } => {
                let valid = self.callsite(callsite).is_some_and(|c| c.kind == KIND_SPAN);
                let slot = self.slot(span);
                let acc = &mut self.spans[slot as usize];
                if acc.callsite != 0 || !valid || span == 0 {
                    self.orphan_records += 1;
                    return Ok(());
                }
                acc.callsite = callsite;
                acc.parent = parent;
                acc.start = t;
                acc.thread = thread;
                // A field list lies inside one frame (at most MAX_FRAME_LEN).
                acc.head = (1 + fields.len()) as u32;
                acc.payload += u64::from(acc.head);
                acc.records = acc.records.saturating_add(1);
                self.see(t);
                self.scan_fields(slot, fields, offset)?;
                // Fields recorded before the span's creation: rare, and an
                // empty map spares the hash.
                if !self.pending.is_empty() {
                    for (idx, v) in self.pending.remove(&slot).unwrap_or_default() {
                        self.apply_field(slot, idx, v.seen());
                    }
                }
            }
            RecordRef::Record { span, fields } => {
                let slot = self.add_payload(span, 1 + fields.len() as u64, false);
                self.scan_fields(slot, fields, offset)?;
            }
            RecordRef::Follows { span, .. } => {
                let slot = self.add_payload(span, 5, false);
                self.spans[slot as usize].flags |= FLAG_FOLLOWS;
            }
            RecordRef::Enter {
                span,
                t,
                thread,
                body,
            } => {
                self.see(t);
                let slot = self.add_timed(span, P_ENTER, body, t);
                // A thread that holds the span through the overflow map
                // nests there, so its nested entry is not counted twice.
                let in_overflow = self.overflow.get(&(slot, thread)).is_some_and(|e| e.0 > 0);
                let acc = &mut self.spans[slot as usize];
                if !in_overflow && acc.depth == 0 {
                    acc.enter_thread = thread;
                    acc.enter_t = t;
                    acc.depth = 1;
                } else if !in_overflow && acc.enter_thread == thread {
                    acc.depth += 1;
                } else {
                    let e = self.overflow.entry((slot, thread)).or_insert((0, t));
                    if e.0 == 0 {
                        e.1 = t;
                    }
                    e.0 += 1;
                }
            }
            RecordRef::Exit {
                span,
                t,
                thread,
                body,
            } => {
                self.see(t);
                let slot = self.add_timed(span, P_EXIT, body, t);
                let acc = &mut self.spans[slot as usize];
                if acc.depth > 0 && acc.enter_thread == thread {
                    acc.depth -= 1;
                    if acc.depth == 0 {
                        acc.busy = acc.busy.saturating_add(t.saturating_sub(acc.enter_t));
                    }
                } else if let Some(e) = self.overflow.get_mut(&(slot, thread)) {
                    if e.0 > 0 {
                        e.0 -= 1;
                        if e.0 == 0 {
                            acc.busy = acc.busy.saturating_add(t.saturating_sub(e.1));
                        }
                    }
                }
            }
            RecordRef::Close { span, t } => {
                self.see(t);
                let slot = self.slot(span);
                let acc = &mut self.spans[slot as usize];
                acc.end = t;
                acc.records = acc.records.saturating_add(1);
            }
            RecordRef::Event {
                parent,
                callsite,
                t,
                body,
                ..
            } => {
                let Some(cs) = self.callsite(callsite).filter(|c| c.kind != KIND_SPAN) else {
                    self.orphan_records += 1;
                    return Ok(());
                };
                let error = cs.level == 4;
                self.see(t);
                self.events += 1;
                if parent == 0 {
                    self.orphan_bytes += Item::timed_len(P_EVENT, body, t, None);
                } else {
                    let slot = self.add_timed(parent, P_EVENT, body, t);
                    if error {
                        self.spans[slot as usize].flags |= FLAG_ERROR;
                    }
                }
            }
            RecordRef::Dropped { total } => self.dropped = self.dropped.max(total),
            RecordRef::End { t } => {
                self.see(t);
                self.clean = true;
            }
        }
        Ok(())
    }
}

/// Streams every decodable record of the journal to `f`, stopping at the
/// first torn or corrupt frame, or at `limit` (a file offset). With `text`,
/// field strings are checked for UTF-8 as every journal reader checks them
/// (pass 1 decides what is readable); pass 2 reads the same bytes again
/// and skips that check.
fn for_each_record(
    path: &Path,
    limit: u64,
    text: bool,
    progress: &mut dyn FnMut(u64),
    mut f: impl FnMut(RecordRef<'_>, u64) -> Result<(), Error>,
) -> Result<(FrameReader, u64), Error> {
    let mut frames = FrameReader::open_parsing(path, text)?;
    let mut valid_end = u64::MAX;
    let mut records = 0u64;
    'frames: while let Some((frame, offset, parsed)) = frames.next_frame()? {
        let mut c = Cursor::new(frame, offset, Section::Journal);
        let mut n = 0u64;
        // The time deltas of a frame refer to its earlier records only.
        let mut base = None;
        // The records the read-ahead thread parsed: the same records, in
        // the same order, as decoding here gives; the rest is decoded here.
        for p in parsed {
            let at = offset + p.start() as u64;
            if at >= limit {
                break 'frames;
            }
            let rec = match p.record(frame) {
                Some(rec) => rec,
                None => {
                    // A rare kind: decoded again here (it decoded there).
                    let rest = frame.get(p.start()..).unwrap_or_default();
                    let mut own = base;
                    next_record_as(&mut Cursor::new(rest, at, Section::Journal), text, &mut own)?
                }
            };
            if let Some(t) = p.time() {
                base = Some(t);
            }
            f(rec, at)?;
            n += 1;
        }
        c.advance(parsed.last().map_or(0, |p| p.end()));
        while !c.is_empty() {
            let at = c.offset();
            if at >= limit {
                break 'frames;
            }
            match next_record_as(&mut c, text, &mut base) {
                Ok(rec) => {
                    f(rec, at)?;
                    n += 1;
                }
                Err(e) => {
                    valid_end = at;
                    records += n;
                    frames.count_records(records);
                    frames.stop_bad_record(at, &e);
                    return Ok((frames, valid_end));
                }
            }
        }
        records += n;
        progress(frames.stats().stopped_at);
    }
    frames.count_records(records);
    Ok((frames, valid_end))
}

fn convert_impl(
    journal: &Path,
    out: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ConvertStats, Error> {
    let tmp = tmp_path(out);
    let result = (|| {
        // A stale temporary file (a conversion that crashed) or a link
        // planted there goes; the new one is never written through a link.
        let _ = std::fs::remove_file(&tmp);
        let file = create_private(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
        let stats = convert_to(journal, &mut w, &tmp, progress, WINDOW)?;
        let file = w
            .into_inner()
            .map_err(|e| Error::io(&tmp, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, out).map_err(|e| Error::io(out, e))?;
        Ok(stats)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Converts a journal into an envelope held in memory, for inspecting a
/// crashed process's journal without writing a file.
///
/// # Errors
/// As [`recover`].
///
/// ```no_run
/// # fn main() -> Result<(), bhtrace::Error> {
/// let (bytes, _stats) = bhtrace::recover_to_vec("app.bhtj")?;
/// let trace = bhtrace::TraceReader::from_bytes(bytes)?;
/// # Ok(()) }
/// ```
pub fn recover_to_vec(journal: impl AsRef<Path>) -> Result<(Vec<u8>, ConvertStats), Error> {
    let mut out = Vec::new();
    let stats = convert_to(
        journal.as_ref(),
        &mut out,
        Path::new("<memory>"),
        &mut |_, _| {},
        WINDOW,
    )?;
    Ok((out, stats))
}

/// Writes the envelope of `journal` to `out`, front to back, filling the
/// payload through windows of at most `window` bytes.
fn convert_to(
    journal: &Path,
    out: &mut dyn Write,
    out_path: &Path,
    progress: &mut dyn FnMut(u64, u64),
    window: u64,
) -> Result<ConvertStats, Error> {
    // Pass 1: structure.
    let mut p = Pass1::default();
    let file_len = std::fs::metadata(journal)
        .map_err(|e| Error::io(journal, e))?
        .len();
    let mut total = file_len.saturating_mul(2);
    let (frames, valid_end) = for_each_record(
        journal,
        u64::MAX,
        true,
        &mut |done| progress(done, total),
        |rec, at| p.record(rec, at),
    )?;
    // Pass 2 reads exactly what pass 1 read, even if the journal grows.
    let valid_end = valid_end.min(frames.stats().stopped_at);
    p.valid_end = valid_end;
    let journal_stats = frames.stats().clone();
    let process = frames.process().clone();
    drop(frames);

    let mut layout = Layout::build(&mut p);
    let structure = layout.structure_bytes(&p);
    let payload_total = layout.payload_total;
    let windows = payload_total.div_ceil(window).max(1);
    total = file_len.saturating_mul(1 + windows);

    let header = TraceHeader {
        process,
        spans: layout.order.len() as u32,
        roots: layout.roots.len() as u32,
        events: p.events,
        threads: p.threads.len() as u32,
        callsites: p.callsites.len() as u32,
        strings: p.strings.list.len() as u32,
        services: layout.services.len() as u32,
        records_dropped: p.dropped,
        incomplete_spans: layout.incomplete,
        orphan_records: p.orphan_records + layout.ghost_records,
        clean_shutdown: p.clean,
        journal_torn: journal_stats.torn_tail,
        end_ns: p.last_t,
    };
    let info = postcard::to_stdvec(&header).map_err(|_| Error::Corrupt {
        section: Section::Header,
        offset: 0,
        what: "header does not encode",
    })?;
    let header_len = (SECTION_TABLE_LEN + info.len()) as u64;
    if header_len > MAX_HEADER_LEN {
        // The process header is at most the journal's limit, so this needs
        // a bug; better said than written into a file no reader opens.
        return Err(Error::Corrupt {
            section: Section::Header,
            offset: 0,
            what: "header longer than a reader accepts",
        });
    }
    let mut offset = PREAMBLE_LEN + header_len;
    let mut extents = [Extent::default(); SECTION_COUNT];
    for (i, part) in structure.parts.iter().enumerate() {
        extents[i] = Extent {
            offset,
            len: part.len() as u64,
        };
        offset += part.len() as u64;
    }
    let structure_end = offset;
    extents[S_FIELDS] = Extent {
        offset,
        len: structure.fields.len() as u64,
    };
    offset += structure.fields.len() as u64;
    extents[S_PAYLOAD] = Extent {
        offset,
        len: payload_total,
    };
    extents[S_ORPHANS] = Extent {
        offset: offset + layout.orphan_start,
        len: payload_total - layout.orphan_start,
    };

    let mut head = Vec::with_capacity(PREAMBLE_LEN as usize + header_len as usize);
    head.extend_from_slice(&MAGIC);
    head.extend_from_slice(&ENVELOPE_VERSION.to_le_bytes());
    head.extend_from_slice(&(header_len as u32).to_le_bytes());
    for e in &extents {
        head.extend_from_slice(&e.offset.to_le_bytes());
        head.extend_from_slice(&e.len.to_le_bytes());
    }
    head.extend_from_slice(&info);
    let header_crc = crc32fast::hash(&head[PREAMBLE_LEN as usize..]);
    let io = |e| Error::io(out_path, e);
    out.write_all(&head).map_err(io)?;
    let mut structure_crc = crc32fast::Hasher::new();
    for part in structure.parts {
        structure_crc.update(&part);
        out.write_all(&part).map_err(io)?;
    }
    let structure_crc = structure_crc.finalize();
    let fields_crc = crc32fast::hash(&structure.fields);
    out.write_all(&structure.fields).map_err(io)?;
    // Pass 2 needs the span-number map and the layout (which took what it
    // needs of each span), not pass 1's per-span accumulators.
    p.spans = Vec::new();
    let payload_crc = pass2(
        JournalRange {
            path: journal,
            end: valid_end,
        },
        &p,
        &layout,
        out,
        out_path,
        window,
        &mut |pass, done| progress(file_len * (1 + pass) + done, total),
    )?;
    let fields_bytes = structure.fields.len() as u64;
    let envelope_bytes = structure_end + fields_bytes + payload_total + TRAILER_LEN;
    let mut trailer = Vec::with_capacity(TRAILER_LEN as usize);
    trailer.extend_from_slice(&header_crc.to_le_bytes());
    trailer.extend_from_slice(&structure_crc.to_le_bytes());
    trailer.extend_from_slice(&payload_crc.to_le_bytes());
    trailer.extend_from_slice(&fields_crc.to_le_bytes());
    trailer.extend_from_slice(&envelope_bytes.to_le_bytes());
    trailer.extend_from_slice(&END_MAGIC);
    out.write_all(&trailer).map_err(io)?;
    out.flush().map_err(io)?;
    progress(total, total);
    Ok(ConvertStats {
        spans: header.spans,
        roots: header.roots,
        events: p.events,
        records: p.records,
        incomplete_spans: layout.incomplete,
        orphan_records: header.orphan_records,
        records_dropped: p.dropped,
        journal: journal_stats,
        envelope_bytes,
        structure_bytes: structure_end,
        fields_bytes,
        payload_bytes: payload_total,
        journal_passes: 1 + if payload_total > 0 { windows as u32 } else { 0 },
    })
}

fn tmp_path(out: &Path) -> PathBuf {
    let mut name = out
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".tmp");
    out.with_file_name(name)
}

/// The tree laid out in preorder, with every offset the writer needs.
#[derive(Debug, Default)]
struct Layout {
    /// Row → slot.
    order: Vec<u32>,
    /// Slot → row (NONE for slots that never became spans).
    row_of: Vec<u32>,
    /// The structure index, already encoded: the column widths, then one
    /// row per span.
    index: Vec<u8>,
    /// Slot → size of its creation item, which opens its block.
    heads: Vec<u32>,
    /// Slot → the span's start, as its index row stores it: the origin of
    /// its relative item times.
    starts: Vec<u64>,
    roots: Vec<u32>,
    /// Service number → name string id, numbered in order of first use
    /// by the rows (a row's `service` column holds the number).
    services: Vec<u32>,
    /// Slot → where its block starts in the payload section.
    block_start: Vec<u64>,
    orphan_start: u64,
    payload_total: u64,
    incomplete: u32,
    ghost_records: u64,
}

/// Packs an index of full-width rows (behind `COLUMNS` bytes kept for the
/// widths) into `layout`'s bit-packed rows, in place. A packed row is never
/// longer than a wide one, and each wide row is decoded before its packed
/// bits are written, in whole 8-byte words that end at or before where the
/// next wide row starts: writing never overtakes reading.
fn pack(mut index: Vec<u8>, layout: RowLayout) -> Vec<u8> {
    let rows = (index.len() - COLUMNS) / WIDE_ROW_LEN;
    let mut packer = BitPacker::default();
    let mut to = COLUMNS;
    for r in 0..rows {
        let values = match index[COLUMNS + r * WIDE_ROW_LEN..].first_chunk() {
            Some(row) => wide_values(row),
            None => break,
        };
        layout.put_values(values, &mut packer, |word| {
            index[to..to + 8].copy_from_slice(&word);
            to += 8;
        });
    }
    let (tail, len) = packer.finish();
    index.truncate(to);
    index.extend_from_slice(&tail[..len]);
    index[..COLUMNS].copy_from_slice(&layout.widths());
    index
}

/// The sections written before the payload.
struct Structure {
    /// What `open` reads: strings, callsites, threads, index, roots and
    /// services, in file order.
    parts: [Vec<u8>; 6],
    /// The fields section: each callsite's field names, a block each.
    fields: Vec<u8>,
}

impl Layout {
    fn build(p: &mut Pass1) -> Layout {
        let n = p.spans.len();
        let end_t = p.last_t;
        // What is still pending belongs to spans whose creation was lost.
        p.pending.clear();
        let overflow = std::mem::take(&mut p.overflow);
        let mut layout = Layout::default();
        let real: Vec<bool> = p.spans.iter().map(|a| a.callsite != 0).collect();
        for ((slot, _), (depth, t)) in overflow {
            if depth > 0 && real[slot as usize] {
                let acc = &mut p.spans[slot as usize];
                acc.busy = acc
                    .busy
                    .saturating_add(acc.end.min(end_t).saturating_sub(t));
            }
        }
        for (i, acc) in p.spans.iter_mut().enumerate() {
            if !real[i] {
                layout.ghost_records += u64::from(acc.records);
                p.orphan_bytes += acc.event_bytes;
                continue;
            }
            if acc.end == OPEN {
                acc.end = end_t;
                acc.flags |= FLAG_INCOMPLETE;
                layout.incomplete += 1;
            }
            acc.end = acc.end.max(acc.start);
            if acc.depth > 0 {
                acc.busy = acc.busy.saturating_add(acc.end.saturating_sub(acc.enter_t));
            }
        }

        // Parents and children (CSR, children ordered by start).
        let mut parent_slot = vec![NONE; n];
        for (i, acc) in p.spans.iter_mut().enumerate() {
            if !real[i] || acc.parent == 0 {
                continue;
            }
            match p.map.get(acc.parent) {
                Some(ps) if real[ps as usize] && ps as usize != i => parent_slot[i] = ps,
                _ => acc.flags |= FLAG_PARENT_LOST,
            }
        }
        let mut first = vec![0u32; n + 1];
        for &ps in &parent_slot {
            if ps != NONE {
                first[ps as usize + 1] += 1;
            }
        }
        for i in 0..n {
            first[i + 1] += first[i];
        }
        let mut fill = first.clone();
        let mut children = vec![0u32; first[n] as usize];
        for (i, &ps) in parent_slot.iter().enumerate() {
            if ps != NONE {
                children[fill[ps as usize] as usize] = i as u32;
                fill[ps as usize] += 1;
            }
        }
        drop(fill);
        // Siblings by start time; ties by first appearance in the journal.
        let key = |s: &u32| (p.spans[*s as usize].start, *s);
        for i in 0..n {
            children[first[i] as usize..first[i + 1] as usize].sort_unstable_by_key(key);
        }
        let mut roots: Vec<u32> = (0..n as u32)
            .filter(|&s| real[s as usize] && parent_slot[s as usize] == NONE)
            .collect();
        roots.sort_unstable_by_key(key);

        // Preorder. Spans caught in a parent cycle (only a corrupt journal
        // makes one) are not reached from any root: they become roots.
        let mut row_of = vec![NONE; n];
        let mut row_parent: Vec<u32> = Vec::with_capacity(n);
        let mut order: Vec<u32> = Vec::with_capacity(n);
        let mut root_rows = Vec::with_capacity(roots.len());
        let mut stack: Vec<(u32, u32)> = Vec::new();
        let mut visit =
            |root: u32, order: &mut Vec<u32>, row_of: &mut Vec<u32>, row_parent: &mut Vec<u32>| {
                stack.push((root, NONE));
                while let Some((s, parent_row)) = stack.pop() {
                    if row_of[s as usize] != NONE {
                        continue;
                    }
                    let row = order.len() as u32;
                    row_of[s as usize] = row;
                    order.push(s);
                    row_parent.push(parent_row);
                    let kids =
                        &children[first[s as usize] as usize..first[s as usize + 1] as usize];
                    for &c in kids.iter().rev() {
                        if row_of[c as usize] == NONE {
                            stack.push((c, row));
                        }
                    }
                }
            };
        for &r in &roots {
            root_rows.push(order.len() as u32);
            visit(r, &mut order, &mut row_of, &mut row_parent);
        }
        for s in 0..n as u32 {
            if real[s as usize] && row_of[s as usize] == NONE {
                p.spans[s as usize].flags |= FLAG_PARENT_LOST;
                root_rows.push(order.len() as u32);
                visit(s, &mut order, &mut row_of, &mut row_parent);
            }
        }
        drop(children);
        drop(first);

        // Rows store their parent, not their subtree: a reader derives
        // each subtree's end from the parents, since rows are in preorder.
        let rows_n = order.len();
        let mut block_start = vec![0u64; n];
        // What pass 2 needs of each span, gathered here while its
        // accumulator is at hand (slots that never became spans keep 0).
        let mut heads = vec![0u32; n];
        let mut starts = vec![0u64; n];
        let mut at = 0u64;
        // Service name string id → service number, in order of first use
        // (NONE until used): every service is a string of the table.
        let mut service_of: Vec<u32> = vec![NONE; p.strings.list.len()];
        let mut services: Vec<u32> = Vec::new();
        // Rows are encoded at full width first, then packed in place to the
        // bit widths the largest values need: no second copy of the index.
        let mut index = Vec::with_capacity(COLUMNS + rows_n * WIDE_ROW_LEN);
        index.resize(COLUMNS, 0);
        let mut widths = Widths::default();
        for (r, &s) in order.iter().enumerate() {
            let acc = &p.spans[s as usize];
            let payload_start = at;
            block_start[s as usize] = at;
            heads[s as usize] = acc.head;
            starts[s as usize] = acc.start;
            at += acc.payload;
            let cs = &p.callsites[acc.callsite as usize - 1];
            let service = if acc.service != NONE {
                acc.service
            } else {
                cs.target
            };
            let known = service_of.get(service as usize).filter(|&&n| n != NONE);
            let service = match known {
                Some(&n) => n,
                None => {
                    services.push(service);
                    let n = services.len() as u32 - 1;
                    if let Some(slot) = service_of.get_mut(service as usize) {
                        *slot = n;
                    }
                    n
                }
            };
            let row = Row {
                parent: row_parent[r],
                subtree_end: 0,
                callsite: acc.callsite - 1,
                service,
                // A thread number the journal never defined is "unknown".
                thread: if acc.thread as usize <= p.threads.len() {
                    acc.thread
                } else {
                    0
                },
                flags: acc.flags,
                start: acc.start,
                end: acc.end,
                busy: acc.busy,
                payload_end: at,
            };
            // The row stores its block's length: `at - payload_start`.
            widths.add(&row, payload_start);
            row.put_wide(payload_start, &mut index);
        }
        let index = pack(index, widths.layout());
        layout.orphan_start = at;
        layout.payload_total = at + p.orphan_bytes;
        layout.order = order;
        layout.row_of = row_of;
        layout.index = index;
        layout.roots = root_rows;
        layout.services = services;
        layout.block_start = block_start;
        layout.heads = heads;
        layout.starts = starts;
        layout
    }

    /// The structure sections, in file order; moves the encoded index out.
    fn structure_bytes(&mut self, p: &Pass1) -> Structure {
        let mut strings = Vec::new();
        put_uvarint(&mut strings, p.strings.list.len() as u64);
        for s in &p.strings.list {
            put_bytes(&mut strings, s.as_bytes());
        }
        // Each callsite's field names are a block of the fields section,
        // in callsite order; its entry here ends with the block's length.
        let mut fields = Vec::new();
        let mut callsites = Vec::new();
        put_uvarint(&mut callsites, p.callsites.len() as u64);
        for cs in &p.callsites {
            let names = cs.fields.iter().map(|&f| {
                p.field_names
                    .list
                    .get(f as usize)
                    .map_or("", String::as_str)
            });
            let block = put_field_names(names, &mut fields);
            callsites.push(cs.kind);
            callsites.push(cs.level);
            put_uvarint(&mut callsites, u64::from(cs.name));
            put_uvarint(&mut callsites, u64::from(cs.target));
            put_uvarint(&mut callsites, cs.module.map_or(0, |m| u64::from(m) + 1));
            put_uvarint(&mut callsites, cs.file.map_or(0, |f| u64::from(f) + 1));
            put_uvarint(&mut callsites, u64::from(cs.line));
            put_uvarint(&mut callsites, block as u64);
        }
        let mut threads = Vec::new();
        put_uvarint(&mut threads, p.threads.len() as u64);
        for &t in &p.threads {
            put_uvarint(&mut threads, u64::from(t));
        }
        let index = std::mem::take(&mut self.index);
        let mut roots = Vec::with_capacity(self.roots.len() * 4);
        for r in &self.roots {
            roots.extend_from_slice(&r.to_le_bytes());
        }
        let mut services = Vec::new();
        put_uvarint(&mut services, self.services.len() as u64);
        for &name in &self.services {
            put_uvarint(&mut services, u64::from(name));
        }
        Structure {
            parts: [strings, callsites, threads, index, roots, services],
            fields,
        }
    }
}

/// An ENTER, EXIT or EVENT record as a payload item. Both passes build
/// items with [`Item::timed`], so the size pass 1 counts is the size pass 2
/// writes.
struct Item<'a> {
    tag: u8,
    /// The body up to the time (an EVENT's callsite).
    head: &'a [u8],
    /// The varint of `t − start`, or of `t` when the item is absolute.
    time: ([u8; 10], usize),
    /// The body after the time.
    tail: &'a [u8],
}

impl<'a> Item<'a> {
    /// The item of a journal `body` (everything after the span reference)
    /// under the absolute `tag` (`P_ENTER`, `P_EXIT` or `P_EVENT`), with
    /// time `t`, for a span whose `start` is known if its NEW_SPAN came
    /// earlier in the journal (both passes know it at the same record).
    ///
    /// If `t ≥ start`, the relative tag and the body with `t` replaced by
    /// `t − start`: never longer than the absolute time, usually 1 to 3
    /// bytes instead of 4 or 5. Otherwise (the start unknown yet, or
    /// another thread's clock a few ns behind the creating thread's) the
    /// absolute tag and the body with `t` written absolute (in the journal
    /// it may be a delta from the previous record). Unsigned with this
    /// fallback rather than zigzagged: a zigzag's sign bit makes a delta one
    /// byte longer than the absolute time (and a long trace's items larger
    /// than in v2) whenever it crosses a varint boundary, for rare negatives.
    fn timed(tag: u8, body: &'a [u8], t: u64, start: Option<u64>) -> Item<'a> {
        let at = if tag == P_EVENT { varint_len(body) } else { 0 };
        let after = at + varint_len(&body[at..]);
        let Some(start) = start.filter(|&s| t >= s) else {
            return Item {
                tag,
                head: &body[..at],
                time: uvarint_array(t),
                tail: &body[after..],
            };
        };
        Item {
            tag: match tag {
                P_EVENT => P_EVENT_REL,
                P_ENTER => P_ENTER_REL,
                _ => P_EXIT_REL,
            },
            head: &body[..at],
            time: uvarint_array(t - start),
            tail: &body[after..],
        }
    }

    /// Bytes of the item, tag included.
    fn len(&self) -> u64 {
        (1 + self.head.len() + self.time.1 + self.tail.len()) as u64
    }

    /// `Item::timed(tag, body, t, start).len()` without building the item:
    /// what pass 1 needs of the millions it sizes.
    fn timed_len(tag: u8, body: &[u8], t: u64, start: Option<u64>) -> u64 {
        let at = if tag == P_EVENT { varint_len(body) } else { 0 };
        let time = varint_len(&body[at..]);
        let v = match start.filter(|&s| t >= s) {
            Some(start) => t - start,
            None => t,
        };
        (1 + body.len() - time + uvarint_len(v)) as u64
    }
}

/// Length of the varint that opens `b` (the body decoded as a record
/// already, so its varints are whole).
fn varint_len(b: &[u8]) -> usize {
    b.iter().position(|&x| x < 0x80).map_or(b.len(), |i| i + 1)
}

/// A slice of the payload section held in memory while a pass fills it.
struct Window {
    start: u64,
    buf: Vec<u8>,
}

impl Window {
    /// Writes `tag` then `body` at payload offset `dest`, keeping only what
    /// falls inside this window.
    fn put(&mut self, dest: u64, tag: u8, body: &[u8]) {
        if let Some(to) = self.inside(dest, 1 + body.len() as u64) {
            to[0] = tag;
            to[1..].copy_from_slice(body);
            return;
        }
        self.put_bytes(dest, &[tag]);
        self.put_bytes(dest + 1, body);
    }

    /// Writes `item` at payload offset `dest`, as [`Window::put`] does.
    fn put_item(&mut self, dest: u64, item: &Item<'_>) {
        let time = &item.time.0[..item.time.1];
        let parts = [&[item.tag][..], item.head, time, item.tail];
        // The whole item inside the window (always, with one window): its
        // parts go one after another with one bounds check.
        if let Some(mut to) = self.inside(dest, item.len()) {
            for part in parts {
                let (here, rest) = to.split_at_mut(part.len());
                here.copy_from_slice(part);
                to = rest;
            }
            return;
        }
        let mut at = dest;
        for part in parts {
            self.put_bytes(at, part);
            at += part.len() as u64;
        }
    }

    /// The `len` bytes at payload offset `dest`, if all of them lie in
    /// this window.
    fn inside(&mut self, dest: u64, len: u64) -> Option<&mut [u8]> {
        let at = usize::try_from(dest.checked_sub(self.start)?).ok()?;
        let end = at.checked_add(usize::try_from(len).ok()?)?;
        self.buf.get_mut(at..end)
    }

    fn put_bytes(&mut self, dest: u64, bytes: &[u8]) {
        let end = self.start + self.buf.len() as u64;
        let from = dest.max(self.start);
        let to = (dest + bytes.len() as u64).min(end);
        if from < to {
            let src = &bytes[(from - dest) as usize..(to - dest) as usize];
            let at = (from - self.start) as usize;
            self.buf[at..at + src.len()].copy_from_slice(src);
        }
    }
}

/// Pass 2: fills the payload section window by window; returns its crc32.
/// The part of a journal pass 1 read: its path and where its decodable
/// records end.
#[derive(Debug, Clone, Copy)]
struct JournalRange<'a> {
    path: &'a Path,
    end: u64,
}

fn pass2(
    journal: JournalRange<'_>,
    p: &Pass1,
    layout: &Layout,
    file: &mut dyn Write,
    path: &Path,
    window: u64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<u32, Error> {
    let total = layout.payload_total;
    let mut crc = crc32fast::Hasher::new();
    let mut window_start = 0u64;
    let mut pass = 0u64;
    let n = layout.row_of.len();
    while window_start < total {
        let len = (total - window_start).min(window);
        let mut w = Window {
            start: window_start,
            buf: vec![0u8; len as usize],
        };
        // Creation fields open each block (see `Acc::head`); the span's
        // other items follow in journal order.
        let mut cursor: Vec<u64> = layout
            .block_start
            .iter()
            .zip(&layout.heads)
            .map(|(&start, &head)| start + u64::from(head))
            .collect();
        let mut orphan_at = layout.orphan_start;
        let mut created = vec![false; n];
        // Callsites defined so far, by pass 1's rule: a record may only use
        // a callsite defined before it, as pass 1 saw it.
        let mut defined = 0usize;
        let known = |callsite: u32, defined: usize| {
            p.callsite(callsite)
                .filter(|_| callsite as usize <= defined)
        };
        let real = |slot: u32| layout.row_of[slot as usize] != NONE;
        let slot_of = |number: u64| p.map.get(number).filter(|&s| real(s));
        let place = |number: u64, tag: u8, body: &[u8], w: &mut Window, cursor: &mut Vec<u64>| {
            if let Some(s) = slot_of(number) {
                w.put(cursor[s as usize], tag, body);
                cursor[s as usize] += 1 + body.len() as u64;
                true
            } else {
                false
            }
        };
        // ENTER, EXIT and EVENT items: relative to the span's start once
        // its NEW_SPAN has been seen, as pass 1 sized them.
        let place_timed = |number: u64,
                           tag: u8,
                           body: &[u8],
                           t: u64,
                           created: &[bool],
                           w: &mut Window,
                           cursor: &mut Vec<u64>| {
            let Some(s) = slot_of(number) else {
                return false;
            };
            let s = s as usize;
            let item = Item::timed(tag, body, t, created[s].then(|| layout.starts[s]));
            w.put_item(cursor[s], &item);
            cursor[s] += item.len();
            true
        };
        let (_, _) = for_each_record(
            journal.path,
            journal.end,
            false,
            &mut |done| progress(pass, done),
            |rec, _| {
                match rec {
                    RecordRef::Callsite(d)
                        if d.id as usize == defined + 1 && defined < p.callsites.len() =>
                    {
                        defined += 1;
                    }
                    RecordRef::NewSpan {
                        span,
                        callsite,
                        fields,
                        ..
                    } => {
                        let valid = known(callsite, defined).is_some_and(|c| c.kind == KIND_SPAN);
                        if let Some(s) = slot_of(span) {
                            if valid && span != 0 && !created[s as usize] {
                                created[s as usize] = true;
                                w.put(layout.block_start[s as usize], P_FIELDS, fields);
                            }
                        }
                    }
                    RecordRef::Record { span, fields } => {
                        place(span, P_RECORD, fields, &mut w, &mut cursor);
                    }
                    RecordRef::Follows { span, follows } => {
                        let target =
                            slot_of(follows).map_or(NO_SPAN, |s| layout.row_of[s as usize]);
                        place(span, P_FOLLOWS, &target.to_le_bytes(), &mut w, &mut cursor);
                    }
                    RecordRef::Enter { span, t, body, .. } => {
                        place_timed(span, P_ENTER, body, t, &created, &mut w, &mut cursor);
                    }
                    RecordRef::Exit { span, t, body, .. } => {
                        place_timed(span, P_EXIT, body, t, &created, &mut w, &mut cursor);
                    }
                    RecordRef::Event {
                        parent,
                        callsite,
                        t,
                        body,
                        ..
                    } => {
                        if known(callsite, defined).is_none_or(|c| c.kind == KIND_SPAN) {
                            return Ok(());
                        }
                        let placed = parent != 0
                            && place_timed(parent, P_EVENT, body, t, &created, &mut w, &mut cursor);
                        if !placed {
                            // Orphan events stay absolute: they have no span.
                            let item = Item::timed(P_EVENT, body, t, None);
                            w.put_item(orphan_at, &item);
                            orphan_at += item.len();
                        }
                    }
                    _ => {}
                }
                Ok(())
            },
        )?;
        // Every block must have been filled exactly: pass 1 and pass 2
        // account the same records.
        let block_end = |i: usize| {
            layout
                .order
                .get(i + 1)
                .map_or(layout.orphan_start, |&next| {
                    layout.block_start[next as usize]
                })
        };
        let filled = layout
            .order
            .iter()
            .enumerate()
            .all(|(i, &s)| cursor[s as usize] == block_end(i))
            && orphan_at == total;
        if !filled {
            return Err(Error::Corrupt {
                section: Section::Journal,
                offset: 0,
                what: "the journal changed while it was being converted",
            });
        }
        crc.update(&w.buf);
        file.write_all(&w.buf).map_err(|e| Error::io(path, e))?;
        window_start += len;
        pass += 1;
    }
    Ok(crc.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pass_one_sizes_items_as_pass_two_builds_them() {
        let times = [0u64, 1, 127, 128, 16_383, 16_384, 1 << 35, u64::MAX];
        for &t in &times {
            let (tv, tn) = uvarint_array(t);
            for (tag, head) in [
                (P_ENTER, &[][..]),
                (P_EXIT, &[][..]),
                (P_EVENT, &[0x85, 0x01][..]),
            ] {
                let mut body = head.to_vec();
                body.extend_from_slice(&tv[..tn]);
                body.extend_from_slice(&[3, 1, 0, 7, 1, b'x']);
                for start in [
                    None,
                    Some(0),
                    Some(1),
                    Some(t),
                    Some(t / 2),
                    Some(t.saturating_add(1)),
                ] {
                    assert_eq!(
                        Item::timed_len(tag, &body, t, start),
                        Item::timed(tag, &body, t, start).len(),
                        "tag {tag:#x}, t {t}, start {start:?}"
                    );
                }
            }
        }
    }
    use crate::journal::record::{put_close, put_end, put_enter_exit, put_event, put_new_span};
    use crate::journal::{ProcessInfo, encode_preamble};
    use tracing_subscriber::prelude::*;

    /// Callsites 1 (span "op", no fields) and 2 (event "ev", `message`),
    /// threads 1 and 2: the start of every hand-written journal below.
    fn definitions() -> Vec<u8> {
        let mut b = Vec::new();
        for (id, kind, name, fields) in [(1u8, 0u8, "op", &[][..]), (2, 1, "ev", &["message"][..])]
        {
            b.extend_from_slice(&[0x01, id, kind, 2]);
            for s in [name, "t", "", ""] {
                put_bytes(&mut b, s.as_bytes());
            }
            b.push(0); // line
            b.push(fields.len() as u8);
            for f in fields {
                put_bytes(&mut b, f.as_bytes());
            }
        }
        b.extend_from_slice(&[0x02, 1, 1, b'a', 0x02, 2, 1, b'b']);
        b
    }

    /// The field list of an event: `message = text`.
    fn message(text: &str) -> Vec<u8> {
        let mut b = vec![1, 0, 7];
        put_bytes(&mut b, text.as_bytes());
        b
    }

    fn event(b: &mut Vec<u8>, parent: u64, t: u64, thread: u32, text: &str) {
        put_event(b, parent, 2, t, thread);
        b.extend_from_slice(&message(text));
    }

    fn enter(b: &mut Vec<u8>, span: u64, t: u64, thread: u32) {
        put_enter_exit(b, true, span, t, thread);
    }

    fn exit(b: &mut Vec<u8>, span: u64, t: u64, thread: u32) {
        put_enter_exit(b, false, span, t, thread);
    }

    /// Span `span` created at `t` on thread 1, with no fields.
    fn new_span(b: &mut Vec<u8>, span: u64, t: u64) {
        put_new_span(b, span, 0, 1, t, 1);
        b.push(0);
    }

    /// Converts a journal of `records` (one frame) in one window, checks
    /// that windows of a few bytes (every item split across edges) give
    /// the same envelope and that it verifies, and returns the envelope.
    fn convert_records(name: &str, records: &[u8]) -> Vec<u8> {
        let dir = std::env::temp_dir().join(format!("bhtrace-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let journal = dir.join("j.bhtj");
        let mut file = encode_preamble(&ProcessInfo {
            pid: 1,
            executable: String::new(),
            service_name: None,
            wall_start_unix_ns: 0,
            writer_version: String::new(),
        });
        file.extend_from_slice(&(records.len() as u32).to_le_bytes());
        file.extend_from_slice(&crc32fast::hash(records).to_le_bytes());
        file.extend_from_slice(records);
        std::fs::write(&journal, file).unwrap();
        let convert = |window| {
            let mut out = Vec::new();
            convert_to(
                &journal,
                &mut out,
                Path::new("<memory>"),
                &mut |_, _| {},
                window,
            )
            .unwrap();
            out
        };
        let whole = convert(WINDOW);
        for window in [1, 3, 7] {
            assert!(convert(window) == whole, "window {window} differs");
        }
        std::fs::remove_dir_all(&dir).ok();
        let trace = crate::TraceReader::from_bytes(whole.clone()).unwrap();
        trace.verify().unwrap();
        whole
    }

    /// The payload section of an envelope, from its section table.
    fn payload(envelope: &[u8]) -> &[u8] {
        let at = PREAMBLE_LEN as usize + S_PAYLOAD * 16;
        let word = |i: usize| u64::from_le_bytes(envelope[i..i + 8].try_into().unwrap()) as usize;
        let (offset, len) = (word(at), word(at + 8));
        &envelope[offset..offset + len]
    }

    /// An item: `tag`, then `parts` (varints, or raw bytes).
    fn item(tag: u8, parts: &[Part<'_>]) -> Vec<u8> {
        let mut b = vec![tag];
        for p in parts {
            match p {
                Part::V(v) => put_uvarint(&mut b, *v),
                Part::B(bytes) => b.extend_from_slice(bytes),
            }
        }
        b
    }

    enum Part<'a> {
        V(u64),
        B(&'a [u8]),
    }
    use Part::{B, V};

    /// ENTER, EVENT and EXIT records of span 1 that reach the journal
    /// before its NEW_SPAN (another thread's batch written first) keep
    /// absolute times: pass 1 cannot know the start yet. Those after it are
    /// relative to the start. A span with no NEW_SPAN at all (its event goes
    /// to the orphan block) and an event with no span stay absolute.
    #[test]
    fn a_record_before_its_new_span_stays_absolute() {
        let mut j = definitions();
        enter(&mut j, 1, 5_000_000, 2);
        event(&mut j, 1, 5_000_100, 2, "early");
        exit(&mut j, 1, 5_000_200, 2);
        new_span(&mut j, 1, 4_000_000);
        enter(&mut j, 1, 6_000_000, 1);
        event(&mut j, 1, 6_000_010, 1, "late");
        exit(&mut j, 1, 6_000_300, 1);
        put_close(&mut j, 1, 7_000_000);
        event(&mut j, 9, 7_000_001, 2, "ghost");
        event(&mut j, 0, 7_000_002, 1, "orphan");
        put_end(&mut j, 7_000_003);
        let envelope = convert_records("before-new-span", &j);

        let want = [
            item(P_FIELDS, &[V(0)]),
            item(P_ENTER, &[V(5_000_000), V(2)]),
            item(P_EVENT, &[V(2), V(5_000_100), V(2), B(&message("early"))]),
            item(P_EXIT, &[V(5_000_200), V(2)]),
            item(P_ENTER_REL, &[V(2_000_000), V(1)]),
            item(
                P_EVENT_REL,
                &[V(2), V(2_000_010), V(1), B(&message("late"))],
            ),
            item(P_EXIT_REL, &[V(2_000_300), V(1)]),
            // The orphan block.
            item(P_EVENT, &[V(2), V(7_000_001), V(2), B(&message("ghost"))]),
            item(P_EVENT, &[V(2), V(7_000_002), V(1), B(&message("orphan"))]),
        ]
        .concat();
        assert_eq!(payload(&envelope), want);

        let trace = crate::TraceReader::from_bytes(envelope).unwrap();
        let (full, _) = trace.full().unwrap();
        let span = &full.spans[0];
        assert_eq!(span.info.start_ns, 4_000_000);
        let intervals: Vec<_> = span
            .intervals
            .iter()
            .map(|i| (i.enter_ns, i.exit_ns, i.thread))
            .collect();
        assert_eq!(
            intervals,
            [
                (5_000_000, Some(5_000_200), 2),
                (6_000_000, Some(6_000_300), 1)
            ]
        );
        let events: Vec<_> = span.events.iter().map(|e| (e.t_ns, e.thread)).collect();
        assert_eq!(events, [(5_000_100, 2), (6_000_010, 1)]);
        let orphans: Vec<_> = full.orphan_events.iter().map(|e| e.t_ns).collect();
        assert_eq!(orphans, [7_000_001, 7_000_002]);
    }

    /// Another thread's clock can read a few ns behind the creating
    /// thread's: a time before the span's start stays absolute, a time
    /// equal to it is relative 0, and all read back as written. Times up
    /// to `u64::MAX` survive; a relative time past it is corrupt.
    #[test]
    fn times_before_the_span_start_stay_absolute() {
        let mut j = definitions();
        new_span(&mut j, 1, 10_000_000);
        enter(&mut j, 1, 9_999_990, 2);
        event(&mut j, 1, 9_999_995, 2, "behind");
        exit(&mut j, 1, 10_000_000, 2);
        enter(&mut j, 1, 10_000_100, 1);
        exit(&mut j, 1, 10_000_400, 1);
        put_close(&mut j, 1, 10_000_500);
        new_span(&mut j, 2, u64::MAX - 5);
        enter(&mut j, 2, u64::MAX, 1);
        let envelope = convert_records("before-start", &j);

        let want = [
            item(P_FIELDS, &[V(0)]),
            item(P_ENTER, &[V(9_999_990), V(2)]),
            item(P_EVENT, &[V(2), V(9_999_995), V(2), B(&message("behind"))]),
            item(P_EXIT_REL, &[V(0), V(2)]),
            item(P_ENTER_REL, &[V(100), V(1)]),
            item(P_EXIT_REL, &[V(400), V(1)]),
            item(P_FIELDS, &[V(0)]),
            item(P_ENTER_REL, &[V(5), V(1)]),
        ]
        .concat();
        assert_eq!(payload(&envelope), want);

        let trace = crate::TraceReader::from_bytes(envelope.clone()).unwrap();
        let (full, _) = trace.full().unwrap();
        let intervals = |s: usize| -> Vec<_> {
            full.spans[s]
                .intervals
                .iter()
                .map(|i| (i.enter_ns, i.exit_ns, i.thread))
                .collect()
        };
        assert_eq!(
            intervals(0),
            [
                (9_999_990, Some(10_000_000), 2),
                (10_000_100, Some(10_000_400), 1)
            ]
        );
        assert_eq!(full.spans[0].events[0].t_ns, 9_999_995);
        assert_eq!(intervals(1), [(u64::MAX, None, 1)]);

        // The last item's delta, 5, made 127: the start plus it overflows.
        let mut bad = envelope;
        let at = bad.len() - TRAILER_LEN as usize - 2;
        assert_eq!(bad[at - 1..at + 2], [P_ENTER_REL, 5, 1]);
        bad[at] = 0x7f;
        let trace = crate::TraceReader::from_bytes(bad).unwrap();
        assert!(matches!(
            trace.span(crate::SpanId(1)),
            Err(Error::Corrupt {
                section: Section::Payload,
                what: "relative time out of range",
                ..
            })
        ));
    }

    /// The payload filled through small windows (many journal passes, items
    /// split across window edges) is byte for byte the one-window result.
    #[test]
    fn payload_windows_give_the_same_envelope() {
        let dir = std::env::temp_dir().join(format!("bhtrace-window-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("w.bht");
        let (layer, guard) = crate::Builder::new(&path).convert(false).build().unwrap();
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            for i in 0..60u64 {
                let s = tracing::info_span!("op", i, text = "some payload text");
                let _e = s.enter();
                tracing::info!(i, "event {i}");
                s.record("text", "recorded later");
                if i % 7 == 0 {
                    tracing::info!(parent: None, "outside every span");
                }
            }
        });
        let journal = guard.finish().unwrap().journal.unwrap();
        let convert = |window| {
            let mut out = Vec::new();
            let st = convert_to(
                &journal,
                &mut out,
                Path::new("<memory>"),
                &mut |_, _| {},
                window,
            )
            .unwrap();
            (out, st)
        };
        let (whole, st) = convert(WINDOW);
        assert_eq!(st.journal_passes, 2);
        for window in [7, 1024] {
            let (out, st) = convert(window);
            assert!(
                st.journal_passes > 3,
                "window {window}: {} passes",
                st.journal_passes
            );
            assert!(out == whole, "window {window} gives a different envelope");
        }
        let trace = crate::TraceReader::from_bytes(whole).unwrap();
        assert_eq!(trace.full().unwrap().0.spans.len(), 60);
        std::fs::remove_dir_all(&dir).ok();
    }
}
