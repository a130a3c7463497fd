//! Capture: the `tracing-subscriber` layer that turns span and event
//! callbacks into journal records, on the app thread, without file I/O.
//!
//! Data flow: [`BhtLayer`] callbacks → [`local`] per-thread buffers →
//! channel → [`crate::journal`] writer thread → journal file. [`setup`] holds
//! the [`Builder`](crate::Builder) and the [`Guard`](crate::Guard).

pub(crate) mod local;
mod panic_hook;
pub(crate) mod setup;
pub(crate) mod shared;
mod spans;
#[cfg(test)]
mod tests;
mod visit;

use std::sync::Arc;

use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use crate::journal::record::{
    put_close, put_enter_exit, put_event, put_follows, put_new_span, put_record,
};
use local::emit;
use shared::Shared;
use spans::SpanTable;
use visit::FieldEncoder;

/// The layer that records spans and events into a bhtrace journal.
///
/// Made by [`layer`](crate::layer) or [`Builder::build`](crate::Builder::build),
/// together with the [`Guard`](crate::Guard) that finishes the trace. It
/// composes with other layers, `EnvFilter` and per-layer filters; a span
/// whose parent is filtered out of this layer is attached to its nearest
/// recorded ancestor.
///
/// ```no_run
/// use tracing_subscriber::prelude::*;
/// # fn main() -> Result<(), bhtrace::Error> {
/// let (layer, _guard) = bhtrace::layer("app.bht")?;
/// tracing_subscriber::registry().with(layer).init();
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct BhtLayer {
    shared: Arc<Shared>,
    /// The numbers of this layer's live spans, by tracing id.
    spans: Arc<SpanTable>,
}

/// A clone shares the trace but not the table of span ids: it goes into
/// another subscriber, whose ids are its own.
impl Clone for BhtLayer {
    fn clone(&self) -> Self {
        BhtLayer::new(Arc::clone(&self.shared))
    }
}

/// bhtrace's own number for a span whose slot in the [`SpanTable`] was
/// taken, kept in the span's extensions. Unlike `tracing`'s ids it is never
/// reused within a trace.
#[derive(Debug, Clone, Copy)]
struct SpanNo(u64);

/// The number of an extension-kept span, or 0.
fn extension_number<S>(id: &Id, ctx: &Context<'_, S>) -> u64
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    ctx.span(id)
        .and_then(|s| s.extensions().get::<SpanNo>().map(|n| n.0))
        .unwrap_or(0)
}

impl BhtLayer {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        BhtLayer {
            shared,
            spans: Arc::default(),
        }
    }

    /// The number of span `id`, or 0 when this layer did not record it.
    fn number_of<S>(&self, id: &Id, ctx: &Context<'_, S>) -> u64
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        match self.spans.get(id.into_u64()) {
            Some(n) => n,
            None => extension_number(id, ctx),
        }
    }

    /// The number of the nearest span in `span`'s scope (itself first) that
    /// this layer recorded, or 0.
    fn nearest_recorded<S>(&self, span: SpanRef<'_, S>) -> u64
    where
        S: for<'a> LookupSpan<'a>,
    {
        for s in span.scope() {
            if let Some(n) = self.spans.get(s.id().into_u64()) {
                return n;
            }
            if let Some(n) = s.extensions().get::<SpanNo>() {
                return n.0;
            }
        }
        0
    }
}

impl<S> Layer<S> for BhtLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        // The registry's parent, walked up to the nearest span this layer
        // recorded (per-layer filters can hide some). Only explicit parents
        // and the re-entrant fallback need it: a contextual parent is the
        // top of this thread's entered stack.
        let lookup_parent = || {
            ctx.span(id)
                .and_then(|s| s.parent())
                .map_or(0, |p| self.nearest_recorded(p))
        };
        let t = self.shared.now();
        let meta = attrs.metadata();
        let mut number = 0;
        emit(&self.shared, |rec| {
            let parent = if attrs.is_root() {
                0
            } else if attrs.is_contextual() {
                rec.current().unwrap_or_else(lookup_parent)
            } else {
                lookup_parent()
            };
            number = rec.new_span_number();
            let (callsite, redact) = rec.callsite(meta);
            let t = rec.time(t);
            put_new_span(rec.buf, number, parent, callsite, t, rec.thread);
            let mut enc = FieldEncoder::new(rec.buf, redact);
            attrs.record(&mut enc);
            enc.finish();
            true
        });
        if number != 0 && !self.spans.insert(id.into_u64(), number) {
            if let Some(span) = ctx.span(id) {
                span.extensions_mut().insert(SpanNo(number));
            }
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let number = match self.spans.get(id.into_u64()) {
            Some(n) => n,
            None => match span.extensions().get::<SpanNo>() {
                Some(n) => n.0,
                None => return,
            },
        };
        let meta = span.metadata();
        emit(&self.shared, |rec| {
            let (_, redact) = rec.callsite(meta);
            put_record(rec.buf, number);
            let mut enc = FieldEncoder::new(rec.buf, redact);
            values.record(&mut enc);
            enc.finish();
            true
        });
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, ctx: Context<'_, S>) {
        let span = self.number_of(id, &ctx);
        let follows = self.number_of(follows, &ctx);
        if span != 0 && follows != 0 {
            emit(&self.shared, |rec| {
                put_follows(rec.buf, span, follows);
                true
            });
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let lookup_parent = || {
            ctx.event_span(event)
                .map_or(0, |s| self.nearest_recorded(s))
        };
        let t = self.shared.now();
        let meta = event.metadata();
        emit(&self.shared, |rec| {
            let parent = if event.is_root() {
                0
            } else if event.is_contextual() {
                rec.current().unwrap_or_else(lookup_parent)
            } else {
                lookup_parent()
            };
            let (callsite, redact) = rec.callsite(meta);
            let t = rec.time(t);
            put_event(rec.buf, parent, callsite, t, rec.thread);
            let mut enc = FieldEncoder::new(rec.buf, redact);
            event.record(&mut enc);
            enc.finish();
            true
        });
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let span = self.number_of(id, &ctx);
        if span != 0 {
            let t = self.shared.now();
            emit(&self.shared, |rec| {
                rec.push_entered(id.into_u64(), span);
                let t = rec.time(t);
                put_enter_exit(rec.buf, true, span, t, rec.thread);
                true
            });
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        let t = self.shared.now();
        emit(&self.shared, |rec| {
            // The span this thread entered, else (entered before this layer
            // saw it, or the fallback) its number from the span table.
            let span = rec
                .pop_entered(id.into_u64())
                .unwrap_or_else(|| self.number_of(id, &ctx));
            if span == 0 {
                return false;
            }
            let t = rec.time(t);
            put_enter_exit(rec.buf, false, span, t, rec.thread);
            true
        });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        // Out of the table whatever happens next: the id may be reused.
        let span = match self.spans.remove(id.into_u64()) {
            Some(n) => n,
            None => extension_number(&id, &ctx),
        };
        if span != 0 {
            let t = self.shared.now();
            emit(&self.shared, |rec| {
                let t = rec.time(t);
                put_close(rec.buf, span, t);
                true
            });
        }
    }
}
