/*
 * counter.c: the classic "shared counter under a Lock" demo.
 *
 * Python:
 *     lock = threading.Lock(); counter = 0
 *     def work():
 *         global counter
 *         for _ in range(100_000):
 *             with lock:
 *                 counter += 1
 *     # start 5 threads running work(), join them, print the counter
 *
 * Threads are plain pthreads here; libpyth's own Thread API (pyth_thread_*)
 * can be used the same way.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyth.h"

#define THREADS 5
#define ITERATIONS 100000

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

static pyth_lock_t *lock;
static long counter; /* guarded by lock */

static void *work(void *arg)
{
    (void)arg;
    for (int i = 0; i < ITERATIONS; i++) {
        /* "with lock:" -- acquire (blocking, no timeout), update, release. */
        CHECK(pyth_lock_acquire(lock, true, PYTH_FOREVER));
        counter++;
        CHECK(pyth_lock_release(lock));
    }
    return NULL;
}

int main(void)
{
    NEW(lock, pyth_lock_new());

    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++)
        PCHECK(pthread_create(&threads[i], NULL, work, NULL));
    for (int i = 0; i < THREADS; i++)
        PCHECK(pthread_join(threads[i], NULL));
    CHECK(pyth_lock_free(lock));

    /* Without the lock, lost updates would make this smaller. */
    printf("counter = %ld\n", counter);
    return counter == (long)THREADS * ITERATIONS ? EXIT_SUCCESS : EXIT_FAILURE;
}
