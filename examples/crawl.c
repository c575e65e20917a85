/*
 * crawl.c: "fetch" three links at once, one thread each, then report.
 *
 * Python:
 *     results = {}
 *     def crawl(link, delay):
 *         time.sleep(delay)                 # stands for the download
 *         results[link] = f"{len(link)} bytes"
 *     threads = [threading.Thread(target=crawl, args=(link, d)) for link, d in LINKS]
 *     for t in threads: t.start()
 *     for t in threads: t.join()
 *
 * Each fetch is simulated by a wait on an Event nobody sets, with the
 * download time as the timeout: pyth_event_wait() returns PYTH_TIMEOUT
 * after that long, which is a sleep. The threads run at the same time, so
 * the whole crawl takes about as long as the slowest fetch, not the sum.
 */
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

typedef struct {
    const char *url;
    double delay;    /* simulated download time, seconds */
    size_t bytes;    /* the result, written by the thread */
    char thread[32]; /* who fetched it */
} job;

static pyth_event_t *never; /* never set: waiting on it is a sleep */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A thread target: nonzero would be an unhandled failure. */
static int crawl(void *arg)
{
    job *j = arg;
    pyth_status st = pyth_event_wait(never, j->delay); /* the "download" */
    if (st != PYTH_TIMEOUT)
        return 1;
    j->bytes = 1000 * strlen(j->url); /* a made-up page size */
    pyth_thread_name(pyth_current_thread(), j->thread, sizeof j->thread);
    return 0;
}

int main(void)
{
    job jobs[] = {
        {"https://example.com/", 0.30, 0, ""},
        {"https://example.org/docs", 0.20, 0, ""},
        {"https://example.net/a/long/path", 0.10, 0, ""},
    };
    enum { N = sizeof jobs / sizeof *jobs };
    NEW(never, pyth_event_new());

    double t0 = now();
    pyth_thread_t *threads[N];
    for (int i = 0; i < N; i++) {
        char name[16];
        snprintf(name, sizeof name, "crawler-%d", i + 1);
        NEW(threads[i], pyth_thread_new(crawl, &jobs[i], name, PYTH_DAEMON_INHERIT));
        CHECK(pyth_thread_start(threads[i]));
    }
    printf("started %d crawlers; %zu threads alive\n", N, pyth_active_count());
    for (int i = 0; i < N; i++) {
        CHECK(pyth_thread_join(threads[i], PYTH_FOREVER));
        CHECK(pyth_thread_free(threads[i]));
    }
    double elapsed = now() - t0;

    size_t total = 0;
    int ok = 1;
    for (int i = 0; i < N; i++) {
        printf("%-34s %6zu bytes  (%s, %.1f s)\n", jobs[i].url, jobs[i].bytes, jobs[i].thread, jobs[i].delay);
        total += jobs[i].bytes;
        ok &= jobs[i].bytes == 1000 * strlen(jobs[i].url);
    }
    printf("total: %zu bytes from %d links\n", total, N);
    /* In parallel: about the slowest fetch (0.3 s), not the sum (0.6 s). */
    printf("crawl took %.1f s (slowest fetch 0.3 s, all fetches 0.6 s)\n", elapsed);
    CHECK(pyth_event_free(never));
    return ok && elapsed >= 0.30 ? EXIT_SUCCESS : EXIT_FAILURE;
}
