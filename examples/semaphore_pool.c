/*
 * semaphore_pool.c: a BoundedSemaphore(2) guarding a "connection pool".
 *
 * Python:
 *     pool = threading.BoundedSemaphore(2)
 *     def worker(i):
 *         with pool:
 *             use_connection(i)     # at most 2 workers in here at once
 *
 * Five workers compete for two slots. A Condition tracks how many are
 * inside and the maximum seen. So that the overlap really happens (rather
 * than depending on sleep timing), the first worker in waits until a
 * second one has joined it; the semaphore keeps a third one out.
 *
 * Threads are plain pthreads; libpyth's pyth_thread_* API works the same way.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pyth.h"

#define WORKERS 5
#define SLOTS 2

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

static pyth_semaphore_t *pool;
static pyth_cond_t *cond;       /* guards inside and max_inside */
static int inside, max_inside;

static bool pool_was_full(void *arg) { (void)arg; return max_inside >= SLOTS; }

static void *worker(void *arg)
{
    int id = (int)(size_t)arg;
    CHECK(pyth_semaphore_acquire(pool, true, PYTH_FOREVER)); /* "with pool:" */

    CHECK(pyth_cond_acquire(cond, true, PYTH_FOREVER));
    if (++inside > max_inside)
        max_inside = inside;
    if (inside > SLOTS)
        fail("semaphore", "too many workers inside");
    printf("worker %d: got a connection (%d inside)\n", id, inside);
    CHECK(pyth_cond_notify_all(cond));
    CHECK(pyth_cond_wait_for(cond, pool_was_full, NULL, PYTH_FOREVER));
    CHECK(pyth_cond_release(cond));

    usleep(10000); /* "use the connection"; not needed for correctness */

    CHECK(pyth_cond_acquire(cond, true, PYTH_FOREVER));
    inside--;
    printf("worker %d: done (%d inside)\n", id, inside);
    CHECK(pyth_cond_release(cond));
    CHECK(pyth_semaphore_release(pool, 1));
    return NULL;
}

int main(void)
{
    NEW(pool, pyth_bounded_semaphore_new(SLOTS));
    NEW(cond, pyth_cond_new());

    pthread_t workers[WORKERS];
    for (size_t i = 0; i < WORKERS; i++)
        PCHECK(pthread_create(&workers[i], NULL, worker, (void *)(i + 1)));
    for (int i = 0; i < WORKERS; i++)
        PCHECK(pthread_join(workers[i], NULL));

    /* A bounded semaphore refuses to go above its initial value. */
    pyth_status st = pyth_semaphore_release(pool, 1);
    printf("extra release: %s (%s)\n", pyth_strerror(st), pyth_last_error());

    CHECK(pyth_cond_free(cond));
    CHECK(pyth_semaphore_free(pool));
    printf("max inside at once: %d\n", max_inside);
    return max_inside == SLOTS && st == PYTH_EVALUE ? EXIT_SUCCESS : EXIT_FAILURE;
}
