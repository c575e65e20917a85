/* PYTH_ENOMEM from calls that grow something: a queue's put and an
 * executor's submit, run until memory is gone. The process must get a
 * status back (and keep working), not be aborted by a failed allocation. */
#include "harness.h"
#include <sys/resource.h>
#include <sys/wait.h>

enum { FIFO, LIFO, PRIORITY, SIMPLE, SUBMIT, NG };
static const char *const gname[NG] = {"Queue put", "LifoQueue put", "PriorityQueue put",
                                      "SimpleQueue put", "executor submit"};

static int by_address(const void *a, const void *b, void *ctx) {
    (void)ctx;
    return (a > b) - (a < b);
}

static int noop_task(void *arg, void **result) {
    (void)arg;
    *result = NULL;
    return 0;
}

static int gated_task(void *arg, void **result) {
    *result = NULL;
    return pyth_event_wait(arg, 120.0) == PYTH_OK ? 0 : 1;
}

/* Caps the address space a little above what the child uses, then grows
 * until a call fails. Exit code 0: it failed with PYTH_ENOMEM and a
 * message, and the object still works; 1: another status; 2: never
 * failed; 3: setup; 4: the object did not work afterwards. */
static void grow_child(int which) {
    pyth_queue_t *q = NULL;
    pyth_executor_t *ex = NULL;
    pyth_event_t *gate = pyth_event_new();
    switch (which) {
    case FIFO: q = pyth_queue_new(0); break;
    case LIFO: q = pyth_lifo_queue_new(0); break;
    case PRIORITY: q = pyth_priority_queue_new(0, by_address, NULL); break;
    case SIMPLE: q = pyth_simple_queue_new(); break;
    case SUBMIT: {
        ex = pyth_executor_new(1, "oom", NULL, NULL);
        /* The one worker, started now and kept busy: the rest queue up. */
        pyth_future_t *f = pyth_executor_submit(ex, gated_task, gate);
        if (!f) _exit(3);
        pyth_future_free(f);
        break;
    }
    }
    if (!gate || (!q && !ex)) _exit(3);
    if (!h_limit_address_space(16u << 20)) _exit(3);
    pyth_status st = PYTH_OK;
    long i = 0;
    for (; i < 200000000L; i++) {
        if (q) {
            st = pyth_queue_put(q, (void *)(uintptr_t)(i + 1), true, PYTH_FOREVER);
        } else {
            pyth_future_t *fut = pyth_executor_submit(ex, noop_task, NULL);
            st = fut ? PYTH_OK : pyth_last_status();
            pyth_future_free(fut);
        }
        if (st != PYTH_OK) break;
    }
    if (st == PYTH_OK) _exit(2);
    if (st != PYTH_ENOMEM || !*pyth_last_error()) _exit(1);
    /* Still usable: what went in comes out. */
    if (q) {
        void *item = NULL;
        if (pyth_queue_get(q, &item, false, 0) != PYTH_OK || item == NULL) _exit(4);
        if (pyth_queue_qsize(q) != (size_t)i - 1) _exit(4);
    } else {
        pyth_event_set(gate);
        if (pyth_executor_shutdown(ex, true, true) != PYTH_OK) _exit(4);
    }
    _exit(0);
}

TEST(enomem_when_growing) {
    if (h_on_valgrind()) {
        fprintf(stderr, "  (skipped under valgrind: its allocator cannot be starved with RLIMIT_AS)\n");
        return;
    }
    for (int which = 0; which < NG; which++) {
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            CHECK(!"fork");
            return;
        }
        if (pid == 0) grow_child(which);
        int status = 0;
        if (!h_wait_child(pid, 120, &status)) {
            H_FAIL("%s: the out-of-memory child did not finish", gname[which]);
            continue;
        }
        h_checks++;
        if (WIFSIGNALED(status))
            H_FAIL("%s: out of memory killed the process (signal %d) instead of PYTH_ENOMEM", gname[which],
                   WTERMSIG(status));
        else if (WEXITSTATUS(status) == 1)
            H_FAIL("%s: failed with a status other than PYTH_ENOMEM", gname[which]);
        else if (WEXITSTATUS(status) == 2)
            H_FAIL("%s: never failed under a 16 MiB address-space margin", gname[which]);
        else if (WEXITSTATUS(status) == 4)
            H_FAIL("%s: the object did not work after PYTH_ENOMEM", gname[which]);
        else if (WEXITSTATUS(status) != 0)
            H_FAIL("%s: child setup failed (exit %d)", gname[which], WEXITSTATUS(status));
    }
}

int main(void) {
    RUN(enomem_when_growing);
    return REPORT();
}
