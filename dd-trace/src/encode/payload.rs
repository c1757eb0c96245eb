//! The payload builder: chunks → request bodies in the format in use, v0.4, v0.5 or v1.0.
//!
//! In: chunks and their trace-level tags, on the worker thread. Out: [`Payload`]s. The encoding
//! buffer is reused from payload to payload; a payload is cut once it passes the flush
//! threshold, splitting a large chunk into several chunks of the same trace if need be, so no
//! payload grows far past it. The format can change between payloads (after `/info`, or a
//! fallback); each payload is wholly in one format.

use std::sync::Arc;

use bytes::Bytes;

use super::v05::StringTable;
use super::v1::StreamedStrings;
use super::TraceLevelTags;
use super::{
    v04, v05, v1, EncodeContext, Payload, PayloadFormat, SpanView, DEFAULT_PAYLOAD_FLUSH_BYTES,
};
use crate::model::clock::WallClock;
use crate::model::trace::Chunk;

/// msgpack `array 32` marker: a fixed-size header that can be patched once the count is known.
pub(super) const ARRAY32: u8 = 0xdd;

/// Builds payloads chunk by chunk into one reused buffer (for v0.5, the chunks; the string
/// table is written in front when the payload is finished).
pub(crate) struct PayloadEncoder {
    format: PayloadFormat,
    pub(super) buf: Vec<u8>,
    strings: StringTable,
    streamed: StreamedStrings,
    /// Where the chunks array's header is (after v1.0's payload fields).
    chunks_at: usize,
    chunks: u32,
    spans: u64,
    flush_bytes: usize,
    ctx: EncodeContext,
    clock: WallClock,
}

impl PayloadEncoder {
    pub(crate) fn new(ctx: EncodeContext, flush_bytes: usize) -> Self {
        let mut enc = PayloadEncoder {
            format: PayloadFormat::V04,
            buf: Vec::with_capacity(flush_bytes.min(DEFAULT_PAYLOAD_FLUSH_BYTES) + 64 * 1024),
            strings: StringTable::default(),
            streamed: StreamedStrings::default(),
            chunks_at: 0,
            chunks: 0,
            spans: 0,
            flush_bytes,
            ctx,
            clock: WallClock::now(),
        };
        enc.reset();
        enc
    }

    fn reset(&mut self) {
        self.buf.clear();
        self.strings.clear();
        self.streamed.clear();
        if self.format == PayloadFormat::V1 {
            v1::write_header(&mut self.buf, &mut self.streamed, &self.ctx);
        }
        self.chunks_at = self.buf.len();
        self.buf.extend_from_slice(&[ARRAY32, 0, 0, 0, 0]);
        self.chunks = 0;
        self.spans = 0;
    }

    /// The format of the payloads it builds.
    pub(crate) fn format(&self) -> PayloadFormat {
        self.format
    }

    /// Builds the next payloads in `format`; the one under way, if any, is returned first (in
    /// the format it was started in).
    pub(crate) fn set_format(&mut self, format: PayloadFormat) -> Option<Payload> {
        if format == self.format {
            return None;
        }
        let pending = self.finish();
        self.format = format;
        self.reset();
        pending
    }

    /// Cuts payloads once they pass `bytes` (the agent's `max_request_bytes` lowers it).
    pub(crate) fn set_flush_bytes(&mut self, bytes: usize) {
        self.flush_bytes = bytes;
    }

    /// The tags every span carries (`DD_TAGS`), when they changed.
    pub(crate) fn set_global_tags(&mut self, tags: &Arc<Vec<(String, String)>>) {
        if !Arc::ptr_eq(&self.ctx.global_tags, tags) {
            self.ctx.global_tags = Arc::clone(tags);
        }
    }

    /// Whether the agent reads span events natively (from its `/info`).
    pub(crate) fn set_native_span_events(&mut self, native: bool) {
        self.ctx.native_span_events = native;
    }

    /// Takes a fresh reading of the clocks that turn span instants into Unix time.
    pub(crate) fn set_clock(&mut self, clock: WallClock) {
        self.clock = clock;
    }

    fn len(&self) -> usize {
        self.buf.len() + self.strings.bytes()
    }

    /// Whether the payload has passed its flush threshold.
    pub(crate) fn is_full(&self) -> bool {
        self.len() >= self.flush_bytes
    }

    /// Encodes `chunk` with its trace-level tags. Whenever the payload passes the flush
    /// threshold with spans of the chunk left, the payload is finished and handed to `emit`,
    /// and the rest of the chunk continues as a new chunk in a new payload.
    pub(crate) fn push_chunk(
        &mut self,
        chunk: &Chunk,
        trace_tags: &TraceLevelTags,
        emit: &mut dyn FnMut(Payload),
    ) {
        let local_root = chunk.trace.local_root_span_id();
        let trace_id = trace_tags.trace_id;
        let mut spans = chunk.spans.iter().peekable();
        while spans.peek().is_some() {
            if self.format == PayloadFormat::V1 {
                v1::write_chunk_header(&mut self.buf, &mut self.streamed, trace_tags);
            }
            let header_at = self.buf.len();
            self.buf.extend_from_slice(&[ARRAY32, 0, 0, 0, 0]);
            let mut count: u32 = 0;
            while let Some(span) = spans.next() {
                let view = SpanView {
                    span,
                    trace: trace_tags,
                    ctx: &self.ctx,
                    chunk_first: count == 0,
                    local_root: span.span_id == local_root,
                };
                match self.format {
                    PayloadFormat::V04 => {
                        v04::write_span(&mut self.buf, &view, trace_id.low(), &self.clock)
                    }
                    PayloadFormat::V05 => v05::write_span(
                        &mut self.buf,
                        &mut self.strings,
                        &view,
                        trace_id.low(),
                        &self.clock,
                    ),
                    PayloadFormat::V1 => {
                        v1::write_span(&mut self.buf, &mut self.streamed, &view, &self.clock)
                    }
                }
                count += 1;
                if self.len() >= self.flush_bytes && spans.peek().is_some() {
                    break;
                }
            }
            patch_u32(&mut self.buf, header_at, count);
            self.chunks += 1;
            self.spans += u64::from(count);
            if spans.peek().is_some() {
                if let Some(payload) = self.finish() {
                    emit(payload);
                }
            }
        }
    }

    /// The payload built so far, or `None` if it holds no chunk. The buffers are kept for reuse.
    pub(crate) fn finish(&mut self) -> Option<Payload> {
        if self.chunks == 0 {
            return None;
        }
        patch_u32(&mut self.buf, self.chunks_at, self.chunks);
        let body = match self.format {
            PayloadFormat::V04 | PayloadFormat::V1 => Bytes::copy_from_slice(&self.buf),
            PayloadFormat::V05 => {
                let mut body = Vec::with_capacity(self.len() + 16);
                // `[strings, traces]`
                body.push(0x92);
                self.strings.write(&mut body);
                body.extend_from_slice(&self.buf);
                Bytes::from(body)
            }
        };
        let payload = Payload {
            format: self.format,
            body,
            chunks: self.chunks,
            spans: self.spans,
            client_stats: false,
            dropped_p0: (0, 0),
        };
        self.reset();
        Some(payload)
    }
}

pub(super) fn patch_u32(buf: &mut [u8], at: usize, value: u32) {
    buf[at + 1..at + 5].copy_from_slice(&value.to_be_bytes());
}
