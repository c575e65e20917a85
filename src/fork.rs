//! `fork()` handling, registered once for the whole library.
//!
//! The prepare handler takes the library's locks in one fixed order (the
//! thread registry, the thread-local tables, then every parking bucket),
//! so the child inherits them consistent and released; the child handlers
//! then drop what belonged to threads that do not exist there.

use std::sync::Once;

static INIT: Once = Once::new();

/// Registers the handlers; called before anything that a fork could catch
/// half-done (the first park, the first thread, the first main-thread or
/// dummy object).
pub(crate) fn init() {
    INIT.call_once(|| {
        // SAFETY: registering plain extern "C" callbacks.
        unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
    });
}

extern "C" fn prepare() {
    crate::thread::fork_prepare();
    crate::sync::fork_prepare();
}

extern "C" fn parent() {
    crate::sync::fork_parent();
    crate::thread::fork_parent();
}

extern "C" fn child() {
    crate::sync::fork_child();
    crate::thread::fork_child();
}
