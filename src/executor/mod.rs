//! Python's `concurrent.futures`: `ThreadPoolExecutor`, `Future`, `wait`
//! and `as_completed`.

mod future;
mod pool;

pub use future::{as_completed, wait, DoneCallback, Future, FutureError, Inner as FutureInner, ReturnWhen, Task};
pub use pool::{Executor, Initializer};

pub(crate) use pool::before_fork as fork_prepare;
