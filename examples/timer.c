/*
 * timer.c: a Timer that greets after 0.2 s, and one cancelled in time.
 *
 * Python:
 *     def hello(who): print(f"hello, {who}")
 *     t = threading.Timer(0.2, hello, args=("world",)); t.start()
 *     u = threading.Timer(5.0, hello, args=("nobody",)); u.start()
 *     u.cancel()          # before it fires: hello("nobody") never runs
 *     t.join(); u.join()
 *
 * A timer is a thread (pyth_thread_t): start it, join it, free it with the
 * pyth_thread_* functions; pyth_timer_cancel() stops it if it has not fired.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

static double t0;
static atomic_int greetings;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int hello(void *arg)
{
    double at = now() - t0;
    printf("hello, %s (after %s0.2 s)\n", (const char *)arg, at >= 0.2 ? "" : "LESS THAN ");
    atomic_fetch_add(&greetings, 1);
    return 0;
}

int main(void)
{
    pyth_thread_t *t, *u;
    NEW(t, pyth_timer_new(0.2, hello, "world"));
    NEW(u, pyth_timer_new(5.0, hello, "nobody"));
    char name[32];
    pyth_thread_name(t, name, sizeof name);
    printf("timer %s will greet in 0.2 s\n", name);

    t0 = now();
    CHECK(pyth_thread_start(t));
    CHECK(pyth_thread_start(u));
    CHECK(pyth_timer_cancel(u)); /* long before its 5 s */
    printf("second timer cancelled\n");

    CHECK(pyth_thread_join(t, PYTH_FOREVER));
    CHECK(pyth_thread_join(u, PYTH_FOREVER)); /* ends at once: cancelled */
    printf("both timers done: %d greeting(s)\n", atomic_load(&greetings));
    CHECK(pyth_thread_free(t));
    CHECK(pyth_thread_free(u));
    return atomic_load(&greetings) == 1 ? EXIT_SUCCESS : EXIT_FAILURE;
}
