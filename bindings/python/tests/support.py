"""Shared helpers: every behavioural test class is written once as a mixin
and run twice, against the standard modules and against libpyth's, to show
that swapping the import changes nothing."""

import queue as std_queue
import re
import threading as std_threading
import time
import unittest

from libpyth import queue as pyth_queue
from libpyth import threading as pyth_threading

# Upper bound of every wait whose end is expected (a hang fails instead).
LONG = 10.0
# A short timeout that is expected to run out.
SHORT = 0.2
# How late a timed-out wait may return on a loaded machine.
SLACK = 3.0
# Parallel waits: PARALLEL threads each blocked for PARALLEL_TIMEOUT must
# end well before they would if they ran one after the other.
PARALLEL = 3
PARALLEL_TIMEOUT = 1.0
PARALLEL_BOUND = 2.2 * PARALLEL_TIMEOUT


def parameterize(mixin, namespace):
    """Adds Std<Mixin> and Pyth<Mixin> TestCase classes to namespace."""
    for prefix, th, q, is_pyth in (("Std", std_threading, std_queue, False),
                                   ("Pyth", pyth_threading, pyth_queue, True)):
        name = prefix + mixin.__name__
        namespace[name] = type(name, (mixin, unittest.TestCase), {
            "threading": th, "queue": q, "pyth": is_pyth,
            "__module__": namespace["__name__"],
        })


def norm(text):
    """A repr with addresses, numbers and the package name blotted out."""
    text = str(text).replace("libpyth.", "")
    text = re.sub(r"0x[0-9a-fA-F]+", "ADDR", text)
    return re.sub(r"\d+", "N", text)


class Timer:
    """with Timer() as t: ...; t.elapsed"""

    def __enter__(self):
        self.start = time.monotonic()
        return self

    def __exit__(self, *exc):
        self.elapsed = time.monotonic() - self.start


class ThreadsMixin:
    """Helper threads of the module under test, always joined."""

    def setUp(self):
        super().setUp()
        self._threads = []

    def tearDown(self):
        for t in self._threads:
            t.join(LONG)
        alive = [t for t in self._threads if t.is_alive()]
        self._threads = []
        super().tearDown()
        self.assertEqual(alive, [], "helper threads still running")

    def spawn(self, fn, *args, **kwargs):
        t = self.threading.Thread(target=fn, args=args, kwargs=kwargs, daemon=True)
        self._threads.append(t)
        t.start()
        return t

    def join_all(self):
        for t in self._threads:
            t.join(LONG)
            self.assertFalse(t.is_alive())

    def wait_until(self, predicate, timeout=LONG):
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                self.fail("condition not reached in %s s" % timeout)
            time.sleep(0.002)
