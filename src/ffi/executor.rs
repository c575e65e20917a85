//! `pyth_executor_*`, `pyth_future_*`, `pyth_wait` and `pyth_as_completed`:
//! Python's `concurrent.futures` with a thread pool.

use super::handle::{self, Kind, Shared};
use super::status::*;
use super::timeout::{parse, Negative};
use crate::error::{Error, ErrorKind, Result};
use crate::executor::{self as core, Executor, Future, FutureError, FutureInner, Initializer, ReturnWhen, Task};
use crate::shared::{try_box, Handle};
use std::ffi::{c_char, c_int, c_void, CStr};

/// A thread pool (Python's `ThreadPoolExecutor`). Opaque.
pub struct pyth_executor_t {
    _private: [u8; 0],
}

/// The result of a submitted task (`concurrent.futures.Future`). Opaque,
/// reference-counted: free it with `pyth_future_free` at any time.
pub struct pyth_future_t {
    _private: [u8; 0],
}

/// A task: stores its result in `*result` and returns 0, or returns a
/// nonzero failure code (the exception it raised).
pub type pyth_task_fn = Option<unsafe extern "C" fn(arg: *mut c_void, result: *mut *mut c_void) -> c_int>;

/// A done callback: receives the future (borrowed) and its argument.
pub type pyth_done_fn = Option<unsafe extern "C" fn(future: *mut pyth_future_t, arg: *mut c_void)>;

/// `pyth_wait`: return when any future finishes or is cancelled.
pub const PYTH_FIRST_COMPLETED: c_int = 1;
/// `pyth_wait`: return when any future fails, or all are done.
pub const PYTH_FIRST_EXCEPTION: c_int = 2;
/// `pyth_wait`: return when all futures are done.
pub const PYTH_ALL_COMPLETED: c_int = 3;

const NULL_FN: Error = Error::new(ErrorKind::Invalid, "fn must not be NULL");

fn new_executor(max_workers: usize, prefix: *const c_char, init: Option<Initializer>) -> *mut pyth_executor_t {
    handle::new_raw(Kind::Executor, || {
        // SAFETY: a non-NULL prefix is a C string.
        let prefix = (!prefix.is_null()).then(|| unsafe { CStr::from_ptr(prefix) }.to_string_lossy().into_owned());
        Executor::new(max_workers, prefix, init)
    })
}

/// Creates a thread pool of at most `max_workers` threads (0:
/// `min(32, cpus + 4)`), started as work arrives; an idle worker is reused
/// before a new one starts. Workers are named `<prefix>_N` (NULL prefix:
/// `"ThreadPoolExecutor-K"`). `initializer(initarg)`, if not NULL, runs in
/// each worker first.
#[no_mangle]
pub extern "C" fn pyth_executor_new(
    max_workers: usize,
    thread_name_prefix: *const c_char,
    initializer: Option<unsafe extern "C" fn(arg: *mut c_void)>,
    initarg: *mut c_void,
) -> *mut pyth_executor_t {
    let arg = initarg as usize;
    // SAFETY: the caller's initializer with its argument, in each worker.
    let init = initializer.map(|f| {
        Box::new(move || {
            unsafe { f(arg as *mut c_void) };
            0
        }) as Initializer
    });
    new_executor(max_workers, thread_name_prefix, init)
}

/// As `pyth_executor_new`, with an initializer that can fail: a nonzero
/// return breaks the pool, so later submits give `PYTH_EBROKEN` and work
/// still queued fails with `PYTH_EBROKEN` (Python's `BrokenThreadPool`).
#[no_mangle]
pub extern "C" fn pyth_executor_new_ex(
    max_workers: usize,
    thread_name_prefix: *const c_char,
    initializer: Option<unsafe extern "C" fn(arg: *mut c_void) -> c_int>,
    initarg: *mut c_void,
) -> *mut pyth_executor_t {
    let arg = initarg as usize;
    // SAFETY: the caller's initializer with its argument, in each worker.
    let init = initializer.map(|f| Box::new(move || unsafe { f(arg as *mut c_void) }) as Initializer);
    new_executor(max_workers, thread_name_prefix, init)
}

