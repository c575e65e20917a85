//! `threading.Thread` (and `Timer`, which is a thread with a delay).

use super::{hooks, registry, tls};
use crate::error::{Error, ErrorKind, Result};
use crate::shared::{Handle, Kind, Shared};
use crate::sync::Event;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering::*};
use std::sync::Mutex;
use std::time::Duration;

/// What a thread runs: a nonzero result is an unhandled failure, reported
/// to the excepthook.
pub type Target = Box<dyn FnOnce() -> i32 + Send>;

/// A C thread function, called with its argument; nonzero is a failure.
pub type CFunction = unsafe extern "C" fn(arg: *mut std::ffi::c_void) -> std::ffi::c_int;

/// A thread's body: a Rust closure, or a C function and its argument.
///
/// A C function is called from a frame with nothing to destroy, so if it
/// ends its thread with `pthread_exit()` the unwind passes straight
/// through, and the thread is still finished properly (Python's
/// `_thread.exit()`: a quiet exit, not a failure).
pub enum Body {
    Rust(Target),
    C(CFunction, usize),
}

const NEW: u8 = 0;
const RUNNING: u8 = 1;
const DONE: u8 = 2;
/// `start` is creating the OS thread, which may fail and leave it `NEW`:
/// not yet joinable, as in Python until the thread has signalled it runs.
const STARTING: u8 = 3;

/// The OS thread behind a started thread is joinable, and is released
/// exactly once: joined by the first `join` that sees the thread end, or
/// detached when the last reference goes. Joining it, as `pthread_join`
/// users do, lets `join()` sleep until the OS thread is gone with no
/// wake-up call of ours, and hands its stack back to glibc's cache before
/// the next thread starts.
const OS_NONE: u8 = 0;
const OS_JOINABLE: u8 = 1;
const OS_RELEASED: u8 = 2;

/// Timer states.
const PENDING: u8 = 0;
const FIRED: u8 = 1;
const CANCELLED: u8 = 2;

pub(crate) struct TimerState {
    interval: Option<Duration>,
    state: AtomicU8,
    finished: Event,
}

pub struct Inner {
    target: Mutex<Option<Body>>,
    /// Bytes, not a String: C names need not be UTF-8, and come back as given.
    name: Mutex<Vec<u8>>,
    daemon: AtomicBool,
    state: AtomicU8,
    ident: AtomicU64,
    native_id: AtomicU64,
    native_ready: Event,
    done: Event,
    /// A thread not started by libpyth (`Dummy-N`): it cannot be joined.
    dummy: AtomicBool,
    timer: Option<TimerState>,
    /// `OS_*`: whether the `pthread_t` in `ident` is still to be released.
    os: AtomicU8,
    /// The fork generation that started it: a forked child must not
    /// release its parent's OS threads (one that was ending at the fork
    /// never ends in the child, and joining it would hang).
    os_generation: AtomicU64,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if *self.os.get_mut() == OS_JOINABLE && *self.os_generation.get_mut() == crate::fork::generation() {
            // SAFETY: a joinable thread of ours, never joined or detached.
            unsafe { libc::pthread_detach(*self.ident.get_mut() as libc::pthread_t) };
        }
    }
}

/// A thread of control, as Python's `threading.Thread`.
///
/// Cloning gives another reference to the same thread; the address behind
/// [`Thread::as_ptr`] is the thread's identity for its whole life, and is
/// the handle C sees.
#[derive(Clone)]
pub struct Thread(Shared<Inner>);

impl PartialEq for Thread {
    fn eq(&self, other: &Self) -> bool {
        self.as_ptr() == other.as_ptr()
    }
}
impl Eq for Thread {}

impl std::fmt::Debug for Thread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // As Python's Thread.__repr__.
        let status = match self.0.state.load(Relaxed) {
            NEW | STARTING => "initial",
            RUNNING => "started",
            _ => "stopped",
        };
        write!(f, "<Thread({}, {status}", self.name())?;
        if self.daemon() {
            write!(f, " daemon")?;
        }
        if self.ident() != 0 {
            write!(f, " {}", self.ident())?;
        }
        write!(f, ")>")
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Python's `_newname`: one counter for `Thread-N` and `Dummy-N`.
pub(crate) fn new_name(prefix: &str) -> String {
    format!("{prefix}-{}", COUNTER.fetch_add(1, Relaxed) + 1)
}

