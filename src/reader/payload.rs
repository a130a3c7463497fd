//! Decoding payload blocks: a span's fields, events, enter/exit intervals
//! and follows-from links, from the bytes a query read.

use std::collections::HashMap;
use std::sync::Arc;

use super::TraceReader;
use super::model::{EventData, Interval, SpanId};
use super::structure::Schema;
use crate::codec::Cursor;
use crate::envelope::layout::*;
use crate::error::{Error, Section};
use crate::value::{Value, field_count_hint, get_fields, skip_fields, unnamed_field};

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
    /// replaces the earlier one. Names come from the schema, shared; a
    /// field the callsite does not declare is named `field#<idx>`.
    fn read_fields(
        schema: &Schema,
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
            let name = schema
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

    /// Decodes an event body: callsite (journal number, 1-based), time,
    /// thread, fields. With `start`, the time is stored relative to it.
    pub(crate) fn read_event(
        &self,
        schema: &Schema,
        c: &mut Cursor<'_>,
        start: Option<u64>,
    ) -> Result<EventData, Error> {
        let cs = c.uvarint32()?;
        let Some(callsite) = (cs as usize)
            .checked_sub(1)
            .filter(|&i| self.s.callsites.get(i).is_some_and(|c| c.kind != 0))
        else {
            return Err(c.corrupt("event callsite out of range"));
        };
        let t_ns = read_time(c, start)?;
        let thread = c.uvarint32()?;
        let mut fields = Vec::new();
        Self::read_fields(schema, c, callsite, &mut fields)?;
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

    /// Decodes the block of span `row` from `bytes` (which start at payload
    /// offset `base`).
    pub(crate) fn decode_block(
        &self,
        schema: &Schema,
        row: u32,
        bytes: &[u8],
        base: u64,
    ) -> Result<Block, Error> {
        let (from, to) = self.block_range(row);
        let slice = &bytes[(from - base) as usize..(to - base) as usize];
        let callsite = self.s.rows[row as usize].callsite as usize;
        // The origin of the relative item times.
        let start = self.s.rows[row as usize].start;
        let mut c = Cursor::new(
            slice,
            self.s.extents[S_PAYLOAD].offset + from,
            Section::Payload,
        );
        let mut block = Block::default();
        // Fields recorded later win over those given at creation, whatever
        // order their items landed in (threads flush independently).
        let mut recorded = Vec::new();
        // Per thread: nesting depth and when the outermost enter happened.
        let mut open: HashMap<u32, (u32, u64)> = HashMap::new();
        while !c.is_empty() {
            match c.u8()? {
                P_FIELDS => Self::read_fields(schema, &mut c, callsite, &mut block.fields)?,
                P_RECORD => {
                    let from = c.pos();
                    skip_fields(&mut c, false)?;
                    recorded.push(from..c.pos());
                }
                P_EVENT => block.events.push(self.read_event(schema, &mut c, None)?),
                P_EVENT_REL => {
                    let event = self.read_event(schema, &mut c, Some(start))?;
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
            Self::read_fields(schema, &mut rc, callsite, &mut block.fields)?;
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

    /// Decodes the orphan-event block from `bytes` (starting at payload
    /// offset `base`).
    pub(crate) fn decode_orphans(
        &self,
        schema: &Schema,
        bytes: &[u8],
        base: u64,
    ) -> Result<Vec<EventData>, Error> {
        let orphans = self.s.extents[S_ORPHANS];
        let from = orphans.offset - self.s.extents[S_PAYLOAD].offset;
        let slice = &bytes[(from - base) as usize..];
        let mut c = Cursor::new(slice, orphans.offset, Section::Payload);
        let mut out = Vec::new();
        while !c.is_empty() {
            if c.u8()? != P_EVENT {
                return Err(c.corrupt("orphan block holds something other than events"));
            }
            out.push(self.read_event(schema, &mut c, None)?);
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
