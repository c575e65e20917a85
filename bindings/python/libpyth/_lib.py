"""Loading of libpyth and the ctypes prototypes of the functions used.

The library is looked up, in order:

1. the ``LIBPYTH_PATH`` environment variable (a path to the shared object);
2. a ``libpyth.so*`` file next to this package;
3. the system search path (``ctypes.util.find_library('pyth')``, then
   ``libpyth.so.0``).

The library is opened with :class:`ctypes.CDLL`, which releases the GIL
around every foreign call: a thread blocked in libpyth never holds the GIL,
and callbacks from C (thread targets, predicates, barrier actions, queue
comparators, thread-local destructors) take it again by themselves.
"""

import ctypes
import ctypes.util
import glob
import os

__all__ = ["lib", "LIBRARY_PATH", "check", "error", "raise_last",
           "FOREVER", "TIMEOUT_MAX", "DAEMON_INHERIT"]

# ---- status codes (pyth.h) -------------------------------------------------

OK = 0
TIMEOUT = 1
EMPTY = 2
FULL = 3
ERUNTIME = -1
EVALUE = -2
EOVERFLOW = -3
EBROKEN = -4
ENOMEM = -5
EINVAL = -6
EBUSY = -7
ESHUTDOWN = -8
ECANCELLED = -9
EFAILED = -10

FOREVER = -1.0
TIMEOUT_MAX = 9223372036.0
DAEMON_INHERIT = -1


# ---- loading ---------------------------------------------------------------

def _candidates():
    env = os.environ.get("LIBPYTH_PATH")
    if env:
        # An explicit path is the only candidate: falling back to another
        # copy of the library would hide a configuration mistake.
        return [env], True
    here = os.path.dirname(os.path.abspath(__file__))
    local = sorted(glob.glob(os.path.join(here, "libpyth.so*")),
                   key=lambda p: (len(p), p))
    found = ctypes.util.find_library("pyth")
    system = [found] if found else []
    return local + system + ["libpyth.so.0"], False


def _load():
    names, explicit = _candidates()
    errors = []
    for name in names:
        try:
            return ctypes.CDLL(name), name
        except OSError as exc:
            errors.append("%s: %s" % (name, exc))
            if explicit:
                break
    raise ImportError("libpyth: cannot load the shared library (set LIBPYTH_PATH "
                      "to the path of libpyth.so): " + "; ".join(errors))


lib, LIBRARY_PATH = _load()


# ---- prototypes ------------------------------------------------------------

c_void_p = ctypes.c_void_p
c_bool = ctypes.c_bool
c_int = ctypes.c_int
c_double = ctypes.c_double
c_size_t = ctypes.c_size_t
c_int64 = ctypes.c_int64
c_uint64 = ctypes.c_uint64
c_char_p = ctypes.c_char_p

# Callback types. Every Python function turned into one of these must be
# kept alive as long as C may call it, and must never let an exception
# escape (ctypes would print it and return 0/NULL).
TARGET_FN = ctypes.CFUNCTYPE(c_int, c_void_p)                 # pyth_target_fn
PREDICATE_FN = ctypes.CFUNCTYPE(c_bool, c_void_p)             # cond wait_for
ACTION_FN = ctypes.CFUNCTYPE(None, c_void_p)                  # barrier action
ACTION_EX_FN = ctypes.CFUNCTYPE(c_int, c_void_p)              # failing action
CMP_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_void_p, c_void_p)  # priority queue
DTOR_FN = ctypes.CFUNCTYPE(None, c_void_p)                    # local dtor
INIT_FN = ctypes.CFUNCTYPE(c_void_p, c_void_p)                # local init


class ExceptHookArgsC(ctypes.Structure):
    """``pyth_excepthook_args``."""
    _fields_ = [("thread", c_void_p), ("code", c_int)]


EXCEPTHOOK_FN = ctypes.CFUNCTYPE(None, ctypes.POINTER(ExceptHookArgsC), c_void_p)

