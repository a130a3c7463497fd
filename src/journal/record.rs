//! Journal records: their tags, how the capture side appends them to a
//! buffer, and how the converter and the journal reader decode them without
//! copying.
//!
//! Every record starts with a one-byte tag. Span numbers are the never-reused
//! numbers bhtrace gives spans (0 means "none"); times are nanoseconds since
//! the trace origin; threads and callsites are small numbers defined by
//! `THREAD` and `CALLSITE` records earlier in the journal.

use crate::codec::{Cursor, Head, put_bytes, put_uvarint, uvarint_prefix};
use crate::error::Error;
use crate::value::{fields_len, skip_fields};

pub(crate) const R_CALLSITE: u8 = 0x01;
pub(crate) const R_THREAD: u8 = 0x02;
pub(crate) const R_NEW_SPAN: u8 = 0x03;
pub(crate) const R_RECORD: u8 = 0x04;
pub(crate) const R_FOLLOWS: u8 = 0x05;
pub(crate) const R_ENTER: u8 = 0x06;
pub(crate) const R_EXIT: u8 = 0x07;
pub(crate) const R_CLOSE: u8 = 0x08;
pub(crate) const R_EVENT: u8 = 0x09;
pub(crate) const R_DROPPED: u8 = 0x0a;
pub(crate) const R_END: u8 = 0x0b;

/// The timed kinds again, with the time written as the zigzag of its
/// difference from the time of the previous timed record in the same frame
/// (journal v2). The writer of a batch starts each batch with an absolute
/// time, so a delta never refers across batches.
pub(crate) const R_NEW_SPAN_D: u8 = 0x13;
pub(crate) const R_ENTER_D: u8 = 0x16;
pub(crate) const R_EXIT_D: u8 = 0x17;
pub(crate) const R_CLOSE_D: u8 = 0x18;
pub(crate) const R_EVENT_D: u8 = 0x19;

/// A record's time as written: absolute, or a delta from the previous
/// timed record of its frame (zigzagged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Time {
    pub(crate) delta: bool,
    pub(crate) v: u64,
}

/// A plain number is an absolute time.
impl From<u64> for Time {
    fn from(t: u64) -> Time {
        Time::abs(t)
    }
}

impl Time {
    /// An absolute time.
    pub(crate) fn abs(t: u64) -> Time {
        Time { delta: false, v: t }
    }

    /// `t`, as a delta from `base` when there is one.
    #[inline]
    pub(crate) fn after(base: Option<u64>, t: u64) -> Time {
        match base {
            Some(b) => Time {
                delta: true,
                v: crate::codec::zigzag(t.wrapping_sub(b) as i64),
            },
            None => Time::abs(t),
        }
    }

    /// `tag`, or its delta form.
    #[inline]
    fn tag(self, tag: u8) -> u8 {
        if self.delta { tag | 0x10 } else { tag }
    }
}

/// The absolute time of a record whose time `raw` was read under `tag`
/// (a delta tag or not), given the previous timed record's time.
#[inline]
fn resolve(tag: u8, raw: u64, base: Option<u64>) -> Option<u64> {
    if tag & 0x10 == 0 {
        return Some(raw);
    }
    base?.checked_add_signed(crate::codec::unzigzag(raw))
}

/// What a callsite is: a span or an event.
pub(crate) const KIND_SPAN: u8 = 0;
pub(crate) const KIND_EVENT: u8 = 1;

/// Level as a byte: 0 = TRACE … 4 = ERROR.
pub(crate) fn level_byte(level: &tracing_core::Level) -> u8 {
    match *level {
        tracing_core::Level::TRACE => 0,
        tracing_core::Level::DEBUG => 1,
        tracing_core::Level::INFO => 2,
        tracing_core::Level::WARN => 3,
        tracing_core::Level::ERROR => 4,
    }
}

/// Inverse of [`level_byte`]; anything past 4 reads as ERROR.
pub(crate) fn level_from_byte(b: u8) -> tracing_core::Level {
    match b {
        0 => tracing_core::Level::TRACE,
        1 => tracing_core::Level::DEBUG,
        2 => tracing_core::Level::INFO,
        3 => tracing_core::Level::WARN,
        _ => tracing_core::Level::ERROR,
    }
}

