/*
 * downloads.c: "download" ten files with a pool of three workers and
 * report each one as soon as it finishes.
 *
 * Python:
 *     def download(f):
 *         time.sleep(f.seconds)            # stands in for the network
 *         return f.size
 *     with ThreadPoolExecutor(max_workers=3, thread_name_prefix="dl") as pool:
 *         futures = {pool.submit(download, f): f for f in FILES}
 *         for fut in as_completed(futures, timeout=30):
 *             print(futures[fut].name, fut.result(), "bytes")
 *     print("total", ...)
 *
 * The "network" is a wait on an event that nobody sets: pyth_event_wait
 * with a timeout returns PYTH_TIMEOUT after that many seconds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
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
    const char *name;
    long size;       /* bytes */
    double seconds;  /* how long the "download" takes */
    char worker[32]; /* filled in by the task */
} file_t;

static file_t files[] = {
    {"debian.iso", 650000, 0.30, ""},  {"notes.txt", 1200, 0.03, ""},
    {"photo-1.jpg", 48000, 0.12, ""},  {"photo-2.jpg", 52000, 0.15, ""},
    {"video.mp4", 420000, 0.27, ""},   {"paper.pdf", 91000, 0.09, ""},
    {"song.mp3", 87000, 0.18, ""},     {"data.csv", 15000, 0.06, ""},
    {"backup.tar", 300000, 0.21, ""},  {"readme.md", 800, 0.02, ""},
};
#define NFILES (sizeof files / sizeof *files)

static pyth_event_t *never; /* never set: waiting on it just takes time */

/* The task: returns the number of bytes "downloaded". */
static int download(void *arg, void **result)
{
    file_t *f = arg;
    pyth_thread_name(pyth_current_thread(), f->worker, sizeof f->worker);
    if (pyth_event_wait(never, f->seconds) != PYTH_TIMEOUT)
        return 1; /* a failure code: pyth_future_result gives PYTH_EFAILED */
    *result = (void *)(intptr_t)f->size;
    return 0;
}

typedef struct {
    pyth_future_t **futures;
    int done;
    long total;
} progress_t;

/* Called by pyth_as_completed, in main, once per finished download. */
static void report(pyth_future_t *fut, void *arg)
{
    progress_t *p = arg;
    size_t i = 0;
    while (p->futures[i] != fut) /* which file is it? */
        i++;
    void *bytes;
    CHECK(pyth_future_result(fut, 0, &bytes)); /* done: does not wait */
    p->done++;
    p->total += (long)(intptr_t)bytes;
    printf("%2d. %-12s %7ld bytes  (%s)\n", p->done, files[i].name, (long)(intptr_t)bytes,
           files[i].worker);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void)
{
    NEW(never, pyth_event_new());
    pyth_executor_t *pool;
    NEW(pool, pyth_executor_new(3, "dl", NULL, NULL));

    double start = now();
    pyth_future_t *futures[NFILES];
    long expected = 0;
    for (size_t i = 0; i < NFILES; i++) {
        NEW(futures[i], pyth_executor_submit(pool, download, &files[i]));
        expected += files[i].size;
    }

    progress_t p = {futures, 0, 0};
    CHECK(pyth_as_completed(futures, NFILES, 30.0, report, &p)); /* PYTH_TIMEOUT after 30 s */
    double elapsed = now() - start;

    CHECK(pyth_executor_shutdown(pool, true, false));
    CHECK(pyth_executor_free(pool));
    for (size_t i = 0; i < NFILES; i++)
        CHECK(pyth_future_free(futures[i]));
    CHECK(pyth_event_free(never));

    bool ok = p.done == (int)NFILES && p.total == expected;
    printf("downloaded %d files, %ld bytes in %.2f s with 3 workers (expected %zu files, %ld bytes): %s\n",
           p.done, p.total, elapsed, NFILES, expected, ok ? "OK" : "MISMATCH");
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
