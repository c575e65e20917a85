//! `concurrent.futures.ThreadPoolExecutor`.

use super::future::{Future, FutureError, Task};
use crate::error::{Error, ErrorKind, Result};
use crate::queue::SimpleQueue;
use crate::sync::Semaphore;
use crate::thread::{self, Thread};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

/// Runs in each worker before it takes work; a nonzero result breaks the
/// pool.
pub type Initializer = Box<dyn Fn() -> i32 + Send + Sync>;

struct WorkItem {
    future: Future,
    task: Task,
}

struct State {
    shutdown: bool,
    broken: bool,
    threads: Vec<Thread>,
}

struct Pool {
    max_workers: usize,
    prefix: String,
    initializer: Option<Initializer>,
    /// `None` is the wake-up call that tells a worker to look at `shutdown`.
    queue: SimpleQueue<Option<WorkItem>>,
    /// One unit per idle worker, so a submit reuses it instead of starting
    /// another thread.
    idle: Semaphore,
    state: Mutex<State>,
}

/// A pool of worker threads running submitted tasks, as Python's
/// `ThreadPoolExecutor`. Dropping it shuts it down and waits.
pub struct Executor {
    pool: Arc<Pool>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("max_workers", &self.pool.max_workers)
            .field("prefix", &self.pool.prefix)
            .finish()
    }
}

const BROKEN: &str = "A thread initializer failed, the thread pool is not usable anymore";

static COUNTER: AtomicUsize = AtomicUsize::new(0);
/// Every pool alive, for the exit handler.
static POOLS: Mutex<Vec<Weak<Pool>>> = Mutex::new(Vec::new());
/// Set at process exit: no new work (Python's "interpreter shutdown").
static EXITING: AtomicBool = AtomicBool::new(false);
static EXIT_HOOK: AtomicBool = AtomicBool::new(false);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Python's `min(32, os.cpu_count() + 4)`.
fn default_workers() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    32.min(cpus + 4)
}

impl Executor {
    /// A pool of at most `max_workers` threads (0: `min(32, cpus + 4)`),
    /// named `<prefix>_N` (default prefix `ThreadPoolExecutor-K`).
    pub fn new(max_workers: usize, prefix: Option<String>, initializer: Option<Initializer>) -> Result<Executor> {
        let max_workers = if max_workers == 0 {
            default_workers()
        } else {
            max_workers
        };
        // Python: `thread_name_prefix or "ThreadPoolExecutor-%d"`, so "" too.
        let prefix = prefix
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| format!("ThreadPoolExecutor-{}", COUNTER.fetch_add(1, Relaxed)));
        let pool = Arc::new(Pool {
            max_workers,
            prefix,
            initializer,
            queue: SimpleQueue::new(),
            idle: Semaphore::new(0)?,
            state: Mutex::new(State {
                shutdown: false,
                broken: false,
                threads: Vec::new(),
            }),
        });
        init();
        let mut pools = lock(&POOLS);
        pools.retain(|p| p.strong_count() > 0);
        pools.push(Arc::downgrade(&pool));
        Ok(Executor { pool })
    }

    /// The number of workers it may start.
    pub fn max_workers(&self) -> usize {
        self.pool.max_workers
    }

    /// Schedules `task` and returns its future. Fails with `Shutdown` after
    /// `shutdown` (or at process exit), `Broken` once an initializer
    /// failed, and `RuntimeError` if no worker could be started.
    pub fn submit(&self, task: Task) -> Result<Future> {
        let pool = &self.pool;
        let mut st = lock(&pool.state);
        if st.broken {
            return Err(Error::new(ErrorKind::Broken, BROKEN));
        }
        if st.shutdown {
            return Err(Error::new(
                ErrorKind::Shutdown,
                "cannot schedule new futures after shutdown",
            ));
        }
        if EXITING.load(Acquire) {
            return Err(Error::new(
                ErrorKind::Shutdown,
                "cannot schedule new futures after interpreter shutdown",
            ));
        }
        let future = Future::new()?;
        // A worker first: if none can be started the task is not queued, so
        // a failed submit never runs it later (its argument may be gone).
        pool.adjust_thread_count(&mut st)?;
        let item = Some(WorkItem {
            future: future.clone(),
            task,
        });
        pool.queue.try_put(item).map_err(|_| crate::shared::NO_MEMORY)?;
        Ok(future)
    }

    /// Stops accepting work; with `cancel_futures`, cancels what has not
    /// started; with `wait`, waits for the workers to finish everything
    /// else.
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.pool.shutdown(wait, cancel_futures)
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        self.pool.shutdown(true, false);
    }
}

impl Pool {
    fn adjust_thread_count(self: &Arc<Self>, st: &mut State) -> Result<()> {
        if self.idle.try_acquire() {
            return Ok(());
        }
        let n = st.threads.len();
        if n >= self.max_workers {
            return Ok(());
        }
        let pool = self.clone();
        let name = format!("{}_{}", self.prefix, n);
        let worker = Thread::new(Some(Box::new(move || worker(pool))), Some(name), Some(false))?;
        worker.start()?;
        st.threads.push(worker);
        Ok(())
    }

    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        let threads = {
            let mut st = lock(&self.state);
            st.shutdown = true;
            if cancel_futures {
                while let Ok(item) = self.queue.get(false, None) {
                    if let Some(item) = item {
                        item.future.cancel();
                    }
                }
            }
            self.queue.put(None);
            st.threads.clone()
        };
        if wait {
            let me = thread::current_thread();
            for t in threads.iter().filter(|t| **t != me) {
                let _ = t.join(None);
            }
        }
    }

    /// Python's `_initializer_failed`: the pool is broken, and what was
    /// queued fails with `BrokenThreadPool`.
    fn break_pool(&self) {
        let _st = {
            let mut st = lock(&self.state);
            st.broken = true;
            st
        };
        while let Ok(item) = self.queue.get(false, None) {
            if let Some(item) = item {
                item.future.finish(Err(FutureError::Broken));
            }
        }
    }
}

fn worker(pool: Arc<Pool>) -> i32 {
    if let Some(init) = &pool.initializer {
        let code = init();
        if code != 0 {
            pool.break_pool();
            return code;
        }
    }
    loop {
        match pool.queue.get(true, None).unwrap_or(None) {
            Some(WorkItem { future, task }) => {
                if future.set_running() {
                    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(task)).unwrap_or(Err(-1));
                    future.finish(outcome.map_err(FutureError::Failed));
                }
                drop(future);
                let _ = pool.idle.release(1);
            }
            None => {
                let exiting = EXITING.load(Acquire);
                let mut st = lock(&pool.state);
                if exiting || st.shutdown {
                    st.shutdown = true;
                    drop(st);
                    // Pass the wake-up call on to the next worker.
                    pool.queue.put(None);
                    return 0;
                }
            }
        }
    }
}

/// Registers the exit handler, once: a flag rather than a `Once`, so a
/// fork() can never catch it half done in another thread.
fn init() {
    if !EXIT_HOOK.swap(true, AcqRel) {
        thread::at_exit(at_exit);
    }
}

pub(crate) fn before_fork() {
    crate::fork::hold(&POOLS);
}

/// Python's `_python_exit`: at process exit, stop taking work and let the
/// workers finish what was submitted; the thread registry then waits for
/// them like any non-daemon thread.
fn at_exit() {
    EXITING.store(true, Release);
    let pools: Vec<Arc<Pool>> = lock(&POOLS).iter().filter_map(Weak::upgrade).collect();
    for p in pools {
        p.queue.put(None);
    }
}
