"""Python's ``threading`` module over libpyth.

A drop-in replacement for the standard module: same names, signatures,
defaults, return values, exceptions and repr shapes, with every primitive
and every thread backed by a libpyth handle. Blocking calls run in C with
the GIL released.

Every primitive class has ``from_handle(address)``, which wraps a handle
created by C code without owning it (the wrapper never frees it), and a
``handle`` property giving the address, so that Python and C share one
object.
"""

import _thread
import atexit as _atexit
import ctypes as _ctypes
import itertools as _itertools
import math as _math
import operator as _operator
import os as _os
import sys as _sys
import threading as _std
import time as _time
import warnings as _warnings
import weakref as _weakref

from . import _lib
from ._lib import lib as _c

__all__ = ['get_ident', 'active_count', 'Condition', 'current_thread',
           'enumerate', 'main_thread', 'TIMEOUT_MAX',
           'Event', 'Lock', 'RLock', 'Semaphore', 'BoundedSemaphore', 'Thread',
           'Barrier', 'BrokenBarrierError', 'Timer', 'ThreadError',
           'ExceptHookArgs', 'setprofile', 'settrace', 'local', 'stack_size',
           'excepthook', 'get_native_id', 'getprofile', 'gettrace']

# The standard module's exception classes and hook types are reused, so
# that ``except threading.BrokenBarrierError`` catches ours whichever
# module the handler was written against.
ThreadError = _thread.error
BrokenBarrierError = _std.BrokenBarrierError
ExceptHookArgs = _std.ExceptHookArgs
__excepthook__ = _std.__excepthook__
excepthook = __excepthook__

_lib.EXCEPTIONS[_lib.EBROKEN] = BrokenBarrierError

TIMEOUT_MAX = _lib.TIMEOUT_MAX

_OK = _lib.OK
_TIMEOUT = _lib.TIMEOUT
_FOREVER = _lib.FOREVER
# A negative timeout other than PYTH_FOREVER: "do not block" for the
# waits whose Python counterpart treats any non-positive timeout so.
_NOBLOCK = -2.0
_SIZE_MAX = 2 ** (8 * _ctypes.sizeof(_ctypes.c_size_t)) - 1
_INT64_MAX = 2 ** 63 - 1

_check = _lib.check
_std_get_ident = _thread.get_ident   # the same value as pyth_get_ident()
_monotonic = _time.monotonic


def get_ident():
    """Return a non-zero integer that uniquely identifies the current thread."""
    return _c.pyth_get_ident()


def get_native_id():
    """Return the native integral Thread ID assigned by the kernel."""
    return _c.pyth_get_native_id()


# ---- timeouts ----------------------------------------------------------------

def _seconds(timeout):
    """A timeout as a float, refusing what CPython refuses (TypeError)."""
    if type(timeout) is float:
        return timeout
    if isinstance(timeout, (str, bytes, bytearray)) or timeout is None:
        raise TypeError("'%s' object cannot be interpreted as an integer"
                        % type(timeout).__name__)
    try:
        i = _operator.index(timeout)
    except TypeError:
        try:
            return float(timeout)
        except (TypeError, ValueError):
            raise TypeError("'%s' object cannot be interpreted as an integer"
                            % type(timeout).__name__) from None
    try:
        return float(i)
    except OverflowError:
        raise OverflowError("timeout value is too large") from None


def _wait_seconds(timeout):
    """Timeout of a wait where None is forever and a non-positive value
    (or NaN, which CPython's Condition.wait treats as 'do not block')
    means 'do not block'."""
    if timeout is None:
        return _FOREVER
    t = _seconds(timeout)
    if t < 0 or t != t:
        return _NOBLOCK
    return t


# Blocking calls made from the main thread are cut into slices, so that
# signal handlers (KeyboardInterrupt) run while it waits, as they do with
# the standard module. Other threads wait in one call.
_SLICE = 0.1
_MAIN_IDENT = _std.main_thread().ident
_RETRY = (_lib.TIMEOUT, _lib.EMPTY, _lib.FULL)


def _blocking(attempt, timeout):
    """Runs ``attempt(t)`` (a blocking libpyth call) for ``timeout``
    seconds (``_FOREVER``: no limit) and returns its status."""
    if (timeout != _FOREVER and not (_SLICE < timeout <= TIMEOUT_MAX)) \
            or _std_get_ident() != _MAIN_IDENT:
        return attempt(timeout)
    st = attempt(0.0)           # the uncontended case: one call
    if st not in _RETRY:
        return st
    deadline = None if timeout == _FOREVER else _monotonic() + timeout
    t = _SLICE
    while True:
        st = attempt(t)
        if st not in _RETRY:
            return st
        if deadline is not None:
            t = deadline - _monotonic()
            if t <= 0:
                return st
            if t > _SLICE:
                t = _SLICE


# ---- handles -----------------------------------------------------------------

def _address(handle):
    if isinstance(handle, _ctypes.c_void_p):
        handle = handle.value
    elif hasattr(handle, "_as_parameter_"):
        handle = handle._as_parameter_
        if isinstance(handle, _ctypes.c_void_p):
            handle = handle.value
    if handle is None:
        raise ValueError("NULL handle")
    handle = _operator.index(handle)
    if handle == 0:
        raise ValueError("NULL handle")
    return handle


