"""libpyth: Python's ``threading`` and ``queue`` over the libpyth C library.

    from libpyth import threading, queue

gives drop-in replacements for the standard modules, whose primitives,
threads and queues are libpyth objects (shareable with C code through
``from_handle`` and ``.handle``). Pure Python over ctypes; the shared
library is found through ``LIBPYTH_PATH``, next to this package, or on the
system path (see ``libpyth._lib``).
"""

from . import _lib
from . import threading
from . import queue

__all__ = ["threading", "queue", "LIBRARY_PATH"]

LIBRARY_PATH = _lib.LIBRARY_PATH
