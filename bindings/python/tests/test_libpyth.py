"""What only the libpyth binding has: sharing handles with C code, the GIL
being released while blocked, C callbacks, process exit, library lookup."""

import copy
import ctypes
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

import libpyth
from libpyth import _lib
from libpyth import queue as pqueue
from libpyth import threading as pthreading

from .support import LONG, SLACK, ThreadsMixin, Timer, parameterize

HERE = os.path.dirname(os.path.abspath(__file__))
PKG_ROOT = os.path.dirname(HERE)


def c_library():
    """The library opened a second time through plain ctypes, as a C
    extension would use it."""
    c = ctypes.CDLL(libpyth.LIBRARY_PATH)
    vp = ctypes.c_void_p
    protos = {
        "pyth_lock_new": (vp, []), "pyth_lock_locked": (ctypes.c_bool, [vp]),
        "pyth_lock_acquire": (ctypes.c_int, [vp, ctypes.c_bool, ctypes.c_double]),
        "pyth_lock_release": (ctypes.c_int, [vp]), "pyth_lock_free": (ctypes.c_int, [vp]),
        "pyth_rlock_new": (vp, []), "pyth_rlock_free": (ctypes.c_int, [vp]),
        "pyth_rlock_locked": (ctypes.c_bool, [vp]),
        "pyth_event_new": (vp, []), "pyth_event_set": (ctypes.c_int, [vp]),
        "pyth_event_is_set": (ctypes.c_bool, [vp]), "pyth_event_free": (ctypes.c_int, [vp]),
        "pyth_semaphore_new": (vp, [ctypes.c_int64]),
        "pyth_semaphore_value": (ctypes.c_int64, [vp]),
        "pyth_semaphore_free": (ctypes.c_int, [vp]),
        "pyth_cond_new": (vp, []), "pyth_cond_free": (ctypes.c_int, [vp]),
        "pyth_cond_new_with_lock": (vp, [vp]),
        "pyth_cond_acquire": (ctypes.c_int, [vp, ctypes.c_bool, ctypes.c_double]),
        "pyth_cond_release": (ctypes.c_int, [vp]),
        "pyth_barrier_new": (vp, [ctypes.c_size_t, vp, vp, ctypes.c_double]),
        "pyth_barrier_free": (ctypes.c_int, [vp]),
        "pyth_queue_new": (vp, [ctypes.c_size_t]),
        "pyth_queue_put": (ctypes.c_int, [vp, vp, ctypes.c_bool, ctypes.c_double]),
        "pyth_queue_qsize": (ctypes.c_size_t, [vp]), "pyth_queue_free": (ctypes.c_int, [vp]),
        "pyth_thread_new": (vp, [vp, vp, ctypes.c_char_p, ctypes.c_int]),
        "pyth_thread_free": (ctypes.c_int, [vp]),
        "pyth_thread_is_alive": (ctypes.c_bool, [vp]),
    }
    for name, (res, args) in protos.items():
        fn = getattr(c, name)
        fn.restype, fn.argtypes = res, args
    return c


C = c_library()


