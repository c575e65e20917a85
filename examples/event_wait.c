/*
 * event_wait.c: a thread waiting on an Event until the main thread sets it.
 *
 * Python:
 *     ready = threading.Event()
 *     def waiter():
 *         if not ready.wait(timeout=0.1):
 *             print("timed out, still waiting")
 *         ready.wait()
 *         print("event is set")
 *
 * The waiter first waits with a timeout that expires (the flag is not set
 * yet), then waits without limit. A second event, timed_out, tells the main
 * thread when that first wait is over, so the output order is fixed.
 *
 * Threads are plain pthreads; libpyth's pyth_thread_* API works the same way.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
/* pthread calls return an errno value. */
#define PCHECK(call) do { int err_ = (call); \
    if (err_ != 0) fail(#call, strerror(err_)); } while (0)

static pyth_event_t *ready, *timed_out;

static void *waiter(void *arg)
{
    (void)arg;
    pyth_status st = pyth_event_wait(ready, 0.1);
    if (st != PYTH_TIMEOUT)
        fail("pyth_event_wait(ready, 0.1)", pyth_strerror(st));
    printf("waiter: no event after 0.1 s (%s), waiting on\n", pyth_strerror(st));
    CHECK(pyth_event_set(timed_out));

    CHECK(pyth_event_wait(ready, PYTH_FOREVER));
    printf("waiter: the event is set, carrying on\n");
    return NULL;
}

int main(void)
{
    NEW(ready, pyth_event_new());
    NEW(timed_out, pyth_event_new());

    pthread_t t;
    PCHECK(pthread_create(&t, NULL, waiter, NULL));

    CHECK(pyth_event_wait(timed_out, PYTH_FOREVER));
    printf("main: setting the event\n");
    CHECK(pyth_event_set(ready));
    PCHECK(pthread_join(t, NULL));

    printf("event is_set = %s\n", pyth_event_is_set(ready) ? "true" : "false");
    CHECK(pyth_event_free(timed_out));
    CHECK(pyth_event_free(ready));
    return EXIT_SUCCESS;
}
