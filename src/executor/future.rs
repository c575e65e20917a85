//! `concurrent.futures.Future` and the module functions `wait` and
//! `as_completed`.

use crate::error::Result;
use crate::shared::{Handle, Kind, Shared};
use crate::sync::Sleepers;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What a task computes: a word, or a nonzero failure code.
pub type Task = Box<dyn FnOnce() -> std::result::Result<usize, i32> + Send>;
/// Called once the future is done (finished or cancelled).
pub type DoneCallback = Box<dyn FnOnce(&Future) + Send>;

/// Why `Future::result` has no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FutureError {
    /// Not done within the timeout (`TimeoutError`).
    Timeout,
    /// Cancelled (`CancelledError`).
    Cancelled,
    /// The task failed with this code (the exception it raised).
    Failed(i32),
    /// The pool broke before running it (`BrokenThreadPool`).
    Broken,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Status {
    Pending,
    Running,
    Cancelled,
    Finished,
}

/// `wait`'s condition.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ReturnWhen {
    /// Any future finishes or is cancelled.
    FirstCompleted,
    /// Any future fails, or all are done.
    FirstException,
    /// All are done.
    AllCompleted,
}

struct State {
    status: Status,
    outcome: Option<std::result::Result<usize, FutureError>>,
    callbacks: Vec<DoneCallback>,
    waiters: Vec<(Arc<Waiter>, usize)>,
}

pub struct Inner {
    state: Mutex<State>,
    /// Threads in `result`. Counted, so that completing a future nobody
    /// waits on costs no system call.
    done: Sleepers,
}

/// The result of an asynchronous task, as `concurrent.futures.Future`.
/// Clones refer to the same future; its address is C's handle.
#[derive(Clone)]
pub struct Future(Shared<Inner>);

impl std::fmt::Debug for Future {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<Future state={:?}>", self.lock().status)
    }
}

impl Future {
    /// A pending future.
    pub fn new() -> Result<Future> {
        let state = State {
            status: Status::Pending,
            outcome: None,
            callbacks: Vec::new(),
            waiters: Vec::new(),
        };
        Ok(Future(Shared::new(
            Kind::Future,
            Inner {
                state: Mutex::new(state),
                done: Sleepers::new(),
            },
        )?))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The handle address, C's pointer.
    pub fn as_ptr(&self) -> *const Handle<Inner> {
        self.0.as_ptr()
    }

    /// Gives one counted reference to C.
    pub fn into_raw<P>(self) -> *mut P {
        self.0.into_raw()
    }

    /// A counted reference to a live handle.
    ///
    /// # Safety
    /// `p` must be a live future handle.
    pub unsafe fn clone_from_ptr(p: *const Handle<Inner>) -> Future {
        // SAFETY: forwarded contract.
        Future(unsafe { Shared::clone_raw(p) })
    }

    /// Cancels the future if it has not started: true if it is (now)
    /// cancelled, false if it is running or finished.
    pub fn cancel(&self) -> bool {
        let mut st = self.lock();
        match st.status {
            Status::Running | Status::Finished => return false,
            Status::Cancelled => return true,
            Status::Pending => {}
        }
        st.status = Status::Cancelled;
        st.outcome = Some(Err(FutureError::Cancelled));
        self.complete(st);
        true
    }

    /// Whether it was cancelled.
    pub fn cancelled(&self) -> bool {
        self.lock().status == Status::Cancelled
    }

    /// Whether its task is running.
    pub fn running(&self) -> bool {
        self.lock().status == Status::Running
    }

    /// Whether it finished or was cancelled.
    pub fn done(&self) -> bool {
        matches!(self.lock().status, Status::Cancelled | Status::Finished)
    }

    /// Waits at most `timeout` (`None`: forever) and returns the task's
    /// value, or why there is none.
    pub fn result(&self, timeout: Option<Duration>) -> std::result::Result<usize, FutureError> {
        let deadline = timeout.and_then(|d| Instant::now().checked_add(d));
        let mut st = self.lock();
        loop {
            if let Some(outcome) = st.outcome {
                return outcome;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(FutureError::Timeout);
            }
            self.0.done.sleep(move || drop(st), deadline);
            st = self.lock();
        }
    }

    /// The failure code after the task failed (`Future.exception()`), else 0.
    pub fn error(&self) -> i32 {
        match self.lock().outcome {
            Some(Err(FutureError::Failed(code))) => code,
            _ => 0,
        }
    }

    /// Runs `callback(self)` once the future is done, at once (in this
    /// thread) if it already is.
    pub fn add_done_callback(&self, callback: DoneCallback) {
        let mut st = self.lock();
        if matches!(st.status, Status::Cancelled | Status::Finished) {
            drop(st);
            callback(self);
            return;
        }
        st.callbacks.push(callback);
    }

    /// Moves a pending future to running; false (and nothing to run) if it
    /// was cancelled (`set_running_or_notify_cancel`).
    pub(crate) fn set_running(&self) -> bool {
        let mut st = self.lock();
        if st.status != Status::Pending {
            return false;
        }
        st.status = Status::Running;
        true
    }

    /// Finishes the future with the task's outcome.
    pub(crate) fn finish(&self, outcome: std::result::Result<usize, FutureError>) {
        let mut st = self.lock();
        if matches!(st.status, Status::Cancelled | Status::Finished) {
            return;
        }
        st.status = Status::Finished;
        st.outcome = Some(outcome);
        self.complete(st);
    }

    /// Wakes `result` callers and waiters, then runs the callbacks outside
    /// the lock (a callback may use the future).
    fn complete(&self, mut st: MutexGuard<'_, State>) {
        let failed = matches!(st.outcome, Some(Err(FutureError::Failed(_) | FutureError::Broken)));
        let callbacks = std::mem::take(&mut st.callbacks);
        let waiters = std::mem::take(&mut st.waiters);
        self.0.done.wake_all();
        drop(st);
        for (w, index) in waiters {
            w.record(index, failed);
        }
        for cb in callbacks {
            cb(self);
        }
    }

    /// Installs `w` for index `i`, or records at once if already done.
    fn watch(&self, w: &Arc<Waiter>, i: usize) {
        let mut st = self.lock();
        if let Some(outcome) = st.outcome {
            drop(st);
            w.record(i, matches!(outcome, Err(FutureError::Failed(_) | FutureError::Broken)));
        } else {
            st.waiters.push((w.clone(), i));
        }
    }

    fn unwatch(&self, w: &Arc<Waiter>) {
        self.lock().waiters.retain(|(x, _)| !Arc::ptr_eq(x, w));
    }
}

/// Collects completions for `wait` and `as_completed`.
struct Waiter {
    state: Mutex<WaiterState>,
    sleepers: Sleepers,
}

struct WaiterState {
    completed: Vec<usize>,
    failed: bool,
    /// The waiting thread is woken only when this many futures have
    /// completed (or one failed, with `wake_on_failure`), not by each of
    /// the others: waiting for 100,000 futures is one wake-up, not 100,000.
    wake_at: usize,
    wake_on_failure: bool,
}

impl WaiterState {
    /// Whether what the waiter waits for has happened.
    fn ready(&self) -> bool {
        self.completed.len() >= self.wake_at || (self.failed && self.wake_on_failure)
    }
}

impl Waiter {
    fn new() -> Arc<Waiter> {
        Arc::new(Waiter {
            state: Mutex::new(WaiterState {
                completed: Vec::new(),
                failed: false,
                wake_at: 1,
                wake_on_failure: false,
            }),
            sleepers: Sleepers::new(),
        })
    }

