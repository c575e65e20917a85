//! The synchronization primitives of Python's `threading`, in safe Rust.
//!
//! Every type sleeps through `parking` (address-keyed parking on a
//! futex, fork-safe), keeps its state in one atomic word where it can, and takes the
//! uncontended path with a single read-modify-write.
//!
//! Timeouts are `Option<Duration>`: `None` waits forever, `Some(ZERO)` does
//! not block. They are measured on the monotonic clock, and a wait that a
//! signal interrupts goes back to sleep until its deadline.

pub(crate) mod atomic;
mod barrier;
mod condition;
mod event;
mod lock;
pub(crate) mod park;
mod parking;
mod rlock;
mod semaphore;
mod sleepers;

#[cfg(all(test, loom))]
mod loom_tests;

pub use barrier::{Barrier, BarrierAction};
pub(crate) use condition::Internal;
pub use condition::{Condition, ConditionLock};
pub use event::Event;
pub(crate) use event::Wakeup;
pub use lock::Lock;
pub(crate) use rlock::FastRelease;
pub use rlock::RLock;
pub use semaphore::Semaphore;
pub(crate) use sleepers::Sleepers;

use std::time::{Duration, Instant};

/// Turns a relative timeout into an absolute deadline on the monotonic clock.
/// A timeout too large to represent waits forever, which is what it means.
#[inline]
pub(crate) fn deadline(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|d| Instant::now().checked_add(d))
}

/// Unpark token meaning "the resource was handed to you directly": the
/// waker did not release it, so nobody could barge in between.
pub(crate) const TOKEN_HANDOFF: park::UnparkToken = park::UnparkToken(1);
/// Unpark token meaning "try again".
pub(crate) const TOKEN_RETRY: park::UnparkToken = park::UnparkToken(0);

pub(crate) use parking::{
    after_fork_child as fork_child, after_fork_parent as fork_parent, before_fork as fork_prepare,
};
