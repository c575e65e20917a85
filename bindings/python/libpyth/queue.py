"""Python's ``queue`` module over libpyth.

``Queue``, ``LifoQueue``, ``PriorityQueue`` and ``SimpleQueue`` are libpyth
queues. Their items are Python objects: each one is kept alive in a dict
under a fresh integer key, and the key is what travels through C as the
``void *`` item. ``Empty`` and ``Full`` (and ``ShutDown`` where the running
Python has it) are the standard module's own classes, so ``except
queue.Empty`` catches ours whichever module it was written against.
"""

import _thread
import ctypes as _ctypes
import itertools as _itertools
import operator as _operator
import queue as _std
import types as _types

from . import _lib
from ._lib import lib as _c
from .threading import _Handle, _blocking, _seconds, _address

__all__ = ['Empty', 'Full', 'ShutDown', 'Queue', 'PriorityQueue',
           'LifoQueue', 'SimpleQueue']

Empty = _std.Empty
Full = _std.Full

try:
    ShutDown = _std.ShutDown
except AttributeError:          # Python < 3.13
    class ShutDown(Exception):
        '''Raised when put/get with shut-down queue.'''

_lib.EXCEPTIONS[_lib.ESHUTDOWN] = ShutDown

_OK = _lib.OK
_EMPTY = _lib.EMPTY
_FULL = _lib.FULL
_FOREVER = _lib.FOREVER
_TIMEOUT_MAX = _lib.TIMEOUT_MAX
_SIZE_MAX = 2 ** (8 * _ctypes.sizeof(_ctypes.c_size_t)) - 1
_check = _lib.check
_get_ident = _thread.get_ident


def _timeout(block, timeout):
    """The C timeout of a put/get, with CPython's checks."""
    if not block or timeout is None:
        return _FOREVER
    t = _seconds(timeout)
    if t < 0:
        raise ValueError("'timeout' must be a non-negative number")
    return t


class _Base(_Handle):
    _free = "pyth_queue_free"
    _raw = False
    _bounded = False

    def _setup(self, handle):
        self._items = {}
        self._keys = _itertools.count(1)
        self._errors = {}
        self._adopt(handle)

    def _init_borrowed(self):
        # A queue made by C code holds C's items: put and get take and
        # give the raw pointer values (ints), not Python objects.
        self._raw = True
        self._items = None
        self._errors = {}

    def _raise_callback_error(self):
        exc = self._errors.pop(_get_ident(), None)
        if exc is not None:
            try:
                raise exc
            finally:
                exc = None

    def _put(self, item, block, timeout):
        h = self._h
        # As CPython: the timeout of a put is only looked at (and checked)
        # when the queue is bounded.
        t = _timeout(block, timeout) if self._bounded else _FOREVER
        if self._raw:
            key = _address(item)
        else:
            key = next(self._keys)
            self._items[key] = item
        try:
            if not block:
                st = _c.pyth_queue_put(h, key, False, _FOREVER)
            else:
                if t > _TIMEOUT_MAX:
                    # CPython only fails on a wait it would really do.
                    st = _c.pyth_queue_put(h, key, False, _FOREVER)
                    if st == _FULL:
                        st = _c.pyth_queue_put(h, key, True, t)
                else:
                    st = _blocking(lambda s: _c.pyth_queue_put(h, key, True, s), t)
        except BaseException:
            if not self._raw:
                self._items.pop(key, None)
            raise
        if st != _OK:
            if not self._raw:
                self._items.pop(key, None)
            if st == _FULL:
                raise Full
            _check(st)
        self._raise_callback_error()

    def _get(self, block, timeout):
        h = self._h
        t = _timeout(block, timeout)
        out = _ctypes.c_void_p()
        ref = _ctypes.byref(out)
        if not block:
            st = _c.pyth_queue_get(h, ref, False, _FOREVER)
        elif t > _TIMEOUT_MAX:
            st = _c.pyth_queue_get(h, ref, False, _FOREVER)
            if st == _EMPTY:
                st = _c.pyth_queue_get(h, ref, True, t)
        else:
            st = _blocking(lambda s: _c.pyth_queue_get(h, ref, True, s), t)
        if st == _OK:
            item = out.value if self._raw else self._items.pop(out.value)
            self._raise_callback_error()
            return item
        if st == _EMPTY:
            raise Empty
        _check(st)

    def qsize(self):
        '''Return the approximate size of the queue (not reliable!).'''
        return _c.pyth_queue_qsize(self._h)

    def empty(self):
        '''Return True if the queue is empty, False otherwise (not reliable!).'''
        return _c.pyth_queue_empty(self._h)

    __class_getitem__ = classmethod(_types.GenericAlias)


