"""Lock and RLock, against both modules."""

import math
import unittest

from .support import (LONG, SHORT, SLACK, PARALLEL, PARALLEL_TIMEOUT, PARALLEL_BOUND,
                      ThreadsMixin, Timer, parameterize)


class LockTests(ThreadsMixin):

    def test_acquire_release(self):
        lock = self.threading.Lock()
        self.assertFalse(lock.locked())
        self.assertIs(lock.acquire(), True)
        self.assertTrue(lock.locked())
        self.assertIs(lock.acquire(False), False)
        self.assertIs(lock.acquire(blocking=False), False)
        lock.release()
        self.assertFalse(lock.locked())
        self.assertIs(lock.acquire(False), True)
        lock.release()

    def test_aliases(self):
        lock = self.threading.Lock()
        self.assertTrue(lock.acquire_lock())
        self.assertTrue(lock.locked_lock())
        lock.release_lock()
        self.assertFalse(lock.locked())

    def test_context_manager(self):
        lock = self.threading.Lock()
        with lock as value:
            self.assertIs(value, True)
            self.assertTrue(lock.locked())
        self.assertFalse(lock.locked())
        with self.assertRaises(ZeroDivisionError):
            with lock:
                1 / 0
        self.assertFalse(lock.locked())

    def test_repr(self):
        lock = self.threading.Lock()
        self.assertRegex(repr(lock), r"^<unlocked _thread\.lock object at 0x[0-9a-f]+>$")
        lock.acquire()
        self.assertRegex(repr(lock), r"^<locked _thread\.lock object at 0x[0-9a-f]+>$")
        self.assertIn(hex(id(lock)), repr(lock))
        lock.release()

    def test_release_unlocked(self):
        lock = self.threading.Lock()
        with self.assertRaises(RuntimeError) as cm:
            lock.release()
        self.assertEqual(str(cm.exception), "release unlocked lock")
        # _thread.error is RuntimeError
        self.assertRaises(self.threading.ThreadError, lock.release)

    def test_argument_errors(self):
        lock = self.threading.Lock()
        with self.assertRaises(ValueError) as cm:
            lock.acquire(False, 1)
        self.assertEqual(str(cm.exception), "can't specify a timeout for a non-blocking call")
        self.assertRaises(ValueError, lock.acquire, True, -2)
        self.assertRaises(ValueError, lock.acquire, timeout=-0.5)
        with self.assertRaises(ValueError) as cm:
            lock.acquire(timeout=math.nan)
        self.assertEqual(str(cm.exception), "Invalid value NaN (not a number)")
        self.assertRaises(OverflowError, lock.acquire, timeout=self.threading.TIMEOUT_MAX * 2)
        with self.assertRaises(TypeError) as cm:
            lock.acquire(timeout=None)
        self.assertEqual(str(cm.exception), "'NoneType' object cannot be interpreted as an integer")
        self.assertRaises(TypeError, lock.acquire, timeout="1")
        self.assertFalse(lock.locked())
        # -1 means "no limit", also with blocking=False
        self.assertTrue(lock.acquire(False, -1))
        lock.release()
        self.assertTrue(lock.acquire(True, -1))
        lock.release()
        self.assertTrue(lock.acquire(timeout=0))
        lock.release()

    def test_timeout(self):
        lock = self.threading.Lock()
        lock.acquire()
        with Timer() as t:
            self.assertIs(lock.acquire(timeout=SHORT), False)
        self.assertGreaterEqual(t.elapsed, SHORT * 0.95)
        self.assertLess(t.elapsed, SHORT + SLACK)
        with Timer() as t:
            self.assertIs(lock.acquire(True, 0), False)
        self.assertLess(t.elapsed, SLACK)
        lock.release()

    def test_release_from_other_thread(self):
        lock = self.threading.Lock()
        lock.acquire()
        self.spawn(lock.release)
        self.assertTrue(lock.acquire(timeout=LONG))
        lock.release()

    def test_blocks_until_released(self):
        lock = self.threading.Lock()
        got = []
        lock.acquire()
        self.spawn(lambda: got.append(lock.acquire(timeout=LONG)))
        self.threading.Event().wait(0.05)
        self.assertEqual(got, [])
        lock.release()
        self.join_all()
        self.assertEqual(got, [True])
        self.assertTrue(lock.locked())

    def test_mutual_exclusion(self):
        lock = self.threading.Lock()
        state = {"n": 0, "inside": 0, "max": 0}

        def work():
            for _ in range(300):
                with lock:
                    state["inside"] += 1
                    state["max"] = max(state["max"], state["inside"])
                    state["n"] += 1
                    state["inside"] -= 1

        for _ in range(4):
            self.spawn(work)
        self.join_all()
        self.assertEqual(state["n"], 1200)
        self.assertEqual(state["max"], 1)

    def test_parallel_timeouts(self):
        # Threads blocked with timeouts wait side by side (the GIL is not
        # held while blocked): about 1x the timeout, not PARALLEL x.
        lock = self.threading.Lock()
        lock.acquire()
        results = []
        with Timer() as t:
            for _ in range(PARALLEL):
                self.spawn(lambda: results.append(lock.acquire(timeout=PARALLEL_TIMEOUT)))
            self.join_all()
        self.assertEqual(results, [False] * PARALLEL)
        self.assertGreaterEqual(t.elapsed, PARALLEL_TIMEOUT * 0.95)
        self.assertLess(t.elapsed, PARALLEL_BOUND)
        lock.release()