class _Handle:
    """Base of the wrappers: holds the libpyth handle in ``_h`` and frees
    it in ``__del__`` unless it came from ``from_handle``."""

    _h = None
    _owned = False
    _free = None          # name of the pyth_*_free function

    @classmethod
    def from_handle(cls, address):
        """Wraps a handle created by C code, without owning it: the wrapper
        never frees it, and the handle must outlive the wrapper."""
        self = cls.__new__(cls)
        self._h = _address(address)
        self._owned = False
        self._init_borrowed()
        return self

    def _init_borrowed(self):
        pass

    def _adopt(self, handle):
        if not handle:
            _lib.raise_last()
        self._h = handle
        self._owned = True

    @property
    def handle(self):
        """The address of the libpyth handle (an int)."""
        return self._h

    @property
    def _as_parameter_(self):
        return _ctypes.c_void_p(self._h)

    def __reduce_ex__(self, protocol):
        raise TypeError("cannot pickle %r object" % type(self).__name__)

    def __del__(self):
        h = self._h
        if h and self._owned:
            self._h = None
            try:
                # PYTH_EBUSY (a thread still blocked on it, or a condition
                # still using the lock): leak rather than crash.
                getattr(_c, self._free)(h)
            except Exception:
                pass


# ---- Lock ----------------------------------------------------------------------

class Lock(_Handle):
    """A primitive lock (``_thread.lock``): any thread may release it."""

    _free = "pyth_lock_free"

    def __init__(self):
        self._adopt(_c.pyth_lock_new())

    def acquire(self, blocking=True, timeout=-1):
        """Acquire the lock, blocking or non-blocking, with an optional
        timeout; return True if it was acquired."""
        blocking = bool(blocking)
        if timeout == -1 and type(timeout) is int:
            t = _FOREVER
        else:
            t = _seconds(timeout)
            if t == -1:
                t = _FOREVER
        h = self._h
        if not blocking:
            st = _c.pyth_lock_acquire(h, False, t)
        else:
            st = _blocking(lambda s: _c.pyth_lock_acquire(h, True, s), t)
        return _check(st) == _OK

    acquire_lock = acquire

    def release(self):
        """Release the lock (any thread may)."""
        _check(_c.pyth_lock_release(self._h))

    release_lock = release

    def locked(self):
        """Whether the lock is held."""
        return _c.pyth_lock_locked(self._h)

    locked_lock = locked

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *args):
        self.release()

    def _at_fork_reinit(self):
        self._h = None
        self._adopt(_c.pyth_lock_new())

    def __repr__(self):
        name = "_thread.lock" if type(self) is Lock else _qualname(type(self))
        return "<%s %s object at %s>" % (
            "locked" if self.locked() else "unlocked", name, hex(id(self)))


def _qualname(cls):
    return "%s.%s" % (cls.__module__, cls.__qualname__)


_allocate_lock = Lock


# ---- RLock ---------------------------------------------------------------------

class RLock(_Handle):
    """A reentrant lock (``_thread.RLock``): only the owner may release it.

    The owner and recursion count shown by repr() are tracked on the Python
    side (the C API does not expose them); acquisitions made by C code
    through the same handle are not counted there."""

    _free = "pyth_rlock_free"
    _owner = 0
    _count = 0

    def __init__(self):
        self._adopt(_c.pyth_rlock_new())

    def acquire(self, blocking=True, timeout=-1):
        """Acquire the lock, or one more recursion level if this thread owns
        it; return True if acquired."""
        blocking = bool(blocking)
        if timeout == -1 and type(timeout) is int:
            t = _FOREVER
        else:
            t = _seconds(timeout)
            if t == -1:
                t = _FOREVER
        h = self._h
        if not blocking:
            st = _c.pyth_rlock_acquire(h, False, t)
        else:
            st = _blocking(lambda s: _c.pyth_rlock_acquire(h, True, s), t)
        if _check(st) != _OK:
            return False
        me = _std_get_ident()
        if self._owner == me:
            self._count += 1
        else:
            self._owner = me
            self._count = 1
        return True

    def release(self):
        """Release one recursion level (only the owner may)."""
        me = _std_get_ident()
        if self._owner == me and self._count > 0:
            count = self._count
            self._count = count - 1
            if count == 1:
                self._owner = 0
            st = _c.pyth_rlock_release(self._h)
            if st < 0:
                self._owner, self._count = me, count
                _check(st)
        else:
            _check(_c.pyth_rlock_release(self._h))

    def locked(self):
        """Whether any thread holds the lock (Python 3.14)."""
        return _c.pyth_rlock_locked(self._h)

    def _is_owned(self):
        return _c.pyth_rlock_is_owned(self._h)

    def _recursion_count(self):
        return self._count if self._owner == _std_get_ident() else 0

    # The protocol the standard Condition uses with an RLock.
    def _release_save(self):
        if not self._is_owned():
            raise RuntimeError("cannot release un-acquired lock")
        count = max(self._count, 1) if self._owner == _std_get_ident() else 1
        owner = self._owner
        for _ in range(count):
            self.release()
        return count, owner

    def _acquire_restore(self, state):
        count, owner = state
        for _ in range(count):
            self.acquire()

    # Save/restore of the Python-side tracking around a condition wait,
    # during which C releases every level and restores them.
    def _save_tracking(self):
        if self._owner == _std_get_ident():
            state = (self._owner, self._count)
            self._owner = 0
            self._count = 0
            return state
        return None

    def _restore_tracking(self, state):
        if state is not None:
            self._owner, self._count = state

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *args):
        self.release()

    def _at_fork_reinit(self):
        self._h = None
        self._owner = 0
        self._count = 0
        self._adopt(_c.pyth_rlock_new())

    def __repr__(self):
        name = "_thread.RLock" if type(self) is RLock else _qualname(type(self))
        locked = self.locked()
        owner, count = (self._owner, self._count) if locked else (0, 0)
        return "<%s %s object owner=%d count=%d at %s>" % (
            "locked" if locked else "unlocked", name, owner, count, hex(id(self)))


_CRLock = RLock
_PyRLock = RLock


# ---- Condition -------------------------------------------------------------------

def _notify_count(n):
    try:
        n = _operator.index(n)
    except TypeError:
        n = _math.ceil(n) if n > 0 else 0
    return 0 if n <= 0 else min(n, _SIZE_MAX)


