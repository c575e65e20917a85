//! `threading.Lock`: a non-recursive lock that any thread may release.

use super::atomic::{AtomicU32, AtomicU8, Ordering::*};
use super::park::{self as plc, ParkResult, SpinWait, DEFAULT_PARK_TOKEN};
use super::{deadline, TOKEN_HANDOFF, TOKEN_RETRY};
use crate::error::{Error, ErrorKind, Result};
use std::time::{Duration, Instant};

const LOCKED: u8 = 1;
/// Some thread is (or may be) parked on this lock.
const PARKED: u8 = 2;

/// A primitive lock, as Python's `threading.Lock`.
///
/// Not owned: any thread may release it, and releasing an unlocked lock is
/// an error. Acquiring and releasing without contention is one atomic
/// read-modify-write each. Waiters park in FIFO order; the lock is usually
/// taken by whoever comes first (throughput), but about every half
/// millisecond a release hands it straight to the oldest waiter, so no
/// waiter starves.
#[derive(Debug, Default)]
pub struct Lock {
    state: AtomicU8,
    /// Threads in `acquire`'s slow path (asleep, spinning, or woken and not
    /// yet returned); the C boundary refuses to free a lock while any are,
    /// since they will read it again.
    blocked: AtomicU32,
}

impl Lock {
    /// A new, unlocked lock.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Lock {
            state: AtomicU8::new(0),
            blocked: AtomicU32::new(0),
        }
    }

    /// A new, unlocked lock (not `const` under loom, whose atomics are not).
    #[cfg(loom)]
    pub fn new() -> Self {
        Lock {
            state: AtomicU8::new(0),
            blocked: AtomicU32::new(0),
        }
    }

    /// Blocks until the lock is acquired.
    #[inline]
    pub fn acquire(&self) {
        if self.state.compare_exchange_weak(0, LOCKED, Acquire, Relaxed).is_err() {
            self.acquire_slow(None);
        }
    }

    /// Acquires the lock if it is free; never blocks.
    #[inline]
    pub fn try_acquire(&self) -> bool {
        let mut state = self.state.load(Relaxed);
        loop {
            if state & LOCKED != 0 {
                return false;
            }
            match self
                .state
                .compare_exchange_weak(state, state | LOCKED, Acquire, Relaxed)
            {
                Ok(_) => return true,
                Err(s) => state = s,
            }
        }
    }

    /// Waits at most `timeout` (`None`: forever) for the lock; true if acquired.
    #[inline]
    pub fn acquire_timeout(&self, timeout: Option<Duration>) -> bool {
        self.acquire_timeout_then(timeout, || {})
    }

    /// `acquire_timeout`, running `then` once the lock is taken and before
    /// a waiter stops counting as blocked: a caller that writes to its own
    /// object after the acquire (RLock's owner) is done with it before a
    /// free of that object can succeed.
    #[inline]
    pub(crate) fn acquire_timeout_then(&self, timeout: Option<Duration>, then: impl FnOnce()) -> bool {
        if self.state.compare_exchange_weak(0, LOCKED, Acquire, Relaxed).is_ok() {
            then();
            return true;
        }
        match timeout {
            Some(d) if d.is_zero() => {
                let taken = self.try_acquire();
                if taken {
                    then();
                }
                taken
            }
            _ => self.acquire_slow_then(deadline(timeout), then),
        }
    }

    /// Releases the lock, from any thread.
    ///
    /// Fails with `RuntimeError("release unlocked lock")` if it is not locked.
    #[inline]
    pub fn release(&self) -> Result<()> {
        if self.state.compare_exchange(LOCKED, 0, Release, Relaxed).is_ok() {
            return Ok(());
        }
        self.release_slow()
    }

    /// One attempt at the uncontended acquire: a single compare-and-swap,
    /// for callers that have their own slow path.
    #[inline(always)]
    pub(crate) fn fast_acquire(&self) -> bool {
        self.state.compare_exchange_weak(0, LOCKED, Acquire, Relaxed).is_ok()
    }

    /// One attempt at the uncontended release (nobody parked).
    #[inline(always)]
    pub(crate) fn fast_release(&self) -> bool {
        self.state.compare_exchange(LOCKED, 0, Release, Relaxed).is_ok()
    }

    /// Whether the lock is held by some thread.
    #[inline]
    pub fn locked(&self) -> bool {
        self.state.load(Relaxed) & LOCKED != 0
    }

    /// Whether some thread is blocked in `acquire` on this lock.
    pub fn has_waiters(&self) -> bool {
        self.blocked.load(SeqCst) != 0 || self.state.load(SeqCst) & PARKED != 0
    }

    pub(crate) fn key(&self) -> usize {
        &self.state as *const _ as usize
    }

    /// For a condition moving notified waiters onto this lock's queue
    /// (under the parking lot's lock): marks it "someone parked" if it is
    /// held, so its release wakes them; false if it is not held (they must
    /// be woken directly).
    pub(crate) fn mark_parked_if_locked(&self) -> bool {
        let mut state = self.state.load(Relaxed);
        loop {
            if state & LOCKED == 0 {
                return false;
            }
            if state & PARKED != 0 {
                return true;
            }
            match self
                .state
                .compare_exchange_weak(state, state | PARKED, Relaxed, Relaxed)
            {
                Ok(_) => return true,
                Err(s) => state = s,
            }
        }
    }

    /// A requeued waiter timed out as the lock's last parked thread.
    pub(crate) fn clear_parked(&self) {
        self.state.fetch_and(!PARKED, Relaxed);
    }

    /// The slow path; the C boundary calls it directly after a failed
    /// `fast_acquire`, since starting it with another compare-and-swap
    /// would take the contended line from the holder once more (it starts
    /// with a load).
    #[cold]
    pub(crate) fn acquire_slow(&self, deadline: Option<Instant>) -> bool {
        self.acquire_slow_then(deadline, || {})
    }

    /// The slow path, counted as blocked from its start to its end (after
    /// `then`): a woken thread that must still take the lock, or that was
    /// handed it, reads this lock again, so a free must be refused until
    /// it has returned.
    fn acquire_slow_then(&self, deadline: Option<Instant>, then: impl FnOnce()) -> bool {
        self.blocked.fetch_add(1, Relaxed);
        let taken = self.acquire_contended(deadline);
        if taken {
            then();
        }
        self.blocked.fetch_sub(1, Release);
        taken
    }

    fn acquire_contended(&self, deadline: Option<Instant>) -> bool {
        let mut spin = SpinWait::new();
        let mut state = self.state.load(Relaxed);
        loop {
            if state & LOCKED == 0 {
                match self
                    .state
                    .compare_exchange_weak(state, state | LOCKED, Acquire, Relaxed)
                {
                    Ok(_) => return true,
                    Err(s) => state = s,
                }
                continue;
            }
            // Spin a little only while nobody sleeps: once a thread is
            // parked, newcomers queue behind it instead of burning a core.
            if state & PARKED == 0 && spin.spin_briefly() {
                state = self.state.load(Relaxed);
                continue;
            }
            if state & PARKED == 0 {
                if let Err(s) = self
                    .state
                    .compare_exchange_weak(state, state | PARKED, Relaxed, Relaxed)
                {
                    state = s;
                    continue;
                }
            }
            let validate = || self.state.load(Relaxed) == LOCKED | PARKED;
            let timed_out = |_, was_last: bool| {
                if was_last {
                    self.state.fetch_and(!PARKED, Relaxed);
                }
            };
            // SAFETY: the key is this lock's own address; the callbacks do
            // not panic and do not call back into the parking lot.
            let result = unsafe { plc::park(self.key(), validate, || {}, timed_out, DEFAULT_PARK_TOKEN, deadline) };
            match result {
                ParkResult::Unparked(TOKEN_HANDOFF) => return true,
                ParkResult::TimedOut => return false,
                ParkResult::Unparked(_) | ParkResult::Invalid => {}
            }
            spin.reset();
            state = self.state.load(Relaxed);
        }
    }

    /// The slow path; the C boundary calls it directly after a failed
    /// `fast_release` (someone parked, or not held), for the same reason.
    #[cold]
    pub(crate) fn release_slow(&self) -> Result<()> {
        const UNLOCKED: Error = Error::new(ErrorKind::Runtime, "release unlocked lock");
        if self.state.load(Relaxed) & LOCKED == 0 {
            return Err(UNLOCKED);
        }
        let mut was_unlocked = false;
        let callback = |result: plc::UnparkResult| {
            // Checked again here, and changed by compare-and-swap: two
            // threads releasing a lock held once may both have seen it
            // locked above; the second must fail, not report success.
            let mut state = self.state.load(Relaxed);
            loop {
                if state & LOCKED == 0 {
                    // A woken thread just tries again; with nobody left
                    // parked, the next release need not come this way.
                    if !result.have_more_threads {
                        self.state.fetch_and(!PARKED, Relaxed);
                    }
                    was_unlocked = true;
                    return TOKEN_RETRY;
                }
                let (new, token) = if result.unparked_threads != 0 && result.be_fair {
                    // Hand over without unlocking, so nobody can barge in.
                    let new = if result.have_more_threads { state } else { LOCKED };
                    (new, TOKEN_HANDOFF)
                } else {
                    (if result.have_more_threads { PARKED } else { 0 }, TOKEN_RETRY)
                };
                match self.state.compare_exchange(state, new, Release, Relaxed) {
                    Ok(_) => return token,
                    Err(s) => state = s,
                }
            }
        };
        // SAFETY: own address; the callback neither panics nor re-enters.
        unsafe { plc::unpark_one(self.key(), callback) };
        if was_unlocked {
            return Err(UNLOCKED);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn acquire_release() {
        let l = Lock::new();
        assert!(!l.locked());
        l.acquire();
        assert!(l.locked());
        assert!(!l.try_acquire());
        assert!(!l.acquire_timeout(Some(Duration::from_millis(10))));
        l.release().unwrap();
        assert_eq!(l.release().unwrap_err().message(), "release unlocked lock");
    }

    #[test]
    fn timeout_is_bounded() {
        let l = Lock::new();
        l.acquire();
        let t = Instant::now();
        assert!(!l.acquire_timeout(Some(Duration::from_millis(50))));
        let e = t.elapsed();
        assert!(e >= Duration::from_millis(50) && e < Duration::from_secs(5), "{e:?}");
    }

    #[test]
    fn release_from_other_thread() {
        let l = Arc::new(Lock::new());
        l.acquire();
        let l2 = l.clone();
        std::thread::spawn(move || l2.release().unwrap()).join().unwrap();
        assert!(!l.locked());
    }

    #[test]
    fn counter_under_contention() {
        struct Shared(Lock, std::cell::UnsafeCell<u64>);
        unsafe impl Sync for Shared {}
        let s = Arc::new(Shared(Lock::new(), std::cell::UnsafeCell::new(0)));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for _ in 0..100_000 {
                        s.0.acquire();
                        unsafe { *s.1.get() += 1 };
                        s.0.release().unwrap();
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(unsafe { *s.1.get() }, 400_000);
        assert!(!s.0.has_waiters());
    }
}
