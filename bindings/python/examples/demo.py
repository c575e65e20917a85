"""libpyth from Python: the standard threading/queue idioms, unchanged,
running on libpyth's threads and primitives.

Four workers take numbers from a Queue, add their squares to a counter
protected by a Lock, and report through a result queue; an Event tells
them to stop. The sum of the squares of 1..1000 is printed and checked.
"""

from libpyth import threading, queue

N = 1000
WORKERS = 4

tasks = queue.Queue(maxsize=64)
results = queue.SimpleQueue()
stop = threading.Event()
counter_lock = threading.Lock()
counter = {"total": 0, "items": 0}
start_line = threading.Barrier(WORKERS + 1)


def worker():
    start_line.wait(timeout=10)
    done = 0
    while not stop.is_set():
        try:
            n = tasks.get(timeout=0.05)
        except queue.Empty:
            continue
        with counter_lock:
            counter["total"] += n * n
            counter["items"] += 1
        done += 1
        tasks.task_done()
    results.put((threading.current_thread().name, done))


threads = [threading.Thread(target=worker, name="worker-%d" % i) for i in range(WORKERS)]
for t in threads:
    t.start()
start_line.wait(timeout=10)
for n in range(1, N + 1):
    tasks.put(n, timeout=10)
tasks.join()                       # every item processed
stop.set()
for t in threads:
    t.join(timeout=10)

per_worker = sorted(results.get(timeout=10) for _ in threads)
expected = N * (N + 1) * (2 * N + 1) // 6
print("workers:", ", ".join("%s=%d" % w for w in per_worker))
print("items processed:", counter["items"])
print("sum of squares 1..%d = %d (expected %d)" % (N, counter["total"], expected))
print("threads alive:", threading.active_count(), "| main:", threading.main_thread().name)
assert counter["total"] == expected and counter["items"] == N
assert sum(d for _, d in per_worker) == N
assert not any(t.is_alive() for t in threads)
print("OK")
