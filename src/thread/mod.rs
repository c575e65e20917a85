//! Threads and the module-level functions of Python's `threading`.

mod hooks;
mod ident;
mod local;
mod registry;
#[allow(clippy::module_inception)]
mod thread;
mod tls;

pub use hooks::{
    default_excepthook, get_stack_size, getprofile, gettrace, set_excepthook, setprofile, settrace, stack_size,
    ExceptHook, StartHook,
};
pub use ident::{get_ident, get_native_id};
pub use local::{Dtor, Init, Local};
pub use registry::{active_count, at_exit_hook as at_exit, enumerate, main_thread};
pub use thread::{current_thread, Body, CFunction, Inner, Target, Thread};

pub(crate) use registry::{after_fork_child as fork_child, before_fork as fork_prepare};
pub(crate) use thread::current_ptr;

use crate::error::Result;

/// Python's `_thread.start_new_thread`: runs `function(arg)` in a new OS
/// thread that `threading` does not track (not joined at exit, not
/// enumerated unless it asks for `current_thread()`). Returns its
/// `get_ident()`.
pub fn start_new_thread(function: CFunction, arg: usize) -> Result<u64> {
    // The function is called from a frame with nothing to unwind, so it may
    // end its thread with pthread_exit().
    extern "C" fn entry(arg: *mut libc::c_void) -> *mut libc::c_void {
        let job = take(arg);
        // SAFETY: the caller's function with the caller's argument.
        let code = unsafe { (job.function)(job.arg as *mut libc::c_void) };
        if code != 0 {
            report(code);
        }
        std::ptr::null_mut()
    }
    #[repr(C)]
    struct Job {
        function: CFunction,
        arg: usize,
    }
    extern "C" fn take(arg: *mut libc::c_void) -> Job {
        // SAFETY: arg is the Box leaked below, passed once.
        *unsafe { Box::from_raw(arg.cast::<Job>()) }
    }
    extern "C" fn report(code: i32) {
        eprintln!("Exception ignored in thread started by start_new_thread: code {code}");
    }
    let arg = Box::into_raw(crate::shared::try_box(Job { function, arg })?);
    thread::start_os_thread(entry, arg.cast(), true).inspect_err(|_| {
        // SAFETY: the thread was not created; the box is still ours.
        drop(unsafe { Box::from_raw(arg) });
    })
}
