//! The one timeout parser: every timeout argument of the C API goes
//! through here, whether or not the call would block.

use crate::error::{Error, ErrorKind, Result};
use std::time::Duration;

/// Wait without limit (Python's `None`, or `-1` for `Lock.acquire`).
pub const PYTH_FOREVER: f64 = -1.0;
/// The largest timeout accepted, in seconds (Python's `threading.TIMEOUT_MAX`).
pub const PYTH_TIMEOUT_MAX: f64 = 9223372036.0;

/// What a negative timeout (other than `PYTH_FOREVER`) means for a call.
#[derive(Clone, Copy)]
pub(crate) enum Negative {
    /// "Do not block" (conditions, events, semaphores, joins, barriers, futures).
    NoBlock,
    /// An error with this message (lock acquire, queue put/get).
    Reject(&'static str),
}

pub(crate) const LOCK_NEGATIVE: Negative = Negative::Reject("timeout value must be a non-negative number");
pub(crate) const QUEUE_NEGATIVE: Negative = Negative::Reject("'timeout' must be a non-negative number");

/// Whether `timeout` is exactly `PYTH_FOREVER`, for the fast paths: one
/// integer compare of the bits, where `==` on floats also tests for NaN.
#[inline(always)]
pub(crate) fn is_forever(timeout: f64) -> bool {
    timeout.to_bits() == PYTH_FOREVER.to_bits()
}

/// Parses a timeout: `None` is forever, `Some(ZERO)` is "do not block".
pub(crate) fn parse(timeout: f64, negative: Negative) -> Result<Option<Duration>> {
    if timeout == PYTH_FOREVER {
        return Ok(None);
    }
    if timeout.is_nan() {
        return Err(Error::new(ErrorKind::Value, "Invalid value NaN (not a number)"));
    }
    if timeout < 0.0 {
        return match negative {
            Negative::NoBlock => Ok(Some(Duration::ZERO)),
            Negative::Reject(msg) => Err(Error::new(ErrorKind::Value, msg)),
        };
    }
    if timeout > PYTH_TIMEOUT_MAX {
        return Err(Error::new(ErrorKind::Overflow, "timeout value is too large"));
    }
    Ok(Some(Duration::from_secs_f64(timeout)))
}

/// Parses the `(blocking, timeout)` pair of a lock or semaphore acquire:
/// a timeout with `blocking == false` is a `ValueError` with `message`.
pub(crate) fn parse_acquire(
    blocking: bool,
    timeout: f64,
    negative: Negative,
    message: &'static str,
) -> Result<Option<Duration>> {
    if timeout.is_nan() {
        return parse(timeout, negative);
    }
    if !blocking {
        if timeout != PYTH_FOREVER {
            return Err(Error::new(ErrorKind::Value, message));
        }
        return Ok(Some(Duration::ZERO));
    }
    parse(timeout, negative)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert_eq!(parse(-1.0, LOCK_NEGATIVE).unwrap(), None);
        assert_eq!(parse(0.5, LOCK_NEGATIVE).unwrap(), Some(Duration::from_millis(500)));
        assert_eq!(parse(-2.0, Negative::NoBlock).unwrap(), Some(Duration::ZERO));
        assert_eq!(parse(-2.0, LOCK_NEGATIVE).unwrap_err().kind(), ErrorKind::Value);
        assert_eq!(parse(f64::NAN, Negative::NoBlock).unwrap_err().kind(), ErrorKind::Value);
        assert_eq!(
            parse(f64::INFINITY, Negative::NoBlock).unwrap_err().kind(),
            ErrorKind::Overflow
        );
        assert_eq!(
            parse(f64::NEG_INFINITY, Negative::NoBlock).unwrap(),
            Some(Duration::ZERO)
        );
        assert!(parse(PYTH_TIMEOUT_MAX, Negative::NoBlock).is_ok());
        assert_eq!(
            parse_acquire(false, 1.0, LOCK_NEGATIVE, "x").unwrap_err().message(),
            "x"
        );
        assert_eq!(
            parse_acquire(false, -1.0, LOCK_NEGATIVE, "x").unwrap(),
            Some(Duration::ZERO)
        );
    }
}
