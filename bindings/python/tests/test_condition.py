"""Condition, against both modules."""

import unittest

from .support import LONG, SHORT, SLACK, ThreadsMixin, Timer, norm, parameterize


class ConditionTests(ThreadsMixin):

    def make_locks(self):
        return [None, self.threading.Lock(), self.threading.RLock()]

    def test_defaults_and_repr(self):
        cond = self.threading.Condition()
        self.assertEqual(norm(repr(cond)),
                         "<Condition(<unlocked _thread.RLock object owner=N count=N at ADDR>, N)>")
        self.assertRegex(repr(cond), r", 0\)>$")
        cond = self.threading.Condition(self.threading.Lock())
        self.assertRegex(repr(cond),
                         r"^<Condition\(<unlocked _thread\.lock object at 0x[0-9a-f]+>, 0\)>$")

    def test_context_manager(self):
        for lock in self.make_locks():
            cond = self.threading.Condition(lock)
            with cond as value:
                self.assertIs(value, True)
                self.assertTrue(cond._is_owned())
            self.assertFalse(cond._is_owned())
            self.assertTrue(cond.acquire())
            self.assertTrue(cond._is_owned())
            cond.release()
            self.assertFalse(cond._is_owned())

    def test_unowned_errors(self):
        for lock in self.make_locks():
            cond = self.threading.Condition(lock)
            with self.assertRaises(RuntimeError) as cm:
                cond.wait(0)
            self.assertEqual(str(cm.exception), "cannot wait on un-acquired lock")
            with self.assertRaises(RuntimeError) as cm:
                cond.notify()
            self.assertEqual(str(cm.exception), "cannot notify on un-acquired lock")
            with self.assertRaises(RuntimeError) as cm:
                cond.notify_all()
            self.assertEqual(str(cm.exception), "cannot notify on un-acquired lock")

    def test_wait_timeout(self):
        for lock in self.make_locks():
            cond = self.threading.Condition(lock)
            with cond:
                with Timer() as t:
                    self.assertIs(cond.wait(SHORT), False)
                self.assertGreaterEqual(t.elapsed, SHORT * 0.95)
                self.assertLess(t.elapsed, SHORT + SLACK)
                self.assertIs(cond.wait(0), False)
                self.assertIs(cond.wait(-1), False)
                self.assertTrue(cond._is_owned())

    def test_notify_wakes_waiter(self):
        for lock in self.make_locks():
            cond = self.threading.Condition(lock)
            ready = []
            results = []

            def waiter():
                with cond:
                    ready.append(1)
                    results.append(cond.wait(LONG))

            self.spawn(waiter)
            self.wait_until(lambda: ready and cond.acquire(False))
            cond.notify()
            cond.release()
            self.join_all()
            self.assertEqual(results, [True])

    def test_notify_n_and_all(self):
        cond = self.threading.Condition()
        waiting = [0]
        woken = []

        def waiter(i):
            with cond:
                waiting[0] += 1
                if cond.wait(LONG):
                    woken.append(i)

        for i in range(5):
            self.spawn(waiter, i)

        def all_waiting():
            with cond:
                return waiting[0] == 5
        self.wait_until(all_waiting)
        with cond:
            cond.notify(2)
        self.wait_until(lambda: len(woken) == 2)
        self.threading.Event().wait(0.05)
        self.assertEqual(len(woken), 2)
        with cond:
            cond.notify(0)
            cond.notify(-3)
        self.threading.Event().wait(0.05)
        self.assertEqual(len(woken), 2)
        with cond:
            cond.notify_all()
        self.join_all()
        self.assertEqual(sorted(woken), list(range(5)))

    def test_rlock_levels_restored(self):
        rlock = self.threading.RLock()
        cond = self.threading.Condition(rlock)
        with cond:
            with cond:
                self.assertFalse(cond.wait(0.01))
                self.assertTrue(rlock._is_owned())
            self.assertTrue(rlock._is_owned())
        self.assertFalse(rlock._is_owned())
        self.assertRaises(RuntimeError, rlock.release)

    def test_wait_for(self):
        cond = self.threading.Condition()
        state = {"value": 0}

        def producer():
            for _ in range(3):
                self.threading.Event().wait(0.01)
                with cond:
                    state["value"] += 1
                    cond.notify_all()

        self.spawn(producer)
        with cond:
            result = cond.wait_for(lambda: state["value"] >= 3 and "done", LONG)
        self.assertEqual(result, "done")
        self.join_all()

    def test_wait_for_timeout_returns_last_value(self):
        cond = self.threading.Condition()
        calls = []

        def predicate():
            calls.append(1)
            return 0

        with cond:
            with Timer() as t:
                result = cond.wait_for(predicate, SHORT)
        self.assertEqual(result, 0)
        self.assertIsInstance(result, int)
        self.assertGreaterEqual(len(calls), 2)
        self.assertGreaterEqual(t.elapsed, SHORT * 0.95)
        self.assertLess(t.elapsed, SHORT + SLACK)
        with cond:
            self.assertEqual(cond.wait_for(lambda: [], 0), [])
            self.assertEqual(cond.wait_for(lambda: "yes"), "yes")

    def test_wait_for_predicate_raises(self):
        cond = self.threading.Condition()
        with cond:
            with self.assertRaises(KeyError):
                cond.wait_for(lambda: {}["missing"], LONG)
            self.assertTrue(cond._is_owned())
        self.assertFalse(cond._is_owned())

    def test_notify_all_alias(self):
        cond = self.threading.Condition()
        with cond:
            with self.assertWarns(DeprecationWarning):
                cond.notifyAll()


parameterize(ConditionTests, globals())

if __name__ == "__main__":
    unittest.main()
