"""Queue, LifoQueue, PriorityQueue and SimpleQueue, against both modules."""

import functools
import gc
import queue as std_queue
import unittest
import weakref

from .support import (LONG, SHORT, SLACK, PARALLEL, PARALLEL_TIMEOUT, PARALLEL_BOUND,
                      ThreadsMixin, Timer, norm, parameterize)


class QueueTests(ThreadsMixin):

    def test_fifo_lifo(self):
        q = self.queue.Queue()
        for i in range(5):
            q.put(i)
        self.assertEqual([q.get() for _ in range(5)], list(range(5)))
        q = self.queue.LifoQueue()
        for i in range(5):
            q.put(i)
        self.assertEqual([q.get() for _ in range(5)], [4, 3, 2, 1, 0])

    def test_priority(self):
        q = self.queue.PriorityQueue()
        items = [(3, "c"), (1, "a"), (2, "b"), (1, "aa"), (0, "z")]
        for item in items:
            q.put(item)
        self.assertEqual([q.get() for _ in items], sorted(items))

        @functools.total_ordering
        class Job:
            def __init__(self, prio):
                self.prio = prio

            def __lt__(self, other):
                return self.prio < other.prio

            def __eq__(self, other):
                return self.prio == other.prio
        jobs = [Job(p) for p in (5, 1, 4, 2, 3)]
        for j in jobs:
            q.put(j)
        out = [q.get() for _ in jobs]
        self.assertEqual([j.prio for j in out], [1, 2, 3, 4, 5])
        self.assertEqual(set(map(id, out)), set(map(id, jobs)))

    def test_priority_uncomparable(self):
        q = self.queue.PriorityQueue()
        q.put(1)
        with self.assertRaises(TypeError) as cm:
            q.put("a")
        self.assertIn("'<' not supported", str(cm.exception))

    def test_items_are_the_objects(self):
        q = self.queue.Queue()
        obj = object()
        q.put(obj)
        q.put(None)
        self.assertIs(q.get(), obj)
        self.assertIs(q.get(), None)

    def test_items_released(self):
        class Obj:
            pass
        q = self.queue.Queue()
        obj = Obj()
        ref = weakref.ref(obj)
        q.put(obj)
        del obj
        self.assertIsNotNone(ref())
        q.get()
        gc.collect()
        self.assertIsNone(ref())

    def test_sizes(self):
        q = self.queue.Queue(2)
        self.assertEqual(q.maxsize, 2)
        self.assertTrue(q.empty())
        self.assertFalse(q.full())
        q.put(1)
        q.put_nowait(2)
        self.assertEqual(q.qsize(), 2)
        self.assertTrue(q.full())
        self.assertFalse(q.empty())
        q = self.queue.Queue(-5)
        self.assertEqual(q.maxsize, -5)
        for i in range(10):
            q.put(i)
        self.assertFalse(q.full())
        self.assertEqual(self.queue.Queue().maxsize, 0)

    def test_empty_full_exceptions(self):
        q = self.queue.Queue(1)
        self.assertIs(self.queue.Empty, std_queue.Empty)
        self.assertIs(self.queue.Full, std_queue.Full)
        self.assertRaises(std_queue.Empty, q.get_nowait)
        self.assertRaises(std_queue.Empty, q.get, False)
        self.assertRaises(std_queue.Empty, q.get, False, -3)   # timeout ignored
        q.put(1)
        self.assertRaises(std_queue.Full, q.put_nowait, 2)
        self.assertRaises(std_queue.Full, q.put, 2, False)
        self.assertRaises(std_queue.Full, q.put, 2, block=False, timeout=-3)

    def test_timeouts(self):
        q = self.queue.Queue(1)
        with Timer() as t:
            self.assertRaises(self.queue.Empty, q.get, timeout=SHORT)
        self.assertGreaterEqual(t.elapsed, SHORT * 0.95)
        self.assertLess(t.elapsed, SHORT + SLACK)
        q.put(1)
        with Timer() as t:
            self.assertRaises(self.queue.Full, q.put, 2, timeout=SHORT)
        self.assertGreaterEqual(t.elapsed, SHORT * 0.95)
        self.assertLess(t.elapsed, SHORT + SLACK)
        self.assertRaises(self.queue.Full, q.put, 2, timeout=0)

    def test_timeout_errors(self):
        q = self.queue.Queue(1)
        with self.assertRaises(ValueError) as cm:
            q.get(timeout=-1)
        self.assertEqual(str(cm.exception), "'timeout' must be a non-negative number")
        with self.assertRaises(ValueError) as cm:
            q.put(1, timeout=-1)
        self.assertEqual(str(cm.exception), "'timeout' must be a non-negative number")
        # an unbounded queue never looks at put's timeout (as CPython)
        self.queue.Queue().put(1, timeout=-1)
        self.assertRaises(OverflowError, q.get, timeout=self.queue_timeout_max() * 2)
        q.put(1, timeout=self.queue_timeout_max() * 2)    # no wait needed
        self.assertEqual(q.get(timeout=self.queue_timeout_max() * 2), 1)

    def queue_timeout_max(self):
        return self.threading.TIMEOUT_MAX

    def test_task_done_join(self):
        q = self.queue.Queue()
        with self.assertRaises(ValueError) as cm:
            q.task_done()
        self.assertEqual(str(cm.exception), "task_done() called too many times")
        done = []

        def worker():
            while True:
                item = q.get(timeout=LONG)
                if item is None:
                    q.task_done()
                    return
                done.append(item * 2)
                q.task_done()
        for _ in range(3):
            self.spawn(worker)
        for i in range(30):
            q.put(i)
        q.join()
        self.assertEqual(sorted(done), [i * 2 for i in range(30)])
        for _ in range(3):
            q.put(None)
        q.join()
        self.join_all()

    def test_blocking_handoff(self):
        q = self.queue.Queue(1)
        got = []

        def consumer():
            for _ in range(20):
                got.append(q.get(timeout=LONG))
        self.spawn(consumer)
        for i in range(20):
            q.put(i, timeout=LONG)
        self.join_all()
        self.assertEqual(got, list(range(20)))

    def test_parallel_gets(self):
        q = self.queue.Queue()
        errors = []

        def getter():
            try:
                q.get(timeout=PARALLEL_TIMEOUT)
            except self.queue.Empty:
                errors.append(1)
        with Timer() as t:
            for _ in range(PARALLEL):
                self.spawn(getter)
            self.join_all()
        self.assertEqual(errors, [1] * PARALLEL)
        self.assertLess(t.elapsed, PARALLEL_BOUND)

    def test_repr(self):
        self.assertEqual(norm(repr(self.queue.Queue())), "<queue.Queue object at ADDR>")
        self.assertEqual(norm(repr(self.queue.SimpleQueue())),
                         "<_queue.SimpleQueue object at ADDR>")

    def test_generic_alias(self):
        self.assertEqual(self.queue.Queue[int].__origin__, self.queue.Queue)
        self.assertEqual(self.queue.SimpleQueue[int].__origin__, self.queue.SimpleQueue)


