/*
 * producer_consumer.c: a Condition guarding a small bounded buffer.
 *
 * Python: cv = threading.Condition(); the producer appends 1..1000 to a
 * buffer of 4 after "with cv: cv.wait_for(lambda: len(buf) < 4)", the
 * consumer takes them after "cv.wait_for(lambda: buf or done)"; each side
 * calls cv.notify_all() after changing the buffer.
 *
 * Threads are plain pthreads; libpyth's pyth_thread_* API works the same way.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyth.h"

#define ITEMS 1000
#define CAPACITY 4

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

/* The shared state; every field is guarded by cond's lock. */
static pyth_cond_t *cond;
static int buf[CAPACITY], head, count;
static bool done;

/* wait_for predicates: called with the lock held. */
static bool not_full(void *arg) { (void)arg; return count < CAPACITY; }
static bool not_empty_or_done(void *arg) { (void)arg; return count > 0 || done; }

static void *producer(void *arg)
{
    (void)arg;
    for (int i = 1; i <= ITEMS; i++) {
        CHECK(pyth_cond_acquire(cond, true, PYTH_FOREVER));
        CHECK(pyth_cond_wait_for(cond, not_full, NULL, PYTH_FOREVER));
        buf[(head + count++) % CAPACITY] = i;
        CHECK(pyth_cond_notify_all(cond));
        CHECK(pyth_cond_release(cond));
    }
    CHECK(pyth_cond_acquire(cond, true, PYTH_FOREVER));
    done = true;
    CHECK(pyth_cond_notify_all(cond));
    CHECK(pyth_cond_release(cond));
    return NULL;
}

static long consumed, sum; /* only the consumer touches these */

static void *consumer(void *arg)
{
    (void)arg;
    CHECK(pyth_cond_acquire(cond, true, PYTH_FOREVER));
    for (;;) {
        CHECK(pyth_cond_wait_for(cond, not_empty_or_done, NULL, PYTH_FOREVER));
        if (count == 0)
            break; /* done, and the buffer is drained */
        int item = buf[head];
        head = (head + 1) % CAPACITY;
        count--;
        CHECK(pyth_cond_notify_all(cond));
        consumed++;
        sum += item;
    }
    CHECK(pyth_cond_release(cond));
    return NULL;
}

int main(void)
{
    NEW(cond, pyth_cond_new()); /* Condition() with its own RLock */

    pthread_t p, c;
    PCHECK(pthread_create(&c, NULL, consumer, NULL));
    PCHECK(pthread_create(&p, NULL, producer, NULL));
    PCHECK(pthread_join(p, NULL));
    PCHECK(pthread_join(c, NULL));
    CHECK(pyth_cond_free(cond));

    printf("consumed %ld items, sum = %ld\n", consumed, sum);
    return consumed == ITEMS && sum == (long)ITEMS * (ITEMS + 1) / 2
               ? EXIT_SUCCESS : EXIT_FAILURE;
}
