//! `threading.Semaphore` and `threading.BoundedSemaphore`.

use super::atomic::{AtomicU32, AtomicU64, Ordering::*};
use super::park::{self as plc, ParkResult, SpinWait, DEFAULT_PARK_TOKEN};
use super::{deadline, TOKEN_HANDOFF, TOKEN_RETRY};
use crate::error::{Error, ErrorKind, Result};
use std::time::{Duration, Instant};

/// Bit 0 of the state: some thread is (or may be) parked. The counter is
/// the state shifted right by one, so 63 bits hold any `i64` value.
const PARKED: u64 = 1;
const ONE: u64 = 2;
const MAX_VALUE: u64 = i64::MAX as u64;

/// A counting semaphore, as Python's `threading.Semaphore`, or a bounded one
/// (`threading.BoundedSemaphore`) whose counter may never exceed its
/// initial value.
///
/// The counter and the "someone sleeps" flag share one atomic word, so an
/// uncontended acquire or release is a single compare-and-swap.
#[derive(Debug)]
pub struct Semaphore {
    state: AtomicU64,
    /// The most the counter may reach: the initial value of a bounded
    /// semaphore, `i64::MAX` otherwise (a plain word, so the release fast
    /// path compares without unpacking an Option).
    limit: u64,
    bounded: bool,
    blocked: AtomicU32,
}

impl Semaphore {
    /// A semaphore whose counter starts at `value`.
    ///
    /// Fails with `ValueError` if `value` is negative.
    pub fn new(value: i64) -> Result<Self> {
        Self::with_bound(value, false)
    }

    /// A bounded semaphore: releasing it above `value` is an error.
    pub fn bounded(value: i64) -> Result<Self> {
        Self::with_bound(value, true)
    }

    fn with_bound(value: i64, bounded: bool) -> Result<Self> {
        if value < 0 {
            return Err(Error::new(ErrorKind::Value, "semaphore initial value must be >= 0"));
        }
        let value = value as u64;
        Ok(Semaphore {
            state: AtomicU64::new(value * ONE),
            limit: if bounded { value } else { MAX_VALUE },
            bounded,
            blocked: AtomicU32::new(0),
        })
    }

    /// Whether this is a bounded semaphore.
    pub fn is_bounded(&self) -> bool {
        self.bounded
    }

    /// The current counter.
    pub fn value(&self) -> u64 {
        self.state.load(Relaxed) / ONE
    }

    /// Blocks until the counter is positive, then decrements it.
    #[inline]
    pub fn acquire(&self) {
        self.acquire_timeout(None);
    }

    /// Decrements the counter if positive; never blocks.
    #[inline]
    pub fn try_acquire(&self) -> bool {
        let mut state = self.state.load(Relaxed);
        while state >= ONE {
            match self.state.compare_exchange_weak(state, state - ONE, Acquire, Relaxed) {
                Ok(_) => return true,
                Err(s) => state = s,
            }
        }
        false
    }

    /// One compare-and-swap at taking a unit; false means "use the full
    /// path".
    #[inline(always)]
    pub(crate) fn fast_acquire(&self) -> bool {
        let state = self.state.load(Relaxed);
        state >= ONE
            && self
                .state
                .compare_exchange_weak(state, state - ONE, Acquire, Relaxed)
                .is_ok()
    }

    /// One compare-and-swap at `release(1)` with nobody parked and room
    /// under the bound; false means "use the full path".
    #[inline(always)]
    pub(crate) fn fast_release(&self) -> bool {
        let state = self.state.load(Relaxed);
        state & PARKED == 0
            && state / ONE < self.limit
            && self
                .state
                .compare_exchange_weak(state, state + ONE, Release, Relaxed)
                .is_ok()
    }

    /// Waits at most `timeout` (`None`: forever) for a unit; true if taken.
    #[inline]
    pub fn acquire_timeout(&self, timeout: Option<Duration>) -> bool {
        if self.try_acquire() {
            return true;
        }
        match timeout {
            Some(d) if d.is_zero() => false,
            _ => self.acquire_slow(deadline(timeout)),
        }
    }

    /// Adds `n` to the counter and wakes up to `n` waiters.
    ///
    /// Fails, changing nothing, with `ValueError` if `n < 1` or a bounded
    /// semaphore would exceed its initial value, and with `OverflowError`
    /// if the counter would exceed `i64::MAX`.
    #[inline]
    pub fn release(&self, n: u64) -> Result<()> {
        if n == 0 {
            return Err(Error::new(ErrorKind::Value, "n must be one or more"));
        }
        let mut state = self.state.load(Relaxed);
        loop {
            let value = state / ONE;
            let limit = self.limit;
            if n > limit - value.min(limit) {
                return Err(match self.bounded {
                    true => Error::new(ErrorKind::Value, "Semaphore released too many times"),
                    false => Error::new(ErrorKind::Overflow, "semaphore value is too large"),
                });
            }
            match self
                .state
                .compare_exchange_weak(state, state + n * ONE, Release, Relaxed)
            {
                Ok(_) => break,
                Err(s) => state = s,
            }
        }
        if state & PARKED != 0 {
            self.wake(n);
        }
        Ok(())
    }

