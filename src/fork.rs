//! `fork()` handling, registered once for the whole library.
//!
//! The prepare handler takes the library's locks in one fixed order (the
//! thread registry, the thread-local tables, then every parking bucket),
//! so the child inherits them consistent and released; the child handlers
//! then drop what belonged to threads that do not exist there.

use std::any::Any;
use std::cell::RefCell;
use std::sync::{Mutex, MutexGuard, Once};

static INIT: Once = Once::new();

thread_local! {
    /// Guards of the global mutexes the forking thread holds across fork(),
    /// with each mutex's address.
    static HELD: RefCell<Vec<(usize, Box<dyn Any>)>> = const { RefCell::new(Vec::new()) };
}

/// Locks a global mutex for the duration of a fork(); called from a
/// module's `fork_prepare`, in the library's lock order.
pub(crate) fn hold<T: 'static>(m: &'static Mutex<T>) {
    let guard = m.lock().unwrap_or_else(|e| e.into_inner());
    HELD.with(|h| h.borrow_mut().push((m as *const Mutex<T> as usize, Box::new(guard))));
}

/// Runs `f` on what `m` guards, through the guard `hold` took: for a child
/// handler that must clean up after the threads that did not survive the
/// fork, before the held locks are released. (Locking `m` there instead
/// would deadlock: the forking thread holds it.) Locks it if nobody held
/// it, which happens only if `prepare` did not run.
pub(crate) fn with_held<T: 'static, R>(m: &'static Mutex<T>, f: impl FnOnce(&mut T) -> R) -> R {
    let addr = m as *const Mutex<T> as usize;
    HELD.with(|h| {
        let mut held = h.borrow_mut();
        let guard = held
            .iter_mut()
            .find(|(a, _)| *a == addr)
            .and_then(|(_, g)| g.downcast_mut::<MutexGuard<'static, T>>());
        match guard {
            Some(g) => f(g),
            None => f(&mut m.lock().unwrap_or_else(|e| e.into_inner())),
        }
    })
}

/// Releases what `hold` took (in the parent, and in the child, where the
/// forking thread is the only one and owns them).
fn release_held() {
    HELD.with(|h| {
        let mut held = h.borrow_mut();
        while let Some((_, guard)) = held.pop() {
            drop(guard);
        }
    });
}

/// Registers the handlers; called before anything that a fork could catch
/// half-done (the first park, the first thread, the first main-thread or
/// dummy object).
pub(crate) fn init() {
    INIT.call_once(|| {
        // SAFETY: registering plain extern "C" callbacks.
        unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
    });
}

// Lock order: thread registry, locals and hooks, the C hooks and the
// executor globals, then the parking buckets, innermost. Every global mutex
// is taken with `hold`; the parking buckets have their own handlers.
extern "C" fn prepare() {
    crate::thread::fork_prepare();
    crate::ffi::fork_prepare();
    crate::executor::fork_prepare();
    crate::sync::fork_prepare();
}

extern "C" fn parent() {
    crate::sync::fork_parent();
    release_held();
}

/// How many fork()s lie between the first process and this one.
static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Which process this is in a line of forks: what a parent started (an OS
/// thread, say) belongs to a generation the child can tell apart.
pub(crate) fn generation() -> u64 {
    GENERATION.load(std::sync::atomic::Ordering::Relaxed)
}

extern "C" fn child() {
    GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // The parking lot first: the thread clean-up may wake joiners.
    crate::sync::fork_child();
    crate::thread::fork_child();
    release_held();
}
