//! `fork()` handling, registered once for the whole library.
//!
//! The prepare handler takes the library's locks in one fixed order (the
//! thread registry, the thread-local tables, then every parking bucket),
//! so the child inherits them consistent and released; the child handlers
//! then drop what belonged to threads that do not exist there.

use std::any::Any;
use std::cell::RefCell;
use std::sync::{Mutex, Once};

static INIT: Once = Once::new();

thread_local! {
    /// Guards of the global mutexes the forking thread holds across fork().
    static HELD: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
}

/// Locks a global mutex for the duration of a fork(); called from a
/// module's `fork_prepare`, in the library's lock order.
pub(crate) fn hold<T: 'static>(m: &'static Mutex<T>) {
    let guard = m.lock().unwrap_or_else(|e| e.into_inner());
    HELD.with(|h| h.borrow_mut().push(Box::new(guard)));
}

/// Releases what `hold` took (in the parent, and in the child, where the
/// forking thread is the only one and owns them).
fn release_held() {
    HELD.with(|h| {
        let mut held = h.borrow_mut();
        while let Some(guard) = held.pop() {
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

// Lock order: thread registry and locals (their own handlers), the hook
// and executor globals, then the parking buckets, innermost.
extern "C" fn prepare() {
    crate::thread::fork_prepare();
    crate::ffi::fork_prepare();
    crate::executor::fork_prepare();
    crate::sync::fork_prepare();
}

extern "C" fn parent() {
    crate::sync::fork_parent();
    release_held();
    crate::thread::fork_parent();
}

extern "C" fn child() {
    crate::sync::fork_child();
    release_held();
    crate::thread::fork_child();
}