class RLockTests(ThreadsMixin):

    def test_recursion(self):
        rlock = self.threading.RLock()
        self.assertTrue(rlock.acquire())
        self.assertTrue(rlock.acquire())
        self.assertTrue(rlock.acquire(False))
        self.assertTrue(rlock._is_owned())
        rlock.release()
        rlock.release()
        self.assertTrue(rlock._is_owned())
        rlock.release()
        self.assertFalse(rlock._is_owned())
        self.assertRaises(RuntimeError, rlock.release)

    def test_context_manager(self):
        rlock = self.threading.RLock()
        with rlock as value:
            self.assertIs(value, True)
            with rlock:
                self.assertTrue(rlock._is_owned())
            self.assertTrue(rlock._is_owned())
        self.assertFalse(rlock._is_owned())

    def test_release_errors(self):
        rlock = self.threading.RLock()
        with self.assertRaises(RuntimeError) as cm:
            rlock.release()
        self.assertEqual(str(cm.exception), "cannot release un-acquired lock")
        rlock.acquire()
        errors = []

        def other():
            try:
                rlock.release()
            except RuntimeError as exc:
                errors.append(str(exc))
        self.spawn(other)
        self.join_all()
        self.assertEqual(errors, ["cannot release un-acquired lock"])
        rlock.release()

    def test_argument_errors(self):
        rlock = self.threading.RLock()
        with self.assertRaises(ValueError) as cm:
            rlock.acquire(False, 1)
        self.assertEqual(str(cm.exception), "can't specify a timeout for a non-blocking call")
        self.assertRaises(ValueError, rlock.acquire, True, -2)
        self.assertRaises(OverflowError, rlock.acquire, timeout=self.threading.TIMEOUT_MAX * 2)

    def test_repr(self):
        rlock = self.threading.RLock()
        self.assertRegex(repr(rlock),
                         r"^<unlocked _thread\.RLock object owner=0 count=0 at 0x[0-9a-f]+>$")
        rlock.acquire()
        rlock.acquire()
        self.assertEqual(repr(rlock), "<locked _thread.RLock object owner=%d count=2 at %s>"
                         % (self.threading.get_ident(), hex(id(rlock))))
        rlock.release()
        self.assertIn("count=1", repr(rlock))
        rlock.release()
        self.assertIn("unlocked", repr(rlock))

    def test_other_thread_times_out(self):
        rlock = self.threading.RLock()
        rlock.acquire()
        got = []
        with Timer() as t:
            self.spawn(lambda: got.append(rlock.acquire(timeout=SHORT)))
            self.join_all()
        self.assertEqual(got, [False])
        self.assertGreaterEqual(t.elapsed, SHORT * 0.95)
        rlock.release()

    def test_handoff(self):
        rlock = self.threading.RLock()
        rlock.acquire()
        got = []

        def other():
            ok = rlock.acquire(timeout=LONG)
            got.append((ok, rlock._is_owned()))
            if ok:
                rlock.release()
        self.spawn(other)
        self.threading.Event().wait(0.05)
        rlock.release()
        self.join_all()
        self.assertEqual(got, [(True, True)])


parameterize(LockTests, globals())
parameterize(RLockTests, globals())

if __name__ == "__main__":
    unittest.main()
