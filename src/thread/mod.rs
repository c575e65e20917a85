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
pub use thread::{current_thread, Inner, Target, Thread};

pub(crate) use thread::current_ptr;

use crate::error::Result;

/// Python's `_thread.start_new_thread`: runs `target` in a new OS thread
/// that `threading` does not track (not joined at exit, not enumerated
/// unless it asks for `current_thread()`). Returns its `get_ident()`.
pub fn start_new_thread(target: Target) -> Result<u64> {
    extern "C" fn entry(arg: *mut libc::c_void) -> *mut libc::c_void {
        // SAFETY: arg is the Box<Target> leaked below, passed once.
        let target = unsafe { Box::from_raw(arg.cast::<Target>()) };
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(*target)).unwrap_or(-1);
        if code != 0 {
            eprintln!("Exception ignored in thread started by start_new_thread: code {code}");
        }
        std::ptr::null_mut()
    }
    let arg = Box::into_raw(Box::new(target));
    thread::start_os_thread(entry, arg.cast()).inspect_err(|_| {
        // SAFETY: the thread was not created; the box is still ours.
        drop(unsafe { Box::from_raw(arg) });
    })
}
