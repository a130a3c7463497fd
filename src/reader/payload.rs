//! Decoding payload blocks: a span's fields, events, enter/exit intervals
//! and follows-from links, from the bytes a query read; and, before that,
//! which event callsites a block names, whose field names the query then
//! reads.

use std::collections::HashMap;
use std::sync::Arc;

use super::TraceReader;
use super::model::{EventData, Interval, SpanId};
use crate::codec::Cursor;
use crate::envelope::layout::*;
use crate::error::{Error, Section};
use crate::value::{Value, field_count_hint, get_fields, skip_fields, unnamed_field};

/// Callsite kind of an event callsite in the callsite table.
const KIND_EVENT: u8 = 1;

/// What one span's block holds.
#[derive(Debug, Default)]
pub(crate) struct Block {
    pub(crate) fields: Vec<(Arc<str>, Value)>,
    pub(crate) events: Vec<EventData>,
    pub(crate) intervals: Vec<Interval>,
    pub(crate) follows_from: Vec<SpanId>,
}

impl TraceReader {
    /// Reads a field list, merging into `into`: a later value of a field
    /// replaces the earlier one. Names come from the callsite's field
    /// names (read before decoding), shared; a field the callsite does not
    /// declare is named `field#<idx>`.
    fn read_fields(
        &self,
        c: &mut Cursor<'_>,
        callsite: usize,
        into: &mut Vec<(Arc<str>, Value)>,
    ) -> Result<(), Error> {
        if into.capacity() == 0 {
            // The first list sizes the answer exactly (`Vec` would start
            // at four slots).
            into.reserve_exact(field_count_hint(c));
        }
        get_fields(c, |idx, v| {
            let name = self
                .s
                .names
                .name(callsite, idx)
                .map_or_else(|| unnamed_field(idx), Arc::clone);
            let v = v.to_owned();
            match into.iter_mut().find(|(n, _)| *n == name) {
                Some(slot) => slot.1 = v,
                None => into.push((name, v)),
            }
            Ok(())
        })
    }

    /// An event's callsite (stored as the journal's number, 1-based), as a
    /// callsite table index: it must name an event callsite.
    fn event_callsite(&self, c: &mut Cursor<'_>) -> Result<usize, Error> {
        let cs = c.uvarint32()?;
        (cs as usize)
            .checked_sub(1)
            .filter(|&i| {
                self.s
                    .callsites
                    .get(i)
                    .is_some_and(|c| c.kind == KIND_EVENT)
            })
            .ok_or_else(|| c.corrupt("event callsite out of range"))
    }

    /// Decodes an event body: callsite (journal number, 1-based), time,
    /// thread, fields. With `start`, the time is stored relative to it.
    pub(crate) fn read_event(
        &self,
        c: &mut Cursor<'_>,
        start: Option<u64>,
    ) -> Result<EventData, Error> {
        let callsite = self.event_callsite(c)?;
        let t_ns = read_time(c, start)?;
        let thread = c.uvarint32()?;
        let mut fields = Vec::new();
        self.read_fields(c, callsite, &mut fields)?;
        let row = &self.s.callsites[callsite];
        Ok(EventData {
            t_ns,
            name: self.arc(row.name),
            target: self.arc(row.target),
            level: super::level(row.level),
            thread,
            fields,
            file: row.file.map(|f| self.arc(f)),
            line: (row.line != 0).then_some(row.line),
        })
    }