class Condition(_Handle):
    """A condition variable over a Lock or an RLock (a new RLock by default).

    Over a libpyth Lock or RLock it is a libpyth condition; over any other
    lock object (for example one of the standard module) it falls back to
    the standard algorithm, with libpyth locks as the waiters' locks."""

    _free = "pyth_cond_free"

    def __init__(self, lock=None):
        if lock is None:
            lock = RLock()
        self._lock = lock
        self._waiting = set()       # idents of the threads in wait() (repr)
        if isinstance(lock, RLock):
            self._adopt(_c.pyth_cond_new_with_rlock(lock._h))
        elif isinstance(lock, Lock):
            self._adopt(_c.pyth_cond_new_with_lock(lock._h))
        else:
            self._waiters = _std._deque()
        # As the standard Condition: the lock's own methods.
        self.acquire = lock.acquire
        self.release = lock.release
        for name in ("_release_save", "_acquire_restore", "_is_owned"):
            if hasattr(lock, name) and self._h is None:
                setattr(self, name, getattr(lock, name))

    def _init_borrowed(self):
        # A condition made by C code: its lock is reached through it.
        self._lock = None
        self._waiting = set()
        h = self._h
        self.acquire = lambda blocking=True, timeout=-1: _cond_acquire(h, blocking, timeout)
        self.release = lambda: _check(_c.pyth_cond_release(h)) and None

    def __enter__(self):
        if self._lock is None:
            return self.acquire()
        return self._lock.__enter__()

    def __exit__(self, *args):
        if self._lock is None:
            return self.release()
        return self._lock.__exit__(*args)

    def __repr__(self):
        if self._h is None:
            n = len(self._waiters)
        else:
            n = len(self._waiting)
        if self._lock is None:
            lock = "<%s libpyth lock at %s>" % (
                "locked" if _c.pyth_cond_locked(self._h) else "unlocked", hex(self._h))
        else:
            lock = self._lock
        return "<Condition(%s, %d)>" % (lock, n)

    # Fallback protocol for foreign locks (as the standard Condition).
    def _release_save(self):
        self._lock.release()

    def _acquire_restore(self, x):
        self._lock.acquire()

    def _is_owned(self):
        if self._h is not None:
            if isinstance(self._lock, RLock):
                return self._lock._is_owned()
            return _c.pyth_cond_locked(self._h)
        if self._lock.acquire(False):
            self._lock.release()
            return False
        return True

    def _tracking(self):
        lock = self._lock
        return lock if isinstance(lock, RLock) else None

    def wait(self, timeout=None):
        """Wait until notified or until the timeout occurs; return False on
        timeout, True otherwise."""
        if self._h is None:
            return self._py_wait(timeout)
        t = _wait_seconds(timeout)
        rlock = self._tracking()
        saved = rlock._save_tracking() if rlock is not None else None
        me = _std_get_ident()
        self._waiting.add(me)
        try:
            st = _c.pyth_cond_wait(self._h, t)
        finally:
            self._waiting.discard(me)
            if rlock is not None:
                rlock._restore_tracking(saved)
        return _check(st) == _OK

    def wait_for(self, predicate, timeout=None):
        """Wait until ``predicate()`` is true; return its last value."""
        if self._h is None:
            return self._py_wait_for(predicate, timeout)
        t = _wait_seconds(timeout)
        rlock = self._tracking()
        box = [None, None, None]   # last result, exception, saved tracking

        def pred(_arg):
            if box[1] is not None:
                return True
            if rlock is not None:
                rlock._restore_tracking(box[2])
            try:
                r = predicate()
                box[0] = r
                return bool(r)
            except BaseException as exc:
                box[1] = exc
                return True
            finally:
                if rlock is not None:
                    box[2] = rlock._save_tracking()

        cb = _lib.PREDICATE_FN(pred)
        box[2] = rlock._save_tracking() if rlock is not None else None
        me = _std_get_ident()
        self._waiting.add(me)
        try:
            st = _c.pyth_cond_wait_for(self._h, cb, None, t)
        finally:
            self._waiting.discard(me)
            if rlock is not None:
                rlock._restore_tracking(box[2])
        if box[1] is not None:
            exc, box[1] = box[1], None
            try:
                raise exc
            finally:
                exc = None
        _check(st)
        return box[0]

    def notify(self, n=1):
        """Wake up to n threads waiting on this condition."""
        if self._h is None:
            return self._py_notify(n)
        _check(_c.pyth_cond_notify(self._h, _notify_count(n)))

    def notify_all(self):
        """Wake up all threads waiting on this condition."""
        if self._h is None:
            return self._py_notify(len(self._waiters))
        _check(_c.pyth_cond_notify_all(self._h))

    def notifyAll(self):
        """Deprecated alias of notify_all()."""
        _warnings.warn('notifyAll() is deprecated, use notify_all() instead',
                       DeprecationWarning, stacklevel=2)
        self.notify_all()

    # -- the standard algorithm, for a lock that is not a libpyth one --

    def _py_wait(self, timeout):
        if not self._is_owned():
            raise RuntimeError("cannot wait on un-acquired lock")
        waiter = Lock()
        waiter.acquire()
        self._waiters.append(waiter)
        saved_state = self._release_save()
        gotit = False
        try:
            if timeout is None:
                waiter.acquire()
                gotit = True
            else:
                if timeout > 0:
                    gotit = waiter.acquire(True, timeout)
                else:
                    gotit = waiter.acquire(False)
            return gotit
        finally:
            self._acquire_restore(saved_state)
            if not gotit:
                try:
                    self._waiters.remove(waiter)
                except ValueError:
                    pass

    def _py_wait_for(self, predicate, timeout):
        endtime = None
        waittime = timeout
        result = predicate()
        while not result:
            if waittime is not None:
                if endtime is None:
                    endtime = _monotonic() + waittime
                else:
                    waittime = endtime - _monotonic()
                    if waittime <= 0:
                        break
            self.wait(waittime)
            result = predicate()
        return result

    def _py_notify(self, n):
        if not self._is_owned():
            raise RuntimeError("cannot notify on un-acquired lock")
        waiters = self._waiters
        while waiters and n > 0:
            waiter = waiters[0]
            try:
                waiter.release()
            except RuntimeError:
                pass
            else:
                n -= 1
            try:
                waiters.remove(waiter)
            except ValueError:
                pass