/// A callsite's metadata, as written once per callsite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CallsiteDef<'a> {
    pub(crate) id: u32,
    pub(crate) kind: u8,
    pub(crate) level: u8,
    pub(crate) name: &'a str,
    pub(crate) target: &'a str,
    pub(crate) module: &'a str,
    pub(crate) file: &'a str,
    pub(crate) line: u32,
    pub(crate) fields: Vec<&'a str>,
}

pub(crate) fn put_callsite(
    buf: &mut Vec<u8>,
    meta: &'static tracing_core::Metadata<'static>,
    id: u32,
) {
    buf.push(R_CALLSITE);
    put_uvarint(buf, u64::from(id));
    buf.push(if meta.is_span() {
        KIND_SPAN
    } else {
        KIND_EVENT
    });
    buf.push(level_byte(meta.level()));
    put_bytes(buf, meta.name().as_bytes());
    put_bytes(buf, meta.target().as_bytes());
    put_bytes(buf, meta.module_path().unwrap_or("").as_bytes());
    put_bytes(buf, meta.file().unwrap_or("").as_bytes());
    put_uvarint(buf, u64::from(meta.line().unwrap_or(0)));
    let fields = meta.fields();
    buf.push(fields.len().min(255) as u8);
    for f in fields.iter().take(255) {
        put_bytes(buf, f.name().as_bytes());
    }
}

pub(crate) fn put_thread(buf: &mut Vec<u8>, thread: u32, name: &str) {
    buf.push(R_THREAD);
    put_uvarint(buf, u64::from(thread));
    put_bytes(buf, name.as_bytes());
}

/// Header of a NEW_SPAN record; the caller appends the field list.
#[inline]
pub(crate) fn put_new_span(
    buf: &mut Vec<u8>,
    span: u64,
    parent: u64,
    callsite: u32,
    t: impl Into<Time>,
    thread: u32,
) {
    let t = t.into();
    Head::<64>::new(t.tag(R_NEW_SPAN))
        .uvarint(span)
        .uvarint(parent)
        .uvarint(u64::from(callsite))
        .uvarint(t.v)
        .uvarint(u64::from(thread))
        .append_to(buf);
}

/// Header of a RECORD record; the caller appends the field list.
#[inline]
pub(crate) fn put_record(buf: &mut Vec<u8>, span: u64) {
    Head::<16>::new(R_RECORD).uvarint(span).append_to(buf);
}

#[inline]
pub(crate) fn put_follows(buf: &mut Vec<u8>, span: u64, follows: u64) {
    buf.push(R_FOLLOWS);
    put_uvarint(buf, span);
    put_uvarint(buf, follows);
}

#[inline]
pub(crate) fn put_enter_exit(
    buf: &mut Vec<u8>,
    enter: bool,
    span: u64,
    t: impl Into<Time>,
    thread: u32,
) {
    let t = t.into();
    Head::<32>::new(t.tag(if enter { R_ENTER } else { R_EXIT }))
        .uvarint(span)
        .uvarint(t.v)
        .uvarint(u64::from(thread))
        .append_to(buf);
}

#[inline]
pub(crate) fn put_close(buf: &mut Vec<u8>, span: u64, t: impl Into<Time>) {
    let t = t.into();
    Head::<32>::new(t.tag(R_CLOSE))
        .uvarint(span)
        .uvarint(t.v)
        .append_to(buf);
}

/// Header of an EVENT record; the caller appends the field list.
#[inline]
pub(crate) fn put_event(
    buf: &mut Vec<u8>,
    parent: u64,
    callsite: u32,
    t: impl Into<Time>,
    thread: u32,
) {
    let t = t.into();
    Head::<32>::new(t.tag(R_EVENT))
        .uvarint(parent)
        .uvarint(u64::from(callsite))
        .uvarint(t.v)
        .uvarint(u64::from(thread))
        .append_to(buf);
}

pub(crate) fn put_dropped(buf: &mut Vec<u8>, total: u64) {
    buf.push(R_DROPPED);
    put_uvarint(buf, total);
}

