"""Thread, Timer, local and the module functions, against both modules."""

import contextlib
import gc
import io
import sys
import unittest
import weakref

from .support import LONG, SHORT, SLACK, ThreadsMixin, Timer, norm, parameterize


class ThreadTests(ThreadsMixin):

    def test_target_args_kwargs(self):
        out = []
        t = self.threading.Thread(target=lambda *a, **k: out.append((a, k)),
                                  args=(1, 2), kwargs={"x": 3})
        t.start()
        t.join(LONG)
        self.assertEqual(out, [((1, 2), {"x": 3})])
        self.assertFalse(t.is_alive())

    def test_run_override(self):
        threading = self.threading
        out = []

        class Worker(threading.Thread):
            def __init__(self, value):
                super().__init__(name="worker")
                self.value = value

            def run(self):
                out.append((self.value, threading.current_thread() is self, self.name))
        w = Worker(7)
        w.start()
        w.join(LONG)
        self.assertEqual(out, [(7, True, "worker")])

    def test_thread_object_released_after_join(self):
        t = self.threading.Thread(target=lambda: None)
        t.start()
        t.join(LONG)
        ref = weakref.ref(t)
        del t
        gc.collect()
        self.assertIsNone(ref())

    def test_names(self):
        def target():
            pass
        t = self.threading.Thread(target=target)
        self.assertRegex(t.name, r"^Thread-\d+ \(target\)$")
        self.assertRegex(self.threading.Thread().name, r"^Thread-\d+$")
        self.assertEqual(self.threading.Thread(name=42).name, "42")
        t.name = "renamed"
        self.assertEqual(t.name, "renamed")
        with self.assertWarns(DeprecationWarning):
            self.assertEqual(t.getName(), "renamed")
        with self.assertWarns(DeprecationWarning):
            t.setName("again")
        self.assertEqual(t.name, "again")
        n1 = int(self.threading.Thread().name.split("-")[1])
        n2 = int(self.threading.Thread().name.split("-")[1])
        self.assertEqual(n2, n1 + 1)

    def test_group_must_be_none(self):
        with self.assertRaises(AssertionError):
            self.threading.Thread(group=object())

    def test_ident_and_native_id(self):
        t = self.threading.Thread(target=lambda: seen.append(
            (self.threading.get_ident(), self.threading.get_native_id())))
        seen = []
        self.assertIsNone(t.ident)
        self.assertIsNone(t.native_id)
        t.start()
        t.join(LONG)
        self.assertEqual(seen, [(t.ident, t.native_id)])
        self.assertIsInstance(t.ident, int)
        self.assertNotEqual(t.ident, self.threading.get_ident())

    def test_daemon(self):
        t = self.threading.Thread()
        self.assertFalse(t.daemon)          # inherited from the main thread
        self.assertTrue(self.threading.Thread(daemon=True).daemon)
        t.daemon = True
        self.assertTrue(t.daemon)
        with self.assertWarns(DeprecationWarning):
            self.assertTrue(t.isDaemon())
        with self.assertWarns(DeprecationWarning):
            t.setDaemon(False)
        self.assertFalse(t.daemon)
        inherited = []
        parent = self.threading.Thread(
            target=lambda: inherited.append(self.threading.Thread().daemon), daemon=True)
        parent.start()
        parent.join(LONG)
        self.assertEqual(inherited, [True])
        with self.assertRaises(RuntimeError) as cm:
            parent.daemon = False
        self.assertEqual(str(cm.exception), "cannot set daemon status of active thread")

    def test_lifecycle_errors(self):
        t = self.threading.Thread()
        with self.assertRaises(RuntimeError) as cm:
            t.join()
        self.assertEqual(str(cm.exception), "cannot join thread before it is started")
        t.start()
        t.join(LONG)
        with self.assertRaises(RuntimeError) as cm:
            t.start()
        self.assertEqual(str(cm.exception), "threads can only be started once")
        with self.assertRaises(RuntimeError) as cm:
            self.threading.current_thread().join()
        self.assertEqual(str(cm.exception), "cannot join current thread")

    def test_join_timeout(self):
        ev = self.threading.Event()
        t = self.spawn(ev.wait, LONG)
        with Timer() as timer:
            self.assertIsNone(t.join(SHORT))
        self.assertGreaterEqual(timer.elapsed, SHORT * 0.95)
        self.assertLess(timer.elapsed, SHORT + SLACK)
        self.assertTrue(t.is_alive())
        self.assertIsNone(t.join(-1))
        self.assertIsNone(t.join(0))
        ev.set()
        t.join(LONG)
        self.assertFalse(t.is_alive())

    def test_repr(self):
        ev = self.threading.Event()

        def target():
            ev.wait(LONG)
        t = self.threading.Thread(target=target, daemon=True)
        self.assertEqual(norm(repr(t)), "<Thread(Thread-N (target), initial daemon)>")
        t.start()
        self.assertEqual(repr(t), "<Thread(%s, started daemon %d)>" % (t.name, t.ident))
        ev.set()
        t.join(LONG)
        self.assertEqual(repr(t), "<Thread(%s, stopped daemon %d)>" % (t.name, t.ident))
        main = self.threading.main_thread()
        self.assertEqual(repr(main), "<_MainThread(MainThread, started %d)>" % main.ident)

    def test_module_functions(self):
        threading = self.threading
        main = threading.main_thread()
        self.assertIs(threading.current_thread(), main)
        self.assertEqual(main.name, "MainThread")
        self.assertEqual(main.ident, threading.get_ident())
        self.assertEqual(threading.get_native_id(), main.native_id)
        self.assertTrue(main.is_alive())
        self.assertFalse(main.daemon)
        ev = threading.Event()
        before = threading.active_count()
        t = self.spawn(ev.wait, LONG)
        self.assertIn(t, threading.enumerate())
        self.assertIn(main, threading.enumerate())
        self.assertEqual(threading.active_count(), before + 1)
        ev.set()
        t.join(LONG)
        self.assertNotIn(t, threading.enumerate())
        self.assertEqual(threading.active_count(), before)
        self.assertEqual(threading.TIMEOUT_MAX, 9223372036.0)
        self.assertEqual(threading.stack_size(), 0)
        with self.assertRaises(ValueError) as cm:
            threading.stack_size(100)
        self.assertEqual(str(cm.exception), "size not valid: 100 bytes")
        with self.assertWarns(DeprecationWarning):
            self.assertIs(threading.currentThread(), main)
        with self.assertWarns(DeprecationWarning):
            self.assertEqual(threading.activeCount(), before)

    def test_excepthook_default_output(self):
        def target():
            raise ValueError("boom in thread")
        t = self.threading.Thread(target=target, name="failing")
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            t.start()
            t.join(LONG)
        text = err.getvalue()
        self.assertTrue(text.startswith("Exception in thread failing:\nTraceback"), text)
        self.assertIn("ValueError: boom in thread", text)
        self.assertEqual(text.count("Exception in thread"), 1)

    def test_excepthook_custom_and_system_exit(self):
        threading = self.threading
        seen = []
        old = threading.excepthook
        threading.excepthook = lambda args: seen.append(
            (args.exc_type, str(args.exc_value), args.thread.name, args.exc_traceback is not None))
        try:
            t = threading.Thread(target=lambda: 1 / 0, name="div")
            t.start()
            t.join(LONG)
            t = threading.Thread(target=sys.exit, name="quiet")
            t.start()
            t.join(LONG)
        finally:
            threading.excepthook = old
        self.assertEqual(seen[0], (ZeroDivisionError, "division by zero", "div", True))
        self.assertEqual(seen[1][0], SystemExit)
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            t = threading.Thread(target=sys.exit)
            t.start()
            t.join(LONG)
        self.assertEqual(err.getvalue(), "")
        self.assertIs(threading.ExceptHookArgs, __import__("threading").ExceptHookArgs)

    def test_settrace(self):
        threading = self.threading
        calls = []

        def tracer(frame, event, arg):
            if event == "call":
                calls.append(frame.f_code.co_name)
            return None

        def traced_target():
            pass
        threading.settrace(tracer)
        try:
            self.assertIs(threading.gettrace(), tracer)
            t = threading.Thread(target=traced_target)
            t.start()
            t.join(LONG)
        finally:
            threading.settrace(None)
        self.assertIn("traced_target", calls)


