//! `threading.RLock`: a reentrant lock with an owner and a recursion level.

use super::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use super::Lock;
use crate::error::{Error, ErrorKind, Result};
use crate::thread::get_ident;
use std::time::Duration;

/// A reentrant lock, as Python's `threading.RLock`.
///
/// The owner may acquire it again; each acquire needs its release, and only
/// the owner may release. A recursive acquire by the owner touches no shared
/// cache line with a read-modify-write: the owner is the only writer of
/// `count`, and it recognises itself by its thread pointer.
pub struct RLock {
    lock: Lock,
    /// `get_ident()` of the owner, 0 when free. Only the owner stores its
    /// own id here, so a thread that reads its own id is the owner.
    owner: AtomicU64,
    /// The owner's recursion level; 1 while unowned (the level the next
    /// owner starts at), so neither the outermost acquire nor the last
    /// release has to store it.
    count: AtomicUsize,
}

impl std::fmt::Debug for RLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let owner = self.owner.load(Relaxed);
        // `count` is 1 while unowned; shown as Python shows it, 0.
        let count = if owner == 0 { 0 } else { self.count.load(Relaxed) };
        f.debug_struct("RLock")
            .field("owner", &owner)
            .field("count", &count)
            .finish()
    }
}

impl Default for RLock {
    fn default() -> Self {
        RLock::new()
    }
}

/// What [`RLock::fast_release`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "`Wake` leaves the lock held until `release_wake` is called"]
pub(crate) enum FastRelease {
    Done,
    Wake,
    NotOwner,
}

const UNACQUIRED: Error = Error::new(ErrorKind::Runtime, "cannot release un-acquired lock");

