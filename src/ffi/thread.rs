//! `pyth_thread_*`, `pyth_timer_*` and the module functions of Python's
//! `threading`.

use super::handle::{self, Kind};
use super::status::*;
use super::timeout::{parse, Negative};
use crate::error::{Error, ErrorKind, Result};
use crate::shared::Handle;
use crate::thread::{self as core, Body, Inner, Thread};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::{Arc, Mutex};

/// A thread or a timer (Python's `threading.Thread` and `threading.Timer`).
/// Opaque. Reference-counted: `pyth_thread_new` and `pyth_thread_ref`
/// give references, `pyth_thread_free` drops one.
pub struct pyth_thread_t {
    _private: [u8; 0],
}

/// A thread's function: a nonzero return is an unhandled failure, which
/// the excepthook reports.
pub type pyth_target_fn = Option<unsafe extern "C" fn(arg: *mut c_void) -> c_int>;

/// A hook run in each new thread before its target (`settrace`, `setprofile`).
pub type pyth_start_hook = Option<unsafe extern "C" fn(thread: *mut pyth_thread_t, user: *mut c_void)>;

/// What the excepthook is told (Python's `threading.ExceptHookArgs`).
#[repr(C)]
pub struct pyth_excepthook_args {
    /// The thread whose target failed (borrowed).
    pub thread: *mut pyth_thread_t,
    /// The target's nonzero return value.
    pub code: c_int,
}

/// The excepthook (`threading.excepthook`).
pub type pyth_excepthook = Option<unsafe extern "C" fn(args: *const pyth_excepthook_args, user: *mut c_void)>;

/// `daemon` argument of `pyth_thread_new`: inherit the creating thread's flag.
pub const PYTH_DAEMON_INHERIT: c_int = -1;

unsafe fn thread(t: *const pyth_thread_t) -> Result<Thread> {
    // SAFETY: forwarded contract: NULL or a live thread handle.
    unsafe { handle::get::<Inner, _>(t, Kind::Thread)? };
    // SAFETY: validated just above.
    Ok(unsafe { Thread::clone_from_ptr(t.cast::<Handle<Inner>>()) })
}

fn c_target(target: pyth_target_fn, arg: *mut c_void) -> Option<Body> {
    target.map(|f| Body::C(f, arg as usize))
}

fn ptr(t: &Thread) -> *mut pyth_thread_t {
    t.as_ptr().cast_mut().cast()
}

/// Creates a thread that will run `target(arg)` once started (NULL: does
/// nothing). `name` NULL gives `"Thread-N"`; `daemon` is 0, 1 or
/// `PYTH_DAEMON_INHERIT` (the creating thread's flag). NULL with
/// `PYTH_EVALUE` for another `daemon` value.
#[no_mangle]
pub unsafe extern "C" fn pyth_thread_new(
    target: pyth_target_fn,
    arg: *mut c_void,
    name: *const c_char,
    daemon: c_int,
) -> *mut pyth_thread_t {
    run_or(std::ptr::null_mut(), || {
        let daemon = match daemon {
            PYTH_DAEMON_INHERIT => None,
            0 => Some(false),
            1 => Some(true),
            _ => {
                return Err(Error::new(
                    ErrorKind::Value,
                    "daemon must be 0, 1 or PYTH_DAEMON_INHERIT",
                ))
            }
        };
        // SAFETY: a non-NULL name is a C string.
        let name = (!name.is_null()).then(|| unsafe { CStr::from_ptr(name) }.to_bytes().to_vec());
        Ok(Thread::with_body(c_target(target, arg), name, daemon)?.into_raw())
    })
}

/// Starts the thread; when this returns it is alive and enumerated.
/// `PYTH_ERUNTIME`: started before ("threads can only be started once"),
/// or the OS refused ("can't start new thread").
#[no_mangle]
pub unsafe extern "C" fn pyth_thread_start(t: *mut pyth_thread_t) -> pyth_status {
    run(|| {
        // SAFETY: the C caller passes a thread handle.
        unsafe { thread(t)? }.start()?;
        Ok(PYTH_OK)
    })
}

