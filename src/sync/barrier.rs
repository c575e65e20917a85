//! `threading.Barrier`: a fixed number of threads wait for each other.

use super::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use super::deadline;
use super::park::{self as plc, ParkResult, UnparkToken, DEFAULT_PARK_TOKEN};
use crate::error::{Result, BROKEN_BARRIER};
#[cfg(loom)]
use loom::sync::{Mutex, MutexGuard};
#[cfg(not(loom))]
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// A wake-up's token: the generation that ended, shifted, and whether it
/// passed (bit 0). Waking happens after the mutex is released, so a late
/// wake-up can reach a thread already waiting in a later generation; the
/// generation in the token lets that thread see it is not for it.
fn token(generation: u64, passed: bool) -> UnparkToken {
    UnparkToken(((generation as usize) << 1) | passed as usize)
}

/// The action run by the last thread to arrive, before the others are let
/// go. An error (like an exception raised by a Python action) breaks the
/// barrier: the thread that ran it gets the error, the others
/// `BrokenBarrierError`.
pub type BarrierAction = Box<dyn Fn() -> Result<()> + Send + Sync>;

/// A barrier for a fixed number of parties, as Python's `threading.Barrier`.
///
/// Each cycle is a generation. The last thread to arrive runs the action,
/// starts the next generation and wakes the others with one call, so a new
/// cycle can begin at once without waiting for the previous one to drain.
pub struct Barrier {
    parties: usize,
    timeout: Option<Duration>,
    action: Option<BarrierAction>,
    state: Mutex<State>,
    // Mirrors readable without the mutex, so the action (which runs with the
    // mutex held) may call `n_waiting` and `broken`.
    n_waiting: AtomicUsize,
    broken: AtomicBool,
    /// Threads inside `wait`; the C boundary will not free the barrier
    /// while any are.
    inside: AtomicUsize,
    /// The current generation, for `park`'s validate (under no mutex).
    generation: AtomicU64,
}

struct State {
    count: usize,
    generation: u64,
    broken: bool,
    /// Outcome of the most recent generations, newest in bit 0 (1: passed).
    /// A thread that timed out just as its generation ended reads its fate
    /// here.
    history: u64,
}

impl std::fmt::Debug for Barrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties)
            .field("n_waiting", &self.n_waiting())
            .field("broken", &self.broken())
            .finish()
    }
}

impl Barrier {
    /// A barrier for `parties` threads (at least 1), with an optional action
    /// and a default timeout for `wait` (`None`: forever).
    ///
    /// Fails with `ValueError` if `parties` is 0.
    pub fn new(parties: usize, action: Option<BarrierAction>, timeout: Option<Duration>) -> Result<Self> {
        if parties == 0 {
            return Err(crate::Error::new(crate::ErrorKind::Value, "parties must be > 0"));
        }
        Ok(Barrier {
            parties,
            timeout,
            action,
            state: Mutex::new(State {
                count: 0,
                generation: 0,
                broken: false,
                history: 0,
            }),
            n_waiting: AtomicUsize::new(0),
            broken: AtomicBool::new(false),
            inside: AtomicUsize::new(0),
            generation: AtomicU64::new(0),
        })
    }

    /// The number of threads required to pass.
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// The number of threads currently waiting.
    pub fn n_waiting(&self) -> usize {
        self.n_waiting.load(Relaxed)
    }

    /// Whether the barrier is broken.
    pub fn broken(&self) -> bool {
        self.broken.load(Relaxed)
    }

    /// Whether a thread is inside `wait`.
    pub fn has_waiters(&self) -> bool {
        self.inside.load(SeqCst) != 0
    }

    /// Waits with the barrier's default timeout.
    pub fn wait(&self) -> Result<usize> {
        self.wait_timeout(self.timeout)
    }

