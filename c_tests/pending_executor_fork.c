/* PENDING (library bug): a forked child hangs in pyth_executor_new when
 * another thread of the parent was creating or freeing an executor at the
 * moment of fork().
 *
 * Contract (API.md, Threads): "After fork() the child's only thread is the
 * forking one, which becomes the main thread, and the registry is sound."
 * Python keeps ThreadPoolExecutor usable in a child the same way: its
 * global `_global_shutdown_lock` is acquired before fork and reinitialized
 * in the child (os.register_at_fork in concurrent/futures/thread.py).
 *
 * Cause (src/executor/pool.rs): the global `POOLS: Mutex<Vec<Weak<Pool>>>`
 * (locked by Executor::new) and `EXITING: Mutex<bool>` (locked by submit,
 * by workers and by the exit hook) are not covered by any pthread_atfork
 * handler. If another thread holds one of them when fork() is called, the
 * child inherits it locked forever: pyth_executor_new (POOLS) or
 * pyth_executor_submit / process exit (EXITING) blocks for good. Backtrace
 * of a hung child:
 *     futex_wait <- Mutex::lock_contended <- pool::lock<Vec<Weak<Pool>>>
 *     <- Executor::new (pool.rs:84) <- pyth_executor_new <- main
 * Fix: take these locks in the registry's before_fork handler and release
 * (or reinitialize) them after fork, or make them atomics.
 *
 * Expected: every child creates a pool, runs a task and exits 0.
 * Actual:   about 1 child in 10 hangs forever in pyth_executor_new.
 */
#include "harness.h"
#include <stdint.h>
#include <sys/wait.h>

static atomic_int stop;

static int identity(void *arg, void **result) {
    *result = arg;
    return 0;
}

/* Creates and frees pools in a loop (never submits: no worker, so fast). */
static void *churn(void *arg) {
    (void)arg;
    while (!atomic_load(&stop)) {
        pyth_executor_t *e = pyth_executor_new(1, "churn", NULL, NULL);
        pyth_executor_free(e);
    }
    return NULL;
}

TEST(executor_usable_in_child_forked_during_pool_creation) {
    h_thread t = spawn(churn, NULL);
    int forks = 0, hung = 0, failed = 0;
    double end = now_s() + 20;
    while (now_s() < end && forks < 200 && !hung) {
        forks++;
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        if (pid == 0) {
            pyth_executor_t *e = pyth_executor_new(1, "child", NULL, NULL);
            pyth_future_t *f = e ? pyth_executor_submit(e, identity, (void *)5) : NULL;
            void *r = NULL;
            if (!f || pyth_future_result(f, 5, &r) != PYTH_OK || r != (void *)5) _exit(3);
            pyth_future_free(f);
            _exit(pyth_executor_free(e) == PYTH_OK ? 0 : 4);
        }
        if (pid < 0) { failed++; break; }
        int status = 0;
        pid_t w = 0;
        double deadline = now_s() + 5;
        while (now_s() < deadline && (w = waitpid(pid, &status, WNOHANG)) == 0) {
            struct timespec ms = {0, 1000000};
            nanosleep(&ms, NULL);
        }
        if (w != pid) {
            hung++;
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
        } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            failed++;
        }
    }
    atomic_store(&stop, 1);
    join_within(t, 30);
    if (hung) fprintf(stderr, "the child of fork #%d hung (killed after 5 s)\n", forks);
    CHECK_EQ(hung, 0);
    CHECK_EQ(failed, 0);
}

int main(void) {
    RUN(executor_usable_in_child_forked_during_pool_creation);
    return REPORT();
}
