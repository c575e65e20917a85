//! `Sleepers`: the threads waiting for one condition of a structure that
//! has its own mutex (a queue's "not empty", "not full", "all done").
//!
//! It is a condition variable that knows exactly how many threads sleep in
//! it, because the count changes only under the parking bucket lock: when a
//! thread is queued, when it times out, and when a wake takes it out. So a
//! wake with nobody asleep costs one load, and a thread that has been woken
//! but has not run yet is no longer counted. That second point is the one
//! that matters: with a condition variable whose sleepers count themselves
//! out only once they run, every put between a wake and the woken thread's
//! first instruction pays another futex call, and on a busy machine that is
//! most of them.

use super::park::{self as plc, FilterOp, ParkResult, DEFAULT_PARK_TOKEN, DEFAULT_UNPARK_TOKEN};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Instant;

/// A counted set of sleeping threads; see the module documentation.
#[derive(Debug, Default)]
pub(crate) struct Sleepers {
    /// Threads parked on this field's address.
    count: AtomicUsize,
}

/// Which [`Sleepers`] to wake, taken while the structure is known to be
/// alive, so that the wake itself can come after the mutex is released.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WakeKey(usize);

impl Sleepers {
    /// Nobody asleep.
    pub(crate) const fn new() -> Self {
        Sleepers {
            count: AtomicUsize::new(0),
        }
    }

    /// Whether a thread sleeps in it. Exact while the structure's mutex is
    /// held, since sleepers are counted before they release it.
    #[inline]
    pub(crate) fn any(&self) -> bool {
        self.count.load(SeqCst) != 0
    }

    /// The key to wake these sleepers by.
    #[inline]
    pub(crate) fn key(&self) -> WakeKey {
        WakeKey(&self.count as *const AtomicUsize as usize)
    }

    /// Sleeps until woken or until `deadline`: counts the thread, queues
    /// it, then runs `unlock` (the caller releases its mutex there, so a
    /// waker that takes the mutex afterwards is sure to see the count).
    /// False if the deadline passed first.
    pub(crate) fn sleep(&self, unlock: impl FnOnce(), deadline: Option<Instant>) -> bool {
        let validate = || {
            self.count.fetch_add(1, SeqCst);
            true
        };
        let timed_out = |_, _| {
            self.count.fetch_sub(1, SeqCst);
        };
        // SAFETY: the key is the address of our own count, which no other
        // primitive parks on; the callbacks only count.
        let r = unsafe { plc::park(self.key().0, validate, unlock, timed_out, DEFAULT_PARK_TOKEN, deadline) };
        !matches!(r, ParkResult::TimedOut)
    }
}

impl WakeKey {
    /// Wakes the longest sleeper, if there is one; true if it did.
    pub(crate) fn wake_one(self) -> bool {
        self.wake(1) != 0
    }

    /// Wakes every sleeper; returns how many.
    pub(crate) fn wake_all(self) -> usize {
        self.wake(usize::MAX)
    }

    /// The count is touched only once a sleeper has been found under the
    /// bucket lock: a sleeper is inside a call on the structure, so the
    /// structure is alive. That is what lets a waker call this after
    /// releasing its mutex, when the thread it served may already have
    /// freed the structure.
    fn wake(self, n: usize) -> usize {
        let mut left = n;
        let filter = |_| {
            if left == 0 {
                return FilterOp::Stop;
            }
            left -= 1;
            FilterOp::Unpark
        };
        let callback = |r: plc::UnparkResult| {
            if r.unparked_threads > 0 {
                // SAFETY: see above; the key is the address of a count.
                unsafe { &*(self.0 as *const AtomicUsize) }.fetch_sub(r.unparked_threads, SeqCst);
            }
            DEFAULT_UNPARK_TOKEN
        };
        // SAFETY: the key is a `Sleepers` count; the callbacks only count.
        unsafe { plc::unpark_filter(self.0, filter, callback) }.unparked_threads
    }
}