def _cond_acquire(h, blocking=True, timeout=-1):
    blocking = bool(blocking)
    t = _seconds(timeout)
    if t == -1:
        t = _FOREVER
    if not blocking:
        st = _c.pyth_cond_acquire(h, False, t)
    else:
        st = _blocking(lambda s: _c.pyth_cond_acquire(h, True, s), t)
    return _check(st) == _OK


# ---- Semaphore -------------------------------------------------------------------

def _sem_value(value):
    try:
        value = _operator.index(value)
    except TypeError:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise TypeError("semaphore value must be an integer, not %s"
                            % type(value).__name__) from None
    if value > _INT64_MAX:
        raise OverflowError("semaphore value is too large")
    return value


class Semaphore(_Handle):
    """A counter of releases minus acquires plus an initial value."""

    _free = "pyth_semaphore_free"
    _new = "pyth_semaphore_new"

    def __init__(self, value=1):
        value = _sem_value(value)
        if value < 0:
            raise ValueError("semaphore initial value must be >= 0")
        self._adopt(getattr(_c, self._new)(value))

    def __repr__(self):
        cls = self.__class__
        return (f"<{cls.__module__}.{cls.__qualname__} at {id(self):#x}:"
                f" value={self._value}>")

    @property
    def _value(self):
        return _c.pyth_semaphore_value(self._h)

    def acquire(self, blocking=True, timeout=None):
        """Decrement the counter, waiting while it is zero; return True if
        acquired, False on timeout or when not blocking."""
        if not blocking and timeout is not None:
            raise ValueError("can't specify timeout for non-blocking acquire")
        h = self._h
        if not blocking:
            return _check(_c.pyth_semaphore_acquire(h, False, _FOREVER)) == _OK
        t = _wait_seconds(timeout)
        if t > TIMEOUT_MAX:
            # CPython only fails on a wait it would really do.
            if _check(_c.pyth_semaphore_acquire(h, False, _FOREVER)) == _OK:
                return True
        st = _blocking(lambda s: _c.pyth_semaphore_acquire(h, True, s), t)
        return _check(st) == _OK

    __enter__ = acquire

    def release(self, n=1):
        """Increment the counter by n (1 or more), waking up to n waiters."""
        n = _operator.index(n)
        if n < 1:
            n = 0   # libpyth: ValueError('n must be one or more')
        elif n > _SIZE_MAX:
            raise OverflowError("semaphore value is too large")
        _check(_c.pyth_semaphore_release(self._h, n))

    def __exit__(self, t, v, tb):
        self.release()


class BoundedSemaphore(Semaphore):
    """A semaphore that cannot be released above its initial value."""

    _new = "pyth_bounded_semaphore_new"
    _initial_value = None

    def __init__(self, value=1):
        Semaphore.__init__(self, value)
        self._initial_value = _sem_value(value)

    def __repr__(self):
        cls = self.__class__
        initial = "?" if self._initial_value is None else self._initial_value
        return (f"<{cls.__module__}.{cls.__qualname__} at {id(self):#x}:"
                f" value={self._value}/{initial}>")


# ---- Event ---------------------------------------------------------------------------

class Event(_Handle):
    """A flag threads can wait for."""

    _free = "pyth_event_free"

    def __init__(self):
        self._adopt(_c.pyth_event_new())

    def __repr__(self):
        cls = self.__class__
        status = 'set' if self.is_set() else 'unset'
        return f"<{cls.__module__}.{cls.__qualname__} at {id(self):#x}: {status}>"

    def is_set(self):
        """Return true if and only if the internal flag is true."""
        return _c.pyth_event_is_set(self._h)

    @property
    def _flag(self):
        return self.is_set()

    def isSet(self):
        """Deprecated alias of is_set()."""
        _warnings.warn('isSet() is deprecated, use is_set() instead',
                       DeprecationWarning, stacklevel=2)
        return self.is_set()

    def set(self):
        """Set the flag and wake every waiting thread."""
        _check(_c.pyth_event_set(self._h))

    def clear(self):
        """Reset the flag."""
        _check(_c.pyth_event_clear(self._h))

    def wait(self, timeout=None):
        """Block until the flag is set or the timeout passes; return the flag."""
        h = self._h
        if _c.pyth_event_is_set(h):
            return True
        t = _wait_seconds(timeout)
        st = _blocking(lambda s: _c.pyth_event_wait(h, s), t)
        return _check(st) == _OK


# ---- Barrier -----------------------------------------------------------------------

def _barrier_action(wr):
    """The C action of a Barrier: calls the Python action; an exception
    is kept for the thread that ran it and makes the action fail."""
    def action(_arg):
        b = wr()
        if b is None:
            return 0
        try:
            b._action()
            return 0
        except BaseException as exc:
            b._failed = (_std_get_ident(), exc)
            return 1
    if _lib.HAVE_BARRIER_NEW_EX:
        return _lib.ACTION_EX_FN(action)
    return _lib.ACTION_FN(action)