impl Thread {
    /// A new thread that will run `target` (`None`: nothing) once started.
    /// `name` defaults to `Thread-N`; `daemon` to the creating thread's.
    pub fn new(target: Option<Target>, name: Option<String>, daemon: Option<bool>) -> Result<Thread> {
        Self::build(target.map(Body::Rust), name.map(String::into_bytes), daemon, None)
    }

    /// Like [`Thread::new`], with any [`Body`] and a name in bytes.
    pub fn with_body(body: Option<Body>, name: Option<Vec<u8>>, daemon: Option<bool>) -> Result<Thread> {
        Self::build(body, name, daemon, None)
    }

    /// A timer: once started, runs `function` after `interval` (`None` or
    /// zero: at once) unless cancelled first, as Python's `threading.Timer`.
    pub fn timer(interval: Option<Duration>, function: Option<Body>) -> Result<Thread> {
        let timer = TimerState {
            interval,
            state: AtomicU8::new(PENDING),
            finished: Event::new(),
        };
        Self::build(function, None, None, Some(timer))
    }

    fn build(
        target: Option<Body>,
        name: Option<Vec<u8>>,
        daemon: Option<bool>,
        timer: Option<TimerState>,
    ) -> Result<Thread> {
        let daemon = match daemon {
            Some(d) => d,
            None => current_thread().daemon(),
        };
        let inner = Inner {
            target: Mutex::new(target),
            name: Mutex::new(name.unwrap_or_else(|| new_name("Thread").into_bytes())),
            daemon: AtomicBool::new(daemon),
            state: AtomicU8::new(NEW),
            ident: AtomicU64::new(0),
            native_id: AtomicU64::new(0),
            native_ready: Event::new(),
            done: Event::new(),
            dummy: AtomicBool::new(false),
            timer,
            os: AtomicU8::new(OS_NONE),
            os_generation: AtomicU64::new(0),
        };
        Ok(Thread(Shared::new(Kind::Thread, inner)?))
    }

    /// The object for a running thread that libpyth did not start (or the
    /// main thread): already alive, with its identity filled in.
    pub(crate) fn adopt(name: String, daemon: bool, dummy: bool) -> Result<Thread> {
        let t = Self::build(None, Some(name.into_bytes()), Some(daemon), None)?;
        t.0.dummy.store(dummy, Relaxed);
        t.0.state.store(RUNNING, Relaxed);
        t.fill_identity();
        Ok(t)
    }

    /// The main thread's object, made by another thread: its kernel id is
    /// the process id; its `ident` is filled in when it first calls in.
    pub(crate) fn adopt_remote(name: String) -> Result<Thread> {
        let t = Self::build(None, Some(name.into_bytes()), Some(false), None)?;
        t.0.state.store(RUNNING, Relaxed);
        // SAFETY: plain syscall.
        t.0.native_id.store(unsafe { libc::getpid() } as u64, Release);
        t.0.native_ready.set();
        Ok(t)
    }

    /// Records the calling OS thread as this thread.
    pub(crate) fn fill_identity(&self) {
        self.0.ident.store(super::get_ident(), Relaxed);
        self.0.native_id.store(super::get_native_id(), Release);
        self.0.native_ready.set();
        tls::set_current(self.as_ptr() as usize);
    }

    /// The handle address: the thread's identity, and C's pointer.
    pub fn as_ptr(&self) -> *const Handle<Inner> {
        self.0.as_ptr()
    }

    /// Gives one counted reference to C.
    pub fn into_raw<P>(self) -> *mut P {
        self.0.into_raw()
    }

    /// Takes back a reference given away with `into_raw`.
    ///
    /// # Safety
    /// `p` must come from `into_raw`, and be taken back once.
    pub(crate) unsafe fn from_raw<P>(p: *mut P) -> Thread {
        // SAFETY: forwarded contract.
        Thread(unsafe { Shared::from_raw(p.cast::<Handle<Inner>>()) })
    }