    fn record(&self, index: usize, failed: bool) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.completed.push(index);
        st.failed |= failed;
        if st.ready() {
            self.sleepers.wake_all();
        }
    }

    /// Waits until `wake_at` futures have completed (or one failed, with
    /// `wake_on_failure`) or the deadline passes.
    fn wait_until(
        &self,
        deadline: Option<Instant>,
        wake_at: usize,
        wake_on_failure: bool,
    ) -> MutexGuard<'_, WaiterState> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.wake_at = wake_at;
        st.wake_on_failure = wake_on_failure;
        while !st.ready() {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            self.sleepers.sleep(move || drop(st), deadline);
            st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        }
        st
    }
}

fn deadline_of(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|d| Instant::now().checked_add(d))
}

/// Waits until `return_when` holds for `fs` or `timeout` passes
/// (`concurrent.futures.wait`). True if the condition was met; each
/// future's state tells which are done.
pub fn wait(fs: &[Future], timeout: Option<Duration>, return_when: ReturnWhen) -> bool {
    let w = Waiter::new();
    for (i, f) in fs.iter().enumerate() {
        f.watch(&w, i);
    }
    let n = fs.len();
    let (wake_at, wake_on_failure) = match return_when {
        ReturnWhen::FirstCompleted => (n.min(1), false),
        ReturnWhen::FirstException => (n, true),
        ReturnWhen::AllCompleted => (n, false),
    };
    let result = w.wait_until(deadline_of(timeout), wake_at, wake_on_failure).ready();
    for f in fs {
        f.unwatch(&w);
    }
    result
}

/// Calls `each` with every future of `fs` as it completes, in completion
/// order, in this thread (`concurrent.futures.as_completed`). True if all
/// completed; false if `timeout` passed first.
pub fn as_completed(fs: &[Future], timeout: Option<Duration>, mut each: impl FnMut(&Future)) -> bool {
    let w = Waiter::new();
    for (i, f) in fs.iter().enumerate() {
        f.watch(&w, i);
    }
    let deadline = deadline_of(timeout);
    let mut yielded = 0;
    while yielded < fs.len() {
        let batch: Vec<usize> = {
            let st = w.wait_until(deadline, yielded + 1, false);
            if st.completed.len() == yielded {
                break;
            }
            st.completed[yielded..].to_vec()
        };
        for i in batch {
            yielded += 1;
            each(&fs[i]);
        }
    }
    for f in fs {
        f.unwatch(&w);
    }
    yielded == fs.len()
}