class FromHandleTests(unittest.TestCase):

    def test_lock_shared_with_c(self):
        addr = C.pyth_lock_new()
        self.assertTrue(addr)
        lock = pthreading.Lock.from_handle(addr)
        self.assertEqual(lock.handle, addr)
        self.assertTrue(lock.acquire(timeout=LONG))
        self.assertTrue(C.pyth_lock_locked(addr))           # seen from C
        self.assertEqual(C.pyth_lock_acquire(addr, False, -1.0), _lib.TIMEOUT)
        self.assertEqual(C.pyth_lock_release(addr), 0)      # released by C
        self.assertFalse(lock.locked())                      # seen from Python
        with lock:
            self.assertTrue(C.pyth_lock_locked(addr))
        del lock                                             # does not free it
        self.assertFalse(C.pyth_lock_locked(addr))
        self.assertEqual(C.pyth_lock_free(addr), 0)

    def test_handle_of_owned_objects(self):
        lock = pthreading.Lock()
        self.assertIsInstance(lock.handle, int)
        lock.acquire()
        self.assertTrue(C.pyth_lock_locked(lock.handle))
        lock.release()
        self.assertEqual(C.pyth_lock_acquire(lock, True, -1.0), 0)   # _as_parameter_
        self.assertTrue(lock.locked())
        C.pyth_lock_release(lock.handle)

    def test_rlock_event_semaphore(self):
        r = C.pyth_rlock_new()
        rlock = pthreading.RLock.from_handle(ctypes.c_void_p(r))
        with rlock:
            with rlock:
                self.assertTrue(C.pyth_rlock_locked(r))
        self.assertFalse(C.pyth_rlock_locked(r))
        del rlock
        self.assertEqual(C.pyth_rlock_free(r), 0)

        e = C.pyth_event_new()
        event = pthreading.Event.from_handle(e)
        self.assertFalse(event.wait(0.01))
        C.pyth_event_set(e)
        self.assertTrue(event.wait(LONG))
        event.clear()
        self.assertFalse(C.pyth_event_is_set(e))
        del event
        self.assertEqual(C.pyth_event_free(e), 0)

        s = C.pyth_semaphore_new(2)
        sem = pthreading.Semaphore.from_handle(s)
        self.assertTrue(sem.acquire())
        self.assertEqual(C.pyth_semaphore_value(s), 1)
        self.assertIn("value=1>", repr(sem))
        del sem
        self.assertEqual(C.pyth_semaphore_free(s), 0)

    def test_condition_from_c(self):
        c = C.pyth_cond_new()
        cond = pthreading.Condition.from_handle(c)
        self.assertRaises(RuntimeError, cond.wait, 0)
        with cond:
            self.assertFalse(cond.wait(0.01))
        self.assertIn("<Condition(<unlocked libpyth lock", repr(cond))
        flag = []
        t = pthreading.Thread(target=lambda: (cond.acquire(), flag.append(1),
                                              cond.notify(), cond.release()))
        with cond:
            t.start()
            self.assertTrue(cond.wait_for(lambda: flag, LONG))
        t.join(LONG)
        del cond
        self.assertEqual(C.pyth_cond_free(c), 0)

    def test_barrier_and_queue_from_c(self):
        b = C.pyth_barrier_new(2, None, None, -1.0)
        barrier = pthreading.Barrier.from_handle(b)
        self.assertEqual(barrier.parties, 2)
        t = pthreading.Thread(target=barrier.wait, args=(LONG,))
        t.start()
        self.assertIn(barrier.wait(LONG), (0, 1))
        t.join(LONG)
        del barrier
        self.assertEqual(C.pyth_barrier_free(b), 0)

        q = C.pyth_queue_new(0)
        queue = pqueue.Queue.from_handle(q)
        self.assertEqual(C.pyth_queue_put(q, 0x1234, True, -1.0), 0)
        self.assertEqual(queue.get(timeout=LONG), 0x1234)   # raw pointer values
        queue.put(0x5678)
        self.assertEqual(C.pyth_queue_qsize(q), 1)
        self.assertEqual(queue.get_nowait(), 0x5678)
        self.assertRaises(pqueue.Empty, queue.get_nowait)
        del queue
        self.assertEqual(C.pyth_queue_free(q), 0)

    def test_thread_from_c(self):
        h = C.pyth_thread_new(None, None, b"from-c", 0)
        t = pthreading.Thread.from_handle(h)
        self.assertEqual(t.name, "from-c")
        self.assertEqual(repr(t), "<Thread(from-c, initial)>")
        t.start()
        t.join(LONG)
        self.assertFalse(t.is_alive())
        del t
        self.assertEqual(C.pyth_thread_free(h), 0)

    def test_null_and_wrong_handles(self):
        self.assertRaises(ValueError, pthreading.Lock.from_handle, 0)
        self.assertRaises(ValueError, pthreading.Lock.from_handle, None)
        e = pthreading.Event()
        wrong = pthreading.Lock.from_handle(e.handle)     # an event, not a lock
        with self.assertRaises(TypeError):
            wrong.release()

    def test_busy_free_leaks_instead_of_crashing(self):
        lock = pthreading.Lock()
        addr = lock.handle
        cond = C.pyth_cond_new_with_lock(addr)             # C borrows the lock
        del lock                                           # PYTH_EBUSY: leaked
        self.assertEqual(C.pyth_cond_acquire(cond, True, -1.0), 0)
        self.assertTrue(C.pyth_lock_locked(addr))
        self.assertEqual(C.pyth_cond_release(cond), 0)
        self.assertEqual(C.pyth_cond_free(cond), 0)
        self.assertEqual(C.pyth_lock_free(addr), 0)

    def test_not_copyable(self):
        for obj in (pthreading.Lock(), pthreading.RLock(), pthreading.Event(),
                    pthreading.Semaphore(), pthreading.Condition(), pqueue.Queue(),
                    pthreading.local()):
            self.assertRaises(TypeError, copy.copy, obj)
            self.assertRaises(TypeError, pickle.dumps, obj)


