/* fork() while threads sleep in libpyth waits: the child's new threads
 * can still block and be woken, round after round.
 *
 * API.md: "After fork() the child's only thread is the forking one, which
 * becomes the main thread, and the registry is sound"; Python's rule is
 * that the child may create threads and use new locks and events.
 *
 * A regression test. With parking_lot_core as the parking layer, the
 * child inherited wait queues linking the sleeping threads' ThreadData (in
 * their TLS); glibc reuses the dead threads' stacks and TLS for the
 * child's new threads, so a new thread's node was still linked in a stale
 * queue, and the lists became cross-linked or cyclic: lost wake-ups
 * (join timed out), SIGSEGV, or unpark_all() spinning forever. Fixed by
 * libpyth's own fork-safe parking lot (b4e84c8).
 */
#include "harness.h"
#include <sys/wait.h>
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif

enum { PARKED = 8, CHILD_THREADS = 8 };

typedef struct {
    pyth_event_t *e;
    atomic_int tid;
} parked;

static int park_fn(void *p) {
    parked *a = p;
    atomic_store(&a->tid, h_gettid());
    return pyth_event_wait(a->e, 60.0) == PYTH_OK ? 0 : 1;
}

/* In the child: rounds of "start threads that wait on a new event, wake
 * them, join them". */
static int child(void) {
    for (long round = 0; round < ITERS(200); round++) {
        pyth_event_t *f = pyth_event_new();
        parked a[CHILD_THREADS];
        pyth_thread_t *t[CHILD_THREADS];
        for (int i = 0; i < CHILD_THREADS; i++) {
            a[i].e = f;
            atomic_store(&a[i].tid, 0);
            t[i] = pyth_thread_new(park_fn, &a[i], NULL, 0);
            if (pyth_thread_start(t[i]) != PYTH_OK) return 2;
        }
        for (int i = 0; i < CHILD_THREADS; i++)
            if (!WAIT_UNTIL(atomic_load(&a[i].tid) != 0, 10)) return 3;
        for (int i = 0; i < CHILD_THREADS; i++) WAIT_BLOCKED(atomic_load(&a[i].tid), 1);
        pyth_event_set(f);
        for (int i = 0; i < CHILD_THREADS; i++) {
            if (pyth_thread_join(t[i], 10.0) != PYTH_OK) return 4;
            pyth_thread_free(t[i]);
        }
        pyth_event_free(f);
    }
    return 0;
}

TEST(fork_with_parked_threads_then_new_threads_in_child) {
    for (int attempt = 0; attempt < (getenv("PYTH_TEST_QUICK") ? 1 : 5) && !h_failures; attempt++) {
        pyth_event_t *go = pyth_event_new();
        parked a[PARKED];
        pyth_thread_t *t[PARKED];
        for (int i = 0; i < PARKED; i++) {
            a[i].e = go;
            atomic_store(&a[i].tid, 0);
            t[i] = pyth_thread_new(park_fn, &a[i], NULL, 0);
            pyth_thread_start(t[i]);
        }
        for (int i = 0; i < PARKED; i++) {
            CHECK(WAIT_UNTIL(atomic_load(&a[i].tid) != 0, 30));
            CHECK(WAIT_BLOCKED(atomic_load(&a[i].tid), 30));
        }
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
#ifdef RUNNING_ON_VALGRIND
            /* The parent's threads' memory is unreachable here: not a leak
             * of the child's (see test_process.c). */
            if (RUNNING_ON_VALGRIND) VALGRIND_CLO_CHANGE("--leak-check=no");
#endif
            _exit(child());
        }
        int st = -1;
        double end = now_s() + (getenv("PYTH_TEST_QUICK") ? 200 : 30);
        pid_t w = 0;
        while ((w = waitpid(pid, &st, WNOHANG)) == 0 && now_s() < end) {
            struct timespec ms = {0, 5000000};
            nanosleep(&ms, NULL);
        }
        if (w != pid) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            H_FAIL("attempt %d: the child hung (killed)", attempt);
        } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            H_FAIL("attempt %d: child status 0x%x (exit %d, signal %d)", attempt, st,
                   WIFEXITED(st) ? WEXITSTATUS(st) : -1, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
        }
        h_checks++;
        pyth_event_set(go);
        for (int i = 0; i < PARKED; i++) {
            CHECK_STATUS(pyth_thread_join(t[i], 60.0), PYTH_OK);
            pyth_thread_free(t[i]);
        }
        pyth_event_free(go);
    }
}

int main(void) {
    RUN(fork_with_parked_threads_then_new_threads_in_child);
    return REPORT();
}