class SimpleQueueTests(ThreadsMixin):

    def test_basic(self):
        q = self.queue.SimpleQueue()
        self.assertTrue(q.empty())
        q.put(1)
        q.put(2, block=False, timeout=-5)
        q.put_nowait(3)
        self.assertEqual(q.qsize(), 3)
        self.assertEqual([q.get(), q.get(False), q.get_nowait()], [1, 2, 3])
        self.assertRaises(self.queue.Empty, q.get_nowait)
        self.assertFalse(hasattr(q, "task_done"))
        self.assertFalse(hasattr(q, "full"))

    def test_timeouts(self):
        q = self.queue.SimpleQueue()
        with self.assertRaises(ValueError) as cm:
            q.get(timeout=-1)
        self.assertEqual(str(cm.exception), "'timeout' must be a non-negative number")
        with Timer() as t:
            self.assertRaises(self.queue.Empty, q.get, timeout=SHORT)
        self.assertGreaterEqual(t.elapsed, SHORT * 0.95)
        self.assertLess(t.elapsed, SHORT + SLACK)

    def test_threads(self):
        q = self.queue.SimpleQueue()
        for i in range(4):
            self.spawn(lambda i=i: [q.put((i, j)) for j in range(50)])
        got = [q.get(timeout=LONG) for _ in range(200)]
        self.join_all()
        self.assertEqual(sorted(got), [(i, j) for i in range(4) for j in range(50)])


class ShutdownTests(ThreadsMixin):
    """Python 3.13's shutdown(); on older Pythons, libpyth only."""

    def setUp(self):
        if not hasattr(self.queue.Queue, "shutdown"):
            self.skipTest("this Python's queue has no shutdown()")
        super().setUp()

    def test_shutdown_drains(self):
        q = self.queue.Queue()
        q.put(1)
        q.shutdown()
        self.assertRaises(self.queue.ShutDown, q.put, 2)
        self.assertEqual(q.get(), 1)
        self.assertRaises(self.queue.ShutDown, q.get)
        self.assertRaises(self.queue.ShutDown, q.get_nowait)
        self.assertTrue(issubclass(self.queue.ShutDown, Exception))

    def test_shutdown_immediate(self):
        class Obj:
            pass
        q = self.queue.Queue()
        obj = Obj()
        ref = weakref.ref(obj)
        q.put(obj)
        q.put(2)
        del obj
        q.shutdown(immediate=True)
        self.assertRaises(self.queue.ShutDown, q.get)
        q.join()                     # the discarded items count as done
        gc.collect()
        self.assertIsNone(ref())     # and are released

    def test_shutdown_wakes_blocked(self):
        q = self.queue.Queue(1)
        errors = []

        def getter():
            try:
                q.get(timeout=LONG)
            except self.queue.ShutDown:
                errors.append("get")
        empty = self.queue.Queue(1)
        self.spawn(getter)
        self.threading.Event().wait(0.05)
        q.shutdown()
        self.join_all()
        self.assertEqual(errors, ["get"])
        empty.put(1)

        def putter():
            try:
                empty.put(2, timeout=LONG)
            except self.queue.ShutDown:
                errors.append("put")
        self.spawn(putter)
        self.threading.Event().wait(0.05)
        empty.shutdown()
        self.join_all()
        self.assertEqual(errors, ["get", "put"])


parameterize(QueueTests, globals())
parameterize(SimpleQueueTests, globals())
parameterize(ShutdownTests, globals())

if __name__ == "__main__":
    unittest.main()