/// Waits until the thread ends, at most `timeout` seconds (`PYTH_FOREVER`:
/// no limit; negative: do not wait). `PYTH_OK` if it ended, `PYTH_TIMEOUT`
/// if it is still alive. `PYTH_ERUNTIME` for the current thread ("cannot
/// join current thread"), a thread not started ("cannot join thread before
/// it is started") or a dummy thread.
#[no_mangle]
pub unsafe extern "C" fn pyth_thread_join(t: *mut pyth_thread_t, timeout: f64) -> pyth_status {
    run(|| {
        // SAFETY: as above.
        let t = unsafe { thread(t)? };
        // As in Python, a join that cannot be made fails for that first.
        let timeout = parse(timeout, Negative::NoBlock).map_err(|e| t.check_joinable().err().unwrap_or(e))?;
        Ok(ok_or_timeout(t.join(timeout)?))
    })
}

/// Whether the thread has started and not ended.
#[no_mangle]
pub unsafe extern "C" fn pyth_thread_is_alive(t: *const pyth_thread_t) -> bool {
    // SAFETY: as above.
    run_or(false, || Ok(unsafe { thread(t)? }.is_alive()))
}

/// Copies the thread's name into `buf` (at most `cap - 1` bytes and a NUL,
/// as snprintf) and returns its full length in bytes; 0 for a bad handle.
#[no_mangle]
pub unsafe extern "C" fn pyth_thread_name(t: *const pyth_thread_t, buf: *mut c_char, cap: usize) -> usize {
    run_or(0, || {
        // SAFETY: as above.
        let name = unsafe { thread(t)? }.name_bytes();
        if !buf.is_null() && cap > 0 {
            let n = name.len().min(cap - 1);
            // SAFETY: buf has room for cap bytes.
            unsafe {
                std::ptr::copy_nonoverlapping(name.as_ptr(), buf.cast::<u8>(), n);
                *buf.add(n) = 0;
            }
        }
        Ok(name.len())
    })
}

/// Renames the thread. `PYTH_EINVAL` for a NULL name.
#[no_mangle]
pub unsafe extern "C" fn pyth_thread_set_name(t: *mut pyth_thread_t, name: *const c_char) -> pyth_status {
    run(|| {
        // SAFETY: as above.
        let t = unsafe { thread(t)? };
        if name.is_null() {
            return Err(Error::new(ErrorKind::Invalid, "name must not be NULL"));
        }
        // SAFETY: a non-NULL name is a C string.
        t.set_name_bytes(unsafe { CStr::from_ptr(name) }.to_bytes());
        Ok(PYTH_OK)
    })
}

/// The thread's `get_ident()` value; 0 if not started.
#[no_mangle]
pub unsafe extern "C" fn pyth_thread_ident(t: *const pyth_thread_t) -> u64 {
    // SAFETY: as above.
    run_or(0, || Ok(unsafe { thread(t)? }.ident()))
}

/// The thread's kernel id (`gettid`); 0 if not started.
#[no_mangle]
pub unsafe extern "C" fn pyth_thread_native_id(t: *const pyth_thread_t) -> u64 {
    // SAFETY: as above.
    run_or(0, || Ok(unsafe { thread(t)? }.native_id()))
}

/// Whether the thread is a daemon.
#[no_mangle]
pub unsafe extern "C" fn pyth_thread_daemon(t: *const pyth_thread_t) -> bool {
    // SAFETY: as above.
    run_or(false, || Ok(unsafe { thread(t)? }.daemon()))
}

/// Sets the daemon flag. `PYTH_ERUNTIME` once started ("cannot set daemon
/// status of active thread").
#[no_mangle]
pub unsafe extern "C" fn pyth_thread_set_daemon(t: *mut pyth_thread_t, daemon: bool) -> pyth_status {
    run(|| {
        // SAFETY: as above.
        unsafe { thread(t)? }.set_daemon(daemon)?;
        Ok(PYTH_OK)
    })
}

/// Takes one more reference to the thread; returns `t` (NULL for a bad handle).
#[no_mangle]
pub unsafe extern "C" fn pyth_thread_ref(t: *mut pyth_thread_t) -> *mut pyth_thread_t {
    // SAFETY: as above.
    run_or(std::ptr::null_mut(), || Ok(unsafe { thread(t)? }.into_raw()))
}

/// Drops one reference. A running thread keeps running; its memory goes
/// when the last reference does. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn pyth_thread_free(t: *mut pyth_thread_t) -> pyth_status {
    // SAFETY: as above.
    run(|| unsafe { handle::release::<Inner, _>(t, Kind::Thread) })
}