    /// Whether a thread is blocked in `acquire`.
    pub fn has_waiters(&self) -> bool {
        self.blocked.load(SeqCst) != 0 || self.state.load(SeqCst) & PARKED != 0
    }

    fn key(&self) -> usize {
        &self.state as *const AtomicU64 as usize
    }

    #[cold]
    fn acquire_slow(&self, deadline: Option<Instant>) -> bool {
        self.blocked.fetch_add(1, Relaxed);
        let taken = self.acquire_loop(deadline);
        self.blocked.fetch_sub(1, Release);
        taken
    }

    fn acquire_loop(&self, deadline: Option<Instant>) -> bool {
        let mut spin = SpinWait::new();
        loop {
            if self.try_acquire() {
                return true;
            }
            let state = self.state.load(Relaxed);
            if state >= ONE {
                continue;
            }
            if state & PARKED == 0 {
                if spin.spin() {
                    continue;
                }
                if self
                    .state
                    .compare_exchange_weak(state, state | PARKED, Relaxed, Relaxed)
                    .is_err()
                {
                    continue;
                }
            }
            let validate = || self.state.load(Relaxed) == PARKED;
            let timed_out = |_, was_last: bool| {
                if was_last {
                    self.state.fetch_and(!PARKED, Relaxed);
                }
            };
            // SAFETY: own address; callbacks neither panic nor re-enter.
            match unsafe { plc::park(self.key(), validate, || {}, timed_out, DEFAULT_PARK_TOKEN, deadline) } {
                ParkResult::Unparked(TOKEN_HANDOFF) => return true,
                ParkResult::TimedOut => return false,
                _ => spin.reset(),
            }
        }
    }

    /// Wakes up to `n` parked threads after `n` units were added. When
    /// the parking lot says it is time to be fair, the units are taken back out
    /// of the counter and handed to the woken threads directly, so threads
    /// that barge in cannot starve a sleeper forever.
    #[cold]
    fn wake(&self, n: u64) {
        let callback = |result: plc::UnparkResult| {
            let woken = result.unparked_threads as u64;
            let mut token = TOKEN_RETRY;
            let mut state = self.state.load(Relaxed);
            loop {
                let mut next = state;
                if !result.have_more_threads {
                    next &= !PARKED;
                }
                let handoff = result.be_fair && woken != 0 && state / ONE >= woken;
                if handoff {
                    next -= woken * ONE;
                }
                match self.state.compare_exchange_weak(state, next, Relaxed, Relaxed) {
                    Ok(_) => {
                        if handoff {
                            token = TOKEN_HANDOFF;
                        }
                        break;
                    }
                    Err(s) => state = s,
                }
            }
            token
        };
        // SAFETY: own address; callbacks neither panic nor re-enter.
        unsafe { plc::unpark_some(self.key(), usize::try_from(n).unwrap_or(usize::MAX), callback) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn values_and_errors() {
        assert_eq!(
            Semaphore::new(-1).unwrap_err().message(),
            "semaphore initial value must be >= 0"
        );
        let s = Semaphore::new(1).unwrap();
        assert!(s.try_acquire());
        assert!(!s.try_acquire());
        assert_eq!(s.release(0).unwrap_err().kind(), ErrorKind::Value);
        s.release(3).unwrap();
        assert_eq!(s.value(), 3);
        let big = Semaphore::new(i64::MAX).unwrap();
        assert_eq!(big.release(1).unwrap_err().kind(), ErrorKind::Overflow);
        assert_eq!(big.value(), i64::MAX as u64);
        let b = Semaphore::bounded(2).unwrap();
        assert!(b.try_acquire());
        assert_eq!(b.release(2).unwrap_err().message(), "Semaphore released too many times");
        assert_eq!(b.release(u64::MAX).unwrap_err().kind(), ErrorKind::Value);
        b.release(1).unwrap();
        assert_eq!(b.value(), 2);
    }

    #[test]
    fn never_over_bound_under_stress() {
        let s = Arc::new(Semaphore::bounded(2).unwrap());
        let inside = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (s, inside) = (s.clone(), inside.clone());
                std::thread::spawn(move || {
                    for _ in 0..20_000 {
                        s.acquire();
                        assert!(inside.fetch_add(1, SeqCst) < 2);
                        inside.fetch_sub(1, SeqCst);
                        s.release(1).unwrap();
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(s.value(), 2);
    }
}
