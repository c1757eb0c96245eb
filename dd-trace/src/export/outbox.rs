//! The retry buffer: encoded payloads on their way to the agent, bounded by bytes.
//!
//! In: payloads from the encoder, and payloads whose delivery found the agent unreachable
//! (they come back in the order they were made). Out: payloads for the transport, oldest
//! first. Only the worker thread touches it. Its byte count covers the payloads waiting *and*
//! those in flight, so the memory the export side holds for undelivered payloads stays under
//! the capacity; one payload is always accepted when nothing else is held, whatever the
//! capacity, so a tiny capacity still delivers. A payload that does not fit is refused: the
//! worker drops and counts it.

use std::collections::VecDeque;

use crate::encode::Payload;

/// A payload with its place in the order payloads were made.
#[derive(Debug)]
pub(crate) struct Queued {
    pub(crate) seq: u64,
    pub(crate) payload: Payload,
}

/// Payloads waiting for the agent, and the byte count of those waiting or in flight.
#[derive(Debug)]
pub(crate) struct Outbox {
    waiting: VecDeque<Queued>,
    /// Bytes of payloads waiting or in flight.
    held_bytes: u64,
    waiting_spans: u64,
    capacity: u64,
    next_seq: u64,
}

impl Outbox {
    pub(crate) fn new(capacity: u64) -> Self {
        Outbox {
            waiting: VecDeque::new(),
            held_bytes: 0,
            waiting_spans: 0,
            capacity,
            next_seq: 0,
        }
    }

    /// Adds a new payload at the back, or gives it back when it does not fit.
    pub(crate) fn offer(&mut self, payload: Payload) -> Result<(), Payload> {
        let len = payload.body.len() as u64;
        if self.held_bytes > 0 && self.held_bytes + len > self.capacity {
            return Err(payload);
        }
        self.held_bytes += len;
        self.waiting_spans += payload.spans;
        let seq = self.next_seq;
        self.next_seq += 1;
        self.waiting.push_back(Queued { seq, payload });
        Ok(())
    }

    /// Takes the oldest waiting payload to send it (its bytes stay held until
    /// [`release`](Self::release)).
    pub(crate) fn take(&mut self) -> Option<Queued> {
        let q = self.waiting.pop_front()?;
        self.waiting_spans -= q.payload.spans;
        Some(q)
    }

    /// Puts a payload taken with [`take`](Self::take) back in its place in the order.
    pub(crate) fn put_back(&mut self, q: Queued) {
        self.waiting_spans += q.payload.spans;
        let at = self.waiting.partition_point(|w| w.seq < q.seq);
        self.waiting.insert(at, q);
    }

    /// Forgets a taken payload: it was delivered or dropped.
    pub(crate) fn release(&mut self, payload: &Payload) {
        self.held_bytes -= payload.body.len() as u64;
    }

    /// Removes every waiting payload (at shutdown, to count them as dropped).
    pub(crate) fn take_all(&mut self) -> Vec<Payload> {
        let all: Vec<Payload> = self.waiting.drain(..).map(|q| q.payload).collect();
        for p in &all {
            self.held_bytes -= p.body.len() as u64;
        }
        self.waiting_spans = 0;
        all
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Payloads waiting (not in flight).
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Spans in the payloads waiting.
    pub(crate) fn waiting_spans(&self) -> u64 {
        self.waiting_spans
    }

    /// Bytes of payloads waiting or in flight.
    pub(crate) fn held_bytes(&self) -> u64 {
        self.held_bytes
    }

    pub(crate) fn capacity(&self) -> u64 {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::PayloadFormat;

    fn payload(bytes: usize, spans: u64) -> Payload {
        Payload {
            format: PayloadFormat::V04,
            body: vec![0; bytes].into(),
            chunks: 1,
            spans,
            client_stats: false,
            dropped_p0: (0, 0),
        }
    }

    #[test]
    fn bytes_held_include_payloads_in_flight_and_the_cap_refuses_the_rest() {
        let mut o = Outbox::new(100);
        o.offer(payload(60, 1)).unwrap();
        let first = o.take().unwrap();
        // In flight still counts.
        assert!(o.offer(payload(60, 2)).is_err());
        o.offer(payload(40, 3)).unwrap();
        assert_eq!(
            (o.held_bytes(), o.waiting(), o.waiting_spans()),
            (100, 1, 3)
        );
        o.release(&first.payload);
        assert_eq!(o.held_bytes(), 40);
    }

    #[test]
    fn one_payload_is_taken_whatever_the_capacity() {
        let mut o = Outbox::new(0);
        o.offer(payload(500, 1)).unwrap();
        assert!(o.offer(payload(1, 1)).is_err());
    }

    #[test]
    fn payloads_put_back_keep_the_order_they_were_made_in() {
        let mut o = Outbox::new(1000);
        for spans in 1..=4 {
            o.offer(payload(10, spans)).unwrap();
        }
        let (a, b) = (o.take().unwrap(), o.take().unwrap());
        // They fail in any order; they go back in the order they were made.
        o.put_back(b);
        o.put_back(a);
        let order: Vec<u64> = std::iter::from_fn(|| o.take().map(|q| q.payload.spans)).collect();
        assert_eq!(order, [1, 2, 3, 4]);
        assert_eq!(o.take_all().len(), 0);
    }
}