    /// Borrows the thread behind a handle address without counting.
    ///
    /// # Safety
    /// `p` must be a live thread handle.
    pub(crate) unsafe fn clone_from_ptr(p: *const Handle<Inner>) -> Thread {
        // SAFETY: forwarded contract.
        Thread(unsafe { Shared::clone_raw(p) })
    }

    /// Starts the thread. Fails with `RuntimeError` if it was started
    /// before ("threads can only be started once") or the OS refuses
    /// ("can't start new thread").
    pub fn start(&self) -> Result<()> {
        if self.0.state.compare_exchange(NEW, STARTING, AcqRel, Relaxed).is_err() || self.0.dummy.load(Relaxed) {
            return Err(Error::new(ErrorKind::Runtime, "threads can only be started once"));
        }
        registry::add(self.clone());
        match spawn(self.clone()) {
            Ok(ident) => {
                self.0.ident.store(ident, Relaxed);
                self.0.os_generation.store(crate::fork::generation(), Relaxed);
                self.0.os.store(OS_JOINABLE, Release);
                self.mark_started();
                Ok(())
            }
            Err(e) => {
                registry::remove(self);
                self.0.state.store(NEW, Release);
                Err(e)
            }
        }
    }

    /// Waits until the thread ends, at most `timeout` (`None`: forever).
    /// True if it ended. Fails with `RuntimeError` for the current thread,
    /// a thread not started, or a dummy thread.
    pub fn join(&self, timeout: Option<Duration>) -> Result<bool> {
        self.check_joinable()?;
        // Waiting forever: the first joiner waits in pthread_join itself.
        if timeout.is_none() && self.release_os_thread() {
            without_cancellation(|| {
                // SAFETY: claimed above, so joined once; the thread is ours.
                unsafe { libc::pthread_join(self.0.ident.load(Relaxed) as libc::pthread_t, std::ptr::null_mut()) };
            });
            return Ok(true);
        }
        let ended = self.0.done.wait(timeout);
        if ended && self.release_os_thread() {
            // A bounded join does not wait for the OS thread, which may still
            // be running TLS destructors: if it has not exited yet, the next
            // join or the last reference releases it.
            // SAFETY: as above.
            if unsafe { libc::pthread_tryjoin_np(self.0.ident.load(Relaxed) as libc::pthread_t, std::ptr::null_mut()) }
                != 0
            {
                self.0.os.store(OS_JOINABLE, Release);
            }
        }
        Ok(ended)
    }

    /// STARTING to RUNNING, as Python sets `_started`: done by whichever
    /// comes first, the new thread or `start` once the OS thread exists (a
    /// thread that has already ended stays DONE).
    fn mark_started(&self) {
        let _ = self.0.state.compare_exchange(STARTING, RUNNING, AcqRel, Relaxed);
    }

    /// The errors `join` gives before it waits, in Python's order: a dummy
    /// thread, a thread not started, the current thread.
    pub fn check_joinable(&self) -> Result<()> {
        if self.0.dummy.load(Relaxed) {
            return Err(Error::new(ErrorKind::Runtime, "cannot join a dummy thread"));
        }
        if matches!(self.0.state.load(Acquire), NEW | STARTING) {
            return Err(Error::new(
                ErrorKind::Runtime,
                "cannot join thread before it is started",
            ));
        }
        // The kernel id catches the main thread even before it has called
        // in (when another thread made its object first).
        let me = tls::current() == self.as_ptr() as usize
            || (self.0.native_ready.is_set() && self.0.native_id.load(Acquire) == super::get_native_id());
        if me {
            return Err(Error::new(ErrorKind::Runtime, "cannot join current thread"));
        }
        Ok(())
    }

    /// Claims the release of the OS thread: true once, for one caller,
    /// if there is one to release in this process.
    fn release_os_thread(&self) -> bool {
        self.0
            .os
            .compare_exchange(OS_JOINABLE, OS_RELEASED, Acquire, Relaxed)
            .is_ok()
            && self.0.os_generation.load(Relaxed) == crate::fork::generation()
    }

    /// Whether the thread has started and not yet ended.
    pub fn is_alive(&self) -> bool {
        self.0.state.load(Acquire) == RUNNING
    }

    /// Whether `start` was called.
    pub fn started(&self) -> bool {
        self.0.state.load(Acquire) != NEW
    }