    /// The block of span `row` in `bytes` (which start at payload offset
    /// `base`), with a cursor over it.
    fn block<'a>(&self, row: u32, bytes: &'a [u8], base: u64) -> (u64, &'a [u8], Cursor<'a>) {
        let (from, to) = self.block_range(row);
        let slice = &bytes[(from - base) as usize..(to - base) as usize];
        let at = self.s.extents[S_PAYLOAD].offset + from;
        (from, slice, Cursor::new(slice, at, Section::Payload))
    }

    /// Marks in `wanted` (a flag per callsite) the callsites of the events
    /// in span `row`'s block (in `bytes`, which start at payload offset
    /// `base`): whose field names decoding the block needs besides the
    /// span's own. Walks the items as [`Self::decode_block`] does, checking
    /// tags and event callsites, without decoding values.
    pub(crate) fn mark_block_events(
        &self,
        row: u32,
        bytes: &[u8],
        base: u64,
        wanted: &mut [bool],
    ) -> Result<(), Error> {
        let (_, _, mut c) = self.block(row, bytes, base);
        while !c.is_empty() {
            match c.u8()? {
                P_FIELDS | P_RECORD => skip_fields(&mut c, false)?,
                P_EVENT | P_EVENT_REL => self.mark_event(&mut c, wanted)?,
                P_ENTER | P_EXIT | P_ENTER_REL | P_EXIT_REL => {
                    c.uvarint()?;
                    c.uvarint32()?;
                }
                P_FOLLOWS => {
                    c.u32_le()?;
                }
                _ => return Err(c.corrupt("unknown payload item tag")),
            }
        }
        Ok(())
    }

    /// As [`Self::mark_block_events`], for the orphan-event block.
    pub(crate) fn mark_orphan_events(
        &self,
        bytes: &[u8],
        base: u64,
        wanted: &mut [bool],
    ) -> Result<(), Error> {
        let mut c = self.orphans(bytes, base);
        while !c.is_empty() {
            if c.u8()? != P_EVENT {
                return Err(c.corrupt("orphan block holds something other than events"));
            }
            self.mark_event(&mut c, wanted)?;
        }
        Ok(())
    }

    /// Marks an event body's callsite in `wanted` and skips the rest.
    fn mark_event(&self, c: &mut Cursor<'_>, wanted: &mut [bool]) -> Result<(), Error> {
        let callsite = self.event_callsite(c)?;
        if let Some(w) = wanted.get_mut(callsite) {
            *w = true;
        }
        c.uvarint()?;
        c.uvarint32()?;
        skip_fields(c, false)
    }

    /// Decodes the block of span `row` from `bytes` (which start at payload
    /// offset `base`). The field names of its callsite and of its events'
    /// must have been read ([`Self::mark_block_events`]); names not read
    /// decode as `field#<idx>`.
    pub(crate) fn decode_block(&self, row: u32, bytes: &[u8], base: u64) -> Result<Block, Error> {
        let (from, slice, mut c) = self.block(row, bytes, base);
        let callsite = self.s.rows[row as usize].callsite as usize;
        // The origin of the relative item times.
        let start = self.s.rows[row as usize].start;
        let mut block = Block::default();
        // Fields recorded later win over those given at creation, whatever
        // order their items landed in (threads flush independently).
        let mut recorded = Vec::new();
        // Per thread: nesting depth and when the outermost enter happened.
        let mut open: HashMap<u32, (u32, u64)> = HashMap::new();
        while !c.is_empty() {
            match c.u8()? {
                P_FIELDS => self.read_fields(&mut c, callsite, &mut block.fields)?,
                P_RECORD => {
                    let from = c.pos();
                    skip_fields(&mut c, false)?;
                    recorded.push(from..c.pos());
                }
                P_EVENT => block.events.push(self.read_event(&mut c, None)?),
                P_EVENT_REL => {
                    let event = self.read_event(&mut c, Some(start))?;
                    block.events.push(event);
                }
                tag @ (P_ENTER | P_EXIT | P_ENTER_REL | P_EXIT_REL) => {
                    let relative = matches!(tag, P_ENTER_REL | P_EXIT_REL);
                    let t = read_time(&mut c, relative.then_some(start))?;
                    let thread = c.uvarint32()?;
                    let e = open.entry(thread).or_insert((0, t));
                    if matches!(tag, P_ENTER | P_ENTER_REL) {
                        if e.0 == 0 {
                            e.1 = t;
                        }
                        e.0 += 1;
                    } else if e.0 > 0 {
                        e.0 -= 1;
                        if e.0 == 0 {
                            block.intervals.push(Interval {
                                enter_ns: e.1,
                                exit_ns: Some(t),
                                thread,
                            });
                        }
                    }
                }
                P_FOLLOWS => {
                    let r = c.u32_le()?;
                    if r != NO_SPAN {
                        if r as usize >= self.s.rows.len() {
                            return Err(c.corrupt("follows-from link out of range"));
                        }
                        block.follows_from.push(SpanId(r));
                    }
                }
                _ => return Err(c.corrupt("unknown payload item tag")),
            }
        }
        for range in recorded {
            let at = self.s.extents[S_PAYLOAD].offset + from + range.start as u64;
            let mut rc = Cursor::new(&slice[range], at, Section::Payload);
            self.read_fields(&mut rc, callsite, &mut block.fields)?;
        }
        for (thread, (depth, t)) in open {
            if depth > 0 {
                block.intervals.push(Interval {
                    enter_ns: t,
                    exit_ns: None,
                    thread,
                });
            }
        }
        block.events.sort_by_key(|e| e.t_ns);
        block.intervals.sort_by_key(|i| (i.enter_ns, i.thread));
        Ok(block)
    }

    /// A cursor over the orphan-event block in `bytes` (which start at
    /// payload offset `base` and run to the payload's end).
    fn orphans<'a>(&self, bytes: &'a [u8], base: u64) -> Cursor<'a> {
        let orphans = self.s.extents[S_ORPHANS];
        let from = orphans.offset - self.s.extents[S_PAYLOAD].offset;
        let slice = &bytes[(from - base) as usize..];
        Cursor::new(slice, orphans.offset, Section::Payload)
    }

    /// Decodes the orphan-event block from `bytes` (starting at payload
    /// offset `base`), whose events' field names have been read.
    pub(crate) fn decode_orphans(&self, bytes: &[u8], base: u64) -> Result<Vec<EventData>, Error> {
        let mut c = self.orphans(bytes, base);
        let mut out = Vec::new();
        while !c.is_empty() {
            if c.u8()? != P_EVENT {
                return Err(c.corrupt("orphan block holds something other than events"));
            }
            out.push(self.read_event(&mut c, None)?);
        }
        out.sort_by_key(|e| e.t_ns);
        Ok(out)
    }
}

/// An item's time: absolute, or with `start` (the row's) stored as
/// `t − start`.
fn read_time(c: &mut Cursor<'_>, start: Option<u64>) -> Result<u64, Error> {
    let v = c.uvarint()?;
    match start {
        Some(start) => start
            .checked_add(v)
            .ok_or_else(|| c.corrupt("relative time out of range")),
        None => Ok(v),
    }
}