class CallbackTests(ThreadsMixin, unittest.TestCase):
    threading = pthreading

    def test_gil_released_while_blocked(self):
        lock = pthreading.Lock()
        lock.acquire()
        t = self.spawn(lock.acquire, True, 0.3)
        count = 0
        with Timer() as timer:
            while t.is_alive() and time.monotonic() - timer.start < LONG:
                count += 1
        self.assertGreater(count, 1000)
        lock.release()

    def test_thread_started_by_c_is_enumerated(self):
        ev = pthreading.Event()

        @_lib.TARGET_FN
        def target(_arg):
            me = pthreading.current_thread()
            seen.append((me.name, me.ident == pthreading.get_ident()))
            ev.wait(LONG)
            return 0
        seen = []
        h = C.pyth_thread_new(ctypes.cast(target, ctypes.c_void_p), None, b"c-started", 0)
        t = pthreading.Thread.from_handle(h)
        t.start()
        self.wait_until(lambda: seen)
        self.assertEqual(seen, [("c-started", True)])
        names = [th.name for th in pthreading.enumerate()]
        self.assertIn("c-started", names)
        ev.set()
        t.join(LONG)
        del t
        self.assertEqual(C.pyth_thread_free(h), 0)

    def test_current_thread_in_foreign_thread(self):
        import threading as std
        out = []
        t = std.Thread(target=lambda: out.append(
            (pthreading.current_thread().daemon, pthreading.get_ident() == std.get_ident(),
             type(pthreading.current_thread()).__name__)))
        t.start()
        t.join(LONG)
        self.assertEqual(out, [(True, True, "_DummyThread")])

    def test_many_threads(self):
        counter = [0]
        lock = pthreading.Lock()

        def work():
            with lock:
                counter[0] += 1
        threads = [pthreading.Thread(target=work) for _ in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(LONG)
        self.assertEqual(counter[0], 50)
        self.assertEqual(pthreading.active_count(), len(pthreading.enumerate()))


class MixingTests(ThreadsMixin, unittest.TestCase):
    """libpyth objects meet the standard module's."""
    threading = pthreading

    def test_our_condition_over_a_standard_lock(self):
        import threading as std
        for lock in (std.Lock(), std.RLock()):
            cond = pthreading.Condition(lock)
            self.assertRaises(RuntimeError, cond.wait, 0)
            flag = []

            def setter():
                with cond:
                    flag.append(1)
                    cond.notify_all()
            with cond:
                self.spawn(setter)
                self.assertEqual(cond.wait_for(lambda: flag, LONG), [1])
                self.assertFalse(cond.wait(0.01))
            self.join_all()

    def test_standard_condition_over_our_locks(self):
        import threading as std
        for lock in (pthreading.Lock(), pthreading.RLock()):
            cond = std.Condition(lock)
            flag = []

            def setter():
                with cond:
                    flag.append(1)
                    cond.notify()
            with cond:
                self.spawn(setter)
                self.assertTrue(cond.wait_for(lambda: flag, LONG))
            self.join_all()
            self.assertFalse(lock.locked())

    def test_standard_exceptions(self):
        import queue as std_queue
        import threading as std
        self.assertIs(pthreading.BrokenBarrierError, std.BrokenBarrierError)
        self.assertIs(pqueue.Empty, std_queue.Empty)
        self.assertIs(pqueue.Full, std_queue.Full)
        if hasattr(std_queue, "ShutDown"):
            self.assertIs(pqueue.ShutDown, std_queue.ShutDown)
        else:
            self.assertTrue(issubclass(pqueue.ShutDown, Exception))
        try:
            pqueue.Queue().get_nowait()
        except std_queue.Empty:
            pass


class InterruptTests(ThreadsMixin):
    """A signal handler raising in the main thread ends a blocking wait, as
    with the standard module."""

    def setUp(self):
        if not hasattr(signal, "setitimer"):
            self.skipTest("no setitimer")
        super().setUp()

    def interrupted(self, fn, *args):
        class Alarm(Exception):
            pass

        def handler(signum, frame):
            raise Alarm

        old = signal.signal(signal.SIGALRM, handler)
        try:
            signal.setitimer(signal.ITIMER_REAL, 0.1)
            with Timer() as t:
                with self.assertRaises(Alarm):
                    fn(*args)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        self.assertLess(t.elapsed, SLACK)

    def test_lock_acquire(self):
        lock = self.threading.Lock()
        lock.acquire()
        self.interrupted(lock.acquire, True, 5.0)
        self.interrupted(lock.acquire)
        lock.release()

    def test_event_wait_and_join(self):
        ev = self.threading.Event()
        self.interrupted(ev.wait)
        t = self.spawn(ev.wait, LONG)
        self.interrupted(t.join)
        ev.set()

    def test_queue_get(self):
        self.interrupted(self.queue.Queue().get)


parameterize(InterruptTests, globals())


def run_python(code, env_extra=None, env_drop=()):
    env = dict(os.environ)
    env["PYTHONPATH"] = PKG_ROOT
    for k in env_drop:
        env.pop(k, None)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=60)