pub(crate) fn put_end(buf: &mut Vec<u8>, t: u64) {
    buf.push(R_END);
    put_uvarint(buf, t);
}

/// One decoded record, borrowing from the frame it sits in.
///
/// The `*_body` slices are the record's bytes after its span reference:
/// exactly what the converter copies into the span's payload block.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RecordRef<'a> {
    Callsite(CallsiteDef<'a>),
    Thread {
        thread: u32,
        name: &'a str,
    },
    NewSpan {
        span: u64,
        parent: u64,
        callsite: u32,
        t: u64,
        thread: u32,
        fields: &'a [u8],
    },
    Record {
        span: u64,
        fields: &'a [u8],
    },
    Follows {
        span: u64,
        follows: u64,
    },
    Enter {
        span: u64,
        t: u64,
        thread: u32,
        body: &'a [u8],
    },
    Exit {
        span: u64,
        t: u64,
        thread: u32,
        body: &'a [u8],
    },
    Close {
        span: u64,
        t: u64,
    },
    Event {
        parent: u64,
        callsite: u32,
        t: u64,
        thread: u32,
        /// From the callsite to the end of the field list.
        body: &'a [u8],
        /// The field list alone.
        fields: &'a [u8],
    },
    Dropped {
        total: u64,
    },
    End {
        t: u64,
    },
}

/// Decodes the next record from `c`.
///
/// `base` is the time of the previous timed record in the frame (`None` at
/// a frame's start): a record whose time is a delta is resolved against it,
/// and every timed record updates it.
pub(crate) fn next_record<'a>(
    c: &mut Cursor<'a>,
    base: &mut Option<u64>,
) -> Result<RecordRef<'a>, Error> {
    next_record_as(c, text_checked(), base)
}

/// `true`: [`next_record`] checks field strings for UTF-8.
const fn text_checked() -> bool {
    true
}

/// [`next_record`], checking field strings for UTF-8 only with `text`: the
/// converter's second pass reads the records its first pass checked.
pub(crate) fn next_record_as<'a>(
    c: &mut Cursor<'a>,
    text: bool,
    base: &mut Option<u64>,
) -> Result<RecordRef<'a>, Error> {
    let rec = match quick_record(c.rest(), text, *base) {
        Some((rec, len)) => {
            c.advance(len);
            rec
        }
        None => checked_record(c, text, *base)?,
    };
    if let Some(t) = rec.time() {
        *base = Some(t);
    }
    Ok(rec)
}

impl RecordRef<'_> {
    /// The record's time, for the kinds that have one.
    #[inline]
    pub(crate) fn time(&self) -> Option<u64> {
        match *self {
            RecordRef::NewSpan { t, .. }
            | RecordRef::Enter { t, .. }
            | RecordRef::Exit { t, .. }
            | RecordRef::Close { t, .. }
            | RecordRef::Event { t, .. }
            | RecordRef::End { t } => Some(t),
            _ => None,
        }
    }
}

/// The records a journal is made of (spans, enters, exits, closes,
/// events) decoded on a plain slice, without an error at every varint:
/// the converter decodes each record twice. `Some((record, len))` exactly
/// when [`checked_record`] decodes the same record from the same bytes
/// (both read these kinds through [`hot_record`]; property tests hold the
/// two to the same answer); `None` for anything else, including the rare
/// kinds (callsites, threads, drop counts, the end), which the checked
/// reader then reads.
#[inline]
fn quick_record(b: &[u8], text: bool, base: Option<u64>) -> Option<(RecordRef<'_>, usize)> {
    let mut q = Quick { b, at: 1 };
    let rec = hot_record(*b.first()?, &mut q, text, base).ok()??;
    Some((rec, q.at))
}