/// The executor, with a counted reference held for the call: a call can
/// last (`map` waits for its results, `shutdown` for the workers), and a
/// `pyth_executor_free` meanwhile is refused with `PYTH_EBUSY` instead of
/// freeing the pool under it.
unsafe fn executor(e: *const pyth_executor_t) -> Result<Shared<Executor>> {
    // SAFETY: forwarded contract.
    unsafe { handle::share(e, Kind::Executor) }
}

unsafe fn future(f: *const pyth_future_t) -> Result<Future> {
    // SAFETY: forwarded contract.
    unsafe { handle::get::<FutureInner, _>(f, Kind::Future)? };
    // SAFETY: validated above.
    Ok(unsafe { Future::clone_from_ptr(f.cast::<Handle<FutureInner>>()) })
}

fn c_task(f: unsafe extern "C" fn(*mut c_void, *mut *mut c_void) -> c_int, arg: *mut c_void) -> Result<Task> {
    let arg = arg as usize;
    let task: Task = try_box(move || {
        let mut out: *mut c_void = std::ptr::null_mut();
        // SAFETY: the caller's task with its argument and our out slot.
        match unsafe { f(arg as *mut c_void, &mut out) } {
            0 => Ok(out as usize),
            code => Err(code),
        }
    })?;
    Ok(task)
}

/// Schedules `fn(arg)` and returns its future (free it with
/// `pyth_future_free`). NULL with `PYTH_ESHUTDOWN` after shutdown,
/// `PYTH_EBROKEN` once an initializer failed, `PYTH_EINVAL` for a NULL
/// `fn`, `PYTH_ERUNTIME` if no worker could be started.
#[no_mangle]
pub unsafe extern "C" fn pyth_executor_submit(
    e: *mut pyth_executor_t,
    function: pyth_task_fn,
    arg: *mut c_void,
) -> *mut pyth_future_t {
    run_or(std::ptr::null_mut(), || {
        // SAFETY: the C caller passes an executor handle.
        let e = unsafe { executor(e)? };
        let f = function.ok_or(NULL_FN)?;
        Ok(e.submit(c_task(f, arg)?)?.into_raw())
    })
}

/// Stops accepting work. With `cancel_futures`, cancels tasks not yet
/// started; with `wait`, returns once the workers have finished the rest.
#[no_mangle]
pub unsafe extern "C" fn pyth_executor_shutdown(
    e: *mut pyth_executor_t,
    wait: bool,
    cancel_futures: bool,
) -> pyth_status {
    run(|| {
        // SAFETY: as above.
        unsafe { executor(e)? }.shutdown(wait, cancel_futures);
        Ok(PYTH_OK)
    })
}

/// Frees the executor, shutting it down (and waiting) if still running.
/// NULL is a no-op. Futures stay valid. `PYTH_EBUSY` while another thread
/// is inside a call on it (`pyth_executor_map` waiting for results,
/// `pyth_executor_shutdown` waiting for the workers, a submit).
#[no_mangle]
pub unsafe extern "C" fn pyth_executor_free(e: *mut pyth_executor_t) -> pyth_status {
    // SAFETY: as above.
    run(|| unsafe { handle::free(e, Kind::Executor, "executor", |_: &Executor| false) })
}