class Barrier(_Handle):
    """A barrier for a fixed number of threads."""

    _free = "pyth_barrier_free"
    # (ident, exception) of a failed action, until the thread that ran it
    # raises it; with an older libpyth without pyth_barrier_new_ex, also
    # the mark that the barrier is broken until reset().
    _failed = None
    _ex = False

    def __init__(self, parties, action=None, timeout=None):
        n = _operator.index(parties)
        if n > _SIZE_MAX:
            raise OverflowError("parties is too large")
        if n < 1:
            n = 0   # libpyth: ValueError("parties must be > 0")
        t = _wait_seconds(timeout)
        self._action = action
        self._timeout = timeout
        if action is None:
            self._action_fn = None
            h = _c.pyth_barrier_new(n, _lib.ACTION_FN(), None, t)
        else:
            self._action_fn = _barrier_action(_weakref.ref(self))
            if _lib.HAVE_BARRIER_NEW_EX:
                self._ex = True
                h = _c.pyth_barrier_new_ex(n, self._action_fn, None, t)
            else:
                h = _c.pyth_barrier_new(n, self._action_fn, None, t)
        self._adopt(h)

    def _init_borrowed(self):
        self._action = None
        self._timeout = None

    def __repr__(self):
        cls = self.__class__
        if self.broken:
            return f"<{cls.__module__}.{cls.__qualname__} at {id(self):#x}: broken>"
        return (f"<{cls.__module__}.{cls.__qualname__} at {id(self):#x}:"
                f" waiters={self.n_waiting}/{self.parties}>")

    def wait(self, timeout=None):
        """Wait until all parties are there; return this thread's index
        (0 to parties-1)."""
        if self._failed is not None and not self._ex:
            raise BrokenBarrierError
        index = _ctypes.c_size_t()
        if timeout is None:
            st = _c.pyth_barrier_wait(self._h, _ctypes.byref(index))
        else:
            st = _c.pyth_barrier_wait_timeout(self._h, _wait_seconds(timeout),
                                              _ctypes.byref(index))
        failed = self._failed
        if st == _lib.EFAILED or (st == _OK and failed is not None):
            # This thread ran the action, which raised: re-raise it here
            # (libpyth has broken the barrier for the others).
            if failed is not None and failed[0] == _std_get_ident() and failed[1] is not None:
                self._failed = None if self._ex else (None, None)
                if not self._ex:
                    _c.pyth_barrier_abort(self._h)
                exc = failed[1]
                try:
                    raise exc
                finally:
                    exc = failed = None
            if st == _OK:
                # Older libpyth: the others of that cycle were let go.
                raise BrokenBarrierError
        _check(st)
        return index.value

    def reset(self):
        """Return the barrier to its empty state; waiting threads get
        BrokenBarrierError."""
        self._failed = None
        _check(_c.pyth_barrier_reset(self._h))

    def abort(self):
        """Break the barrier: current and future waits fail until reset()."""
        _check(_c.pyth_barrier_abort(self._h))

    @property
    def parties(self):
        """The number of threads required to trip the barrier."""
        return _c.pyth_barrier_parties(self._h)

    @property
    def n_waiting(self):
        """The number of threads waiting in the current cycle."""
        return _c.pyth_barrier_n_waiting(self._h)

    @property
    def broken(self):
        """Whether the barrier is broken."""
        if self._failed is not None and not self._ex:
            return True
        return _c.pyth_barrier_broken(self._h)


# ---- threads -----------------------------------------------------------------------

_trace_hook = None
_profile_hook = None


def settrace(func):
    """Set a trace function for all threads started from this module."""
    global _trace_hook
    _trace_hook = func


def gettrace():
    """Get the trace function as set by threading.settrace()."""
    return _trace_hook


def setprofile(func):
    """Set a profile function for all threads started from this module."""
    global _profile_hook
    _profile_hook = func


def getprofile():
    """Get the profiler function as set by threading.setprofile()."""
    return _profile_hook


def stack_size(size=None):
    """Return (and with an argument, set) the stack size of new threads."""
    if size is None:
        return _c.pyth_get_stack_size()
    size = _operator.index(size)
    if size < 0 or size > _SIZE_MAX:
        raise ValueError("size must be 0 or a positive value")
    previous = _ctypes.c_size_t()
    _check(_c.pyth_stack_size(size, _ctypes.byref(previous)))
    return previous.value


# Thread objects by handle address (weak: a thread started here is kept
# alive by _running while its Python part runs, then by its users only).
_by_handle = _weakref.WeakValueDictionary()
# Strong references to the wrappers of the threads not started here (the
# main thread, dummies, threads started by C code), until they end.
_keep = {}
# Started threads by key (the `arg` of the C target) while their Python
# part runs; keeps the Thread objects alive.
_running = {}
_keys = _itertools.count(1)
_prune_mark = 16

# A target that returns this code was already reported by Python's
# excepthook; the C excepthook installed below stays silent for it.
_REPORTED = 0x50595448   # "PYTH"


def _prune():
    global _prune_mark
    for h, t in list(_keep.items()):
        if t is not _main_thread and not _c.pyth_thread_is_alive(h):
            _keep.pop(h, None)
    _prune_mark = 2 * len(_keep) + 16


def _register_foreign(h, wrapper):
    """The wrapper of a thread not started here (the first one wins)."""
    t = _by_handle.get(h)
    if t is None:
        t = _keep.setdefault(h, wrapper)
        _by_handle[h] = t
        if len(_keep) > _prune_mark:
            _prune()
    return t


@_lib.TARGET_FN
def _thread_entry(key):
    try:
        thread = _running.get(key)
        if thread is None:
            return 0
        return thread._bootstrap_inner()
    except BaseException:
        return 1


def _make_c_excepthook():
    user = _ctypes.c_void_p()
    prev = _c.pyth_get_excepthook(_ctypes.byref(user))
    prev = _lib.EXCEPTHOOK_FN(prev) if prev else None
    prev_user = user.value

    @_lib.EXCEPTHOOK_FN
    def hook(args, _user):
        try:
            if args.contents.code == _REPORTED:
                return
            if prev is not None:
                prev(args, prev_user)
            else:
                _c.pyth_default_excepthook(args)
        except BaseException:
            pass
    return hook


