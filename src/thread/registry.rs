//! The process's threads: who is alive, which one is main, and what
//! happens to them at `fork()` and at exit.

use super::thread::{new_name, Thread};
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering::AcqRel};
use std::sync::{Mutex, MutexGuard};

struct State {
    /// Alive threads: started libpyth threads, main, and dummies.
    threads: Vec<Thread>,
    main: Option<Thread>,
}

static STATE: Mutex<State> = Mutex::new(State {
    threads: Vec::new(),
    main: None,
});

fn lock() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Installs the fork handlers (normally done already at load).
pub(crate) fn init() {
    crate::fork::init();
}

/// Registers the exit handler when the first thread starts, not earlier:
/// atexit handlers run last-registered first, and Python waits for its
/// threads before the handlers the program registered before starting
/// them. A flag, not a `Once`, so a fork() can never catch it half done.
fn register_at_exit() {
    static REGISTERED: AtomicBool = AtomicBool::new(false);
    if !REGISTERED.swap(true, AcqRel) {
        // SAFETY: registering a plain extern "C" callback.
        unsafe { libc::atexit(at_exit) };
    }
}

pub(crate) fn add(t: Thread) {
    init();
    register_at_exit();
    lock().threads.push(t);
}

fn take_out(st: &mut State, t: &Thread) {
    if let Some(i) = st.threads.iter().position(|x| x == t) {
        st.threads.swap_remove(i);
    }
}

/// Takes `t` out of the registry (a start that failed).
pub(crate) fn remove(t: &Thread) {
    let mut st = lock();
    take_out(&mut st, t);
}

/// The calling thread `t` ends: it leaves the registry, forgets itself as
/// the current thread, and is marked done, all under the registry's lock.
/// A fork() between leaving and being marked done would give the child a
/// thread object that no list names and nothing will ever mark done: its
/// `join` would wait forever.
pub(crate) fn remove_and_finish(t: &Thread) {
    let _joiners = {
        let mut st = lock();
        take_out(&mut st, t);
        super::tls::set_current(0);
        t.mark_done()
    };
    // Joiners wake here, with the registry's lock released: a joiner woken
    // on this CPU runs at once, and its next start or free takes that lock.
}

/// Every alive thread (`threading.enumerate()`).
pub fn enumerate() -> Vec<Thread> {
    ensure_main();
    lock().threads.clone()
}

/// The number of alive threads (`threading.active_count()`).
pub fn active_count() -> usize {
    ensure_main();
    lock().threads.len()
}

/// Runs when the library is loaded, which in the usual case is at process
/// start in the initial thread: the main thread's object then has its
/// identity before any other thread can ask for it. The fork handlers are
/// installed here too, so that no fork() can catch that `Once` half done
/// in another thread (it would block the child forever).
// Not under loom, whose atomics only work inside a model.
#[cfg(not(loom))]
#[used]
#[link_section = ".init_array"]
static ON_LOAD: extern "C" fn() = on_load;

#[cfg_attr(loom, allow(dead_code))]
extern "C" fn on_load() {
    init();
    if is_initial_thread() {
        main_thread();
    }
}

fn is_initial_thread() -> bool {
    // SAFETY: plain syscalls.
    unsafe { libc::gettid() == libc::getpid() }
}

/// Makes sure the main thread is known, so it is counted and enumerated
/// even before it calls into the library.
fn ensure_main() {
    if lock().main.is_none() {
        main_thread();
    }
}

/// The process's initial thread (`threading.main_thread()`), whichever
/// thread asks first.
pub fn main_thread() -> Thread {
    init();
    let mut st = lock();
    if let Some(m) = &st.main {
        return m.clone();
    }
    let main = if is_initial_thread() {
        Thread::adopt("MainThread".into(), false, false)
    } else {
        // Known by its kernel id only until it calls in (see adopt_current).
        Thread::adopt_remote("MainThread".into())
    }
    .expect("out of memory creating the main thread object");
    st.threads.push(main.clone());
    st.main = Some(main.clone());
    main
}

/// The calling thread's object when it has none yet: the main thread's,
/// or a new dummy.
pub(crate) fn adopt_current() -> Thread {
    init();
    if is_initial_thread() {
        let main = main_thread();
        main.fill_identity();
        return main;
    }
    let dummy = Thread::adopt(new_name("Dummy"), true, true).expect("out of memory creating a dummy thread");
    lock().threads.push(dummy.clone());
    DUMMY.with(|d| *d.borrow_mut() = Some(DummyGuard(dummy.clone())));
    dummy
}

/// Removes a dummy thread from the registry when its OS thread ends.
struct DummyGuard(Thread);

impl Drop for DummyGuard {
    fn drop(&mut self) {
        remove_and_finish(&self.0);
    }
}

thread_local! {
    static DUMMY: RefCell<Option<DummyGuard>> = const { RefCell::new(None) };
}

static EXIT_HOOKS: Mutex<Vec<fn()>> = Mutex::new(Vec::new());

/// Registers `hook` to run at process exit before libpyth waits for the
/// non-daemon threads (Python's `threading._register_atexit`).
pub fn at_exit_hook(hook: fn()) {
    init();
    EXIT_HOOKS.lock().unwrap_or_else(|e| e.into_inner()).push(hook);
}

/// Python's `threading._shutdown`: at exit, wait for every non-daemon
/// thread libpyth started, including ones started while waiting.
extern "C" fn at_exit() {
    let hooks = std::mem::take(&mut *EXIT_HOOKS.lock().unwrap_or_else(|e| e.into_inner()));
    for hook in hooks.into_iter().rev() {
        hook();
    }
    let me = super::tls::current();
    loop {
        let pending: Vec<Thread> = {
            let st = lock();
            let main = st.main.as_ref().map(Thread::as_ptr);
            st.threads
                .iter()
                .filter(|t| !t.daemon() && !t.is_dummy())
                .filter(|t| t.as_ptr() as usize != me && Some(t.as_ptr()) != main)
                .cloned()
                .collect()
        };
        if pending.is_empty() {
            break;
        }
        for t in pending {
            // Fails only for a thread whose start is still creating its
            // OS thread: give that start the CPU, then look again.
            if t.join(None).is_err() {
                std::thread::yield_now();
            }
        }
    }
}

pub(crate) fn before_fork() {
    // Held across fork() so the child gets them consistent.
    crate::fork::hold(&STATE);
    crate::fork::hold(&EXIT_HOOKS);
    super::local::before_fork();
    super::hooks::before_fork();
}

/// In the child only the forking thread exists: it becomes the main
/// thread, and every other thread object is marked ended so that joining
/// it returns at once.
pub(crate) fn after_fork_child() {
    super::local::after_fork_child();
    crate::fork::with_held(&STATE, |st| {
        let me = super::tls::current();
        let threads = std::mem::take(&mut st.threads);
        let old_main = st.main.take();
        let mut survivor = None;
        for t in threads.into_iter().chain(old_main) {
            if t.as_ptr() as usize == me {
                survivor = Some(t);
            } else {
                // Nobody waits on it in the child: wake at once.
                drop(t.mark_done());
            }
        }
        if let Some(t) = survivor {
            t.make_main();
            st.threads.push(t.clone());
            st.main = Some(t);
        }
    });
    DUMMY.with(|d| {
        if let Ok(mut d) = d.try_borrow_mut() {
            // The forking thread is main now, not a dummy to be removed.
            if let Some(g) = d.take() {
                std::mem::forget(g);
            }
        }
    });
}