class TimerTests(ThreadsMixin):

    def test_fires(self):
        out = []
        t = self.threading.Timer(0.05, lambda *a, **k: out.append((a, k)), args=(1,), kwargs={"k": 2})
        with Timer() as timer:
            t.start()
            t.join(LONG)
        self.assertEqual(out, [((1,), {"k": 2})])
        self.assertGreaterEqual(timer.elapsed, 0.045)
        self.assertTrue(t.finished.is_set())

    def test_cancel(self):
        out = []
        t = self.threading.Timer(LONG, out.append, args=(1,))
        t.start()
        t.cancel()
        with Timer() as timer:
            t.join(LONG)
        self.assertLess(timer.elapsed, SLACK)
        self.assertEqual(out, [])
        self.assertIsInstance(t, self.threading.Thread)
        self.assertEqual(norm(repr(t)), "<Timer(Thread-N, stopped N)>")

    def test_subclass_repeating(self):
        threading = self.threading
        ticks = []

        class Repeat(threading.Timer):
            def run(self):
                while not self.finished.wait(self.interval):
                    self.function(*self.args, **self.kwargs)
                    if len(ticks) >= 3:
                        self.cancel()
        t = Repeat(0.01, lambda: ticks.append(1))
        t.start()
        t.join(LONG)
        self.assertEqual(len(ticks), 3)