_PROTOTYPES = {
    # errors
    "pyth_strerror": (c_char_p, [c_int]),
    "pyth_last_error": (c_char_p, []),
    "pyth_last_status": (c_int, []),
    # Lock
    "pyth_lock_new": (c_void_p, []),
    "pyth_lock_acquire": (c_int, [c_void_p, c_bool, c_double]),
    "pyth_lock_release": (c_int, [c_void_p]),
    "pyth_lock_locked": (c_bool, [c_void_p]),
    "pyth_lock_free": (c_int, [c_void_p]),
    # RLock
    "pyth_rlock_new": (c_void_p, []),
    "pyth_rlock_acquire": (c_int, [c_void_p, c_bool, c_double]),
    "pyth_rlock_release": (c_int, [c_void_p]),
    "pyth_rlock_locked": (c_bool, [c_void_p]),
    "pyth_rlock_is_owned": (c_bool, [c_void_p]),
    "pyth_rlock_free": (c_int, [c_void_p]),
    # Condition
    "pyth_cond_new": (c_void_p, []),
    "pyth_cond_new_with_lock": (c_void_p, [c_void_p]),
    "pyth_cond_new_with_rlock": (c_void_p, [c_void_p]),
    "pyth_cond_acquire": (c_int, [c_void_p, c_bool, c_double]),
    "pyth_cond_release": (c_int, [c_void_p]),
    "pyth_cond_locked": (c_bool, [c_void_p]),
    "pyth_cond_wait": (c_int, [c_void_p, c_double]),
    "pyth_cond_wait_for": (c_int, [c_void_p, PREDICATE_FN, c_void_p, c_double]),
    "pyth_cond_notify": (c_int, [c_void_p, c_size_t]),
    "pyth_cond_notify_all": (c_int, [c_void_p]),
    "pyth_cond_free": (c_int, [c_void_p]),
    # Semaphore
    "pyth_semaphore_new": (c_void_p, [c_int64]),
    "pyth_bounded_semaphore_new": (c_void_p, [c_int64]),
    "pyth_semaphore_acquire": (c_int, [c_void_p, c_bool, c_double]),
    "pyth_semaphore_release": (c_int, [c_void_p, c_size_t]),
    "pyth_semaphore_value": (c_int64, [c_void_p]),
    "pyth_semaphore_free": (c_int, [c_void_p]),
    # Event
    "pyth_event_new": (c_void_p, []),
    "pyth_event_is_set": (c_bool, [c_void_p]),
    "pyth_event_set": (c_int, [c_void_p]),
    "pyth_event_clear": (c_int, [c_void_p]),
    "pyth_event_wait": (c_int, [c_void_p, c_double]),
    "pyth_event_free": (c_int, [c_void_p]),
    # Barrier
    "pyth_barrier_new": (c_void_p, [c_size_t, ACTION_FN, c_void_p, c_double]),
    "pyth_barrier_wait": (c_int, [c_void_p, ctypes.POINTER(c_size_t)]),
    "pyth_barrier_wait_timeout": (c_int, [c_void_p, c_double, ctypes.POINTER(c_size_t)]),
    "pyth_barrier_reset": (c_int, [c_void_p]),
    "pyth_barrier_abort": (c_int, [c_void_p]),
    "pyth_barrier_parties": (c_size_t, [c_void_p]),
    "pyth_barrier_n_waiting": (c_size_t, [c_void_p]),
    "pyth_barrier_broken": (c_bool, [c_void_p]),
    "pyth_barrier_free": (c_int, [c_void_p]),
    # Threads
    "pyth_thread_new": (c_void_p, [TARGET_FN, c_void_p, c_char_p, c_int]),
    "pyth_thread_start": (c_int, [c_void_p]),
    "pyth_thread_join": (c_int, [c_void_p, c_double]),
    "pyth_thread_is_alive": (c_bool, [c_void_p]),
    "pyth_thread_name": (c_size_t, [c_void_p, ctypes.c_char_p, c_size_t]),
    "pyth_thread_set_name": (c_int, [c_void_p, c_char_p]),
    "pyth_thread_ident": (c_uint64, [c_void_p]),
    "pyth_thread_native_id": (c_uint64, [c_void_p]),
    "pyth_thread_daemon": (c_bool, [c_void_p]),
    "pyth_thread_set_daemon": (c_int, [c_void_p, c_bool]),
    "pyth_thread_ref": (c_void_p, [c_void_p]),
    "pyth_thread_free": (c_int, [c_void_p]),
    "pyth_active_count": (c_size_t, []),
    "pyth_enumerate": (c_size_t, [ctypes.POINTER(c_void_p), c_size_t]),
    "pyth_current_thread": (c_void_p, []),
    "pyth_main_thread": (c_void_p, []),
    "pyth_get_ident": (c_uint64, []),
    "pyth_get_native_id": (c_uint64, []),
    "pyth_stack_size": (c_int, [c_size_t, ctypes.POINTER(c_size_t)]),
    "pyth_get_stack_size": (c_size_t, []),
    "pyth_set_excepthook": (None, [EXCEPTHOOK_FN, c_void_p]),
    "pyth_get_excepthook": (c_void_p, [ctypes.POINTER(c_void_p)]),
    "pyth_default_excepthook": (None, [ctypes.POINTER(ExceptHookArgsC)]),
    # Thread-local data
    "pyth_local_new": (c_void_p, [INIT_FN, c_void_p, DTOR_FN]),
    "pyth_local_get": (c_void_p, [c_void_p]),
    "pyth_local_set": (c_int, [c_void_p, c_void_p]),
    "pyth_local_free": (c_int, [c_void_p]),
    # Queues
    "pyth_queue_new": (c_void_p, [c_size_t]),
    "pyth_lifo_queue_new": (c_void_p, [c_size_t]),
    "pyth_priority_queue_new": (c_void_p, [c_size_t, CMP_FN, c_void_p]),
    "pyth_simple_queue_new": (c_void_p, []),
    "pyth_queue_put": (c_int, [c_void_p, c_void_p, c_bool, c_double]),
    "pyth_queue_get": (c_int, [c_void_p, ctypes.POINTER(c_void_p), c_bool, c_double]),
    "pyth_queue_task_done": (c_int, [c_void_p]),
    "pyth_queue_join": (c_int, [c_void_p]),
    "pyth_queue_qsize": (c_size_t, [c_void_p]),
    "pyth_queue_empty": (c_bool, [c_void_p]),
    "pyth_queue_full": (c_bool, [c_void_p]),
    "pyth_queue_shutdown": (c_int, [c_void_p, c_bool]),
    "pyth_queue_free": (c_int, [c_void_p]),
}

