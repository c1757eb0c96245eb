//! When each span was last exited, kept per thread so that an exit costs no span lookup.
//!
//! In: span exits from the layer (`on_exit`, app threads: every poll of an instrumented future
//! ends with one). Out: a span's last exit time at its close (`on_close`, any app thread).
//!
//! A span ends when it was last exited, and most spans close right after that, on the same
//! thread. So an exit is written to this thread's slot (tracer, span, time) instead of into the
//! span's record, which would take a registry lookup and the span's extensions lock. The slot
//! is given up to the span's record (a lookup, as before) only when the same thread exits
//! another span of the same tracer first. At close, the closing thread's slot gives the time;
//! failing that, every thread's slot is read, because a span kept open by a child can close on
//! another thread while its last exit is still pending in the slot of a thread that has gone
//! idle. Slots are seqlocks: the owning thread writes with plain stores, any thread reads.
//! A thread without a slot (more than [`SLOTS`] threads at once) writes into the record, as
//! every thread used to. No lock, no allocation, nothing that blocks.

use std::cell::Cell;
use std::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Threads that can hold a slot at once.
pub(crate) const SLOTS: usize = 128;

/// One thread's pending exit: `span` 0 when there is none.
struct Slot {
    in_use: AtomicBool,
    /// Odd while the owner writes.
    seq: AtomicU32,
    tracer: AtomicUsize,
    span: AtomicU64,
    /// Nanoseconds since [`base`].
    at: AtomicU64,
}

impl Slot {
    const fn new() -> Self {
        Slot {
            in_use: AtomicBool::new(false),
            seq: AtomicU32::new(0),
            tracer: AtomicUsize::new(0),
            span: AtomicU64::new(0),
            at: AtomicU64::new(0),
        }
    }

    /// Owner only.
    fn write(&self, tracer: usize, span: u64, at: u64) {
        let seq = self.seq.load(Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        self.tracer.store(tracer, Ordering::Relaxed);
        self.span.store(span, Ordering::Relaxed);
        self.at.store(at, Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(2), Ordering::Release);
    }

    /// Owner only: its own writes need no sequence check.
    fn own(&self) -> (usize, u64, u64) {
        (
            self.tracer.load(Ordering::Relaxed),
            self.span.load(Ordering::Relaxed),
            self.at.load(Ordering::Relaxed),
        )
    }

    /// Any thread: a consistent reading.
    fn read(&self) -> (usize, u64, u64) {
        loop {
            let before = self.seq.load(Ordering::Acquire);
            if before % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let value = self.own();
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == before {
                return value;
            }
        }
    }
}

static TABLE: [Slot; SLOTS] = [const { Slot::new() }; SLOTS];
/// Slots ever taken: readers look no further.
static IN_USE_UP_TO: AtomicUsize = AtomicUsize::new(0);

/// Times are kept as nanoseconds since this instant: a second before the first exit was
/// recorded (whose time was read just before).
fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(|| {
        let now = Instant::now();
        now.checked_sub(Duration::from_secs(1)).unwrap_or(now)
    })
}

fn to_nanos(at: Instant) -> u64 {
    // Without `as_nanos`'s 128-bit arithmetic: 2⁶⁴ ns is 584 years.
    let d = at.saturating_duration_since(base());
    d.as_secs()
        .wrapping_mul(1_000_000_000)
        .wrapping_add(u64::from(d.subsec_nanos()))
}

fn from_nanos(nanos: u64) -> Instant {
    base() + Duration::from_nanos(nanos)
}

/// This thread's slot; given back when the thread ends. Its pending exit stays readable until
/// another thread takes the slot and empties it (a span closed after both threads' work, on a
/// third, then ends when it closes).
struct Owned(Cell<Option<usize>>);