impl RLock {
    /// A new, unowned RLock.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        RLock {
            lock: Lock::new(),
            owner: AtomicU64::new(0),
            count: AtomicUsize::new(1),
        }
    }

    /// A new, unowned RLock (not `const` under loom, whose atomics are not).
    #[cfg(loom)]
    pub fn new() -> Self {
        RLock {
            lock: Lock::new(),
            owner: AtomicU64::new(0),
            count: AtomicUsize::new(1),
        }
    }

    /// Blocks until the calling thread owns the lock; one more level if it
    /// already does.
    #[inline]
    pub fn acquire(&self) {
        self.acquire_timeout(None);
    }

    /// Acquires if free or already owned; never blocks.
    #[inline]
    pub fn try_acquire(&self) -> bool {
        self.acquire_timeout(Some(Duration::ZERO))
    }

    /// Waits at most `timeout` (`None`: forever); true if acquired.
    #[inline]
    pub fn acquire_timeout(&self, timeout: Option<Duration>) -> bool {
        let me = get_ident();
        if self.reenter(me) {
            return true;
        }
        // The owner is written while this thread still counts as blocked
        // on the lock, so the RLock cannot be freed under it.
        self.lock
            .acquire_timeout_then(timeout, || self.owner.store(me, Relaxed))
    }

    /// One more level if `me` owns the lock already; false if it does not.
    #[inline(always)]
    fn reenter(&self, me: u64) -> bool {
        if self.owner.load(Relaxed) != me {
            return false;
        }
        let c = self.count.load(Relaxed);
        // A count that wraps would be a release too many; saturate instead
        // (2^64 nested acquires cannot happen in practice).
        self.count.store(c.saturating_add(1), Relaxed);
        true
    }

    /// Drops one recursion level; the last one frees the lock.
    ///
    /// Fails with `RuntimeError("cannot release un-acquired lock")` unless
    /// the calling thread owns it.
    #[inline]
    pub fn release(&self) -> Result<()> {
        match self.fast_release() {
            FastRelease::Done => {}
            FastRelease::Wake => self.release_wake(),
            FastRelease::NotOwner => return Err(UNACQUIRED),
        }
        Ok(())
    }

    /// The acquire without waiting or calls: one more level for the owner,
    /// or a free lock taken with one compare-and-swap. False means "use the
    /// full path", not "held by another".
    #[inline(always)]
    pub(crate) fn fast_acquire(&self) -> bool {
        let me = get_ident();
        if self.reenter(me) {
            return true;
        }
        if !self.lock.fast_acquire() {
            return false;
        }
        self.owner.store(me, Relaxed);
        true
    }

    /// The owner's release, without calls: `Done`; `Wake` when the last
    /// level was dropped but a thread is parked on the lock, so the caller
    /// must finish with [`RLock::release_wake`] (a tail call, which leaves
    /// the fast path without a stack frame); `NotOwner` means "use the full
    /// path", which reports the error.
    #[inline(always)]
    pub(crate) fn fast_release(&self) -> FastRelease {
        if self.owner.load(Relaxed) != get_ident() {
            return FastRelease::NotOwner;
        }
        let c = self.count.load(Relaxed);
        if c > 1 {
            self.count.store(c - 1, Relaxed);
        } else {
            // `count` stays 1 for the next owner.
            self.owner.store(0, Relaxed);
            if !self.lock.fast_release() {
                return FastRelease::Wake;
            }
        }
        FastRelease::Done
    }

    /// Finishes a release that [`RLock::fast_release`] answered with `Wake`.
    #[cold]
    pub(crate) fn release_wake(&self) {
        // Cannot fail: the lock is still held by us, and nobody else
        // releases an RLock's inner lock.
        let released = self.lock.release_slow();
        debug_assert!(released.is_ok());
    }

    /// Whether any thread holds it (Python 3.14's `RLock.locked()`).
    #[inline]
    pub fn locked(&self) -> bool {
        self.lock.locked()
    }

    /// Whether the calling thread holds it (`RLock._is_owned()`).
    #[inline]
    pub fn is_owned(&self) -> bool {
        self.owner.load(Relaxed) == get_ident()
    }

    /// The calling thread's recursion level: 0 unless it owns the lock.
    pub fn level(&self) -> usize {
        if self.is_owned() {
            self.count.load(Relaxed)
        } else {
            0
        }
    }

    /// Whether some thread is blocked acquiring it.
    pub fn has_waiters(&self) -> bool {
        self.lock.has_waiters()
    }

    /// Releases every level the caller holds and returns how many
    /// (`RLock._release_save()`). Fails unless the caller owns it.
    pub fn release_save(&self) -> Result<usize> {
        if !self.is_owned() {
            return Err(UNACQUIRED);
        }
        let c = self.count.swap(1, Relaxed);
        self.owner.store(0, Relaxed);
        let _ = self.lock.release();
        Ok(c)
    }

    /// The underlying plain lock (its parking queue, for conditions).
    pub(crate) fn raw(&self) -> &Lock {
        &self.lock
    }

    /// Takes ownership of a lock handed over by its release (a condition
    /// waiter requeued onto it) and restores `count` levels.
    pub(crate) fn restore_handed(&self, count: usize) {
        self.owner.store(get_ident(), Relaxed);
        self.count.store(count.max(1), Relaxed);
    }

    /// Blocks until acquired, then restores `count` levels
    /// (`RLock._acquire_restore()`).
    pub fn acquire_restore(&self, count: usize) {
        self.lock.acquire();
        self.owner.store(get_ident(), Relaxed);
        self.count.store(count.max(1), Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn recursion_and_ownership() {
        let r = Arc::new(RLock::new());
        assert_eq!(r.release().unwrap_err().message(), "cannot release un-acquired lock");
        r.acquire();
        r.acquire();
        assert_eq!(r.level(), 2);
        let r2 = r.clone();
        std::thread::spawn(move || {
            assert!(r2.locked());
            assert!(!r2.is_owned());
            assert!(!r2.try_acquire());
            assert!(r2.release().is_err());
        })
        .join()
        .unwrap();
        r.release().unwrap();
        assert!(r.locked());
        r.release().unwrap();
        assert!(!r.locked());
        assert!(r.release().is_err());
    }

    /// `count` is not written by the outermost acquire, so every way of
    /// getting an unowned RLock must leave it at 1.
    #[test]
    fn outermost_level_is_one_however_the_lock_was_left() {
        let r = RLock::default();
        r.acquire();
        assert_eq!(r.level(), 1);
        r.acquire();
        r.release().unwrap();
        r.release().unwrap();
        assert_eq!(r.level(), 0);
        assert!(r.try_acquire());
        assert_eq!(r.level(), 1);
        r.acquire();
        r.acquire();
        assert_eq!(r.release_save().unwrap(), 3);
        assert!(r.acquire_timeout(Some(Duration::from_millis(1))));
        assert_eq!(r.level(), 1);
        r.release().unwrap();
        assert!(!r.locked());
        assert!(r.release().is_err());
    }

    #[test]
    fn save_restore() {
        let r = RLock::new();
        r.acquire();
        r.acquire();
        r.acquire();
        assert_eq!(r.release_save().unwrap(), 3);
        assert!(!r.locked());
        r.acquire_restore(3);
        assert_eq!(r.level(), 3);
        for _ in 0..3 {
            r.release().unwrap();
        }
        assert!(!r.locked());
    }
}