class ProcessTests(unittest.TestCase):

    def test_exit_with_daemon_threads(self):
        # CPython ends daemon threads that touch the interpreter after
        # finalization with pthread_exit(); the binding parks them first.
        r = run_python("""
            import time
            from libpyth import threading, queue
            def spin():
                while True:
                    sum(range(100))
            def sleeper():
                while True:
                    time.sleep(0.005)
            def waiter():
                e = threading.Event()
                while True:
                    e.wait(0.005)
            q = queue.Queue()
            for f in (spin, sleeper, waiter, q.get):
                threading.Thread(target=f, daemon=True).start()
            done = []
            t = threading.Thread(target=lambda: (time.sleep(0.1), done.append(1)))
            t.start()
            print("bye")
            """)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "bye\n", ""))

    # CPython 3.11-3.13 ends daemon threads with pthread_exit() after
    # finalization; libpyth threads must survive that (it once aborted).
    def test_target_ending_with_pthread_exit(self):
        r = run_python("""
            import ctypes
            from libpyth import threading
            libc = ctypes.CDLL(None)
            libc.pthread_exit.argtypes = [ctypes.c_void_p]
            t = threading.Thread(target=libc.pthread_exit, args=(None,))
            t.start()
            t.join(10)
            print(t.is_alive())
            """)
        self.assertEqual((r.returncode, r.stdout), (0, "False\n"), r.stderr)

    def test_non_daemon_threads_are_waited_for(self):
        r = run_python("""
            import time
            from libpyth import threading
            def late():
                time.sleep(0.2)
                print("late thread done", flush=True)
            threading.Thread(target=late).start()
            print("main done", flush=True)
            """)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "main done\nlate thread done\n")

    def test_exception_reported_once(self):
        r = run_python("""
            from libpyth import threading
            def boom():
                raise KeyError("x")
            t = threading.Thread(target=boom, name="T1")
            t.start(); t.join()
            """)
        self.assertEqual(r.returncode, 0)
        self.assertTrue(r.stderr.startswith("Exception in thread T1:\nTraceback"), r.stderr)
        self.assertIn("KeyError: 'x'", r.stderr)
        self.assertEqual(r.stderr.count("Exception in thread"), 1)
        self.assertNotIn("failed with code", r.stderr)

    def test_bad_library_path(self):
        r = run_python("import libpyth", {"LIBPYTH_PATH": "/nonexistent/libpyth.so"})
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("ImportError", r.stderr)
        self.assertIn("/nonexistent/libpyth.so", r.stderr)

    def test_library_next_to_package(self):
        with tempfile.TemporaryDirectory() as tmp:
            pkg = os.path.join(tmp, "libpyth")
            shutil.copytree(os.path.join(PKG_ROOT, "libpyth"), pkg,
                            ignore=shutil.ignore_patterns("__pycache__"))
            os.symlink(os.path.realpath(libpyth.LIBRARY_PATH), os.path.join(pkg, "libpyth.so.0"))
            env = dict(os.environ)
            env.pop("LIBPYTH_PATH", None)
            env["PYTHONPATH"] = tmp
            r = subprocess.run([sys.executable, "-c",
                                "import libpyth; print(libpyth.LIBRARY_PATH)"],
                               env=env, capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.strip(), os.path.join(pkg, "libpyth.so.0"))


if __name__ == "__main__":
    unittest.main()
