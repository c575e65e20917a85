"""Semaphore, BoundedSemaphore, Event and Barrier, against both modules."""

import unittest

from .support import (LONG, SHORT, SLACK, PARALLEL, PARALLEL_TIMEOUT, PARALLEL_BOUND,
                      ThreadsMixin, Timer, norm, parameterize)


class SemaphoreTests(ThreadsMixin):

    def test_counting(self):
        sem = self.threading.Semaphore(2)
        self.assertTrue(sem.acquire())
        self.assertTrue(sem.acquire(False))
        self.assertFalse(sem.acquire(False))
        self.assertFalse(sem.acquire(timeout=0))
        sem.release(2)
        self.assertTrue(sem.acquire(blocking=False))
        self.assertTrue(sem.acquire(timeout=0))
        self.assertFalse(sem.acquire(timeout=-1))

    def test_defaults_and_repr(self):
        sem = self.threading.Semaphore()
        self.assertEqual(norm(repr(sem)), "<threading.Semaphore at ADDR: value=N>")
        self.assertRegex(repr(sem), r"value=1>$")
        bsem = self.threading.BoundedSemaphore(3)
        bsem.acquire()
        self.assertRegex(repr(bsem), r"^<(libpyth\.)?threading\.BoundedSemaphore at 0x[0-9a-f]+: value=2/3>$")

    def test_context_manager(self):
        sem = self.threading.Semaphore(1)
        with sem as value:
            self.assertIs(value, True)
            self.assertFalse(sem.acquire(False))
        self.assertTrue(sem.acquire(False))

    def test_errors(self):
        with self.assertRaises(ValueError) as cm:
            self.threading.Semaphore(-1)
        self.assertEqual(str(cm.exception), "semaphore initial value must be >= 0")
        self.assertRaises(ValueError, self.threading.BoundedSemaphore, -1)
        sem = self.threading.Semaphore(0)
        with self.assertRaises(ValueError) as cm:
            sem.acquire(False, 1)
        self.assertEqual(str(cm.exception), "can't specify timeout for non-blocking acquire")
        with self.assertRaises(ValueError) as cm:
            sem.release(0)
        self.assertEqual(str(cm.exception), "n must be one or more")
        self.assertRaises(ValueError, sem.release, -5)
        bsem = self.threading.BoundedSemaphore(2)
        with self.assertRaises(ValueError) as cm:
            bsem.release()
        self.assertEqual(str(cm.exception), "Semaphore released too many times")
        bsem.acquire()
        self.assertRaises(ValueError, bsem.release, 2)
        bsem.release()
        self.assertRaises(OverflowError, sem.acquire,
                          timeout=self.threading.TIMEOUT_MAX * 2)
        # no wait needed: no overflow (as CPython)
        self.assertTrue(self.threading.Semaphore(1).acquire(
            timeout=self.threading.TIMEOUT_MAX * 2))

    def test_timeout(self):
        sem = self.threading.Semaphore(0)
        with Timer() as t:
            self.assertFalse(sem.acquire(timeout=SHORT))
        self.assertGreaterEqual(t.elapsed, SHORT * 0.95)
        self.assertLess(t.elapsed, SHORT + SLACK)

    def test_release_n_wakes_n(self):
        sem = self.threading.Semaphore(0)
        got = []
        for i in range(4):
            self.spawn(lambda i=i: got.append(sem.acquire(timeout=LONG) and i))
        self.threading.Event().wait(0.05)
        sem.release(3)
        self.wait_until(lambda: len(got) == 3)
        sem.release()
        self.join_all()
        self.assertEqual(sorted(got), [0, 1, 2, 3])


class EventTests(ThreadsMixin):

    def test_flag(self):
        ev = self.threading.Event()
        self.assertIs(ev.is_set(), False)
        ev.set()
        self.assertIs(ev.is_set(), True)
        ev.set()
        self.assertIs(ev.wait(), True)
        self.assertIs(ev.wait(0), True)
        ev.clear()
        self.assertIs(ev.is_set(), False)
        with self.assertWarns(DeprecationWarning):
            self.assertFalse(ev.isSet())

    def test_repr(self):
        ev = self.threading.Event()
        self.assertEqual(norm(repr(ev)), "<threading.Event at ADDR: unset>")
        ev.set()
        self.assertEqual(norm(repr(ev)), "<threading.Event at ADDR: set>")

    def test_wait_timeout(self):
        ev = self.threading.Event()
        with Timer() as t:
            self.assertIs(ev.wait(SHORT), False)
        self.assertGreaterEqual(t.elapsed, SHORT * 0.95)
        self.assertLess(t.elapsed, SHORT + SLACK)
        self.assertIs(ev.wait(0), False)
        self.assertIs(ev.wait(-1), False)
        self.assertRaises(OverflowError, ev.wait, self.threading.TIMEOUT_MAX * 2)

    def test_set_wakes_all(self):
        ev = self.threading.Event()
        results = []
        for _ in range(4):
            self.spawn(lambda: results.append(ev.wait(LONG)))
        self.threading.Event().wait(0.05)
        ev.set()
        self.join_all()
        self.assertEqual(results, [True] * 4)

    def test_parallel_waits(self):
        # Timed waits side by side take about one timeout.
        ev = self.threading.Event()
        with Timer() as t:
            for _ in range(PARALLEL):
                self.spawn(ev.wait, PARALLEL_TIMEOUT)
            self.join_all()
        self.assertLess(t.elapsed, PARALLEL_BOUND)