/// What the grammar of the hot record kinds needs of a reader: [`Quick`]
/// on a plain slice (an error is `()`), or a checked [`Cursor`], whose
/// errors say what is wrong and where.
trait Reads<'a> {
    type Err;
    fn varint(&mut self) -> Result<u64, Self::Err>;
    fn varint32(&mut self) -> Result<u32, Self::Err>;
    /// A field list, its strings checked for UTF-8 with `text`.
    fn fields(&mut self, text: bool) -> Result<&'a [u8], Self::Err>;
    fn pos(&self) -> usize;
    /// The bytes from `from` (a previous `pos()`) to here.
    fn since(&self, from: usize) -> &'a [u8];
    /// The error for a time delta with nothing to resolve it against.
    fn bad_time(&self) -> Self::Err;

    /// A record's time, read under `tag` and resolved against `base`.
    #[inline(always)]
    fn time(&mut self, tag: u8, base: Option<u64>) -> Result<u64, Self::Err> {
        let raw = self.varint()?;
        resolve(tag, raw, base).ok_or_else(|| self.bad_time())
    }
}

/// The record of `tag` after its tag byte, for the seven kinds a journal
/// is made of; `Ok(None)` for the other tags.
#[inline(always)]
fn hot_record<'a, R: Reads<'a>>(
    tag: u8,
    r: &mut R,
    text: bool,
    base: Option<u64>,
) -> Result<Option<RecordRef<'a>>, R::Err> {
    Ok(Some(match tag {
        R_NEW_SPAN | R_NEW_SPAN_D => RecordRef::NewSpan {
            span: r.varint()?,
            parent: r.varint()?,
            callsite: r.varint32()?,
            t: r.time(tag, base)?,
            thread: r.varint32()?,
            fields: r.fields(text)?,
        },
        R_RECORD => RecordRef::Record {
            span: r.varint()?,
            fields: r.fields(text)?,
        },
        R_FOLLOWS => RecordRef::Follows {
            span: r.varint()?,
            follows: r.varint()?,
        },
        R_ENTER | R_EXIT | R_ENTER_D | R_EXIT_D => {
            let span = r.varint()?;
            let from = r.pos();
            let t = r.time(tag, base)?;
            let thread = r.varint32()?;
            let body = r.since(from);
            if tag & !0x10 == R_ENTER {
                RecordRef::Enter {
                    span,
                    t,
                    thread,
                    body,
                }
            } else {
                RecordRef::Exit {
                    span,
                    t,
                    thread,
                    body,
                }
            }
        }
        R_CLOSE | R_CLOSE_D => RecordRef::Close {
            span: r.varint()?,
            t: r.time(tag, base)?,
        },
        R_EVENT | R_EVENT_D => {
            let parent = r.varint()?;
            let from = r.pos();
            let callsite = r.varint32()?;
            let t = r.time(tag, base)?;
            let thread = r.varint32()?;
            let fields = r.fields(text)?;
            RecordRef::Event {
                parent,
                callsite,
                t,
                thread,
                body: r.since(from),
                fields,
            }
        }
        _ => return Ok(None),
    }))
}

/// A record decoded ahead of its use (by the journal's read-ahead thread):
/// its numbers, and where its slices lie in the frame, from which
/// [`Parsed::record`] rebuilds the [`RecordRef`] without decoding again.
/// The rare kinds keep only their extent and are decoded where used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parsed {
    tag: u8,
    /// The record's extent in the frame.
    start: u32,
    end: u32,
    /// Where its `body` and `fields` slices start (both end at `end`).
    body: u32,
    fields: u32,
    /// The span (the parent for an event).
    a: u64,
    /// The parent of a new span, the span a span follows.
    b: u64,
    t: u64,
    callsite: u32,
    thread: u32,
    /// Whether the record has a time (`t`), which the next record's delta
    /// is resolved against.
    timed: bool,
}

/// The tag [`Parsed`] gives the rare kinds.
const PARSED_OTHER: u8 = 0;

impl Parsed {
    /// Where the record ends in its frame.
    pub(crate) fn end(&self) -> usize {
        self.end as usize
    }

    /// Where the record starts in its frame.
    pub(crate) fn start(&self) -> usize {
        self.start as usize
    }

    /// The record's time, if it has one.
    pub(crate) fn time(&self) -> Option<u64> {
        self.timed.then_some(self.t)
    }