_c_excepthook = _make_c_excepthook()
_c.pyth_set_excepthook(_c_excepthook, None)


def _make_invoke_excepthook():
    old_excepthook = excepthook
    old_sys_excepthook = _sys.excepthook
    sys_exc_info = _sys.exc_info
    local_print = print
    local_sys = _sys

    def invoke_excepthook(thread):
        global excepthook
        try:
            hook = excepthook
            if hook is None:
                hook = old_excepthook
            args = ExceptHookArgs([*sys_exc_info(), thread])
            hook(args)
        except Exception as exc:
            exc.__suppress_context__ = True
            del exc
            if local_sys is not None and local_sys.stderr is not None:
                stderr = local_sys.stderr
            else:
                stderr = thread._stderr
            local_print("Exception in threading.excepthook:", file=stderr, flush=True)
            if local_sys is not None and local_sys.excepthook is not None:
                sys_excepthook = local_sys.excepthook
            else:
                sys_excepthook = old_sys_excepthook
            sys_excepthook(*sys_exc_info())
        finally:
            args = None
    return invoke_excepthook


def _thread_name(h):
    buf = _ctypes.create_string_buffer(128)
    n = _c.pyth_thread_name(h, buf, len(buf))
    if n >= len(buf):
        buf = _ctypes.create_string_buffer(n + 1)
        n = _c.pyth_thread_name(h, buf, len(buf))
    return buf.raw[:n].decode("utf-8", "surrogatepass")


def _encode_name(name):
    return name.encode("utf-8", "surrogatepass")


class Thread(_Handle):
    """A thread of control, started with start(), running run()."""

    _free = "pyth_thread_free"
    _initialized = False
    _key = None

    def __init__(self, group=None, target=None, name=None,
                 args=(), kwargs=None, *, daemon=None):
        assert group is None, "group argument must be None for now"
        if kwargs is None:
            kwargs = {}
        if name:
            name = str(name)
        else:
            name = None
        flag = _lib.DAEMON_INHERIT if daemon is None else (1 if daemon else 0)
        self._key = next(_keys)
        self._adopt(_c.pyth_thread_new(_thread_entry, self._key,
                                       None if name is None else _encode_name(name), flag))
        if name is None and target is not None:
            try:
                target_name = target.__name__
            except AttributeError:
                pass
            else:
                _check(_c.pyth_thread_set_name(self._h, _encode_name(
                    "%s (%s)" % (_thread_name(self._h), target_name))))
        self._target = target
        self._args = args
        self._kwargs = kwargs
        self._started_py = False
        self._stderr = _sys.stderr
        self._invoke_excepthook = _make_invoke_excepthook()
        self._initialized = True

    def _init_borrowed(self):
        self._target = None
        self._args = ()
        self._kwargs = {}
        self._started_py = bool(_c.pyth_thread_ident(self._h))
        self._stderr = _sys.stderr
        self._invoke_excepthook = _make_invoke_excepthook()
        self._initialized = True

    def __repr__(self):
        assert self._initialized, "Thread.__init__() was not called"
        status = "initial"
        if self._is_started():
            status = "started"
            if not self.is_alive():
                status = "stopped"
        if self.daemon:
            status += " daemon"
        ident = self.ident
        if ident is not None:
            status += " %s" % ident
        return "<%s(%s, %s)>" % (self.__class__.__name__, self.name, status)

    def _is_started(self):
        return self._started_py or bool(_c.pyth_thread_ident(self._h))

    def start(self):
        """Start the thread's activity: run() in a separate thread."""
        if not self._initialized:
            raise RuntimeError("thread.__init__() not called")
        h = self._h
        if self._started_py or self._key is None:
            _check(_c.pyth_thread_start(h))   # "threads can only be started once"
            self._started_py = True
            _by_handle[h] = self
            return
        _running[self._key] = self
        _by_handle[h] = self
        st = _c.pyth_thread_start(h)
        if st < 0:
            _running.pop(self._key, None)
            _by_handle.pop(h, None)
            _check(st)
        self._started_py = True

    def run(self):
        """The thread's activity: calls the target with args and kwargs."""
        try:
            if self._target is not None:
                self._target(*self._args, **self._kwargs)
        finally:
            # Avoid a refcycle if the thread is running a function with
            # an argument that has a member that points to the thread.
            del self._target, self._args, self._kwargs

    def _bootstrap_inner(self):
        try:
            if _trace_hook:
                _sys.settrace(_trace_hook)
            if _profile_hook:
                _sys.setprofile(_profile_hook)
            try:
                self.run()
            except _DaemonPark:
                return 0
            except SystemExit:
                self._invoke_excepthook(self)
                return 0
            except BaseException:
                self._invoke_excepthook(self)
                return _REPORTED
            return 0
        finally:
            _running.pop(self._key, None)

    def join(self, timeout=None):
        """Wait until the thread terminates, at most timeout seconds."""
        if not self._initialized:
            raise RuntimeError("Thread.__init__() not called")
        if timeout is None:
            t = _FOREVER
        else:
            t = _seconds(timeout)
            if t < 0:
                t = _NOBLOCK
        h = self._h
        if t != _FOREVER and not _c.pyth_thread_is_alive(h) and self._is_started() \
                and _c.pyth_current_thread() != h:
            return      # as CPython: an ended thread is joined whatever the timeout
        _check(_blocking(lambda s: _c.pyth_thread_join(h, s), t))

    @property
    def name(self):
        """A string used for identification purposes only."""
        assert self._initialized, "Thread.__init__() not called"
        return _thread_name(self._h)

    @name.setter
    def name(self, name):
        assert self._initialized, "Thread.__init__() not called"
        _check(_c.pyth_thread_set_name(self._h, _encode_name(str(name))))

    @property
    def ident(self):
        """Thread identifier of this thread or None if it has not been started."""
        assert self._initialized, "Thread.__init__() not called"
        return _c.pyth_thread_ident(self._h) or None

    @property
    def native_id(self):
        """Native integral thread ID of this thread, or None if it has not
        been started."""
        assert self._initialized, "Thread.__init__() not called"
        return _c.pyth_thread_native_id(self._h) or None

    def is_alive(self):
        """Return whether the thread is alive."""
        assert self._initialized, "Thread.__init__() not called"
        return _c.pyth_thread_is_alive(self._h)

    @property
    def daemon(self):
        """A boolean value indicating whether this thread is a daemon thread."""
        assert self._initialized, "Thread.__init__() not called"
        return _c.pyth_thread_daemon(self._h)

    @daemon.setter
    def daemon(self, daemonic):
        if not self._initialized:
            raise RuntimeError("Thread.__init__() not called")
        _check(_c.pyth_thread_set_daemon(self._h, bool(daemonic)))

    def isDaemon(self):
        """Deprecated: use the daemon attribute."""
        _warnings.warn('isDaemon() is deprecated, get the daemon attribute instead',
                       DeprecationWarning, stacklevel=2)
        return self.daemon

    def setDaemon(self, daemonic):
        """Deprecated: set the daemon attribute."""
        _warnings.warn('setDaemon() is deprecated, set the daemon attribute instead',
                       DeprecationWarning, stacklevel=2)
        self.daemon = daemonic

    def getName(self):
        """Deprecated: use the name attribute."""
        _warnings.warn('getName() is deprecated, get the name attribute instead',
                       DeprecationWarning, stacklevel=2)
        return self.name

    def setName(self, name):
        """Deprecated: set the name attribute."""
        _warnings.warn('setName() is deprecated, set the name attribute instead',
                       DeprecationWarning, stacklevel=2)
        self.name = name