class BarrierTests(ThreadsMixin):

    def test_indices_and_action(self):
        runs = []
        barrier = self.threading.Barrier(3, action=lambda: runs.append(barrier.n_waiting))
        self.assertEqual(barrier.parties, 3)
        self.assertEqual(barrier.n_waiting, 0)
        self.assertFalse(barrier.broken)
        indices = []
        for _ in range(2):
            self.spawn(lambda: indices.append(barrier.wait(LONG)))
        self.wait_until(lambda: barrier.n_waiting == 2)
        indices.append(barrier.wait(LONG))
        self.join_all()
        self.assertEqual(sorted(indices), [0, 1, 2])
        self.assertEqual(len(runs), 1)
        self.assertEqual(barrier.n_waiting, 0)

    def test_cycles(self):
        barrier = self.threading.Barrier(2)
        out = []

        def party():
            for _ in range(5):
                out.append(barrier.wait(LONG))
        self.spawn(party)
        party()
        self.join_all()
        self.assertEqual(sorted(out), [0] * 5 + [1] * 5)

    def test_repr(self):
        barrier = self.threading.Barrier(2)
        self.assertEqual(norm(repr(barrier)), "<threading.Barrier at ADDR: waiters=N/N>")
        self.assertRegex(repr(barrier), r"waiters=0/2>$")
        barrier.abort()
        self.assertEqual(norm(repr(barrier)), "<threading.Barrier at ADDR: broken>")

    def test_timeout_breaks(self):
        barrier = self.threading.Barrier(2)
        with Timer() as t:
            self.assertRaises(self.threading.BrokenBarrierError, barrier.wait, SHORT)
        self.assertGreaterEqual(t.elapsed, SHORT * 0.95)
        self.assertLess(t.elapsed, SHORT + SLACK)
        self.assertTrue(barrier.broken)
        self.assertRaises(self.threading.BrokenBarrierError, barrier.wait, LONG)
        barrier.reset()
        self.assertFalse(barrier.broken)

    def test_default_timeout(self):
        barrier = self.threading.Barrier(2, timeout=SHORT)
        with Timer() as t:
            self.assertRaises(self.threading.BrokenBarrierError, barrier.wait)
        self.assertLess(t.elapsed, SHORT + SLACK)
        barrier = self.threading.Barrier(2, timeout=-1)
        self.assertRaises(self.threading.BrokenBarrierError, barrier.wait)

    def test_abort_and_reset_wake_waiters(self):
        barrier = self.threading.Barrier(3)
        errors = []

        def party():
            try:
                barrier.wait(LONG)
            except self.threading.BrokenBarrierError as exc:
                errors.append(exc)
        self.spawn(party)
        self.wait_until(lambda: barrier.n_waiting == 1)
        barrier.abort()
        self.join_all()
        self.assertEqual(len(errors), 1)
        self.assertIsInstance(errors[0], RuntimeError)
        self.assertRaises(self.threading.BrokenBarrierError, barrier.wait)
        barrier.reset()
        self.spawn(party)
        self.wait_until(lambda: barrier.n_waiting == 1)
        barrier.reset()
        self.join_all()
        self.assertEqual(len(errors), 2)

    def test_action_raises(self):
        def action():
            raise ZeroDivisionError("in action")
        barrier = self.threading.Barrier(2, action=action)
        outcome = []

        def party():
            try:
                barrier.wait(LONG)
                outcome.append("passed")
            except self.threading.BrokenBarrierError:
                outcome.append("broken")
            except ZeroDivisionError:
                outcome.append("action error")
        self.spawn(party)
        party()
        self.join_all()
        self.assertEqual(sorted(outcome), ["action error", "broken"])
        self.assertTrue(barrier.broken)
        self.assertRaises(self.threading.BrokenBarrierError, barrier.wait, 0)
        barrier.reset()
        self.assertFalse(barrier.broken)

    def test_error_class(self):
        self.assertTrue(issubclass(self.threading.BrokenBarrierError, RuntimeError))


parameterize(SemaphoreTests, globals())
parameterize(EventTests, globals())
parameterize(BarrierTests, globals())

if __name__ == "__main__":
    unittest.main()