class Queue(_Base):
    '''Create a queue object with a given maximum size.

    If maxsize is <= 0, the queue size is infinite.
    '''

    _new = "pyth_queue_new"

    def __init__(self, maxsize=0):
        self.maxsize = maxsize
        n = _operator.index(maxsize)
        self._bounded = n > 0
        self._setup(self._make(0 if n <= 0 else min(n, _SIZE_MAX)))

    def _make(self, n):
        return getattr(_c, self._new)(n)

    def _init_borrowed(self):
        _Base._init_borrowed(self)
        self.maxsize = 0
        self._bounded = True

    def task_done(self):
        '''Indicate that a formerly enqueued task is complete.

        Raises a ValueError if called more times than there were items
        placed in the queue.
        '''
        _check(_c.pyth_queue_task_done(self._h))

    def join(self):
        '''Blocks until all items in the Queue have been gotten and processed.'''
        _check(_c.pyth_queue_join(self._h))

    def full(self):
        '''Return True if the queue is full, False otherwise (not reliable!).'''
        return _c.pyth_queue_full(self._h)

    def put(self, item, block=True, timeout=None):
        '''Put an item into the queue.

        If optional args 'block' is true and 'timeout' is None (the default),
        block if necessary until a free slot is available. If 'timeout' is
        a non-negative number, it blocks at most 'timeout' seconds and raises
        the Full exception if no free slot was available within that time.
        Otherwise ('block' is false), put an item on the queue if a free slot
        is immediately available, else raise the Full exception ('timeout'
        is ignored in that case).

        Raises ShutDown if the queue has been shut down.
        '''
        self._put(item, block, timeout)

    def get(self, block=True, timeout=None):
        '''Remove and return an item from the queue.

        If optional args 'block' is true and 'timeout' is None (the default),
        block if necessary until an item is available. If 'timeout' is
        a non-negative number, it blocks at most 'timeout' seconds and raises
        the Empty exception if no item was available within that time.
        Otherwise ('block' is false), return an item if one is immediately
        available, else raise the Empty exception ('timeout' is ignored
        in that case).

        Raises ShutDown if the queue has been shut down and is empty, or
        at once if it was shut down immediately.
        '''
        return self._get(block, timeout)

    def put_nowait(self, item):
        '''Put an item into the queue without blocking.'''
        return self.put(item, block=False)

    def get_nowait(self):
        '''Remove and return an item from the queue without blocking.'''
        return self.get(block=False)

    def shutdown(self, immediate=False):
        '''Shut-down the queue, making queue gets and puts raise ShutDown.

        By default, gets will only raise once the queue is empty. Set
        'immediate' to True to make gets raise immediately instead.

        All blocked callers of put() and get() will be unblocked. If
        'immediate', the items left are discarded and join() returns.
        '''
        h = self._h
        if immediate and not self._raw:
            # Drain the items here so that the Python objects are released
            # (libpyth discards its pointers without touching them), and
            # count them done as CPython does.
            _check(_c.pyth_queue_shutdown(h, False))
            out = _ctypes.c_void_p()
            while _c.pyth_queue_get(h, _ctypes.byref(out), False, _FOREVER) == _OK:
                self._items.pop(out.value, None)
                self._errors.pop(_get_ident(), None)
                if _c.pyth_queue_task_done(h) < 0:
                    pass
        _check(_c.pyth_queue_shutdown(h, bool(immediate)))


class LifoQueue(Queue):
    '''Variant of Queue that retrieves most recently added entries first.'''

    _new = "pyth_lifo_queue_new"


def _make_comparator(items, errors):
    def cmp(a, b, _ctx):
        try:
            x = items[a]
            y = items[b]
            if x < y:
                return -1
            if y < x:
                return 1
            return 0
        except BaseException as exc:
            # Raised by the put() or get() that is sorting the heap, as
            # heapq's error is raised by CPython's.
            errors.setdefault(_get_ident(), exc)
            return 0
    return _lib.CMP_FN(cmp)


class PriorityQueue(Queue):
    '''Variant of Queue that retrieves open entries in priority order
    (lowest first), comparing the items with <.

    Entries are typically tuples of the form:  (priority number, data).
    '''

    def _make(self, n):
        self._items = {}
        self._errors = {}
        self._cmp = _make_comparator(self._items, self._errors)
        return _c.pyth_priority_queue_new(n, self._cmp, None)

    def _setup(self, handle):
        items, errors = self._items, self._errors
        Queue._setup(self, handle)
        self._items, self._errors = items, errors


class SimpleQueue(_Base):
    '''Simple, unbounded, reentrant FIFO queue.'''

    def __init__(self):
        self._setup(_c.pyth_simple_queue_new())

    def put(self, item, block=True, timeout=None):
        '''Put the item on the queue.

        The optional 'block' and 'timeout' arguments are ignored, as this
        method never blocks. They are provided for compatibility with the
        Queue class.
        '''
        self._put(item, False, None)

    def get(self, block=True, timeout=None):
        '''Remove and return an item from the queue.

        If optional args 'block' is true and 'timeout' is None (the default),
        block if necessary until an item is available. If 'timeout' is
        a non-negative number, it blocks at most 'timeout' seconds and raises
        the Empty exception if no item was available within that time.
        Otherwise ('block' is false), return an item if one is immediately
        available, else raise the Empty exception ('timeout' is ignored
        in that case).
        '''
        return self._get(block, timeout)

    def put_nowait(self, item):
        '''Put an item into the queue without blocking.'''
        return self.put(item, block=False)

    def get_nowait(self):
        '''Remove and return an item from the queue without blocking.'''
        return self.get(False)

    def __repr__(self):
        cls = type(self)
        name = "_queue.SimpleQueue" if cls is SimpleQueue else \
            "%s.%s" % (cls.__module__, cls.__qualname__)
        return "<%s object at %s>" % (name, hex(id(self)))
