/*
 * pipeline.c: a three-stage pipeline over two queues.
 *
 * Python:
 *     numbers, squares = queue.Queue(4), queue.Queue(4)
 *     def producer():
 *         for n in range(1, 21): numbers.put(n)
 *     def squarer():
 *         while True:
 *             try: n = numbers.get()
 *             except queue.ShutDown: return
 *             squares.put((n, n * n)); numbers.task_done()
 *     def printer():
 *         while True:
 *             try: n, sq = squares.get()
 *             except queue.ShutDown: return
 *             print(f"{n}^2 = {sq}"); total += sq; squares.task_done()
 *     # start producer, two squarers and the printer; then
 *     numbers.join(); numbers.shutdown()   # every number was squared
 *     squares.join(); squares.shutdown()   # every square was printed
 *
 * join() returns once every item put has been marked task_done(); shutdown()
 * (Python 3.13) lets the consumers drain what is left and then makes their
 * get() fail with PYTH_ESHUTDOWN, which is how they know to stop.
 */
#include <stdio.h>
#include <stdlib.h>

#include "pyth.h"

#define COUNT 20
#define CAPACITY 4 /* small queues: producers block when consumers lag */

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

static pyth_queue_t *numbers, *squares;

/* What travels through the second queue. */
typedef struct {
    long n, square;
    char by[32]; /* the squarer's thread name */
} result_t;

static int producer(void *arg)
{
    (void)arg;
    for (long n = 1; n <= COUNT; n++)
        CHECK(pyth_queue_put(numbers, (void *)n, true, PYTH_FOREVER));
    return 0;
}

static int squarer(void *arg)
{
    (void)arg;
    for (;;) {
        void *item;
        pyth_status st = pyth_queue_get(numbers, &item, true, PYTH_FOREVER);
        if (st == PYTH_ESHUTDOWN)
            return 0; /* shut down and drained: done */
        CHECK(st);
        result_t *r = malloc(sizeof *r);
        if (!r)
            fail("malloc", "out of memory");
        r->n = (long)item;
        r->square = r->n * r->n;
        pyth_thread_name(pyth_current_thread(), r->by, sizeof r->by);
        CHECK(pyth_queue_put(squares, r, true, PYTH_FOREVER));
        CHECK(pyth_queue_task_done(numbers));
    }
}

static long printed, total; /* only the printer touches these until it ends */

static int printer(void *arg)
{
    (void)arg;
    for (;;) {
        void *item;
        pyth_status st = pyth_queue_get(squares, &item, true, PYTH_FOREVER);
        if (st == PYTH_ESHUTDOWN)
            return 0;
        CHECK(st);
        result_t *r = item;
        printf("%3ld^2 = %4ld   (by %s)\n", r->n, r->square, r->by);
        printed++;
        total += r->square;
        free(r);
        CHECK(pyth_queue_task_done(squares));
    }
}

int main(void)
{
    NEW(numbers, pyth_queue_new(CAPACITY));
    NEW(squares, pyth_queue_new(CAPACITY));

    pyth_thread_t *threads[4];
    NEW(threads[0], pyth_thread_new(producer, NULL, "producer", 0));
    NEW(threads[1], pyth_thread_new(squarer, NULL, "squarer-1", 0));
    NEW(threads[2], pyth_thread_new(squarer, NULL, "squarer-2", 0));
    NEW(threads[3], pyth_thread_new(printer, NULL, "printer", 0));
    for (int i = 0; i < 4; i++)
        CHECK(pyth_thread_start(threads[i]));

    CHECK(pyth_thread_join(threads[0], PYTH_FOREVER)); /* everything is put */
    CHECK(pyth_queue_join(numbers));       /* ... squared and passed on */
    CHECK(pyth_queue_shutdown(numbers, false)); /* squarers: get -> ESHUTDOWN */
    CHECK(pyth_queue_join(squares));       /* ... and printed */
    CHECK(pyth_queue_shutdown(squares, false)); /* printer: get -> ESHUTDOWN */
    for (int i = 0; i < 4; i++) {
        CHECK(pyth_thread_join(threads[i], PYTH_FOREVER));
        CHECK(pyth_thread_free(threads[i]));
    }
    CHECK(pyth_queue_free(numbers));
    CHECK(pyth_queue_free(squares));

    long expected = (long)COUNT * (COUNT + 1) * (2 * COUNT + 1) / 6;
    bool ok = printed == COUNT && total == expected;
    printf("printed %ld squares, checksum %ld (expected %ld): %s\n", printed, total, expected,
           ok ? "OK" : "MISMATCH");
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
