//! The parking layer the primitives sleep through.
//!
//! In a normal build this is `super::parking` itself, re-exported: the
//! primitives call exactly the same functions as if they named it.
//!
//! Under `--cfg loom` it is a stand-in with the same signatures and the same
//! contract, built from loom primitives so that loom can explore every
//! interleaving of a primitive with the queue it sleeps in:
//!
//! * One global queue (a `loom::lazy_static!` `loom::sync::Mutex`) plays the
//!   part of the real parking lot's hash-table buckets. `validate`, `timed_out`, the
//!   unpark `filter` and `callback` run with it locked, as they do under the
//!   bucket lock; `before_sleep` runs after the thread is enqueued, with it
//!   unlocked. Threads of one key leave in FIFO order.
//! * An unparker removes the waiter, deposits its `UnparkToken` under the
//!   lock, unlocks, then `loom::thread::Thread::unpark`s it; the parked
//!   thread loops on "is my token there? else `loom::thread::park()`", so a
//!   wake-up that nobody sends shows up as a loom deadlock.
//! * `UnparkResult::be_fair` is whatever `set_be_fair` last set on this OS
//!   thread (false by default): loom has no clock, so a model chooses the
//!   fair (hand-off) or the unfair (barging) path and tests both.
//! * Timeouts: loom has no clock either. A park with a deadline never
//!   sleeps: right after `before_sleep`, if nobody has unparked it yet, it
//!   takes itself out of the queue under the lock, calls `timed_out` and
//!   returns `TimedOut`; if it was unparked, it returns its token. The
//!   interleavings loom explores between enqueueing and that check stand for
//!   every moment the deadline could pass, so "times out" and "woken just
//!   before the deadline" are both explored (the deadline's value is
//!   ignored, only `Some`/`None` matters).
//! * `SpinWait::spin` yields to loom's scheduler and gives up after
//!   `SPIN_LIMIT` rounds, since a spin loop is otherwise unbounded for loom.

#[cfg(not(loom))]
pub(crate) use super::parking::{
    park, unpark_all, unpark_filter, unpark_one, unpark_requeue, FilterOp, ParkResult, ParkToken, SpinWait,
    UnparkResult, UnparkToken, DEFAULT_PARK_TOKEN, DEFAULT_UNPARK_TOKEN,
};

#[cfg(loom)]
pub(crate) use self::model::*;

/// Wakes up to `n` threads parked on `key`, oldest first; `callback` as
/// for `unpark_filter`. (The same in both builds: it only counts.)
///
/// # Safety
/// As for `unpark_filter`.
pub(crate) unsafe fn unpark_some(
    key: usize,
    n: usize,
    callback: impl FnOnce(UnparkResult) -> UnparkToken,
) -> UnparkResult {
    let mut left = n;
    let filter = |_| {
        if left == 0 {
            return FilterOp::Stop;
        }
        left -= 1;
        FilterOp::Unpark
    };
    // SAFETY: forwarded.
    unsafe { unpark_filter(key, filter, callback) }
}

#[cfg(loom)]
mod model {
    pub(crate) use super::super::parking::{
        FilterOp, ParkResult, ParkToken, UnparkResult, UnparkToken, DEFAULT_PARK_TOKEN, DEFAULT_UNPARK_TOKEN,
    };
    use loom::sync::{Mutex, MutexGuard};
    use std::cell::Cell;
    use std::time::Instant;

    /// How many times `SpinWait::spin` yields before it tells the caller to
    /// park.
    pub(crate) const SPIN_LIMIT: u32 = 1;

    struct Waiter {
        key: usize,
        /// Unique per `park` call, so a woken thread finds its own token.
        id: u64,
        token: ParkToken,
        thread: loom::thread::Thread,
    }

    #[derive(Default)]
    struct Queue {
        /// Parked threads, oldest first.
        parked: Vec<Waiter>,
        /// Threads taken out of `parked` by an unpark, with their tokens,
        /// that have not yet returned from `park`.
        woken: Vec<(u64, UnparkToken)>,
        next_id: u64,
    }

    loom::lazy_static! {
        static ref QUEUE: Mutex<Queue> = Mutex::new(Queue::default());
    }

    std::thread_local! {
        // Loom runs all the threads of a model on the one OS thread that
        // called `loom::model`, so this is per model, not per loom thread.
        static BE_FAIR: Cell<bool> = const { Cell::new(false) };
    }

    /// Whether unparks that wake a thread report `be_fair` (the hand-off
    /// path of Lock and Semaphore). Call it in the model, before its threads.
    pub(crate) fn set_be_fair(fair: bool) {
        BE_FAIR.with(|f| f.set(fair));
    }

