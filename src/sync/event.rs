//! `threading.Event`: a flag that threads can wait for.

use super::deadline;
use super::atomic::{fence, AtomicU32, AtomicU8, Ordering::*};
use super::park::{self as plc, ParkResult, DEFAULT_PARK_TOKEN, DEFAULT_UNPARK_TOKEN};
use std::time::Duration;

const SET: u8 = 1;
const PARKED: u8 = 2;

/// An event flag, as Python's `threading.Event`.
///
/// One atomic byte, not a lock and a condition: `set` and `clear` with
/// nobody waiting are each at most one read-modify-write, and none at all
/// when the flag already has the wanted value.
#[derive(Debug, Default)]
pub struct Event {
    state: AtomicU8,
    blocked: AtomicU32,
}

impl Event {
    /// A new event, not set.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Event { state: AtomicU8::new(0), blocked: AtomicU32::new(0) }
    }

    /// A new event, not set (not `const` under loom, whose atomics are not).
    #[cfg(loom)]
    pub fn new() -> Self {
        Event { state: AtomicU8::new(0), blocked: AtomicU32::new(0) }
    }

    /// Whether the flag is set.
    #[inline]
    pub fn is_set(&self) -> bool {
        self.state.load(Acquire) & SET != 0
    }

    /// Sets the flag and wakes every waiting thread.
    #[inline]
    pub fn set(&self) {
        if self.state.load(Relaxed) & SET != 0 {
            // Already set: SeqCst-free fast exit, still a release point for
            // anyone who sees it set (the setter that set it published).
            return;
        }
        if self.state.swap(SET, Release) & PARKED != 0 {
            self.wake_all();
        }
    }

    /// `set` when nobody is parked: true if done (the flag is set), false
    /// if waiters must be woken through the full `set`.
    #[inline(always)]
    pub(crate) fn fast_set(&self) -> bool {
        let state = self.state.load(Relaxed);
        state & SET != 0 || (state == 0 && self.state.compare_exchange(0, SET, Release, Relaxed).is_ok())
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
        &self.state as *const AtomicU8 as usize
    }

    #[cold]
    fn wake_all(&self) {
        // SAFETY: own address.
        unsafe { plc::unpark_all(self.key(), DEFAULT_UNPARK_TOKEN) };
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
                && self.state.compare_exchange_weak(state, state | PARKED, Relaxed, Relaxed).is_err()
            {
                continue;
            }
            let validate = || self.state.load(Relaxed) == PARKED;
            let timed_out = |_, was_last: bool| {
                if was_last {
                    self.state.fetch_and(!PARKED, Relaxed);
                }
            };
            // SAFETY: own address; callbacks neither panic nor re-enter.
            match unsafe { plc::park(self.key(), validate, || {}, timed_out, DEFAULT_PARK_TOKEN, deadline) } {
                // Woken by `set`: report it even if a `clear` already
                // followed, as Python's Event does.
                ParkResult::Unparked(_) => {
                    fence(Acquire);
                    break true;
                }
                ParkResult::TimedOut => break self.is_set(),
                ParkResult::Invalid => {}
            }
        };
        self.blocked.fetch_sub(1, Release);
        set
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
