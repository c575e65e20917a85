//! `threading.Event`: a flag that threads can wait for.

use super::atomic::{fence, AtomicU32, Ordering::*};
use super::deadline;
use super::park::{self as plc, ParkResult, DEFAULT_PARK_TOKEN};
use std::time::Duration;

const SET: u32 = 1;
const PARKED: u32 = 2;
/// The rest of the word counts `set`s (wrapping): the generation.
const GEN: u32 = 4;

/// An event flag, as Python's `threading.Event`.
///
/// One atomic word, not a lock and a condition: `set` and `clear` with
/// nobody waiting are each at most one read-modify-write, and none at all
/// when the flag already has the wanted value.
///
/// Besides the flag and a "someone sleeps" bit, the word counts the `set`s.
/// A `set` decides to wake sleepers outside the parking lot's lock, so its
/// wake-up can reach a thread that began waiting after that very `set` was
/// seen and cleared; the thread tells by the count passed with the wake-up
/// and goes back to sleep, so `wait` is true only for a `set` it waited for.
#[derive(Debug, Default)]
pub struct Event {
    state: AtomicU32,
    blocked: AtomicU32,
}

impl Event {
    /// A new event, not set.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Event {
            state: AtomicU32::new(0),
            blocked: AtomicU32::new(0),
        }
    }

    /// A new event, not set (not `const` under loom, whose atomics are not).
    #[cfg(loom)]
    pub fn new() -> Self {
        Event {
            state: AtomicU32::new(0),
            blocked: AtomicU32::new(0),
        }
    }

    /// Whether the flag is set.
    #[inline]
    pub fn is_set(&self) -> bool {
        self.state.load(Acquire) & SET != 0
    }

    /// The word after a `set` of `state` (which is not set): the flag on,
    /// nobody parked, the next generation.
    #[inline(always)]
    fn after_set(state: u32) -> u32 {
        ((state & !(SET | PARKED)).wrapping_add(GEN)) | SET
    }

    /// Sets the flag and wakes every waiting thread.
    #[inline]
    pub fn set(&self) {
        drop(self.set_then_wake());
    }

    /// Sets the flag now and wakes the waiting threads when the returned
    /// value is dropped: a caller that must set under a lock of its own
    /// wakes after releasing it, so that a woken thread does not run
    /// straight into that lock and sleep again.
    #[inline]
    pub(crate) fn set_then_wake(&self) -> Wakeup<'_> {
        let mut state = self.state.load(Relaxed);
        loop {
            if state & SET != 0 {
                // Already set: whoever set it woke the sleepers.
                return Wakeup(None);
            }
            match self
                .state
                .compare_exchange_weak(state, Self::after_set(state), Release, Relaxed)
            {
                Ok(_) => break,
                Err(s) => state = s,
            }
        }
        Wakeup((state & PARKED != 0).then(|| (self, Self::after_set(state) / GEN)))
    }

    /// `set` when nobody is parked: true if done (the flag is set), false
    /// if waiters must be woken through the full `set`.
    #[inline(always)]
    pub(crate) fn fast_set(&self) -> bool {
        let state = self.state.load(Relaxed);
        state & SET != 0
            || (state & PARKED == 0
                && self
                    .state
                    .compare_exchange(state, Self::after_set(state), Release, Relaxed)
                    .is_ok())
    }

    /// Resets the flag.
    #[inline]
    pub fn clear(&self) {
        if self.state.load(Relaxed) & SET != 0 {
            self.state.fetch_and(!SET, Relaxed);
        }
    }

    /// Waits until the flag is set or the timeout passes (`None`: forever).
    /// True if the flag was set (even if it has been cleared again since).
    #[inline]
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        if self.is_set() {
            return true;
        }
        match timeout {
            Some(d) if d.is_zero() => false,
            _ => self.wait_slow(timeout),
        }
    }

    /// Whether a thread is blocked in `wait`.
    pub fn has_waiters(&self) -> bool {
        self.blocked.load(SeqCst) != 0
    }

    fn key(&self) -> usize {
        &self.state as *const AtomicU32 as usize
    }

    #[cold]
    fn wake_all(&self, generation: u32) {
        // SAFETY: own address.
        unsafe { plc::unpark_all(self.key(), plc::UnparkToken(generation as usize)) };
    }

    #[cold]
    fn wait_slow(&self, timeout: Option<Duration>) -> bool {
        self.blocked.fetch_add(1, Relaxed);
        let deadline = deadline(timeout);
        let set = loop {
            let state = self.state.load(Acquire);
            if state & SET != 0 {
                break true;
            }
            if state & PARKED == 0
                && self
                    .state
                    .compare_exchange_weak(state, state | PARKED, Relaxed, Relaxed)
                    .is_err()
            {
                continue;
            }
            let waiting = state | PARKED;
            let validate = || self.state.load(Relaxed) == waiting;
            let timed_out = |_, was_last: bool| {
                if was_last {
                    self.state.fetch_and(!PARKED, Relaxed);
                }
            };
            // SAFETY: own address; callbacks neither panic nor re-enter.
            match unsafe { plc::park(self.key(), validate, || {}, timed_out, DEFAULT_PARK_TOKEN, deadline) } {
                // Woken by a `set` that came after this thread saw the flag
                // clear: report it even if a `clear` already followed, as
                // Python's Event does. A wake-up from an earlier `set`
                // (same generation) is stale: wait again.
                ParkResult::Unparked(token) if token.0 as u32 != waiting / GEN => {
                    fence(Acquire);
                    break true;
                }
                ParkResult::Unparked(_) | ParkResult::Invalid => {}
                ParkResult::TimedOut => break self.is_set(),
            }
        };
        self.blocked.fetch_sub(1, Release);
        set
    }
}

/// The wake-up a `set_then_wake` owes: given when dropped.
#[must_use = "dropping it at once wakes the waiters at once"]
pub(crate) struct Wakeup<'a>(Option<(&'a Event, u32)>);

impl Drop for Wakeup<'_> {
    fn drop(&mut self) {
        if let Some((event, generation)) = self.0.take() {
            event.wake_all(generation);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn set_clear_wait() {
        let e = Event::new();
        assert!(!e.is_set());
        assert!(!e.wait(Some(Duration::ZERO)));
        let t = Instant::now();
        assert!(!e.wait(Some(Duration::from_millis(20))));
        assert!(t.elapsed() >= Duration::from_millis(20));
        e.set();
        assert!(e.is_set());
        assert!(e.wait(None));
        e.clear();
        assert!(!e.is_set());
    }

    #[test]
    fn wakes_all_waiters() {
        let e = Arc::new(Event::new());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let e = e.clone();
                std::thread::spawn(move || e.wait(Some(Duration::from_secs(10))))
            })
            .collect();
        let start = Instant::now();
        while e.blocked.load(SeqCst) < 8 {
            assert!(start.elapsed() < Duration::from_secs(10));
            std::thread::yield_now();
        }
        e.set();
        e.clear();
        for t in threads {
            assert!(t.join().unwrap());
        }
    }
}