class LocalTests(ThreadsMixin):

    def test_per_thread(self):
        data = self.threading.local()
        data.x = "main"
        seen = []

        def worker(i):
            self.assertFalse(hasattr(data, "x"))
            data.x = i
            seen.append(data.x)
        for i in range(3):
            self.spawn(worker, i)
        self.join_all()
        self.assertEqual(sorted(seen), [0, 1, 2])
        self.assertEqual(data.x, "main")
        self.assertEqual(data.__dict__, {"x": "main"})
        del data.x
        self.assertRaises(AttributeError, getattr, data, "x")

    def test_subclass_init_per_thread(self):
        threading = self.threading

        class Counter(threading.local):
            inits = []

            def __init__(self, start):
                Counter.inits.append(start)
                self.value = start
        c = Counter(5)
        c.value += 1
        out = []
        t = threading.Thread(target=lambda: out.append(c.value))
        t.start()
        t.join(LONG)
        self.assertEqual(out, [5])
        self.assertEqual(c.value, 6)
        self.assertEqual(Counter.inits, [5, 5])

    def test_errors(self):
        with self.assertRaises(TypeError) as cm:
            self.threading.local(1)
        self.assertEqual(str(cm.exception), "Initialization arguments are not supported")
        data = self.threading.local()
        with self.assertRaises(AttributeError):
            data.__dict__ = {}
        self.assertEqual(norm(repr(data)), "<_thread._local object at ADDR>")

    def test_values_released_when_thread_ends(self):
        class Obj:
            pass
        data = self.threading.local()
        refs = []

        def worker():
            obj = Obj()
            data.obj = obj
            refs.append(weakref.ref(obj))
        t = self.threading.Thread(target=worker)
        t.start()
        t.join(LONG)
        gc.collect()
        self.assertIsNone(refs[0]())

    def test_values_released_with_local(self):
        class Obj:
            pass
        data = self.threading.local()
        obj = Obj()
        data.obj = obj
        ref = weakref.ref(obj)
        del obj, data
        gc.collect()
        self.assertIsNone(ref())


parameterize(ThreadTests, globals())
parameterize(TimerTests, globals())
parameterize(LocalTests, globals())

if __name__ == "__main__":
    unittest.main()
