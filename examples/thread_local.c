/*
 * thread_local.c: each thread sees its own value of a threading.local.
 *
 * Python:
 *     counter = itertools.count(1)
 *     class Conn(threading.local):
 *         def __init__(self):                 # runs once in each thread
 *             self.id = next(counter); self.uses = 0
 *     conn = Conn()
 *     def worker(n):
 *         for _ in range(n): conn.uses += 1    # this thread's own object
 *     # 3 workers alive at once, each with its own connection; each
 *     # connection is closed when its thread ends
 *
 * pyth_local_new(init, init_arg, dtor): init makes a thread's value on its
 * first pyth_local_get(); dtor destroys it when the thread exits, before
 * pyth_thread_join() on that thread returns. The workers take turns (one
 * event each) so that the output order is fixed, and stay alive together
 * until main lets them go one by one.
 */
#include <stdint.h>
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

enum { WORKERS = 3 };

typedef struct {
    int id;
    int uses;
    char owner[32];
} conn;

static int opened, closed; /* only touched by whoever holds the turn */
static pyth_local_t *local_conn;
static pyth_event_t *turn[WORKERS + 1]; /* turn[i]: worker i may go; turn[WORKERS]: all went */
static pyth_event_t *leave[WORKERS];
static conn *seen[WORKERS];

/* init: one connection per thread, made on its first get. */
static void *open_conn(void *arg)
{
    int *counter = arg;
    conn *c = calloc(1, sizeof *c);
    if (!c)
        fail("calloc", "out of memory");
    c->id = ++*counter;
    pyth_thread_name(pyth_current_thread(), c->owner, sizeof c->owner);
    printf("  init: open connection %d for %s\n", c->id, c->owner);
    opened++;
    return c;
}

/* dtor: runs when the owning thread exits. */
static void close_conn(void *value)
{
    conn *c = value;
    printf("  dtor: close connection %d of %s after %d uses\n", c->id, c->owner, c->uses);
    closed++;
    free(c);
}

static int worker(void *arg)
{
    int i = (int)(intptr_t)arg, n = i + 2;
    if (pyth_event_wait(turn[i], PYTH_FOREVER) != PYTH_OK)
        return 1;
    for (int k = 0; k < n; k++) {
        conn *c = pyth_local_get(local_conn); /* the same object each time, in this thread */
        c->uses++;
    }
    seen[i] = pyth_local_get(local_conn);
    printf("  %s sees connection %d, used %d times\n", seen[i]->owner, seen[i]->id, seen[i]->uses);
    pyth_event_set(turn[i + 1]);
    pyth_event_wait(leave[i], PYTH_FOREVER); /* stay alive until main says */
    return seen[i]->uses == n ? 0 : 1;
}

int main(void)
{
    int counter = 0;
    NEW(local_conn, pyth_local_new(open_conn, &counter, close_conn));
    for (int i = 0; i <= WORKERS; i++)
        NEW(turn[i], pyth_event_new());
    for (int i = 0; i < WORKERS; i++)
        NEW(leave[i], pyth_event_new());

    pyth_thread_t *t[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        char name[16];
        snprintf(name, sizeof name, "worker-%d", i + 1);
        NEW(t[i], pyth_thread_new(worker, (void *)(intptr_t)i, name, PYTH_DAEMON_INHERIT));
        CHECK(pyth_thread_start(t[i]));
    }
    printf("%d workers started\n", WORKERS);
    CHECK(pyth_event_set(turn[0]));
    CHECK(pyth_event_wait(turn[WORKERS], PYTH_FOREVER));
    printf("all %d workers alive, connections %d, %d, %d: one each\n", WORKERS, seen[0]->id, seen[1]->id,
           seen[2]->id);

    for (int i = 0; i < WORKERS; i++) {
        CHECK(pyth_event_set(leave[i]));
        CHECK(pyth_thread_join(t[i], PYTH_FOREVER)); /* its dtor has run by now */
        CHECK(pyth_thread_free(t[i]));
        printf("worker-%d joined: %d opened, %d closed\n", i + 1, opened, closed);
    }

    /* main has its own value too, destroyed when the local is freed. */
    conn *mine = pyth_local_get(local_conn);
    printf("main sees connection %d\n", mine->id);
    CHECK(pyth_local_free(local_conn));
    printf("local freed: %d opened, %d closed\n", opened, closed);
    for (int i = 0; i <= WORKERS; i++)
        CHECK(pyth_event_free(turn[i]));
    for (int i = 0; i < WORKERS; i++)
        CHECK(pyth_event_free(leave[i]));
    return opened == WORKERS + 1 && closed == WORKERS + 1 ? EXIT_SUCCESS : EXIT_FAILURE;
}
