//! `threading.Condition`: wait for a notification while holding a lock.

use super::atomic::{AtomicUsize, Ordering::*};
use super::park::{self as plc, ParkResult, DEFAULT_PARK_TOKEN, DEFAULT_UNPARK_TOKEN};
use super::{deadline, Lock, RLock, TOKEN_HANDOFF};
use crate::error::{Error, ErrorKind, Result};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a [`Condition`] needs from its lock: Python's duck-typed
/// `_is_owned`, `_release_save` and `_acquire_restore`, plus the lock
/// methods a condition forwards.
pub trait ConditionLock: Send + Sync {
    /// Waits at most `timeout` (`None`: forever); true if acquired.
    fn acquire_timeout(&self, timeout: Option<Duration>) -> bool;
    /// Releases one level.
    fn release(&self) -> Result<()>;
    /// Whether any thread holds it.
    fn locked(&self) -> bool;
    /// Whether the caller may wait and notify: for a Lock, "locked"; for an
    /// RLock, "owned by the caller".
    fn is_owned(&self) -> bool;
    /// Releases it completely, returning what `acquire_restore` needs.
    fn release_save(&self) -> Result<usize>;
    /// Reacquires it and restores the saved state.
    fn acquire_restore(&self, saved: usize);
    /// Whether a thread is blocked acquiring it.
    fn has_waiters(&self) -> bool;
    /// The plain lock whose queue notified waiters can be moved to, so the
    /// lock's release wakes them (none: they are woken at once). Only this
    /// crate can call or override it, since its `Internal` argument cannot
    /// be named outside it: an RLock's inner lock released from outside
    /// would leave the RLock owned and free.
    fn raw_lock(&self, _: Internal) -> Option<&Lock> {
        None
    }
    /// Takes over the lock handed to a requeued waiter by the release, and
    /// restores the saved state (instead of `acquire_restore`). Crate-only,
    /// as `raw_lock`: called from outside it would make the caller an
    /// RLock's owner without acquiring it.
    fn restore_handed(&self, _saved: usize, _: Internal) {}
}

/// Proof of being inside this crate, for [`ConditionLock`]'s two internal
/// methods: no public path leads to this type, so other crates can neither
/// name it nor make one, and so can neither call those methods nor replace
/// their defaults.
#[derive(Debug, Clone, Copy)]
pub struct Internal(());

const INTERNAL: Internal = Internal(());

impl<T: ConditionLock + ?Sized> ConditionLock for Arc<T> {
    fn acquire_timeout(&self, timeout: Option<Duration>) -> bool {
        (**self).acquire_timeout(timeout)
    }
    fn release(&self) -> Result<()> {
        (**self).release()
    }
    fn locked(&self) -> bool {
        (**self).locked()
    }
    fn is_owned(&self) -> bool {
        (**self).is_owned()
    }
    fn release_save(&self) -> Result<usize> {
        (**self).release_save()
    }
    fn acquire_restore(&self, saved: usize) {
        (**self).acquire_restore(saved)
    }
    fn has_waiters(&self) -> bool {
        (**self).has_waiters()
    }
    fn raw_lock(&self, i: Internal) -> Option<&Lock> {
        (**self).raw_lock(i)
    }
    fn restore_handed(&self, saved: usize, i: Internal) {
        (**self).restore_handed(saved, i)
    }
}

impl ConditionLock for Lock {
    fn acquire_timeout(&self, timeout: Option<Duration>) -> bool {
        Lock::acquire_timeout(self, timeout)
    }
    fn release(&self) -> Result<()> {
        Lock::release(self)
    }
    fn locked(&self) -> bool {
        Lock::locked(self)
    }
    fn is_owned(&self) -> bool {
        Lock::locked(self)
    }
    fn release_save(&self) -> Result<usize> {
        Lock::release(self).map(|_| 0)
    }
    fn acquire_restore(&self, _: usize) {
        Lock::acquire(self)
    }
    fn has_waiters(&self) -> bool {
        Lock::has_waiters(self)
    }
    fn raw_lock(&self, _: Internal) -> Option<&Lock> {
        Some(self)
    }
}

impl ConditionLock for RLock {
    fn acquire_timeout(&self, timeout: Option<Duration>) -> bool {
        RLock::acquire_timeout(self, timeout)
    }
    fn release(&self) -> Result<()> {
        RLock::release(self)
    }
    fn locked(&self) -> bool {
        RLock::locked(self)
    }
    fn is_owned(&self) -> bool {
        RLock::is_owned(self)
    }
    fn release_save(&self) -> Result<usize> {
        RLock::release_save(self)
    }
    fn acquire_restore(&self, saved: usize) {
        RLock::acquire_restore(self, saved)
    }
    fn has_waiters(&self) -> bool {
        RLock::has_waiters(self)
    }
    fn raw_lock(&self, _: Internal) -> Option<&Lock> {
        Some(self.raw())
    }
    fn restore_handed(&self, saved: usize, _: Internal) {
        RLock::restore_handed(self, saved)
    }
}