    /// The record, from the frame it was parsed from; `None` for a rare
    /// kind (or a frame that is not that one), which the caller decodes.
    #[inline]
    pub(crate) fn record<'a>(&self, frame: &'a [u8]) -> Option<RecordRef<'a>> {
        let end = self.end as usize;
        let body = frame.get(self.body as usize..end)?;
        let fields = frame.get(self.fields as usize..end)?;
        Some(match self.tag & !0x10 {
            R_NEW_SPAN => RecordRef::NewSpan {
                span: self.a,
                parent: self.b,
                callsite: self.callsite,
                t: self.t,
                thread: self.thread,
                fields,
            },
            R_RECORD => RecordRef::Record {
                span: self.a,
                fields,
            },
            R_FOLLOWS => RecordRef::Follows {
                span: self.a,
                follows: self.b,
            },
            R_ENTER => RecordRef::Enter {
                span: self.a,
                t: self.t,
                thread: self.thread,
                body,
            },
            R_EXIT => RecordRef::Exit {
                span: self.a,
                t: self.t,
                thread: self.thread,
                body,
            },
            R_CLOSE => RecordRef::Close {
                span: self.a,
                t: self.t,
            },
            R_EVENT => RecordRef::Event {
                parent: self.a,
                callsite: self.callsite,
                t: self.t,
                thread: self.thread,
                body,
                fields,
            },
            _ => return None,
        })
    }
}

/// Decodes the records of `frame` into `out` as [`next_record_as`] would,
/// stopping before the first record it refuses (the caller decodes from
/// there and meets the same error). At most `frame.len()` bytes of records
/// are parsed: `out` holds at most one entry per 2 bytes of frame.
pub(crate) fn parse_frame(frame: &[u8], text: bool, out: &mut Vec<Parsed>) {
    out.clear();
    if u32::try_from(frame.len()).is_err() {
        return;
    }
    let origin = frame.as_ptr() as usize;
    // A slice's offset in the frame (every slice below is inside it).
    let at = |s: &[u8]| (s.as_ptr() as usize - origin) as u32;
    let mut pos = 0usize;
    let mut base = None;
    while pos < frame.len() {
        let rest = &frame[pos..];
        let start = pos as u32;
        let (rec, n) = match quick_record(rest, text, base) {
            Some(r) => r,
            // A rare kind, or one the quick reader refused: the checked
            // reader decodes it, or stops parsing where decoding stops.
            None => {
                let mut c = Cursor::new(rest, 0, crate::error::Section::Journal);
                let Ok(rec) = checked_record(&mut c, text, base) else {
                    return;
                };
                (rec, c.pos())
            }
        };
        let time = rec.time();
        if time.is_some() {
            base = time;
        }
        pos += n;
        let end = pos as u32;
        let mut p = Parsed {
            tag: rest[0],
            start,
            end,
            body: end,
            fields: end,
            a: 0,
            b: 0,
            t: time.unwrap_or(0),
            callsite: 0,
            thread: 0,
            timed: time.is_some(),
        };
        match rec {
            RecordRef::NewSpan {
                span,
                parent,
                callsite,
                t,
                thread,
                fields,
            } => {
                (p.a, p.b, p.callsite, p.thread) = (span, parent, callsite, thread);
                debug_assert_eq!(p.t, t);
                p.fields = at(fields);
            }
            RecordRef::Record { span, fields } => {
                p.a = span;
                p.fields = at(fields);
            }
            RecordRef::Follows { span, follows } => (p.a, p.b) = (span, follows),
            RecordRef::Enter {
                span,
                t,
                thread,
                body,
            }
            | RecordRef::Exit {
                span,
                t,
                thread,
                body,
            } => {
                (p.a, p.thread) = (span, thread);
                debug_assert_eq!(p.t, t);
                p.body = at(body);
            }
            RecordRef::Close { span, .. } => p.a = span,
            RecordRef::Event {
                parent,
                callsite,
                t,
                thread,
                body,
                fields,
            } => {
                (p.a, p.callsite, p.thread) = (parent, callsite, thread);
                debug_assert_eq!(p.t, t);
                p.body = at(body);
                p.fields = at(fields);
            }
            _ => p.tag = PARSED_OTHER,
        }
        out.push(p);
    }
}

/// A read position in [`quick_record`].
struct Quick<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reads<'a> for Quick<'a> {
    type Err = ();