    /// The thread's name.
    pub fn name(&self) -> String {
        String::from_utf8_lossy(&self.name_bytes()).into_owned()
    }

    /// The thread's name as the bytes it was given.
    pub fn name_bytes(&self) -> Vec<u8> {
        self.0.name.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Renames the thread with arbitrary bytes (no NUL).
    pub fn set_name_bytes(&self, name: &[u8]) {
        *self.0.name.lock().unwrap_or_else(|e| e.into_inner()) = name.to_vec();
    }

    /// Renames the thread (the OS name is set only at start).
    pub fn set_name(&self, name: &str) {
        self.set_name_bytes(name.as_bytes());
    }

    /// `get_ident()` of the thread; 0 before it starts.
    pub fn ident(&self) -> u64 {
        self.0.ident.load(Relaxed)
    }

    /// The kernel's thread id; 0 before it starts. Right after `start` it
    /// may wait a moment for the new thread to publish it.
    pub fn native_id(&self) -> u64 {
        match self.0.state.load(Acquire) {
            NEW => return 0,
            // The start may still fail: do not wait for an id that may
            // never come (the thread itself has published its own).
            STARTING if !self.0.native_ready.is_set() => return 0,
            _ => {}
        }
        self.0.native_ready.wait(None);
        self.0.native_id.load(Acquire)
    }

    /// Whether the thread is a daemon.
    pub fn daemon(&self) -> bool {
        self.0.daemon.load(Relaxed)
    }

    /// Sets the daemon flag. Fails with `RuntimeError` once started.
    pub fn set_daemon(&self, daemon: bool) -> Result<()> {
        if self.started() {
            return Err(Error::new(
                ErrorKind::Runtime,
                "cannot set daemon status of active thread",
            ));
        }
        self.0.daemon.store(daemon, Relaxed);
        Ok(())
    }

    /// Whether this is a dummy thread (not started by libpyth).
    pub fn is_dummy(&self) -> bool {
        self.0.dummy.load(Relaxed)
    }

    /// Whether this thread is a timer.
    pub fn is_timer(&self) -> bool {
        self.0.timer.is_some()
    }

    /// Cancels a timer that has not fired yet: its function will never run.
    /// Fails with `AttributeError` (`Invalid`) for a thread that is not a timer.
    pub fn cancel(&self) -> Result<()> {
        let timer = self.0.timer.as_ref().ok_or(Error::new(
            ErrorKind::Invalid,
            "'Thread' object has no attribute 'cancel'",
        ))?;
        let _ = timer.state.compare_exchange(PENDING, CANCELLED, AcqRel, Relaxed);
        timer.finished.set();
        Ok(())
    }

    /// Marks the thread ended: used when it returns, and in a forked child
    /// for every thread that did not survive the fork.
    /// Marks the thread ended; its joiners wake when the result is dropped.
    pub(crate) fn mark_done(&self) -> crate::sync::Wakeup<'_> {
        self.0.state.store(DONE, Release);
        self.0.done.set_then_wake()
    }

    pub(crate) fn make_main(&self) {
        self.0.dummy.store(false, Relaxed);
        self.0.daemon.store(false, Relaxed);
        self.fill_identity();
    }

    /// Everything a started thread does before its body; says what to run.
    fn begin(&self) -> Step {
        self.fill_identity();
        // Before anything of the thread's own runs (start may not have
        // returned yet): it sees itself alive, and joining itself is
        // "cannot join current thread".
        self.mark_started();
        // Under the name's lock, not from a copy: an allocation here would be
        // this thread's first, and glibc would set up a cache for it (and
        // tear it down at exit), a measurable part of a thread's start.
        set_os_name(&self.0.name.lock().unwrap_or_else(|e| e.into_inner()));
        hooks::run_start_hooks(self);
        if let Some(timer) = &self.0.timer {
            timer.finished.wait(timer.interval);
            if timer.state.compare_exchange(PENDING, FIRED, AcqRel, Relaxed).is_err() {
                return Step::Nothing;
            }
        }
        let mut target = self.0.target.lock().unwrap_or_else(|e| e.into_inner());
        match &*target {
            None => Step::Nothing,
            Some(Body::Rust(_)) => Step::Rust,
            Some(Body::C(f, arg)) => {
                let (f, arg) = (*f, *arg);
                *target = None;
                Step::C(f, arg)
            }
        }
    }