# Added to the library later than the rest: used when present.
_OPTIONAL = {
    "pyth_barrier_new_ex": (c_void_p, [c_size_t, ACTION_EX_FN, c_void_p, c_double]),
}

for _name, (_res, _args) in _PROTOTYPES.items():
    _fn = getattr(lib, _name)
    _fn.restype = _res
    _fn.argtypes = _args
for _name, (_res, _args) in _OPTIONAL.items():
    _fn = getattr(lib, _name, None)
    if _fn is not None:
        _fn.restype = _res
        _fn.argtypes = _args
del _name, _res, _args, _fn

HAVE_BARRIER_NEW_EX = hasattr(lib, "pyth_barrier_new_ex")

# The NULL callbacks of the optional function-pointer arguments.
NULL_ACTION = ctypes.cast(None, ACTION_FN)
NULL_INIT = ctypes.cast(None, INIT_FN)
NULL_EXCEPTHOOK = ctypes.cast(None, EXCEPTHOOK_FN)


# ---- errors ----------------------------------------------------------------

def last_error():
    """The calling thread's message for its last failed libpyth call."""
    msg = lib.pyth_last_error()
    return msg.decode("utf-8", "replace") if msg else ""


# Filled in by the modules that define or import the Python exceptions
# (BrokenBarrierError, queue.ShutDown), before any call can produce them.
EXCEPTIONS = {
    ERUNTIME: RuntimeError,
    EVALUE: ValueError,
    EOVERFLOW: OverflowError,
    ENOMEM: MemoryError,
    EINVAL: TypeError,
    EBUSY: RuntimeError,
}


def error(status, message=None):
    """The Python exception for a failed status (``status < 0``)."""
    if message is None:
        message = last_error()
    cls = EXCEPTIONS.get(status, RuntimeError)
    if cls is MemoryError and not message:
        return MemoryError()
    return cls(message) if message else cls()


def check(status):
    """Returns a non-error status; raises the matching exception otherwise."""
    if status < 0:
        raise error(status)
    return status


def raise_last():
    """Raises the exception of the last failed call (after a NULL handle)."""
    status = lib.pyth_last_status()
    raise error(status if status < 0 else ENOMEM)