/// Creates a timer (Python's `threading.Timer`): once started, runs
/// `fn(arg)` after `interval` seconds unless cancelled first (negative: at
/// once; `PYTH_FOREVER`: it waits until cancelled, as Python's `None`).
/// Free it with `pyth_thread_free`.
#[no_mangle]
pub unsafe extern "C" fn pyth_timer_new(
    interval: f64,
    function: pyth_target_fn,
    arg: *mut c_void,
) -> *mut pyth_thread_t {
    run_or(std::ptr::null_mut(), || {
        let interval = parse(interval, Negative::NoBlock)?;
        Ok(Thread::timer(interval, c_target(function, arg))?.into_raw())
    })
}

/// Cancels a timer: if it has not fired yet, its function never runs.
/// `PYTH_EINVAL` for a thread that is not a timer.
#[no_mangle]
pub unsafe extern "C" fn pyth_timer_cancel(t: *mut pyth_thread_t) -> pyth_status {
    run(|| {
        // SAFETY: as above.
        unsafe { thread(t)? }.cancel()?;
        Ok(PYTH_OK)
    })
}

/// The number of alive threads (`threading.active_count()`), main included.
#[no_mangle]
pub extern "C" fn pyth_active_count() -> usize {
    run_or(0, || Ok(core::active_count()))
}

/// Writes new references to at most `cap` alive threads into `out` and
/// returns the number of alive threads (which may exceed `cap`, as
/// snprintf). Free each written reference with `pyth_thread_free`.
#[no_mangle]
pub unsafe extern "C" fn pyth_enumerate(out: *mut *mut pyth_thread_t, cap: usize) -> usize {
    run_or(0, || {
        let all = core::enumerate();
        let n = all.len();
        if !out.is_null() {
            for (i, t) in all.into_iter().take(cap).enumerate() {
                // SAFETY: out has room for cap pointers.
                unsafe { out.add(i).write(t.into_raw()) };
            }
        }
        Ok(n)
    })
}

/// The calling thread (borrowed: do not free). A thread not started by
/// libpyth gets a dummy thread (`"Dummy-N"`, daemon, not joinable) that
/// lives until its OS thread ends.
#[no_mangle]
pub extern "C" fn pyth_current_thread() -> *mut pyth_thread_t {
    run_or(std::ptr::null_mut(), || Ok(core::current_ptr().cast_mut().cast()))
}

/// The process's initial thread (borrowed: do not free).
#[no_mangle]
pub extern "C" fn pyth_main_thread() -> *mut pyth_thread_t {
    run_or(std::ptr::null_mut(), || Ok(ptr(&core::main_thread())))
}

/// The calling thread's identifier (`threading.get_ident()`, the value of
/// `pthread_self()`): nonzero, unique among alive threads.
#[no_mangle]
pub extern "C" fn pyth_get_ident() -> u64 {
    core::get_ident()
}

/// The calling thread's kernel id (`threading.get_native_id()`).
#[no_mangle]
pub extern "C" fn pyth_get_native_id() -> u64 {
    core::get_native_id()
}

/// Sets the stack size of threads started afterwards: 0 (the platform's
/// default) or at least 32768 bytes, else `PYTH_EVALUE` ("size not valid:
/// N bytes"). Stores the previous size in `*previous` if not NULL.
#[no_mangle]
pub unsafe extern "C" fn pyth_stack_size(size: usize, previous: *mut usize) -> pyth_status {
    run(|| {
        let old = core::stack_size(size)?;
        if !previous.is_null() {
            // SAFETY: a non-NULL previous points to a size_t.
            unsafe { previous.write(old) };
        }
        Ok(PYTH_OK)
    })
}

/// The stack size for new threads (`threading.stack_size()`); 0: default.
#[no_mangle]
pub extern "C" fn pyth_get_stack_size() -> usize {
    core::get_stack_size()
}

/// Python's `_thread.start_new_thread`: runs `fn(arg)` in a new thread
/// that is not tracked (not enumerated, not waited for at exit). Returns
/// its identifier, or 0 on failure (`PYTH_EINVAL` for a NULL `fn`,
/// `PYTH_ERUNTIME` if the OS refused).
#[no_mangle]
pub unsafe extern "C" fn pyth_start_new_thread(function: pyth_target_fn, arg: *mut c_void) -> u64 {
    run_or(0, || {
        let f = function.ok_or(Error::new(ErrorKind::Invalid, "function must not be NULL"))?;
        core::start_new_thread(f, arg as usize)
    })
}

struct CHook<F> {
    f: F,
    user: usize,
}