/// Python's `Executor.map`: runs `fn(args[i])` for i < n in the pool and
/// stores the results, in order, in `results[i]`, waiting at most
/// `timeout` seconds in all. `PYTH_OK` when all are stored; otherwise the
/// first failure in order (`PYTH_EFAILED` with its code in `*error`,
/// `PYTH_TIMEOUT`, ...), the tasks not yet started are cancelled, and
/// `*completed` (if not NULL) says how many results were stored.
#[no_mangle]
pub unsafe extern "C" fn pyth_executor_map(
    e: *mut pyth_executor_t,
    function: pyth_task_fn,
    args: *const *mut c_void,
    n: usize,
    timeout: f64,
    results: *mut *mut c_void,
    completed: *mut usize,
    error: *mut c_int,
) -> pyth_status {
    if !completed.is_null() {
        // SAFETY: non-NULL out pointer; set first so every failure reports it.
        unsafe { completed.write(0) };
    }
    run(|| {
        // SAFETY: as above.
        let e = unsafe { executor(e)? };
        let f = function.ok_or(NULL_FN)?;
        if n > 0 && (args.is_null() || results.is_null()) {
            return Err(Error::new(ErrorKind::Invalid, "args and results must not be NULL"));
        }
        let timeout = parse(timeout, Negative::NoBlock)?;
        let deadline = timeout.and_then(|d| std::time::Instant::now().checked_add(d));
        let mut futures = Vec::with_capacity(n);
        for i in 0..n {
            // SAFETY: args has n entries.
            match c_task(f, unsafe { *args.add(i) }).and_then(|task| e.submit(task)) {
                Ok(fut) => futures.push(fut),
                Err(err) => {
                    // As Python's map: what was submitted is cancelled.
                    futures.iter().for_each(|f| {
                        f.cancel();
                    });
                    return Err(err);
                }
            }
        }
        let mut stored = 0;
        let mut status = Ok(PYTH_OK);
        for f in &futures {
            let left = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
            match f.result(left) {
                Ok(v) => {
                    // SAFETY: results has n entries.
                    unsafe { results.add(stored).write(v as *mut c_void) };
                    stored += 1;
                }
                Err(err) => {
                    if let (FutureError::Failed(code), false) = (err, error.is_null()) {
                        // SAFETY: non-NULL out pointer.
                        unsafe { error.write(code) };
                    }
                    status = result_status(err);
                    break;
                }
            }
        }
        if stored < n {
            futures.iter().for_each(|f| {
                f.cancel();
            });
        }
        if !completed.is_null() {
            // SAFETY: non-NULL out pointer.
            unsafe { completed.write(stored) };
        }
        status
    })
}

fn result_status(e: FutureError) -> Result<pyth_status> {
    match e {
        FutureError::Timeout => Ok(PYTH_TIMEOUT),
        FutureError::Cancelled => Err(Error::new(ErrorKind::Cancelled, "CancelledError")),
        FutureError::Failed(code) => Err(Error::with_message(
            ErrorKind::Failed,
            format!("task failed with code {code}"),
        )),
        FutureError::Broken => Err(Error::new(
            ErrorKind::Broken,
            "A thread initializer failed, the thread pool is not usable anymore",
        )),
    }
}

/// Waits at most `timeout` seconds (`PYTH_FOREVER`: no limit; negative:
/// do not wait) for the task and stores its value in `*result` (if not
/// NULL). `PYTH_OK`; `PYTH_TIMEOUT` if not done in time; `PYTH_ECANCELLED`
/// if cancelled; `PYTH_EFAILED` if the task failed (its code:
/// `pyth_future_error`); `PYTH_EBROKEN` if the pool broke first.
#[no_mangle]
pub unsafe extern "C" fn pyth_future_result(
    f: *mut pyth_future_t,
    timeout: f64,
    result: *mut *mut c_void,
) -> pyth_status {
    run(|| {
        // SAFETY: the C caller passes a future handle.
        let f = unsafe { future(f)? };
        let timeout = parse(timeout, Negative::NoBlock)?;
        match f.result(timeout) {
            Ok(v) => {
                if !result.is_null() {
                    // SAFETY: non-NULL out pointer.
                    unsafe { result.write(v as *mut c_void) };
                }
                Ok(PYTH_OK)
            }
            Err(e) => result_status(e),
        }
    })
}

/// Cancels the task if it has not started: true if the future is (now)
/// cancelled, false if it is running or done. A cancelled task never runs.
#[no_mangle]
pub unsafe extern "C" fn pyth_future_cancel(f: *mut pyth_future_t) -> bool {
    // SAFETY: as above.
    run_or(false, || Ok(unsafe { future(f)? }.cancel()))
}

/// Whether the future finished or was cancelled.
#[no_mangle]
pub unsafe extern "C" fn pyth_future_done(f: *const pyth_future_t) -> bool {
    // SAFETY: as above.
    run_or(false, || Ok(unsafe { future(f)? }.done()))
}

/// Whether the task is running now.
#[no_mangle]
pub unsafe extern "C" fn pyth_future_running(f: *const pyth_future_t) -> bool {
    // SAFETY: as above.
    run_or(false, || Ok(unsafe { future(f)? }.running()))
}

/// Whether the future was cancelled.
#[no_mangle]
pub unsafe extern "C" fn pyth_future_cancelled(f: *const pyth_future_t) -> bool {
    // SAFETY: as above.
    run_or(false, || Ok(unsafe { future(f)? }.cancelled()))
}

