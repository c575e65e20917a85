/*
 * barrier_meet.c: three threads meeting at a Barrier, round after round.
 *
 * Python:
 *     b = threading.Barrier(3, action=lambda: print("all met"))
 *     def party(name):
 *         for r in range(3):
 *             i = b.wait()            # arrival index, 0..2
 *             print(name, "round", r, "index", i)
 *
 * The action runs in one thread once all three have arrived, before any is
 * released, so each round's "all met" line precedes that round's index
 * lines (which may come in any order among themselves).
 *
 * Threads are plain pthreads; libpyth's pyth_thread_* API works the same way.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyth.h"

#define PARTIES 3
#define ROUNDS 3

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

static pyth_barrier_t *barrier;
static int rounds_met;                 /* written only by the action */
static int seen[ROUNDS][PARTIES];      /* seen[round][index]: one cell each */

static void all_met(void *arg)
{
    (void)arg; /* the others are blocked at the barrier: no lock needed */
    printf("--- round %d: all %zu threads met ---\n", ++rounds_met,
           pyth_barrier_parties(barrier));
}

static void *party(void *arg)
{
    int id = (int)(size_t)arg;
    for (int r = 0; r < ROUNDS; r++) {
        size_t index;
        CHECK(pyth_barrier_wait(barrier, &index));
        seen[r][index]++;
        printf("thread %d: round %d, arrival index %zu\n", id, r + 1, index);
    }
    return NULL;
}

int main(void)
{
    NEW(barrier, pyth_barrier_new(PARTIES, all_met, NULL, PYTH_FOREVER));

    pthread_t threads[PARTIES];
    for (size_t i = 0; i < PARTIES; i++)
        PCHECK(pthread_create(&threads[i], NULL, party, (void *)(i + 1)));
    for (int i = 0; i < PARTIES; i++)
        PCHECK(pthread_join(threads[i], NULL));
    CHECK(pyth_barrier_free(barrier));

    /* Within each round, the indices 0..PARTIES-1 were each given once. */
    int ok = rounds_met == ROUNDS;
    for (int r = 0; r < ROUNDS; r++)
        for (int i = 0; i < PARTIES; i++)
            ok = ok && seen[r][i] == 1;
    printf("%d rounds, arrival indices 0..%d once each per round: %s\n",
           rounds_met, PARTIES - 1, ok ? "yes" : "NO");
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