    #[inline(always)]
    fn varint(&mut self) -> Result<u64, ()> {
        let (v, len) = self.b.get(self.at..).and_then(uvarint_prefix).ok_or(())?;
        self.at += len;
        Ok(v)
    }

    #[inline(always)]
    fn varint32(&mut self) -> Result<u32, ()> {
        u32::try_from(self.varint()?).map_err(|_| ())
    }

    #[inline]
    fn fields(&mut self, text: bool) -> Result<&'a [u8], ()> {
        let from = self.at;
        let len = self
            .b
            .get(from..)
            .and_then(|b| fields_len(b, text))
            .ok_or(())?;
        self.at += len;
        Ok(self.since(from))
    }

    #[inline]
    fn pos(&self) -> usize {
        self.at
    }

    #[inline]
    fn since(&self, from: usize) -> &'a [u8] {
        &self.b[from.min(self.at)..self.at]
    }

    fn bad_time(&self) {}
}

impl<'a> Reads<'a> for Cursor<'a> {
    type Err = Error;

    #[inline]
    fn varint(&mut self) -> Result<u64, Error> {
        self.uvarint()
    }

    #[inline]
    fn varint32(&mut self) -> Result<u32, Error> {
        self.uvarint32()
    }

    fn fields(&mut self, text: bool) -> Result<&'a [u8], Error> {
        let from = Cursor::pos(self);
        skip_fields(self, text)?;
        Ok(Cursor::since(self, from))
    }

    fn pos(&self) -> usize {
        Cursor::pos(self)
    }

    fn since(&self, from: usize) -> &'a [u8] {
        Cursor::since(self, from)
    }

    fn bad_time(&self) -> Error {
        self.corrupt("a time given as a delta, with no earlier time in its frame or out of range")
    }
}