    fn run_rust(&self) -> i32 {
        let target = self.0.target.lock().unwrap_or_else(|e| e.into_inner()).take();
        match target {
            // A panicking Rust target is an unhandled exception, like a raise.
            Some(Body::Rust(f)) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(-1),
            _ => 0,
        }
    }

    /// Everything after the body, whether it returned `code` or the thread
    /// is exiting early (then `code` is 0).
    fn finish(&self, code: i32) {
        if code != 0 {
            hooks::report_failure(self, code);
        }
        if let Some(timer) = &self.0.timer {
            timer.finished.set();
        }
        // Python's order: thread-local values go first, then the thread
        // leaves enumerate(), then join() returns.
        super::local::thread_exit();
        registry::remove_and_finish(self);
    }
}

/// What `begin` found to run. Plain data, so the frame that runs a C body
/// owns nothing that would need unwinding.
#[derive(Clone, Copy)]
#[repr(C)]
enum Step {
    Nothing,
    Rust,
    C(CFunction, usize),
}

/// Runs `f` with the calling thread's cancellation disabled: a
/// cancellation's unwind may not cross the C boundary, and libpyth's waits
/// are not cancellation points, though `pthread_join` is.
fn without_cancellation(f: impl FnOnce()) {
    // Not in the libc crate for Linux; declared here, inside a function,
    // so that cbindgen leaves it out of the header. glibc's value.
    extern "C" {
        fn pthread_setcancelstate(state: libc::c_int, oldstate: *mut libc::c_int) -> libc::c_int;
    }
    const PTHREAD_CANCEL_DISABLE: libc::c_int = 1;
    let mut old = 0;
    // SAFETY: plain calls with a valid out pointer.
    unsafe { pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &mut old) };
    f();
    // SAFETY: as above.
    unsafe { pthread_setcancelstate(old, &mut old) };
}

/// The thread's own reference, kept under a pthread key while it runs: if
/// the body ends the OS thread (`pthread_exit`), the key's destructor
/// finishes the thread object. A key, not a Rust `thread_local!` with a
/// destructor: registering that allocates, and a thread whose first
/// allocation this would be pays for glibc's per-thread malloc cache too.
fn running_key() -> libc::pthread_key_t {
    static KEY: AtomicUsize = AtomicUsize::new(usize::MAX);
    extern "C" fn finish_abandoned(p: *mut libc::c_void) {
        // SAFETY: the thread's own reference, given by spawn, not yet finished.
        unsafe { Thread::from_raw(p) }.finish(0);
    }
    // Out of keys: the thread still runs, only a pthread_exit() from its
    // body would leave its object unfinished.
    tls::lazy_key(&KEY, finish_abandoned).unwrap_or(libc::pthread_key_t::MAX)
}

// The steps of a thread as functions that cannot unwind (a panic in them
// aborts), so `entry`, which calls them and the C body, has no unwind
// landing pads at all: a forced unwind from pthread_exit() crosses it.

/// Borrows the thread behind `p`, the thread's own reference (see `spawn`).
fn borrowed<R>(p: *mut libc::c_void, f: impl FnOnce(&Thread) -> R) -> R {
    // SAFETY: the reference stays the thread's: not dropped here.
    f(&std::mem::ManuallyDrop::new(unsafe { Thread::from_raw(p) }))
}

extern "C" fn thread_begin(p: *mut libc::c_void) -> Step {
    // SAFETY: plain call (a bad key is refused with an error, not UB).
    unsafe { libc::pthread_setspecific(running_key(), p) };
    borrowed(p, Thread::begin)
}

extern "C" fn thread_run_rust(p: *mut libc::c_void) -> i32 {
    borrowed(p, Thread::run_rust)
}

extern "C" fn thread_finish(p: *mut libc::c_void, code: i32) {
    // SAFETY: plain call on our key: the destructor is not needed now.
    unsafe { libc::pthread_setspecific(running_key(), std::ptr::null()) };
    // SAFETY: the thread's own reference, taken back once, here.
    unsafe { Thread::from_raw(p) }.finish(code);
}