/// The task's nonzero return after `PYTH_EFAILED`, else 0.
#[no_mangle]
pub unsafe extern "C" fn pyth_future_error(f: *const pyth_future_t) -> c_int {
    // SAFETY: as above.
    run_or(0, || Ok(unsafe { future(f)? }.error()))
}

/// Calls `cb(f, arg)` once the future is done (finished or cancelled), in
/// the thread that completes it; at once, in this thread, if it already is.
/// `PYTH_EINVAL` for a NULL `cb`.
#[no_mangle]
pub unsafe extern "C" fn pyth_future_add_done_callback(
    f: *mut pyth_future_t,
    cb: pyth_done_fn,
    arg: *mut c_void,
) -> pyth_status {
    run(|| {
        // SAFETY: as above.
        let f = unsafe { future(f)? };
        let cb = cb.ok_or(Error::new(ErrorKind::Invalid, "callback must not be NULL"))?;
        let arg = arg as usize;
        // SAFETY: the caller's callback with its argument.
        f.add_done_callback(Box::new(move |f: &Future| unsafe {
            cb(f.as_ptr().cast_mut().cast(), arg as *mut c_void)
        }));
        Ok(PYTH_OK)
    })
}

/// Drops C's reference to the future; safe at any point (a pending task
/// still runs). NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn pyth_future_free(f: *mut pyth_future_t) -> pyth_status {
    // SAFETY: as above.
    run(|| unsafe { handle::release::<FutureInner, _>(f, Kind::Future) })
}

unsafe fn futures(fs: *const *mut pyth_future_t, n: usize) -> Result<Vec<Future>> {
    if n > 0 && fs.is_null() {
        return Err(Error::new(ErrorKind::Invalid, "fs must not be NULL"));
    }
    // SAFETY: fs has n handles.
    (0..n).map(|i| unsafe { future(*fs.add(i)) }).collect()
}

/// Waits until `return_when` (`PYTH_FIRST_COMPLETED`,
/// `PYTH_FIRST_EXCEPTION`, `PYTH_ALL_COMPLETED`) holds for the `n` futures
/// in `fs`, at most `timeout` seconds (`concurrent.futures.wait`).
/// `PYTH_OK` if it holds, `PYTH_TIMEOUT` if time ran out first; each
/// future's state tells which are done. `PYTH_EVALUE` for another
/// `return_when`.
#[no_mangle]
pub unsafe extern "C" fn pyth_wait(
    fs: *const *mut pyth_future_t,
    n: usize,
    timeout: f64,
    return_when: c_int,
) -> pyth_status {
    run(|| {
        let when = match return_when {
            PYTH_FIRST_COMPLETED => ReturnWhen::FirstCompleted,
            PYTH_FIRST_EXCEPTION => ReturnWhen::FirstException,
            PYTH_ALL_COMPLETED => ReturnWhen::AllCompleted,
            other => {
                return Err(Error::with_message(
                    ErrorKind::Value,
                    format!("Invalid return condition: {other}"),
                ))
            }
        };
        // SAFETY: fs has n future handles.
        let fs = unsafe { futures(fs, n)? };
        let timeout = parse(timeout, Negative::NoBlock)?;
        Ok(ok_or_timeout(core::wait(&fs, timeout, when)))
    })
}

/// Calls `cb(f, arg)` in this thread for each of the `n` futures in `fs`
/// as it completes, in completion order (`concurrent.futures.as_completed`).
/// `PYTH_OK` once all were passed; `PYTH_TIMEOUT` if `timeout` seconds ran
/// out first.
#[no_mangle]
pub unsafe extern "C" fn pyth_as_completed(
    fs: *const *mut pyth_future_t,
    n: usize,
    timeout: f64,
    cb: pyth_done_fn,
    arg: *mut c_void,
) -> pyth_status {
    run(|| {
        let cb = cb.ok_or(Error::new(ErrorKind::Invalid, "callback must not be NULL"))?;
        // SAFETY: fs has n future handles.
        let fs = unsafe { futures(fs, n)? };
        let timeout = parse(timeout, Negative::NoBlock)?;
        // SAFETY: the caller's callback with its argument.
        let all = core::as_completed(&fs, timeout, |f| unsafe { cb(f.as_ptr().cast_mut().cast(), arg) });
        Ok(ok_or_timeout(all))
    })
}
