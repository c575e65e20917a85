//! The one error type of the safe core.
//!
//! Each kind is one of Python's exceptions; the message is worded like the
//! one CPython raises, so the C boundary can hand it out unchanged.

use std::borrow::Cow;
use std::fmt;

/// Which Python exception an [`Error`] stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// `RuntimeError`: the call is not allowed in the object's state.
    Runtime,
    /// `ValueError`: an argument is out of its domain.
    Value,
    /// `OverflowError`: a number is too large.
    Overflow,
    /// `BrokenBarrierError`.
    Broken,
    /// `MemoryError`.
    NoMemory,
    /// `TypeError`/`AttributeError`: wrong object, or an operation it lacks.
    Invalid,
    /// The object is in use by a blocked thread and cannot be freed.
    Busy,
    /// `queue.ShutDown`, or an executor that was shut down.
    Shutdown,
    /// `CancelledError`.
    Cancelled,
    /// The user's callable reported failure.
    Failed,
}

/// An error from the core: a kind and a Python-worded message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: Cow<'static, str>,
}

impl Error {
    /// An error with a fixed message.
    pub const fn new(kind: ErrorKind, message: &'static str) -> Self {
        Error {
            kind,
            message: Cow::Borrowed(message),
        }
    }

    /// An error with a message built at run time.
    pub fn with_message(kind: ErrorKind, message: String) -> Self {
        Error {
            kind,
            message: Cow::Owned(message),
        }
    }

    /// The Python exception this error stands for.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, as CPython words it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Shorthand for results of the core.
pub type Result<T> = std::result::Result<T, Error>;

// The messages used in more than one place, so they are worded once.
pub(crate) const BROKEN_BARRIER: Error = Error::new(ErrorKind::Broken, "barrier is broken");
