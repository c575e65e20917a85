/*
 * daemon.c: a daemon thread is abandoned at exit; a non-daemon one is
 * waited for.
 *
 * Python:
 *     def ticker():                          # daemon: runs forever
 *         while True:
 *             print("tick"); time.sleep(0.05)
 *     def worker():                          # non-daemon: finishes its job
 *         time.sleep(0.3); print("worker: job done")
 *     threading.Thread(target=ticker, daemon=True).start()
 *     threading.Thread(target=worker).start()
 *     print("main returns")
 *     # the interpreter waits for worker, then exits; ticker just stops
 *
 * libpyth does the same at process exit (return from main or exit()): it
 * waits for every non-daemon thread it started, and abandons the daemons.
 * The sleeps are waits on an Event nobody sets. The ticker prints its ticks
 * only while the worker has not finished, so the output does not depend on
 * timing.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pyth.h"

/* Error handling: every call is checked; on failure print why and stop. */
static void fail(const char *what, const char *why)
{
    fprintf(stderr, "%s failed: %s\n", what, why);
    exit(EXIT_FAILURE);
}
/* A libpyth call must return PYTH_OK; else print pyth_last_error(). */
#define CHECK(call) do { pyth_status st_ = (call); if (st_ != PYTH_OK) \
    fail(#call, st_ < 0 ? pyth_last_error() : pyth_strerror(st_)); } while (0)
/* A constructor must not return NULL. */
#define NEW(var, ctor) do { if (((var) = (ctor)) == NULL) \
    fail(#ctor, pyth_last_error()); } while (0)

static pyth_event_t *never;        /* never set: waiting on it is a sleep */
static pyth_event_t *first_tick;   /* the ticker is running */
static pyth_event_t *main_leaving; /* main is about to return */
static atomic_int ticks, worker_done;

static int ticker(void *arg)
{
    (void)arg;
    for (;;) { /* forever: only process exit stops it */
        if (!atomic_load(&worker_done))
            atomic_fetch_add(&ticks, 1);
        pyth_event_set(first_tick);
        pyth_event_wait(never, 0.05);
    }
    return 0;
}

static int worker(void *arg)
{
    (void)arg;
    pyth_event_wait(main_leaving, PYTH_FOREVER);
    pyth_event_wait(never, 0.3); /* the job, done while the process exits */
    atomic_store(&worker_done, 1);
    printf("worker: job done (the ticker ticked %s meanwhile)\n", atomic_load(&ticks) > 0 ? "on" : "NOT");
    fflush(stdout);
    return 0;
}

/* Runs after libpyth's exit handler (registered later, so called
 * earlier): by then the worker has finished. */
static void at_exit(void)
{
    int done = atomic_load(&worker_done);
    printf("exit: worker %s, daemon ticker abandoned\n", done ? "finished" : "NOT finished");
    if (!done) {
        fflush(stdout);
        _exit(EXIT_FAILURE);
    }
}

int main(void)
{
    atexit(at_exit);
    NEW(never, pyth_event_new());
    NEW(first_tick, pyth_event_new());
    NEW(main_leaving, pyth_event_new());

    pyth_thread_t *t, *w;
    NEW(t, pyth_thread_new(ticker, NULL, "ticker", 1));
    NEW(w, pyth_thread_new(worker, NULL, "worker", 0));
    printf("ticker daemon: %s, worker daemon: %s\n", pyth_thread_daemon(t) ? "yes" : "no",
           pyth_thread_daemon(w) ? "yes" : "no");
    CHECK(pyth_thread_start(t));
    CHECK(pyth_event_wait(first_tick, PYTH_FOREVER));
    CHECK(pyth_thread_start(w));
    /* The handles can go now; the threads keep running. */
    CHECK(pyth_thread_free(t));
    CHECK(pyth_thread_free(w));

    printf("main returns (worker still busy: %s)\n", atomic_load(&worker_done) ? "no" : "yes");
    fflush(stdout);
    CHECK(pyth_event_set(main_leaving));
    return EXIT_SUCCESS; /* exit waits for the worker, not for the ticker */
}