    fn lock() -> MutexGuard<'static, Queue> {
        QUEUE.lock().unwrap()
    }

    fn wake(woken: Vec<Waiter>) {
        for w in woken {
            w.thread.unpark();
        }
    }

    /// As `parking::park`; a deadline means "may time out at any
    /// point after `before_sleep`" (see the module docs).
    ///
    /// # Safety
    ///
    /// None needed here; `unsafe` only to keep the real parking lot's signature.
    pub(crate) unsafe fn park(
        key: usize,
        validate: impl FnOnce() -> bool,
        before_sleep: impl FnOnce(),
        timed_out: impl FnOnce(usize, bool),
        park_token: ParkToken,
        timeout: Option<Instant>,
    ) -> ParkResult {
        let id = {
            let mut q = lock();
            if !validate() {
                return ParkResult::Invalid;
            }
            let id = q.next_id;
            q.next_id += 1;
            q.parked.push(Waiter {
                key,
                id,
                token: park_token,
                thread: loom::thread::current(),
            });
            id
        };
        before_sleep();
        if timeout.is_some() {
            let mut q = lock();
            if let Some(pos) = q.parked.iter().position(|w| w.id == id) {
                // Its key now: a requeue may have moved it.
                let key = q.parked.remove(pos).key;
                let was_last = !q.parked.iter().any(|w| w.key == key);
                timed_out(key, was_last);
                return ParkResult::TimedOut;
            }
            // Unparked already: its token is in `woken`.
        }
        loop {
            {
                let mut q = lock();
                if let Some(pos) = q.woken.iter().position(|&(w, _)| w == id) {
                    let (_, token) = q.woken.swap_remove(pos);
                    return ParkResult::Unparked(token);
                }
            }
            loom::thread::park();
        }
    }

    /// As `parking::unpark_requeue`: the global queue keeps arrival order,
    /// so changing the key moves a waiter to the end of `to`'s threads only
    /// approximately; the primitives rely on FIFO within a key, which holds.
    ///
    /// # Safety
    ///
    /// None needed here; `unsafe` only to keep the real parking lot's signature.
    pub(crate) unsafe fn unpark_requeue(
        from: usize,
        to: usize,
        n: usize,
        validate: impl FnOnce() -> bool,
    ) -> Option<usize> {
        let mut q = lock();
        if !validate() {
            return None;
        }
        let mut moved = 0;
        for w in q.parked.iter_mut().filter(|w| w.key == from).take(n) {
            w.key = to;
            moved += 1;
        }
        Some(moved)
    }

    /// As `parking::unpark_one`.
    ///
    /// # Safety
    ///
    /// None needed here; `unsafe` only to keep the real parking lot's signature.
    pub(crate) unsafe fn unpark_one(key: usize, callback: impl FnOnce(UnparkResult) -> UnparkToken) -> UnparkResult {
        let mut q = lock();
        let mut result = UnparkResult::default();
        let Some(pos) = q.parked.iter().position(|w| w.key == key) else {
            callback(result);
            return result;
        };
        let w = q.parked.remove(pos);
        result.have_more_threads = q.parked.iter().any(|w| w.key == key);
        result.unparked_threads = 1;
        result.be_fair = BE_FAIR.with(Cell::get);
        let token = callback(result);
        q.woken.push((w.id, token));
        drop(q);
        wake(vec![w]);
        result
    }

    /// As `parking::unpark_all`.
    ///
    /// # Safety
    ///
    /// None needed here; `unsafe` only to keep the real parking lot's signature.
    pub(crate) unsafe fn unpark_all(key: usize, token: UnparkToken) -> usize {
        let mut q = lock();
        let (woken, rest) = std::mem::take(&mut q.parked)
            .into_iter()
            .partition::<Vec<_>, _>(|w| w.key == key);
        q.parked = rest;
        for w in &woken {
            q.woken.push((w.id, token));
        }
        drop(q);
        let n = woken.len();
        wake(woken);
        n
    }

    /// As `parking::unpark_filter`.
    ///
    /// # Safety
    ///
    /// None needed here; `unsafe` only to keep the real parking lot's signature.
    pub(crate) unsafe fn unpark_filter(
        key: usize,
        mut filter: impl FnMut(ParkToken) -> FilterOp,
        callback: impl FnOnce(UnparkResult) -> UnparkToken,
    ) -> UnparkResult {
        let mut q = lock();
        let mut result = UnparkResult::default();
        let mut woken = Vec::new();
        let mut i = 0;
        while i < q.parked.len() {
            if q.parked[i].key != key {
                i += 1;
                continue;
            }
            match filter(q.parked[i].token) {
                FilterOp::Unpark => woken.push(q.parked.remove(i)),
                FilterOp::Skip => {
                    result.have_more_threads = true;
                    i += 1;
                }
                FilterOp::Stop => {
                    result.have_more_threads = true;
                    break;
                }
            }
        }
        result.unparked_threads = woken.len();
        if !woken.is_empty() {
            result.be_fair = BE_FAIR.with(Cell::get);
        }
        let token = callback(result);
        for w in &woken {
            q.woken.push((w.id, token));
        }
        drop(q);
        wake(woken);
        result
    }

    /// As `parking::SpinWait`, but each spin is a loom yield and
    /// there are only `SPIN_LIMIT` of them.
    #[derive(Default)]
    pub(crate) struct SpinWait {
        counter: u32,
    }

    impl SpinWait {
        pub(crate) fn new() -> Self {
            SpinWait { counter: 0 }
        }

        pub(crate) fn reset(&mut self) {
            self.counter = 0;
        }

        pub(crate) fn spin(&mut self) -> bool {
            if self.counter >= SPIN_LIMIT {
                return false;
            }
            self.counter += 1;
            loom::thread::yield_now();
            true
        }

        pub(crate) fn spin_briefly(&mut self) -> bool {
            self.spin()
        }
    }
}