    /// Waits until all parties have arrived; returns this thread's arrival
    /// index (0 to `parties - 1`, distinct within a cycle).
    ///
    /// Fails with `BrokenBarrierError` if the barrier is or becomes broken,
    /// is reset while waiting, or this wait times out (which breaks it).
    pub fn wait_timeout(&self, timeout: Option<Duration>) -> Result<usize> {
        self.inside.fetch_add(1, Relaxed);
        let result = self.wait_inner(timeout);
        self.inside.fetch_sub(1, Release);
        result
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn key(&self) -> usize {
        &self.inside as *const AtomicUsize as usize
    }

    fn wait_inner(&self, timeout: Option<Duration>) -> Result<usize> {
        let mut st = self.lock();
        if st.broken {
            return Err(BROKEN_BARRIER);
        }
        let index = st.count;
        st.count += 1;
        if st.count == self.parties {
            if let Some(action) = &self.action {
                self.n_waiting.store(st.count, Relaxed);
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(action)) {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        let wake = self.break_locked(&mut st);
                        self.wake(st, wake);
                        return Err(e);
                    }
                    Err(panic) => {
                        let wake = self.break_locked(&mut st);
                        self.wake(st, wake);
                        std::panic::resume_unwind(panic);
                    }
                }
            }
            let wake = self.end_generation(&mut st, true);
            self.wake(st, Some(wake));
            return Ok(index);
        }
        self.n_waiting.store(st.count, Relaxed);
        let generation = st.generation;
        let deadline = match timeout {
            Some(d) if d.is_zero() => Some(std::time::Instant::now()),
            t => deadline(t),
        };
        // Queued before the mutex is released, so the last arrival's wake-up
        // cannot be missed; after a stale wake-up, validate checks that the
        // generation has not ended meanwhile.
        let mut guard = Some(st);
        loop {
            let validate = || self.generation.load(Acquire) == generation;
            let before_sleep = || drop(guard.take());
            // SAFETY: own address; callbacks neither panic nor re-enter.
            let result = unsafe {
                plc::park(
                    self.key(),
                    validate,
                    before_sleep,
                    |_, _| {},
                    DEFAULT_PARK_TOKEN,
                    deadline,
                )
            };
            match result {
                ParkResult::Unparked(t) if t.0 >> 1 == generation as usize => {
                    return if t.0 & 1 == 1 { Ok(index) } else { Err(BROKEN_BARRIER) };
                }
                // A late wake-up meant for an earlier generation.
                ParkResult::Unparked(_) => {}
                // The generation ended before this thread was queued again.
                ParkResult::Invalid => return self.outcome(&self.lock(), generation, index),
                ParkResult::TimedOut => {
                    let mut st = self.lock();
                    if st.generation == generation {
                        // Python: a wait that times out breaks the barrier.
                        let wake = self.break_locked(&mut st);
                        self.wake(st, wake);
                        return Err(BROKEN_BARRIER);
                    }
                    // The generation ended while this thread was timing out.
                    return self.outcome(&st, generation, index);
                }
            }
        }
    }

    /// How an ended generation went, from the history.
    fn outcome(&self, st: &State, generation: u64, index: usize) -> Result<usize> {
        let age = st.generation - generation - 1;
        if age < 64 && st.history >> age & 1 == 1 {
            Ok(index)
        } else {
            Err(BROKEN_BARRIER)
        }
    }

    /// Ends the current generation; returns the token to wake its waiters
    /// with, once the mutex is released (see `wake`).
    fn end_generation(&self, st: &mut State, passed: bool) -> UnparkToken {
        let ended = st.generation;
        st.count = 0;
        st.generation += 1;
        st.history = st.history << 1 | passed as u64;
        self.generation.store(st.generation, Release);
        self.n_waiting.store(0, Relaxed);
        token(ended, passed)
    }

    /// Releases the mutex, then wakes the ended generation's waiters, so
    /// they do not wake only to block on the mutex still held.
    fn wake(&self, st: MutexGuard<'_, State>, token: Option<UnparkToken>) {
        drop(st);
        if let Some(t) = token {
            // SAFETY: own address.
            unsafe { plc::unpark_all(self.key(), t) };
        }
    }

    fn break_locked(&self, st: &mut State) -> Option<UnparkToken> {
        st.broken = true;
        self.broken.store(true, Relaxed);
        (st.count > 0).then(|| self.end_generation(st, false))
    }

    /// Returns the barrier to its initial state; threads waiting on it get
    /// `BrokenBarrierError`.
    pub fn reset(&self) {
        let mut st = self.lock();
        let wake = (st.count > 0).then(|| self.end_generation(&mut st, false));
        st.broken = false;
        self.broken.store(false, Relaxed);
        self.wake(st, wake);
    }

    /// Breaks the barrier: current and future waits fail until `reset`.
    pub fn abort(&self) {
        let mut st = self.lock();
        let wake = self.break_locked(&mut st);
        self.wake(st, wake);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn cycles_with_distinct_indices() {
        let runs = Arc::new(AtomicUsize::new(0));
        let r = runs.clone();
        let b = Arc::new(
            Barrier::new(
                3,
                Some(Box::new(move || {
                    r.fetch_add(1, SeqCst);
                    Ok(())
                })),
                None,
            )
            .unwrap(),
        );
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let b = b.clone();
                std::thread::spawn(move || (0..100).map(|_| b.wait().unwrap()).collect::<Vec<_>>())
            })
            .collect();
        let all: Vec<Vec<usize>> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        for cycle in 0..100 {
            let mut idx: Vec<usize> = all.iter().map(|v| v[cycle]).collect();
            idx.sort();
            assert_eq!(idx, vec![0, 1, 2]);
        }
        assert_eq!(runs.load(SeqCst), 100);
        assert_eq!(b.n_waiting(), 0);
    }

    #[test]
    fn timeout_breaks_and_reset_repairs() {
        assert!(Barrier::new(0, None, None).is_err());
        let b = Barrier::new(2, None, Some(Duration::from_millis(20))).unwrap();
        assert!(b.wait().is_err());
        assert!(b.broken());
        assert!(b.wait().is_err());
        b.reset();
        assert!(!b.broken());
        let b1 = Barrier::new(1, None, None).unwrap();
        assert_eq!(b1.wait().unwrap(), 0);
    }
}