static C_TRACE: Mutex<CHook<pyth_start_hook>> = Mutex::new(CHook { f: None, user: 0 });
static C_PROFILE: Mutex<CHook<pyth_start_hook>> = Mutex::new(CHook { f: None, user: 0 });
static C_EXCEPTHOOK: Mutex<CHook<pyth_excepthook>> = Mutex::new(CHook { f: None, user: 0 });

pub(crate) fn before_fork() {
    crate::fork::hold(&C_TRACE);
    crate::fork::hold(&C_PROFILE);
    crate::fork::hold(&C_EXCEPTHOOK);
}

fn start_hook(slot: &Mutex<CHook<pyth_start_hook>>, f: pyth_start_hook, user: *mut c_void) -> Option<core::StartHook> {
    *slot.lock().unwrap_or_else(|e| e.into_inner()) = CHook { f, user: user as usize };
    let f = f?;
    let user = user as usize;
    // SAFETY: the caller's hook with the caller's argument.
    Some(Arc::new(move |t: &Thread| unsafe { f(ptr(t), user as *mut c_void) }))
}

fn get_hook<F: Copy>(slot: &Mutex<CHook<F>>, user: *mut *mut c_void) -> F {
    let h = slot.lock().unwrap_or_else(|e| e.into_inner());
    if !user.is_null() {
        // SAFETY: a non-NULL user points to a void *.
        unsafe { user.write(h.user as *mut c_void) };
    }
    h.f
}

/// Sets the hook run in each thread started afterwards, before its target
/// (`threading.settrace`); NULL removes it.
#[no_mangle]
pub extern "C" fn pyth_settrace(hook: pyth_start_hook, user: *mut c_void) {
    run_or((), || Ok(core::settrace(start_hook(&C_TRACE, hook, user))))
}

/// The hook set by `pyth_settrace` (NULL if none); its `user` goes to
/// `*user` if not NULL (`threading.gettrace`).
#[no_mangle]
pub unsafe extern "C" fn pyth_gettrace(user: *mut *mut c_void) -> pyth_start_hook {
    run_or(None, || Ok(get_hook(&C_TRACE, user)))
}

/// Like `pyth_settrace` (`threading.setprofile`); runs after the trace hook.
#[no_mangle]
pub extern "C" fn pyth_setprofile(hook: pyth_start_hook, user: *mut c_void) {
    run_or((), || Ok(core::setprofile(start_hook(&C_PROFILE, hook, user))))
}

/// The hook set by `pyth_setprofile` (`threading.getprofile`).
#[no_mangle]
pub unsafe extern "C" fn pyth_getprofile(user: *mut *mut c_void) -> pyth_start_hook {
    run_or(None, || Ok(get_hook(&C_PROFILE, user)))
}

/// Sets the hook called, in the failing thread, when a target returns
/// nonzero (`threading.excepthook`); NULL restores the default, which
/// prints `Exception in thread NAME:` and the code to stderr.
#[no_mangle]
pub extern "C" fn pyth_set_excepthook(hook: pyth_excepthook, user: *mut c_void) {
    run_or((), || {
        *C_EXCEPTHOOK.lock().unwrap_or_else(|e| e.into_inner()) = CHook {
            f: hook,
            user: user as usize,
        };
        let user = user as usize;
        core::set_excepthook(hook.map(|f| {
            Arc::new(move |t: &Thread, code: i32| {
                let args = pyth_excepthook_args { thread: ptr(t), code };
                // SAFETY: the caller's hook with the caller's argument.
                unsafe { f(&args, user as *mut c_void) }
            }) as core::ExceptHook
        }));
        Ok(())
    })
}

/// The hook set by `pyth_set_excepthook` (NULL: the default).
#[no_mangle]
pub unsafe extern "C" fn pyth_get_excepthook(user: *mut *mut c_void) -> pyth_excepthook {
    run_or(None, || Ok(get_hook(&C_EXCEPTHOOK, user)))
}

/// The default excepthook (`threading.__excepthook__`), for a custom hook
/// that wants to chain to it.
#[no_mangle]
pub unsafe extern "C" fn pyth_default_excepthook(args: *const pyth_excepthook_args) {
    run_or((), || {
        if args.is_null() {
            return Err(Error::new(ErrorKind::Invalid, "args must not be NULL"));
        }
        // SAFETY: non-NULL args from the library or the caller.
        let args = unsafe { &*args };
        // SAFETY: the thread in args is a live handle.
        core::default_excepthook(&unsafe { thread(args.thread)? }, args.code);
        Ok(())
    })
}