/// [`next_record_as`] with every read checked: the rare record kinds, and
/// the error (what and where) for a record the quick reader refused.
fn checked_record<'a>(
    c: &mut Cursor<'a>,
    text: bool,
    base: Option<u64>,
) -> Result<RecordRef<'a>, Error> {
    let tag = c.u8()?;
    if let Some(rec) = hot_record(tag, c, text, base)? {
        return Ok(rec);
    }
    Ok(match tag {
        R_CALLSITE => {
            let id = c.uvarint32()?;
            let kind = c.u8()?;
            let level = c.u8()?;
            if kind > KIND_EVENT || level > 4 {
                return Err(c.corrupt("callsite kind or level out of range"));
            }
            let name = c.str()?;
            let target = c.str()?;
            let module = c.str()?;
            let file = c.str()?;
            let line = c.uvarint32()?;
            let n = c.u8()?;
            let mut fields = Vec::with_capacity(usize::from(n));
            for _ in 0..n {
                fields.push(c.str()?);
            }
            RecordRef::Callsite(CallsiteDef {
                id,
                kind,
                level,
                name,
                target,
                module,
                file,
                line,
                fields,
            })
        }
        R_THREAD => RecordRef::Thread {
            thread: c.uvarint32()?,
            name: c.str()?,
        },
        R_DROPPED => RecordRef::Dropped {
            total: c.uvarint()?,
        },
        R_END => RecordRef::End { t: c.uvarint()? },
        _ => return Err(c.corrupt("unknown record tag")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Section;
    use proptest::prelude::*;

    /// One record of each hot kind, with these numbers, and a field list.
    fn records(n: [u64; 4], fields: &[u8]) -> Vec<Vec<u8>> {
        let [a, b, c, t] = n;
        let (c32, d32) = (c as u32, (b >> 7) as u32);
        let mut out = Vec::new();
        let mut r = Vec::new();
        put_new_span(&mut r, a, b, c32, t, d32);
        r.extend_from_slice(fields);
        out.push(std::mem::take(&mut r));
        put_record(&mut r, a);
        r.extend_from_slice(fields);
        out.push(std::mem::take(&mut r));
        put_follows(&mut r, a, b);
        out.push(std::mem::take(&mut r));
        put_enter_exit(&mut r, true, a, t, c32);
        out.push(std::mem::take(&mut r));
        put_enter_exit(&mut r, false, a, t, c32);
        out.push(std::mem::take(&mut r));
        put_close(&mut r, a, t);
        out.push(std::mem::take(&mut r));
        put_event(&mut r, a, c32, t, d32);
        r.extend_from_slice(fields);
        out.push(std::mem::take(&mut r));
        put_end(&mut r, t);
        out.push(std::mem::take(&mut r));
        put_dropped(&mut r, b);
        out.push(std::mem::take(&mut r));
        // The timed kinds again, their time a delta (`t` read as a zigzag).
        let d = Time { delta: true, v: t };
        put_new_span(&mut r, a, b, c32, d, d32);
        r.extend_from_slice(fields);
        out.push(std::mem::take(&mut r));
        put_enter_exit(&mut r, true, a, d, c32);
        out.push(std::mem::take(&mut r));
        put_enter_exit(&mut r, false, a, d, c32);
        out.push(std::mem::take(&mut r));
        put_close(&mut r, a, d);
        out.push(std::mem::take(&mut r));
        put_event(&mut r, a, c32, d, d32);
        r.extend_from_slice(fields);
        out.push(r);
        out
    }

    fn checked(b: &[u8], text: bool, base: Option<u64>) -> Option<(RecordRef<'_>, usize)> {
        let mut c = Cursor::new(b, 0, Section::Journal);
        let rec = checked_record(&mut c, text, base).ok()?;
        Some((rec, c.pos()))
    }

    /// Every head holds its largest values (each varint at its longest):
    /// a head too small would wrap around and corrupt the record silently.
    #[test]
    fn heads_hold_their_largest_values() {
        let recs = records([u64::MAX; 4], &[0]);
        for rec in &recs {
            // A delta of the largest zigzag (-2^63) resolves against 2^63.
            let (decoded, len) = checked(rec, true, Some(1 << 63)).expect("decodes");
            assert_eq!(len, rec.len(), "{decoded:?}");
        }
        let mut r = Vec::new();
        put_new_span(&mut r, u64::MAX, u64::MAX, u32::MAX, u64::MAX, u32::MAX);
        r.push(0);
        assert_eq!(r.len(), 1 + 10 + 10 + 5 + 10 + 5 + 1);
        let (decoded, _) = checked(&r, true, None).unwrap();
        assert!(matches!(
            decoded,
            RecordRef::NewSpan {
                span: u64::MAX,
                parent: u64::MAX,
                callsite: u32::MAX,
                t: u64::MAX,
                thread: u32::MAX,
                ..
            }
        ));
    }

    /// A callsite's metadata for records of the rare kinds.
    static CALLSITE_META: &tracing_core::Metadata<'static> = {
        struct Cs;
        impl tracing_core::Callsite for Cs {
            fn set_interest(&self, _: tracing_core::Interest) {}
            fn metadata(&self) -> &tracing_core::Metadata<'_> {
                CALLSITE_META
            }
        }
        static CS: Cs = Cs;
        static FIELDS: &[&str] = &["a", "b"];
        static META: tracing_core::Metadata<'static> = tracing_core::Metadata::new(
            "op",
            "app::db",
            tracing_core::Level::INFO,
            Some("src/a.rs"),
            Some(7),
            Some("app::db"),
            tracing_core::field::FieldSet::new(FIELDS, tracing_core::identify_callsite!(&CS)),
            tracing_core::metadata::Kind::SPAN,
        );
        &META
    };

    const HOT: [u8; 12] = [
        R_NEW_SPAN,
        R_RECORD,
        R_FOLLOWS,
        R_ENTER,
        R_EXIT,
        R_CLOSE,
        R_EVENT,
        R_NEW_SPAN_D,
        R_ENTER_D,
        R_EXIT_D,
        R_CLOSE_D,
        R_EVENT_D,
    ];

    proptest! {
        /// Well-formed records: the quick reader decodes the hot kinds as
        /// the checked reader does and leaves the rest to it.
        #[test]
        fn quick_reader_decodes_records_as_the_checked_reader(
            n: [u64; 4],
            fields in proptest::collection::vec(any::<u8>(), 0..24),
            text: bool,
            base: Option<u64>,
        ) {
            // A field list of one string, valid or not as UTF-8.
            let mut list = vec![1, 0, crate::value::T_STR];
            put_bytes(&mut list, &fields);
            for rec in records(n, &list) {
                let quick = quick_record(&rec, text, base);
                let full = checked(&rec, text, base);
                if HOT.contains(&rec[0]) {
                    prop_assert_eq!(&quick, &full);
                    // Only a field list's text, or a delta with nothing to
                    // resolve it against, can make these unreadable.
                    let has_fields = matches!(
                        rec[0],
                        R_NEW_SPAN | R_RECORD | R_EVENT | R_NEW_SPAN_D | R_EVENT_D
                    );
                    let text_ok = !(text && has_fields) || std::str::from_utf8(&fields).is_ok();
                    let time_ok = rec[0] & 0x10 == 0 || resolve(rec[0], n[3], base).is_some();
                    prop_assert_eq!(full.is_some(), text_ok && time_ok);
                } else {
                    prop_assert!(quick.is_none());
                    prop_assert!(full.is_some());
                }
            }
        }

        /// A frame parsed ahead gives the records decoding it in place gives,
        /// in order, and stops exactly where that decoding meets an error:
        /// on well-formed frames of every kind and on flipped and cut ones.
        #[test]
        fn parsed_frames_give_the_records_decoding_gives(
            n: [u64; 4],
            order in proptest::collection::vec(0usize..14, 1..30),
            flip in any::<(usize, u8)>(),
            cut in any::<usize>(),
            damage: bool,
            text: bool,
        ) {
            let kinds = records(n, &[2, 0, crate::value::T_STR, 1, b'a', 1, crate::value::T_TRUE]);
            let mut frame: Vec<u8> = order.iter().flat_map(|&i| kinds[i].clone()).collect();
            let mut callsite = Vec::new();
            put_callsite(&mut callsite, CALLSITE_META, 3);
            frame.splice(0..0, callsite);
            if damage {
                let i = flip.0 % frame.len();
                frame[i] ^= flip.1;
                frame.truncate(cut % (frame.len() + 1));
            }
            let mut parsed = Vec::new();
            parse_frame(&frame, text, &mut parsed);
            let mut c = Cursor::new(&frame, 100, Section::Journal);
            let mut i = 0;
            let mut base = None;
            while !c.is_empty() {
                let at = c.pos();
                match next_record_as(&mut c, text, &mut base) {
                    Ok(rec) => {
                        prop_assert!(i < parsed.len(), "parsing stopped early at {}", at);
                        let p = parsed[i];
                        prop_assert_eq!((p.start(), p.end()), (at, c.pos()));
                        if let Some(r) = p.record(&frame) {
                            prop_assert_eq!(r, rec);
                        } else {
                            let rare = matches!(
                                rec,
                                RecordRef::Callsite(_) | RecordRef::End { .. } | RecordRef::Dropped { .. }
                            );
                            prop_assert!(rare, "{:?}", rec);
                        }
                        i += 1;
                    }
                    Err(_) => break,
                }
            }
            prop_assert_eq!(i, parsed.len());
        }

        /// Flipped, cut and random bytes: whatever the quick reader decodes,
        /// the checked reader decodes the same, and for the hot kinds it
        /// refuses exactly what the checked reader refuses.
        #[test]
        fn quick_reader_refuses_what_the_checked_reader_refuses(
            n: [u64; 4],
            noise in proptest::collection::vec(any::<u8>(), 1..40),
            flip in any::<(usize, u8)>(),
            cut in any::<usize>(),
            text: bool,
            base: Option<u64>,
        ) {
            let mut inputs = records(n, &[2, 0, crate::value::T_U64, 0x85, 1, 0, crate::value::T_TRUE]);
            inputs.push(noise);
            for mut rec in inputs {
                let i = flip.0 % rec.len();
                rec[i] ^= flip.1;
                rec.truncate(cut % (rec.len() + 1));
                let quick = quick_record(&rec, text, base);
                let full = checked(&rec, text, base);
                if rec.first().is_some_and(|t| HOT.contains(t)) {
                    prop_assert_eq!(&quick, &full);
                } else {
                    prop_assert!(quick.is_none());
                }
            }
        }
    }
}
