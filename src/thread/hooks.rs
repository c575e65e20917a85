//! Process-wide hooks: `threading.excepthook`, `settrace`, `setprofile`,
//! and the stack size for new threads.

use super::Thread;
use crate::error::{Error, ErrorKind, Result};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// A hook run in each new libpyth thread before its target.
pub type StartHook = Arc<dyn Fn(&Thread) + Send + Sync>;
/// A hook told about a thread whose target failed, with its code.
pub type ExceptHook = Arc<dyn Fn(&Thread, i32) + Send + Sync>;

static TRACE: Mutex<Option<StartHook>> = Mutex::new(None);
static PROFILE: Mutex<Option<StartHook>> = Mutex::new(None);
static EXCEPTHOOK: Mutex<Option<ExceptHook>> = Mutex::new(None);
static STACK_SIZE: AtomicUsize = AtomicUsize::new(0);

fn get<T: Clone>(m: &Mutex<Option<T>>) -> Option<T> {
    m.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

fn put<T>(m: &Mutex<Option<T>>, v: Option<T>) {
    let old = std::mem::replace(&mut *m.lock().unwrap_or_else(|e| e.into_inner()), v);
    // Dropped after the lock: the old hook may own anything (a local, an
    // executor whose workers run the hooks), and its drop may need locks
    // that come before this one, or this one.
    drop(old);
}

/// Sets the hook run in every thread started afterwards, before its
/// target (`threading.settrace`); `None` removes it.
pub fn settrace(hook: Option<StartHook>) {
    put(&TRACE, hook)
}

/// The hook set by [`settrace`] (`threading.gettrace`).
pub fn gettrace() -> Option<StartHook> {
    get(&TRACE)
}

/// Like [`settrace`], for `threading.setprofile`; runs after the trace hook.
pub fn setprofile(hook: Option<StartHook>) {
    put(&PROFILE, hook)
}

/// The hook set by [`setprofile`] (`threading.getprofile`).
pub fn getprofile() -> Option<StartHook> {
    get(&PROFILE)
}

/// Sets the hook told about failed targets (`threading.excepthook`);
/// `None` restores [`default_excepthook`].
pub fn set_excepthook(hook: Option<ExceptHook>) {
    put(&EXCEPTHOOK, hook)
}

/// The default excepthook (`threading.__excepthook__`): prints
/// `Exception in thread NAME:` and the code to stderr.
pub fn default_excepthook(thread: &Thread, code: i32) {
    use std::io::Write;
    // One write of the name's own bytes, so lines from threads failing at
    // once do not interleave.
    let mut msg = b"Exception in thread ".to_vec();
    msg.extend_from_slice(&thread.name_bytes());
    msg.extend_from_slice(format!(":\nthread target failed with code {code}\n").as_bytes());
    let _ = std::io::stderr().write_all(&msg);
}

pub(crate) fn before_fork() {
    crate::fork::hold(&TRACE);
    crate::fork::hold(&PROFILE);
    crate::fork::hold(&EXCEPTHOOK);
}

pub(crate) fn run_start_hooks(thread: &Thread) {
    if let Some(h) = get(&TRACE) {
        h(thread);
    }
    if let Some(h) = get(&PROFILE) {
        h(thread);
    }
}

pub(crate) fn report_failure(thread: &Thread, code: i32) {
    match get(&EXCEPTHOOK) {
        Some(h) => h(thread, code),
        None => default_excepthook(thread, code),
    }
}

/// Sets the stack size for threads started afterwards (0: the platform's
/// default) and returns the previous one (`threading.stack_size(size)`).
/// Fails with `ValueError` ("size not valid: N bytes") below 32 KiB or if
/// the platform refuses the size.
pub fn stack_size(size: usize) -> Result<usize> {
    if size != 0 {
        let invalid = || Error::with_message(ErrorKind::Value, format!("size not valid: {size} bytes"));
        if size < 32768 {
            return Err(invalid());
        }
        // SAFETY: a local attribute object, only used to test the size.
        let ok = unsafe {
            let mut attr: libc::pthread_attr_t = std::mem::zeroed();
            libc::pthread_attr_init(&mut attr);
            let ok = libc::pthread_attr_setstacksize(&mut attr, size) == 0;
            libc::pthread_attr_destroy(&mut attr);
            ok
        };
        if !ok {
            return Err(invalid());
        }
    }
    Ok(STACK_SIZE.swap(size, Relaxed))
}

/// The stack size for new threads (`threading.stack_size()`); 0: default.
pub fn get_stack_size() -> usize {
    STACK_SIZE.load(Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    /// Replacing a hook drops the old one after the lock: its drop may use
    /// the hooks itself (here it reads the trace hook; under the lock that
    /// would deadlock on the same mutex).
    #[test]
    fn replaced_hook_is_dropped_outside_the_lock() {
        struct ReadsHooks;
        impl Drop for ReadsHooks {
            fn drop(&mut self) {
                let _ = gettrace();
            }
        }
        let owned = ReadsHooks;
        settrace(Some(Arc::new(move |_| {
            let _ = &owned;
        })));
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            settrace(None);
            tx.send(()).unwrap();
        });
        rx.recv_timeout(Duration::from_secs(10))
            .expect("settrace(None) deadlocked dropping the old hook");
        assert!(gettrace().is_none());
    }
}
