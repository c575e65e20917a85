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

use super::atomic::{AtomicUsize, Ordering::SeqCst};
use super::park::{self as plc, ParkResult, DEFAULT_PARK_TOKEN, DEFAULT_UNPARK_TOKEN};
use std::time::Instant;

/// A counted set of sleeping threads; see the module documentation.
///
/// Wake it with the structure's mutex held: a sleeper, even one timing
/// out, must take that mutex before it leaves, so the structure is alive
/// for the whole wake. (A wake after the unlock could reach a structure
/// that its last user has freed, and whatever now parks at its address.)
#[derive(Debug)]
pub(crate) struct Sleepers {
    /// Threads parked on this field's address.
    count: AtomicUsize,
}

impl Sleepers {
    /// Nobody asleep.
    pub(crate) fn new() -> Self {
        Sleepers {
            count: AtomicUsize::new(0),
        }
    }

    /// Whether any thread is counted as asleep (for the loom models).
    #[cfg(all(test, loom))]
    pub(crate) fn any_for_tests(&self) -> bool {
        self.count.load(SeqCst) != 0
    }

    fn key(&self) -> usize {
        &self.count as *const AtomicUsize as usize
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
        let r = unsafe { plc::park(self.key(), validate, unlock, timed_out, DEFAULT_PARK_TOKEN, deadline) };
        !matches!(r, ParkResult::TimedOut)
    }

    /// Wakes the longest sleeper, if there is one; true if it did. One
    /// load when nobody sleeps.
    #[inline]
    pub(crate) fn wake_one(&self) -> bool {
        self.count.load(SeqCst) != 0 && self.wake(1) != 0
    }

    /// Wakes every sleeper; returns how many.
    #[inline]
    pub(crate) fn wake_all(&self) -> usize {
        if self.count.load(SeqCst) == 0 {
            return 0;
        }
        self.wake(usize::MAX)
    }

    #[cold]
    fn wake(&self, n: usize) -> usize {
        let callback = |r: plc::UnparkResult| {
            self.count.fetch_sub(r.unparked_threads, SeqCst);
            DEFAULT_UNPARK_TOKEN
        };
        // SAFETY: the key is our own count's address; the callbacks only
        // count.
        unsafe { plc::unpark_some(self.key(), n, callback) }.unparked_threads
    }
}