class Timer(Thread):
    """Call a function after a specified number of seconds:

            t = Timer(30.0, f, args=None, kwargs=None)
            t.start()
            t.cancel()     # stop the timer's action if it's still waiting
    """

    def __init__(self, interval, function, args=None, kwargs=None):
        Thread.__init__(self)
        self.interval = interval
        self.function = function
        self.args = args if args is not None else []
        self.kwargs = kwargs if kwargs is not None else {}
        self.finished = Event()

    def cancel(self):
        """Stop the timer if it hasn't finished yet."""
        self.finished.set()

    def run(self):
        self.finished.wait(self.interval)
        if not self.finished.is_set():
            self.function(*self.args, **self.kwargs)
        self.finished.set()


class _MainThread(Thread):
    """The process's initial thread."""

    def __init__(self):
        self._h = _c.pyth_main_thread()
        self._owned = False
        self._init_borrowed()
        self._started_py = True


class _DummyThread(Thread):
    """A thread not started by this module (a thread of the standard module,
    or one started by C code): alive, and not joinable from Python."""

    def __init__(self, handle):
        # Takes its own reference: the wrapper may outlive the thread.
        self._h = _c.pyth_thread_ref(handle)
        self._owned = bool(self._h)
        self._init_borrowed()
        self._started_py = True

    @classmethod
    def _adopt_ref(cls, handle):
        self = cls.__new__(cls)
        self._h = handle      # a reference given by pyth_enumerate
        self._owned = True
        self._init_borrowed()
        self._started_py = True
        return self


_main_thread = _MainThread()
_by_handle[_main_thread._h] = _keep[_main_thread._h] = _main_thread


def main_thread():
    """Return the main thread object."""
    return _main_thread


def current_thread():
    """Return the current Thread object, corresponding to the caller's
    thread of control."""
    h = _c.pyth_current_thread()
    t = _by_handle.get(h)
    if t is None:
        t = _register_foreign(h, _DummyThread(h))
    return t


def currentThread():
    """Deprecated alias of current_thread()."""
    _warnings.warn('currentThread() is deprecated, use current_thread() instead',
                   DeprecationWarning, stacklevel=2)
    return current_thread()


def active_count():
    """Return the number of Thread objects currently alive."""
    return _c.pyth_active_count()


def activeCount():
    """Deprecated alias of active_count()."""
    _warnings.warn('activeCount() is deprecated, use active_count() instead',
                   DeprecationWarning, stacklevel=2)
    return active_count()


def enumerate():
    """Return a list of all Thread objects currently alive."""
    cap = _c.pyth_active_count() + 8
    while True:
        arr = (_ctypes.c_void_p * cap)()
        n = _c.pyth_enumerate(arr, cap)
        if n <= cap:
            break
        for i in range(cap):
            _c.pyth_thread_free(arr[i])
        cap = n + 8
    result = []
    for i in range(n):
        h = arr[i]
        t = _by_handle.get(h)
        if t is None:
            # The new wrapper owns the reference; if another wrapper was
            # registered first, the discarded one frees it.
            t = _register_foreign(h, _DummyThread._adopt_ref(h))
        else:
            _c.pyth_thread_free(h)
        result.append(t)
    return result


class _DaemonPark(BaseException):
    """Sent to the daemon threads at exit: instantiating it parks the
    thread in a libpyth wait that never returns (see _park_daemons)."""

    def __init__(self, *args):
        _parked.add(_std_get_ident())
        while True:
            _c.pyth_event_wait(_park_event._h, _FOREVER)


_parked = set()
_park_event = None