fn set_os_name(name: &[u8]) {
    // Linux allows 15 bytes plus the NUL; cut UTF-8 at a character boundary.
    let mut end = name.len().min(15);
    if let Ok(s) = std::str::from_utf8(name) {
        while !s.is_char_boundary(end) {
            end -= 1;
        }
    }
    let mut buf = [0u8; 16];
    buf[..end].copy_from_slice(&name[..end]);
    if buf[..end].contains(&0) {
        return;
    }
    // SAFETY: buf is NUL-terminated; naming the calling thread.
    unsafe { libc::pthread_setname_np(libc::pthread_self(), buf.as_ptr().cast()) };
}

/// Starts an OS thread running `thread.run()`; returns its `pthread_t`.
/// The thread gets `thread`'s reference as its raw handle address, not in
/// a box: a free would be the new thread's first use of malloc, which sets
/// up glibc's per-thread cache (see `running_key`).
fn spawn(thread: Thread) -> Result<u64> {
    extern "C" fn entry(p: *mut libc::c_void) -> *mut libc::c_void {
        let code = match thread_begin(p) {
            Step::Nothing => 0,
            Step::Rust => thread_run_rust(p),
            // SAFETY: the caller's function with the caller's argument.
            Step::C(f, a) => unsafe { f(a as *mut libc::c_void) },
        };
        thread_finish(p, code);
        std::ptr::null_mut()
    }
    let arg = thread.into_raw::<libc::c_void>();
    match start_os_thread(entry, arg, false) {
        Ok(id) => Ok(id),
        Err(e) => {
            // SAFETY: the thread was not created, so the reference is ours.
            drop(unsafe { Thread::from_raw(arg) });
            Err(e)
        }
    }
}

/// `pthread_create`, detached, with the configured stack size.
pub(crate) fn start_os_thread(
    entry: extern "C" fn(*mut libc::c_void) -> *mut libc::c_void,
    arg: *mut libc::c_void,
    detached: bool,
) -> Result<u64> {
    // SAFETY: plain pthread calls on a local attribute object.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        libc::pthread_attr_init(&mut attr);
        if detached {
            libc::pthread_attr_setdetachstate(&mut attr, libc::PTHREAD_CREATE_DETACHED);
        }
        let size = super::get_stack_size();
        if size != 0 && libc::pthread_attr_setstacksize(&mut attr, size) != 0 {
            libc::pthread_attr_destroy(&mut attr);
            return Err(Error::with_message(
                ErrorKind::Value,
                format!("size not valid: {size} bytes"),
            ));
        }
        let mut id: libc::pthread_t = 0;
        let rc = libc::pthread_create(&mut id, &attr, entry, arg);
        libc::pthread_attr_destroy(&mut attr);
        if rc != 0 {
            return Err(Error::new(ErrorKind::Runtime, "can't start new thread"));
        }
        Ok(id as u64)
    }
}

/// The calling thread's object: its libpyth thread, the main thread, or a
/// new dummy thread (`Dummy-N`, daemon) registered until its OS thread ends.
pub fn current_thread() -> Thread {
    let p = tls::current();
    if p != 0 {
        // SAFETY: the word holds a live thread handle: the thread itself
        // (or the registry, for main and dummy threads) keeps a reference.
        return unsafe { Thread::clone_from_ptr(p as *const Handle<Inner>) };
    }
    registry::adopt_current()
}

/// Borrowed handle address of the calling thread (no reference counted).
pub(crate) fn current_ptr() -> *const Handle<Inner> {
    let p = tls::current();
    if p != 0 {
        return p as *const Handle<Inner>;
    }
    registry::adopt_current().as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_pythons_repr() {
        let t = Thread::new(Some(Box::new(|| 0)), Some("w".into()), Some(true)).unwrap();
        assert_eq!(format!("{t:?}"), "<Thread(w, initial daemon)>");
        t.start().unwrap();
        assert!(t.join(None).unwrap());
        assert_eq!(format!("{t:?}"), format!("<Thread(w, stopped daemon {})>", t.ident()));
        let u = Thread::new(None, Some("u".into()), Some(false)).unwrap();
        assert_eq!(format!("{u:?}"), "<Thread(u, initial)>");
    }
}