impl Owned {
    fn acquire() -> Self {
        let index = (0..SLOTS).find(|&i| {
            TABLE[i]
                .in_use
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        });
        if let Some(i) = index {
            TABLE[i].write(0, 0, 0);
            IN_USE_UP_TO.fetch_max(i + 1, Ordering::AcqRel);
        }
        Owned(Cell::new(index))
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        if let Some(i) = self.0.get() {
            TABLE[i].in_use.store(false, Ordering::Release);
        }
    }
}

thread_local! {
    static MINE: Owned = Owned::acquire();
}

fn mine() -> Option<&'static Slot> {
    MINE.try_with(|owned| owned.0.get())
        .ok()
        .flatten()
        .map(|i| &TABLE[i])
}

/// What [`record`] did with an exit.
#[derive(Debug, PartialEq)]
pub(crate) enum Recorded {
    /// Kept in this thread's slot.
    Kept,
    /// Kept, and it displaced the pending exit of another span of the same tracer: write that
    /// one into its span's record.
    Displaced { span: u64, at: Instant },
    /// Not kept (no slot, or the slot holds another tracer's exit): write this exit into the
    /// span's record.
    NotKept,
}

/// Notes that `span` of `tracer` (an address that identifies it) was exited `at`.
pub(crate) fn record(tracer: usize, span: u64, at: Instant) -> Recorded {
    let Some(slot) = mine() else {
        return Recorded::NotKept;
    };
    let (owner, pending, pending_at) = slot.own();
    if pending != 0 && owner != tracer {
        return Recorded::NotKept;
    }
    slot.write(tracer, span, to_nanos(at));
    if pending != 0 && pending != span {
        return Recorded::Displaced {
            span: pending,
            at: from_nanos(pending_at),
        };
    }
    Recorded::Kept
}

/// At the close of `span` of `tracer`: its pending last exit, if one is pending anywhere
/// (this thread's slot is emptied if it held it).
pub(crate) fn take(tracer: usize, span: u64) -> Option<Instant> {
    if let Some(slot) = mine() {
        let (owner, pending, at) = slot.own();
        if pending == span && owner == tracer {
            slot.write(0, 0, 0);
            return Some(from_nanos(at));
        }
    }
    // Kept open by a child that closed here, or moved to this thread after its last exit.
    let up_to = IN_USE_UP_TO.load(Ordering::Acquire);
    TABLE[..up_to]
        .iter()
        .filter_map(|slot| {
            let (owner, pending, at) = slot.read();
            (pending == span && owner == tracer).then_some(at)
        })
        .max()
        .map(from_nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exit_is_taken_back_at_close_on_the_same_thread() {
        let now = Instant::now();
        assert_eq!(record(1, 10, now), Recorded::Kept);
        assert_eq!(record(1, 10, now), Recorded::Kept, "the same span again");
        let at = take(1, 10).unwrap();
        assert!(at.max(now) - at.min(now) < Duration::from_micros(1));
        assert_eq!(take(1, 10), None, "taken once");
    }

    #[test]
    fn another_span_displaces_the_pending_exit() {
        let now = Instant::now();
        assert_eq!(record(2, 20, now), Recorded::Kept);
        let later = now + Duration::from_millis(1);
        match record(2, 21, later) {
            Recorded::Displaced { span: 20, at } => {
                assert!(at.max(now) - at.min(now) < Duration::from_micros(1))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(record(3, 30, later), Recorded::NotKept, "another tracer's");
        assert!(take(2, 21).is_some());
    }

    #[test]
    fn a_close_on_another_thread_finds_the_exit_pending_here() {
        let now = Instant::now();
        assert_eq!(record(4, 40, now), Recorded::Kept);
        let found = std::thread::spawn(|| take(4, 40)).join().unwrap();
        let found = found.expect("read from this thread's slot");
        assert!(found.max(now) - found.min(now) < Duration::from_micros(1));
        assert_eq!(
            std::thread::spawn(|| take(4, 41)).join().unwrap(),
            None,
            "another span"
        );
    }
}