def _park_daemons(grace=0.1):
    """Parks the daemon threads that run Python code.

    CPython 3.11-3.13 ends a daemon thread that touches the interpreter
    after finalization with pthread_exit(), whose forced unwinding cannot
    cross libpyth's Rust frames: the process would abort ("FATAL: exception
    not rethrown"). So, before finalization, each daemon thread started
    here gets an asynchronous exception whose construction blocks forever
    in C with the GIL released; the thread vanishes at process exit as a
    daemon thread does. A thread blocked in C (a libpyth wait, sleep, I/O)
    is parked when it returns to Python, if that happens before
    finalization."""
    global _park_event
    if _park_event is None:
        _park_event = Event()
    set_async_exc = _ctypes.pythonapi.PyThreadState_SetAsyncExc
    set_async_exc.argtypes = [_ctypes.c_ulong, _ctypes.py_object]
    set_async_exc.restype = _ctypes.c_int
    me = _std_get_ident()
    targets = []
    for t in list(_running.values()):
        ident = t.ident
        if ident and ident != me and t.daemon and ident not in _parked:
            if set_async_exc(ident, _DaemonPark) == 1:
                targets.append((t, ident))
    deadline = _monotonic() + grace
    while targets and _monotonic() < deadline:
        targets = [(t, i) for t, i in targets
                   if i not in _parked and t.is_alive()]
        if targets:
            _time.sleep(0.002)


def _shutdown():
    """Waits for the non-daemon threads started here, as the interpreter
    does for the standard module's, while Python can still run them; then
    parks the daemon ones."""
    me = current_thread()
    while True:
        pending = [t for t in enumerate()
                   if t is not me and t is not _main_thread and not t.daemon]
        if not pending:
            break
        for t in pending:
            t.join()
    _park_daemons()


_atexit.register(_shutdown)


def _after_fork():
    # The forking thread is the child's only thread and its main thread.
    global _MAIN_IDENT, _main_thread
    _MAIN_IDENT = _std_get_ident()
    me = _c.pyth_current_thread()
    if _c.pyth_main_thread() != _main_thread._h:
        _main_thread = _by_handle.get(me) or current_thread()
    for key, t in list(_running.items()):
        if t._h != me:
            _running.pop(key, None)
    for h in list(_keep):
        if h != me and not _c.pyth_thread_is_alive(h):
            _keep.pop(h, None)


if hasattr(_os, "register_at_fork"):
    _os.register_at_fork(after_in_child=_after_fork)


# ---- thread-local data -------------------------------------------------------------

_local_tokens = _itertools.count(1)


class _localimpl:
    """Per-thread dicts of one local: each thread's libpyth local value is
    a token indexing ``dicts``; libpyth's destructor drops the dict when
    the thread exits."""

    __slots__ = 'handle', 'dicts', 'localargs', 'locallock', '_dtor', '__weakref__'

    def __init__(self):
        self.dicts = {}
        dicts = self.dicts

        def drop(token):
            try:
                dicts.pop(token, None)
            except BaseException:
                pass
        self._dtor = _lib.DTOR_FN(drop)
        self.handle = None
        h = _c.pyth_local_new(_lib.NULL_INIT, None, self._dtor)
        if not h:
            _lib.raise_last()
        self.handle = h

    def get_dict(self):
        token = _c.pyth_local_get(self.handle)
        if token is None:
            raise KeyError(token)
        return self.dicts[token]

    def create_dict(self):
        token = next(_local_tokens)
        localdict = {}
        self.dicts[token] = localdict
        _check(_c.pyth_local_set(self.handle, token))
        return localdict

    def __del__(self):
        h = self.handle
        if h:
            self.handle = None
            try:
                _c.pyth_local_free(h)
            except Exception:
                pass


class _Patch:
    """Swaps the calling thread's dict in as the local's __dict__ for one
    attribute access, and the resting (empty) dict back afterwards, so that
    the object never keeps a thread's values alive."""

    __slots__ = ('impl', 'obj', 'prev')

    def __init__(self, obj):
        impl = object.__getattribute__(obj, '_local__impl')
        try:
            dct = impl.get_dict()
        except KeyError:
            dct = impl.create_dict()
            args, kw = impl.localargs
            obj.__init__(*args, **kw)
        impl.locallock.acquire()
        self.prev = object.__getattribute__(obj, '__dict__')
        object.__setattr__(obj, '__dict__', dct)
        self.impl = impl
        self.obj = obj

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            object.__setattr__(self.obj, '__dict__', self.prev)
        finally:
            self.obj = self.prev = None
            self.impl.locallock.release()


class local:
    """Thread-local data: each thread sees its own attributes."""

    __slots__ = '_local__impl', '__dict__'

    def __new__(cls, /, *args, **kw):
        if (args or kw) and (cls.__init__ is object.__init__):
            raise TypeError("Initialization arguments are not supported")
        self = object.__new__(cls)
        impl = _localimpl()
        impl.localargs = (args, kw)
        impl.locallock = RLock()
        object.__setattr__(self, '_local__impl', impl)
        # The creating thread's dict exists before __init__ runs, so that
        # __init__ is not run a second time for it.
        impl.create_dict()
        return self

    def __getattribute__(self, name):
        with _Patch(self):
            return object.__getattribute__(self, name)

    def __setattr__(self, name, value):
        if name == '__dict__':
            raise AttributeError(
                "%r object attribute '__dict__' is read-only"
                % self.__class__.__name__)
        with _Patch(self):
            return object.__setattr__(self, name, value)

    def __delattr__(self, name):
        if name == '__dict__':
            raise AttributeError(
                "%r object attribute '__dict__' is read-only"
                % self.__class__.__name__)
        with _Patch(self):
            return object.__delattr__(self, name)

    def __repr__(self):
        cls = type(self)
        name = "_thread._local" if cls is local else _qualname(cls)
        return "<%s object at %s>" % (name, hex(id(self)))

    def __reduce_ex__(self, protocol):
        raise TypeError("cannot pickle %r object" % type(self).__name__)