/// A condition variable, as Python's `threading.Condition`.
///
/// Waiters queue in arrival order; `notify(n)` wakes exactly the `n` oldest
/// of them and a woken `wait` always reports a notification (no spurious
/// wake-ups). The queue is the parking lot's, keyed by this condition's address,
/// so a condition costs two counters beside its lock.
///
/// `L` is the lock: an RLock of its own by default (`Condition::new()`),
/// or any [`ConditionLock`], such as an `Arc<Lock>` shared with other code.
pub struct Condition<L: ConditionLock = RLock> {
    lock: L,
    /// Threads between the start of `wait` and its return (they still read
    /// this condition), counted under the lock.
    waiters: AtomicUsize,
    /// Threads in a call that may sleep and read this condition again
    /// outside `waiters`' span: `acquire_timeout`, and `wait_for` between
    /// its waits.
    busy: AtomicUsize,
}

/// One count in `Condition::busy` for as long as it lives.
struct Busy<'a>(&'a AtomicUsize);

impl<'a> Busy<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Relaxed);
        Busy(count)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Release);
    }
}

const WAIT_UNACQUIRED: Error = Error::new(ErrorKind::Runtime, "cannot wait on un-acquired lock");
const NOTIFY_UNACQUIRED: Error = Error::new(ErrorKind::Runtime, "cannot notify on un-acquired lock");

impl Default for Condition<RLock> {
    fn default() -> Self {
        Self::new()
    }
}

impl<L: ConditionLock> std::fmt::Debug for Condition<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Condition")
            .field("locked", &self.lock.locked())
            .field("waiters", &self.waiters.load(Relaxed))
            .finish()
    }
}

impl Condition<RLock> {
    /// A condition with a new RLock of its own, as `Condition()`.
    pub fn new() -> Self {
        Self::with_lock(RLock::new())
    }
}

impl<L: ConditionLock> Condition<L> {
    /// A condition over the given lock, as `Condition(lock)`.
    pub fn with_lock(lock: L) -> Self {
        Condition {
            lock,
            waiters: AtomicUsize::new(0),
            busy: AtomicUsize::new(0),
        }
    }

    /// The underlying lock.
    pub fn lock(&self) -> &L {
        &self.lock
    }

    /// Acquires the underlying lock.
    pub fn acquire_timeout(&self, timeout: Option<Duration>) -> bool {
        if self.lock.acquire_timeout(Some(Duration::ZERO)) {
            return true;
        }
        if timeout == Some(Duration::ZERO) {
            return false;
        }
        // Blocked through this condition: counted, so that freeing it is
        // refused whatever lock it borrows.
        let _busy = Busy::enter(&self.busy);
        self.lock.acquire_timeout(timeout)
    }

    /// Releases the underlying lock.
    pub fn release(&self) -> Result<()> {
        self.lock.release()
    }

    /// Whether the underlying lock is held.
    pub fn locked(&self) -> bool {
        self.lock.locked()
    }

    /// Whether a thread is waiting on this condition or blocked acquiring
    /// its lock through it.
    pub fn has_waiters(&self) -> bool {
        self.waiters.load(SeqCst) != 0 || self.busy.load(SeqCst) != 0
    }

    /// The parking key: the address of a field only this condition parks
    /// on. (`self`'s address could equal that of a lock stored at offset 0
    /// inside it, and the two queues would mix.)
    fn key(&self) -> usize {
        &self.waiters as *const AtomicUsize as usize
    }

    /// Releases the lock, waits for a notification or the timeout, and
    /// reacquires the lock (all recursion levels of an RLock). True if
    /// notified. Fails with `RuntimeError` if the caller does not hold the
    /// lock.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<bool> {
        self.wait_until(deadline_or_now(timeout))
    }

    /// `wait`'s error when the caller does not own the lock, which Python
    /// raises before it looks at the timeout.
    pub fn check_owned(&self) -> Result<()> {
        if !self.lock.is_owned() {
            return Err(WAIT_UNACQUIRED);
        }
        Ok(())
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Result<bool> {
        self.check_owned()?;
        self.waiters.fetch_add(1, Relaxed);
        let mut saved = Ok(0);
        // The lock is released only once this thread is in the queue, and
        // notify needs the lock, so no notification can be missed.
        let before_sleep = || saved = self.lock.release_save();
        // A notify may have moved this thread to the lock's queue; timing out
        // there still means it was notified (as when Python's notify has
        // released the waiter's lock).
        let mut timed_out_key = 0;
        let timed_out = |key, was_last| {
            timed_out_key = key;
            if was_last && key != self.key() {
                if let Some(raw) = self.lock.raw_lock(INTERNAL) {
                    raw.clear_parked();
                }
            }
        };
        // SAFETY: the key is this condition's own address; the callbacks do
        // not panic and do not call into the parking lot.
        let result = unsafe {
            plc::park(
                self.key(),
                || true,
                before_sleep,
                timed_out,
                DEFAULT_PARK_TOKEN,
                deadline,
            )
        };
        let (notified, handed) = match result {
            // Requeued, then handed the lock by its release.
            ParkResult::Unparked(TOKEN_HANDOFF) => (true, true),
            ParkResult::Unparked(_) => (true, false),
            ParkResult::TimedOut => (timed_out_key != self.key(), false),
            ParkResult::Invalid => (false, false),
        };
        match (saved, handed) {
            (Ok(state), false) => self.lock.acquire_restore(state),
            (Ok(state), true) => self.lock.restore_handed(state, INTERNAL),
            // Someone else released the caller's plain Lock while it was
            // being saved; there is nothing to restore.
            (Err(_), false) => {}
            (Err(_), true) => {
                let _ = self.lock.release();
            }
        }
        self.waiters.fetch_sub(1, Release);
        Ok(notified)
    }

    /// Waits until `predicate` is true or the timeout has passed, and
    /// returns the predicate's last value, as `Condition.wait_for`. The
    /// predicate runs with the lock held.
    ///
    /// As in Python, a false predicate always leads to one `wait`, even with
    /// a zero timeout, so calling it without the lock fails.
    pub fn wait_for(&self, mut predicate: impl FnMut() -> bool, timeout: Option<Duration>) -> Result<bool> {
        let deadline = deadline_or_now(timeout);
        // Counted for the whole call (a panicking predicate included):
        // between two waits the thread is not among `waiters`, yet it will
        // wait here again.
        let _busy = Busy::enter(&self.busy);
        let mut first = true;
        loop {
            if predicate() {
                return Ok(true);
            }
            if !first && deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(false);
            }
            first = false;
            self.wait_until(deadline)?;
        }
    }

    /// Wakes exactly `min(n, waiters)` waiting threads, oldest first.
    /// Fails with `RuntimeError` if the caller does not hold the lock.
    pub fn notify(&self, n: usize) -> Result<()> {
        if !self.lock.is_owned() {
            return Err(NOTIFY_UNACQUIRED);
        }
        if n == 0 || self.waiters.load(Relaxed) == 0 {
            return Ok(());
        }
        if let Some(raw) = self.lock.raw_lock(INTERNAL) {
            // Move them onto the lock's queue: the caller's release (or a
            // later one) wakes them one by one, and nobody wakes only to
            // find the lock still held.
            // SAFETY: both keys are addresses their owners park on.
            if unsafe { plc::unpark_requeue(self.key(), raw.key(), n, || raw.mark_parked_if_locked()) }.is_some() {
                return Ok(());
            }
        }
        // SAFETY: own address; the callback neither panics nor re-enters.
        unsafe { plc::unpark_some(self.key(), n, |_| DEFAULT_UNPARK_TOKEN) };
        Ok(())
    }

    /// Wakes every waiting thread.
    pub fn notify_all(&self) -> Result<()> {
        self.notify(usize::MAX)
    }
}

/// A deadline, where a zero timeout still means "now" (not "forever"), so
/// `wait(0)` releases and reacquires the lock as Python's does.
fn deadline_or_now(timeout: Option<Duration>) -> Option<Instant> {
    match timeout {
        Some(d) if d.is_zero() => Some(Instant::now()),
        t => deadline(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn errors_without_lock() {
        let c = Condition::new();
        assert_eq!(
            c.wait(Some(Duration::ZERO)).unwrap_err().message(),
            "cannot wait on un-acquired lock"
        );
        assert_eq!(c.notify(1).unwrap_err().message(), "cannot notify on un-acquired lock");
        // Python checks ownership only when it has to wait.
        assert!(c.wait_for(|| true, None).unwrap());
    }

    #[test]
    fn wait_times_out_and_restores_levels() {
        let c = Condition::new();
        assert!(c.acquire_timeout(None));
        assert!(c.acquire_timeout(None));
        let t = Instant::now();
        assert!(!c.wait(Some(Duration::from_millis(30))).unwrap());
        assert!(t.elapsed() >= Duration::from_millis(30));
        c.release().unwrap();
        c.release().unwrap();
        assert!(!c.locked());
    }

    #[test]
    fn notify_wakes_exactly_n() {
        let c = Arc::new(Condition::with_lock(Arc::new(Lock::new())));
        let woken = Arc::new(AtomicUsize::new(0));
        let go = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = (0..5)
            .map(|_| {
                let (c, woken) = (c.clone(), woken.clone());
                std::thread::spawn(move || {
                    c.acquire_timeout(None);
                    let ok = c.wait(Some(Duration::from_secs(10))).unwrap();
                    assert!(ok);
                    woken.fetch_add(1, SeqCst);
                    c.release().unwrap();
                })
            })
            .collect();
        // Wait until all five are queued.
        let start = Instant::now();
        while c.waiters.load(SeqCst) < 5 || c.locked() {
            assert!(start.elapsed() < Duration::from_secs(10));
            std::thread::yield_now();
        }
        c.acquire_timeout(None);
        c.notify(2).unwrap();
        c.release().unwrap();
        let start = Instant::now();
        while woken.load(SeqCst) < 2 {
            assert!(start.elapsed() < Duration::from_secs(10));
            std::thread::yield_now();
        }
        assert_eq!(woken.load(SeqCst), 2);
        c.acquire_timeout(None);
        c.notify_all().unwrap();
        c.release().unwrap();
        go.store(true, SeqCst);
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(woken.load(SeqCst), 5);
    }
}
