/*
 * bench.c: libpyth beside pthread/glibc and beside parking_lot (through
 * bench/plshim, a shared library like libpyth), in one process and one run.
 *
 * Absolute times drift between runs and machines; what this program is for
 * is the ratios of medians taken in the same run, with the implementations
 * interleaved trial by trial so that a noisy neighbour hits all of them.
 *
 * Environment: BENCH_TRIALS=n overrides the number of trials, BENCH_QUICK=1
 * shrinks everything (a smoke test, not a measurement), BENCH_ONLY=group
 * runs one group: uncontended, contended, pingpong, cross, threads, queue,
 * executor or sizes, and
 * BENCH_DEBUG=1 prints every contended run's scheduling counts to stderr.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <linux/futex.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/prctl.h>
#include <sys/single_threaded.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "pyth.h"

/* ---- the parking_lot shim (bench/plshim/src/lib.rs) ---------------------- */

typedef struct plshim_mutex plshim_mutex;
typedef struct plshim_remutex plshim_remutex;
typedef struct plshim_cond plshim_cond;
typedef struct plshim_event plshim_event;
plshim_mutex *plshim_mutex_new(void);
void plshim_mutex_lock(plshim_mutex *);
void plshim_mutex_unlock(plshim_mutex *);
void plshim_mutex_free(plshim_mutex *);
typedef struct plshim_tagged plshim_tagged;
plshim_tagged *plshim_tagged_new(void);
void plshim_tagged_lock(plshim_tagged *);
void plshim_tagged_unlock(plshim_tagged *);
plshim_remutex *plshim_remutex_new(void);
void plshim_remutex_lock(plshim_remutex *);
void plshim_remutex_unlock(plshim_remutex *);
void plshim_remutex_free(plshim_remutex *);
plshim_cond *plshim_cond_new(void);
void plshim_cond_wait(plshim_cond *, plshim_mutex *);
void plshim_cond_notify_one(plshim_cond *);
void plshim_cond_free(plshim_cond *);
plshim_event *plshim_event_new(void);
void plshim_event_set(plshim_event *);
void plshim_event_clear(plshim_event *);
void plshim_event_wait(plshim_event *);
void plshim_event_free(plshim_event *);
size_t plshim_sizeof_mutex(void);
size_t plshim_sizeof_remutex(void);
size_t plshim_sizeof_cond(void);
size_t plshim_sizeof_event(void);

/* ---- small helpers ------------------------------------------------------ */

#define MAX_IMPLS 6
#define MAX_TRIALS 64

static int g_quick;
static int g_trials_override;
static const char *g_only; /* BENCH_ONLY: run only the named group */

static bool wanted(const char *group)
{
    return !g_only || strcmp(g_only, group) == 0;
}

static void die(const char *what, int code)
{
    fprintf(stderr, "bench: %s failed (%d: %s)\n", what, code,
            code < 0 ? pyth_last_error() : strerror(code));
    exit(1);
}

#define CHECK_PYTH(call)                                                     \
    do {                                                                     \
        int rc_ = (call);                                                    \
        if (rc_ != PYTH_OK)                                                  \
            die(#call, rc_);                                                 \
    } while (0)

#define CHECK_PT(call)                                                       \
    do {                                                                     \
        int rc_ = (call);                                                    \
        if (rc_ != 0)                                                        \
            die(#call, rc_);                                                 \
    } while (0)

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void pin_self(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    CHECK_PT(pthread_setaffinity_np(pthread_self(), sizeof set, &set));
}

/* Starts a thread already pinned, so it never runs a single instruction on
 * the wrong CPU. */
static pthread_t spawn_on(int cpu, void *(*fn)(void *), void *arg)
{
    pthread_attr_t attr;
    cpu_set_t set;
    pthread_t t;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    CHECK_PT(pthread_attr_init(&attr));
    CHECK_PT(pthread_attr_setaffinity_np(&attr, sizeof set, &set));
    CHECK_PT(pthread_create(&t, &attr, fn, arg));
    pthread_attr_destroy(&attr);
    return t;
}

/* A lost wake-up would hang the whole suite; better to say which case it
 * was and stop. */
static const char *volatile g_running = "setup";

static void watchdog_fired(int sig)
{
    (void)sig;
    static const char head[] = "\nbench: no progress for 60 s in: ";
    static const char tail[] = "\n(a lost wake-up in the implementation under test)\n";
    const char *what = g_running;
    size_t n = 0;
    while (what[n])
        n++;
    if (write(2, head, sizeof head - 1) < 0 || write(2, what, n) < 0 || write(2, tail, sizeof tail - 1) < 0)
        _exit(3);
    _exit(3);
}

static void watchdog(const char *what)
{
    g_running = what;
    alarm(60);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median and interquartile range of n samples (sorted in place). */
static double median_of(double *v, int n, double *iqr)
{
    qsort(v, n, sizeof *v, cmp_double);
    if (iqr)
        *iqr = v[(3 * (n - 1)) / 4] - v[(n - 1) / 4];
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int trials(int wanted)
{
    if (g_trials_override)
        return g_trials_override;
    return g_quick ? 3 : wanted;
}

static long iters(long wanted)
{
    return g_quick ? (wanted / 20 > 10 ? wanted / 20 : 10) : wanted;
}

/* ---- the driver and the result table ------------------------------------ */

typedef double (*trial_fn)(const void *ctx, int impl, long n);

typedef struct {
    const char *name;
    double median; /* in the case's unit */
    double spread; /* interquartile range / median */
    double switches; /* context switches per op, median; < 0: not measured */
} result_t;

/* A trial may also report the context switches per op it caused: the count
 * that explains most differences between blocking handoffs. */
static double g_switches = -1;

/* Runs every implementation of a case `ntrials` times, interleaved and in a
 * rotating order (so none is always first after a context switch), after
 * one untimed warm-up each. */
static void measure(trial_fn fn, const void *ctx, int nimpl, const char *const *names,
                    long n, int ntrials, double scale, result_t *out)
{
    static double s[MAX_IMPLS][MAX_TRIALS], sw[MAX_IMPLS][MAX_TRIALS];
    if (ntrials > MAX_TRIALS)
        ntrials = MAX_TRIALS;
    for (int i = 0; i < nimpl; i++)
        fn(ctx, i, n / 10 > 0 ? n / 10 : 1);
    for (int t = 0; t < ntrials; t++)
        for (int k = 0; k < nimpl; k++) {
            int i = (k + t) % nimpl;
            g_switches = -1;
            s[i][t] = fn(ctx, i, n) * scale;
            sw[i][t] = g_switches;
        }
    for (int i = 0; i < nimpl; i++) {
        double iqr;
        out[i].name = names[i];
        out[i].median = median_of(s[i], ntrials, &iqr);
        out[i].spread = iqr / out[i].median;
        out[i].switches = median_of(sw[i], ntrials, NULL);
    }
}

static void print_case(const char *title, const char *unit, int nimpl, const result_t *r,
                       bool higher_is_better)
{
    printf("\n%s  [%s, median; %s is better]\n", title, unit, higher_is_better ? "higher" : "lower");
    for (int i = 0; i < nimpl; i++) {
        printf("  %-34s %10.3f  (iqr %4.1f%%)", r[i].name, r[i].median, 100 * r[i].spread);
        if (r[i].switches >= 0)
            printf("  %5.2f switches/round", r[i].switches);
        if (i > 0)
            printf("   libpyth/this = %.3f", r[0].median / r[i].median);
        printf("\n");
    }
}

/* One line of the summary table printed at the end. */
typedef struct {
    char name[80];
    char unit[16];
    double pyth, pthread, pl, floor; /* 0 when there is none */
    char target[48];
    int met; /* 1 met, 0 missed, -1 no target */
} summary_t;

static summary_t g_summary[64];
static int g_nsummary;
static char g_notes[8][160]; /* correctness problems seen while timing */
static int g_nnotes;

static summary_t *add_summary(const char *name, const char *unit, double pyth, double pthread,
                              double pl, double floor_)
{
    summary_t *s = &g_summary[g_nsummary++];
    snprintf(s->name, sizeof s->name, "%s", name);
    snprintf(s->unit, sizeof s->unit, "%s", unit);
    s->pyth = pyth;
    s->pthread = pthread;
    s->pl = pl;
    s->floor = floor_;
    s->met = -1;
    return s;
}

static void set_target(summary_t *s, const char *text, bool met)
{
    snprintf(s->target, sizeof s->target, "%s", text);
    s->met = met;
}

/* ---- uncontended cases --------------------------------------------------- */

static pyth_lock_t *u_lock;
static pyth_rlock_t *u_rlock;
static pyth_semaphore_t *u_sem;
static pyth_event_t *u_event;
static pthread_mutex_t u_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t u_rmutex;
static sem_t u_sem_t;
static plshim_mutex *u_plm;
static plshim_remutex *u_plr;
static plshim_event *u_ple;

typedef struct {
    pthread_mutex_t m;
    pthread_cond_t c;
    int flag;
} pt_event;

static void pt_event_init(pt_event *e)
{
    CHECK_PT(pthread_mutex_init(&e->m, NULL));
    CHECK_PT(pthread_cond_init(&e->c, NULL));
    e->flag = 0;
}

static void pt_event_set(pt_event *e)
{
    pthread_mutex_lock(&e->m);
    e->flag = 1;
    pthread_cond_broadcast(&e->c);
    pthread_mutex_unlock(&e->m);
}

static void pt_event_clear(pt_event *e)
{
    pthread_mutex_lock(&e->m);
    e->flag = 0;
    pthread_mutex_unlock(&e->m);
}

static void pt_event_wait(pt_event *e)
{
    pthread_mutex_lock(&e->m);
    while (!e->flag)
        pthread_cond_wait(&e->c, &e->m);
    pthread_mutex_unlock(&e->m);
}

static void pt_event_destroy(pt_event *e)
{
    pthread_cond_destroy(&e->c);
    pthread_mutex_destroy(&e->m);
}

static pt_event u_ptevent;

/* The loops are written out per implementation, not called through a
 * function pointer, so that each pays exactly its own call overhead. */
static double t_uncontended_lock(const void *ctx, int impl, long n)
{
    (void)ctx;
    double t0 = now_ns();
    switch (impl) {
    case 0:
        for (long i = 0; i < n; i++) {
            pyth_lock_acquire(u_lock, true, PYTH_FOREVER);
            pyth_lock_release(u_lock);
        }
        break;
    case 1:
        for (long i = 0; i < n; i++) {
            pthread_mutex_lock(&u_mutex);
            pthread_mutex_unlock(&u_mutex);
        }
        break;
    case 2:
        for (long i = 0; i < n; i++) {
            plshim_mutex_lock(u_plm);
            plshim_mutex_unlock(u_plm);
        }
        break;
    }
    return (now_ns() - t0) / n;
}

static double t_rlock(const void *ctx, int impl, long n)
{
    (void)ctx;
    double t0 = now_ns();
    switch (impl) {
    case 0:
        for (long i = 0; i < n; i++) {
            pyth_rlock_acquire(u_rlock, true, PYTH_FOREVER);
            pyth_rlock_release(u_rlock);
        }
        break;
    case 1:
        for (long i = 0; i < n; i++) {
            pthread_mutex_lock(&u_rmutex);
            pthread_mutex_unlock(&u_rmutex);
        }
        break;
    case 2:
        for (long i = 0; i < n; i++) {
            plshim_remutex_lock(u_plr);
            plshim_remutex_unlock(u_plr);
        }
        break;
    }
    return (now_ns() - t0) / n;
}

/* The same loops with the lock already held once: the recursive path. */
static double t_rlock_nested(const void *ctx, int impl, long n)
{
    switch (impl) {
    case 0:
        pyth_rlock_acquire(u_rlock, true, PYTH_FOREVER);
        break;
    case 1:
        pthread_mutex_lock(&u_rmutex);
        break;
    case 2:
        plshim_remutex_lock(u_plr);
        break;
    }
    double r = t_rlock(ctx, impl, n);
    switch (impl) {
    case 0:
        pyth_rlock_release(u_rlock);
        break;
    case 1:
        pthread_mutex_unlock(&u_rmutex);
        break;
    case 2:
        plshim_remutex_unlock(u_plr);
        break;
    }
    return r;
}

static double t_sem_nonblocking(const void *ctx, int impl, long n)
{
    (void)ctx;
    double t0 = now_ns();
    switch (impl) {
    case 0:
        for (long i = 0; i < n; i++) {
            pyth_semaphore_release(u_sem, 1);
            pyth_semaphore_acquire(u_sem, true, PYTH_FOREVER);
        }
        break;
    case 1:
        for (long i = 0; i < n; i++) {
            sem_post(&u_sem_t);
            sem_wait(&u_sem_t);
        }
        break;
    case 2: /* no semaphore in parking_lot: its lock+unlock, the same two RMWs */
        for (long i = 0; i < n; i++) {
            plshim_mutex_lock(u_plm);
            plshim_mutex_unlock(u_plm);
        }
        break;
    }
    return (now_ns() - t0) / n;
}

static double t_event_set_clear(const void *ctx, int impl, long n)
{
    (void)ctx;
    double t0 = now_ns();
    switch (impl) {
    case 0:
        for (long i = 0; i < n; i++) {
            pyth_event_set(u_event);
            pyth_event_clear(u_event);
        }
        break;
    case 1:
        for (long i = 0; i < n; i++) {
            pt_event_set(&u_ptevent);
            pt_event_clear(&u_ptevent);
        }
        break;
    case 2:
        for (long i = 0; i < n; i++) {
            plshim_event_set(u_ple);
            plshim_event_clear(u_ple);
        }
        break;
    }
    return (now_ns() - t0) / n;
}

/* ---- two threads contending on one lock ---------------------------------- */

enum { C_PYTH, C_PTHREAD, C_PTHREAD_ADAPTIVE, C_PL, C_PL_TAGGED, C_TICKET, C_N };

static const char *const contended_names[C_N] = {
    "libpyth Lock", "pthread_mutex (default)", "pthread_mutex (adaptive)", "parking_lot Mutex",
    "parking_lot + tag read (diag.)", "FIFO ticket spinlock (control)",
};

typedef struct {
    /* Each on its own line: the lock word's line is the one being fought over,
     * and false sharing with the bookkeeping would blur that. */
    _Alignas(64) pyth_lock_t *pyth;
    pthread_mutex_t mutex;
    pthread_mutex_t adaptive;
    plshim_mutex *pl;
    /* Diagnostic: parking_lot's lock with a tag on its cache line read
     * before every call, as libpyth reads its handle's kind word. */
    plshim_tagged *pl_tagged;
    /* Strictly FIFO: its longest wait is the machine's own hiccups (a vCPU
     * descheduled by the host, an interrupt), not a lock's unfairness. */
    atomic_uint ticket_next, ticket_owner;
    _Alignas(64) long counter; /* protected by the lock under test */
    _Alignas(64) atomic_int ready;
    int impl;
    long total;
    bool timed; /* read the TSC around every acquire */
    struct {
        _Alignas(64) long mine;
        double t0, t1;
        uint64_t max_wait; /* TSC ticks */
        long over_1ms;
        long sleeps;    /* voluntary context switches: times it blocked */
        long preempted; /* involuntary ones: another task took its CPU */
        double delayed; /* ns it spent runnable, waiting for its CPU */
    } per[2];
} contended_t;

static contended_t g_c;
static double g_tsc_per_ns;

static inline void c_lock(contended_t *c)
{
    switch (c->impl) {
    case C_PYTH: pyth_lock_acquire(c->pyth, true, PYTH_FOREVER); break;
    case C_PTHREAD: pthread_mutex_lock(&c->mutex); break;
    case C_PTHREAD_ADAPTIVE: pthread_mutex_lock(&c->adaptive); break;
    case C_PL: plshim_mutex_lock(c->pl); break;
    case C_PL_TAGGED: plshim_tagged_lock(c->pl_tagged); break;
    case C_TICKET: {
        unsigned me = atomic_fetch_add_explicit(&c->ticket_next, 1, memory_order_relaxed);
        while (atomic_load_explicit(&c->ticket_owner, memory_order_acquire) != me)
            _mm_pause();
        break;
    }
    }
}

static inline void c_unlock(contended_t *c)
{
    switch (c->impl) {
    case C_PYTH: pyth_lock_release(c->pyth); break;
    case C_PTHREAD: pthread_mutex_unlock(&c->mutex); break;
    case C_PTHREAD_ADAPTIVE: pthread_mutex_unlock(&c->adaptive); break;
    case C_PL: plshim_mutex_unlock(c->pl); break;
    case C_PL_TAGGED: plshim_tagged_unlock(c->pl_tagged); break;
    case C_TICKET: atomic_fetch_add_explicit(&c->ticket_owner, 1, memory_order_release); break;
    }
}

/* How long the calling thread has been runnable without running: time
 * other tasks took from it, plus the latency of its own wake-ups. */
static double runqueue_ns(void)
{
    unsigned long long run = 0, wait = 0;
    FILE *f = fopen("/proc/thread-self/schedstat", "r");
    if (f) {
        if (fscanf(f, "%llu %llu", &run, &wait) != 2)
            wait = 0;
        fclose(f);
    }
    return (double)wait;
}

/* Both threads take the lock until the shared counter reaches `total`; how
 * the acquisitions split between them is the fairness, and with `timed` the
 * longest single acquire is the starvation measure. */
static void *contended_worker(void *arg)
{
    contended_t *c = &g_c;
    int me = (int)(intptr_t)arg;
    long mine = 0, over = 0;
    uint64_t max_wait = 0, limit = (uint64_t)(1e6 * g_tsc_per_ns);
    struct rusage ru0, ru1;
    getrusage(RUSAGE_THREAD, &ru0);
    double rq0 = runqueue_ns();
    atomic_fetch_add(&c->ready, 1);
    while (atomic_load(&c->ready) < 2)
        ;
    c->per[me].t0 = now_ns();
    for (;;) {
        uint64_t a = c->timed ? __rdtsc() : 0;
        c_lock(c);
        if (c->timed) {
            uint64_t w = __rdtsc() - a;
            if (w > max_wait)
                max_wait = w;
            over += w > limit;
        }
        if (c->counter >= c->total) {
            c_unlock(c);
            break;
        }
        c->counter++;
        mine++;
        c_unlock(c);
    }
    c->per[me].t1 = now_ns();
    getrusage(RUSAGE_THREAD, &ru1);
    c->per[me].sleeps = ru1.ru_nvcsw - ru0.ru_nvcsw;
    c->per[me].preempted = ru1.ru_nivcsw - ru0.ru_nivcsw;
    c->per[me].delayed = runqueue_ns() - rq0;
    c->per[me].mine = mine;
    c->per[me].max_wait = max_wait;
    c->per[me].over_1ms = over;
    return NULL;
}

static void contended_run(int impl, long total, bool timed)
{
    /* A FIFO spinlock crawls whenever a waiter's CPU is taken from it; a
     * quarter of the work keeps the control from eating the time budget. */
    if (impl == C_TICKET)
        total /= 4;
    watchdog(contended_names[impl]);
    g_c.impl = impl;
    g_c.total = total;
    g_c.timed = timed;
    g_c.counter = 0;
    atomic_store(&g_c.ready, 0);
    pthread_t a = spawn_on(0, contended_worker, (void *)0);
    pthread_t b = spawn_on(1, contended_worker, (void *)1);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    alarm(0);
    if (g_c.counter != total || g_c.per[0].mine + g_c.per[1].mine != total) {
        fprintf(stderr, "bench: contended counter is wrong: %ld\n", g_c.counter);
        exit(1);
    }
}

static void calibrate_tsc(void)
{
    double t0 = now_ns();
    uint64_t c0 = __rdtsc();
    while (now_ns() - t0 < 20e6)
        ;
    g_tsc_per_ns = (__rdtsc() - c0) / (now_ns() - t0);
}

/* ---- blocking handoffs ---------------------------------------------------- */

enum {
    PP_FUTEX,
    PP_FUTEX_BARRIER,
    PP_PYTH_COND,
    PP_PYTH_COND_RLOCK,
    PP_PTHREAD_COND,
    PP_PL_COND,
    PP_PYTH_SEM,
    PP_SEM_T,
    PP_PYTH_EVENT,
    PP_PTHREAD_EVENT,
    PP_PL_EVENT,
    PP_PYTH_BARRIER,
    PP_PTHREAD_BARRIER,
    PP_N
};

static const char *const pp_names[PP_N] = {
    "raw futex ping-pong (floor)",
    "raw futex barrier(2) (floor)",
    "libpyth Condition(Lock)",
    "libpyth Condition() (own RLock)",
    "pthread mutex+cond",
    "parking_lot Mutex+Condvar",
    "libpyth Semaphore",
    "sem_t",
    "libpyth Event",
    "pthread mutex+cond event",
    "parking_lot Mutex+Condvar event",
    "libpyth Barrier(2)",
    "pthread_barrier_t(2)",
};

/* Waits that returned although their event had not been set: a bug in the
 * implementation, counted per kind and reported. */
static atomic_long g_spurious[PP_N];

typedef struct {
    int kind;
    long rounds;
    /* Fresh objects every trial, so nothing carries over between them. */
    _Alignas(64) atomic_int word; /* futex word: whose turn, or a generation */
    atomic_int arrived;
    long round[2];         /* each side's own round count (events) */
    atomic_long sets[2];   /* how many times each side has set its event */
    int turn;
    pyth_lock_t *plock;
    pyth_cond_t *pcond;
    pyth_semaphore_t *psem[2];
    pyth_event_t *pev[2];
    pyth_barrier_t *pbar;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    sem_t sem[2];
    pt_event ptev[2];
    pthread_barrier_t ptbar;
    plshim_mutex *plm;
    plshim_cond *plc;
    plshim_event *ple[2];
} pingpong_t;

static long futex(atomic_int *addr, int op, int val)
{
    return syscall(SYS_futex, addr, op, val, NULL, NULL, 0);
}

static void futex_wait(atomic_int *addr, int val)
{
    futex(addr, FUTEX_WAIT_PRIVATE, val);
}

static void futex_wake(atomic_int *addr)
{
    futex(addr, FUTEX_WAKE_PRIVATE, 1);
}

/* The least a blocking two-party barrier can do: the first to arrive sleeps
 * on the generation word, the second bumps it and wakes it. */
static void futex_barrier_wait(pingpong_t *p)
{
    int gen = atomic_load(&p->word);
    if (atomic_fetch_add(&p->arrived, 1) == 1) {
        atomic_store(&p->arrived, 0);
        atomic_store(&p->word, gen + 1);
        futex_wake(&p->word);
        return;
    }
    while (atomic_load(&p->word) == gen)
        futex_wait(&p->word, gen);
}

/* The three events of the event ping-pong behind one interface. */
static void ev_set(pingpong_t *p, int i)
{
    switch (p->kind) {
    case PP_PYTH_EVENT: CHECK_PYTH(pyth_event_set(p->pev[i])); break;
    case PP_PTHREAD_EVENT: pt_event_set(&p->ptev[i]); break;
    case PP_PL_EVENT: plshim_event_set(p->ple[i]); break;
    }
}

static void ev_wait(pingpong_t *p, int i)
{
    switch (p->kind) {
    case PP_PYTH_EVENT: CHECK_PYTH(pyth_event_wait(p->pev[i], PYTH_FOREVER)); break;
    case PP_PTHREAD_EVENT: pt_event_wait(&p->ptev[i]); break;
    case PP_PL_EVENT: plshim_event_wait(p->ple[i]); break;
    }
}

static void ev_clear(pingpong_t *p, int i)
{
    switch (p->kind) {
    case PP_PYTH_EVENT: CHECK_PYTH(pyth_event_clear(p->pev[i])); break;
    case PP_PTHREAD_EVENT: pt_event_clear(&p->ptev[i]); break;
    case PP_PL_EVENT: plshim_event_clear(p->ple[i]); break;
    }
}

/* One round of `side` (0: the timing thread, 1: its partner). A round is a
 * full round trip (each side sleeps and is woken once), except for the
 * barriers, where it is one cycle. */
static void pp_round(pingpong_t *p, int side)
{
    switch (p->kind) {
    case PP_FUTEX:
        if (side == 0) {
            atomic_store(&p->word, 1);
            futex_wake(&p->word);
            while (atomic_load(&p->word) != 0)
                futex_wait(&p->word, 1);
        } else {
            while (atomic_load(&p->word) != 1)
                futex_wait(&p->word, 0);
            atomic_store(&p->word, 0);
            futex_wake(&p->word);
        }
        break;
    case PP_FUTEX_BARRIER:
        futex_barrier_wait(p);
        break;
    case PP_PYTH_COND:
    case PP_PYTH_COND_RLOCK:
        CHECK_PYTH(pyth_cond_acquire(p->pcond, true, PYTH_FOREVER));
        while (p->turn != side)
            CHECK_PYTH(pyth_cond_wait(p->pcond, PYTH_FOREVER));
        p->turn = !side;
        CHECK_PYTH(pyth_cond_notify(p->pcond, 1));
        CHECK_PYTH(pyth_cond_release(p->pcond));
        break;
    case PP_PTHREAD_COND:
        pthread_mutex_lock(&p->mutex);
        while (p->turn != side)
            pthread_cond_wait(&p->cond, &p->mutex);
        p->turn = !side;
        pthread_cond_signal(&p->cond);
        pthread_mutex_unlock(&p->mutex);
        break;
    case PP_PL_COND:
        plshim_mutex_lock(p->plm);
        while (p->turn != side)
            plshim_cond_wait(p->plc, p->plm);
        p->turn = !side;
        plshim_cond_notify_one(p->plc);
        plshim_mutex_unlock(p->plm);
        break;
    case PP_PYTH_SEM:
        if (side == 0) {
            CHECK_PYTH(pyth_semaphore_release(p->psem[0], 1));
            CHECK_PYTH(pyth_semaphore_acquire(p->psem[1], true, PYTH_FOREVER));
        } else {
            CHECK_PYTH(pyth_semaphore_acquire(p->psem[0], true, PYTH_FOREVER));
            CHECK_PYTH(pyth_semaphore_release(p->psem[1], 1));
        }
        break;
    case PP_SEM_T:
        if (side == 0) {
            sem_post(&p->sem[0]);
            while (sem_wait(&p->sem[1]) != 0)
                ;
        } else {
            while (sem_wait(&p->sem[0]) != 0)
                ;
            sem_post(&p->sem[1]);
        }
        break;
    /* Each event is set by one side and cleared by the other before it
     * answers, so a set is never lost to a late clear. Each side also
     * counts its sets, so that a wait that returns although the event was
     * not set since it was last cleared (libpyth's Event does that: a
     * stale wake-up, see BENCHMARKS.md) is counted and waited out instead
     * of running one side ahead into a hang. All three events pay for the
     * same bookkeeping. */
    case PP_PYTH_EVENT:
    case PP_PTHREAD_EVENT:
    case PP_PL_EVENT: {
        long round = ++p->round[side];
        int other = !side;
        if (side == 0) {
            atomic_store(&p->sets[0], round);
            ev_set(p, 0);
        }
        ev_wait(p, other);
        while (atomic_load(&p->sets[other]) < round) {
            atomic_fetch_add(&g_spurious[p->kind], 1);
            ev_wait(p, other);
        }
        ev_clear(p, other);
        if (side == 1) {
            atomic_store(&p->sets[1], round);
            ev_set(p, 1);
        }
        break;
    }
    case PP_PYTH_BARRIER:
        CHECK_PYTH(pyth_barrier_wait(p->pbar, NULL));
        break;
    case PP_PTHREAD_BARRIER: {
        int rc = pthread_barrier_wait(&p->ptbar);
        if (rc != 0 && rc != PTHREAD_BARRIER_SERIAL_THREAD)
            die("pthread_barrier_wait", rc);
        break;
    }
    }
}

static void pp_setup(pingpong_t *p)
{
    p->round[0] = p->round[1] = 0;
    atomic_store(&p->sets[0], 0);
    atomic_store(&p->sets[1], 0);
    atomic_store(&p->word, 0);
    atomic_store(&p->arrived, 0);
    p->turn = 0;
    switch (p->kind) {
    case PP_PYTH_COND:
        p->plock = pyth_lock_new();
        p->pcond = pyth_cond_new_with_lock(p->plock);
        if (!p->plock || !p->pcond)
            die("pyth_cond_new_with_lock", pyth_last_status());
        break;
    case PP_PYTH_COND_RLOCK:
        if (!(p->pcond = pyth_cond_new()))
            die("pyth_cond_new", pyth_last_status());
        break;
    case PP_PTHREAD_COND:
        CHECK_PT(pthread_mutex_init(&p->mutex, NULL));
        CHECK_PT(pthread_cond_init(&p->cond, NULL));
        break;
    case PP_PL_COND:
        p->plm = plshim_mutex_new();
        p->plc = plshim_cond_new();
        break;
    case PP_PYTH_SEM:
        for (int i = 0; i < 2; i++)
            if (!(p->psem[i] = pyth_semaphore_new(0)))
                die("pyth_semaphore_new", pyth_last_status());
        break;
    case PP_SEM_T:
        for (int i = 0; i < 2; i++)
            if (sem_init(&p->sem[i], 0, 0) != 0)
                die("sem_init", errno);
        break;
    case PP_PYTH_EVENT:
        for (int i = 0; i < 2; i++)
            if (!(p->pev[i] = pyth_event_new()))
                die("pyth_event_new", pyth_last_status());
        break;
    case PP_PTHREAD_EVENT:
        pt_event_init(&p->ptev[0]);
        pt_event_init(&p->ptev[1]);
        break;
    case PP_PL_EVENT:
        p->ple[0] = plshim_event_new();
        p->ple[1] = plshim_event_new();
        break;
    case PP_PYTH_BARRIER:
        if (!(p->pbar = pyth_barrier_new(2, NULL, NULL, PYTH_FOREVER)))
            die("pyth_barrier_new", pyth_last_status());
        break;
    case PP_PTHREAD_BARRIER:
        CHECK_PT(pthread_barrier_init(&p->ptbar, NULL, 2));
        break;
    }
}

static void pp_teardown(pingpong_t *p)
{
    switch (p->kind) {
    case PP_PYTH_COND:
        CHECK_PYTH(pyth_cond_free(p->pcond));
        CHECK_PYTH(pyth_lock_free(p->plock));
        break;
    case PP_PYTH_COND_RLOCK:
        CHECK_PYTH(pyth_cond_free(p->pcond));
        break;
    case PP_PTHREAD_COND:
        pthread_cond_destroy(&p->cond);
        pthread_mutex_destroy(&p->mutex);
        break;
    case PP_PL_COND:
        plshim_cond_free(p->plc);
        plshim_mutex_free(p->plm);
        break;
    case PP_PYTH_SEM:
        CHECK_PYTH(pyth_semaphore_free(p->psem[0]));
        CHECK_PYTH(pyth_semaphore_free(p->psem[1]));
        break;
    case PP_SEM_T:
        sem_destroy(&p->sem[0]);
        sem_destroy(&p->sem[1]);
        break;
    case PP_PYTH_EVENT:
        CHECK_PYTH(pyth_event_free(p->pev[0]));
        CHECK_PYTH(pyth_event_free(p->pev[1]));
        break;
    case PP_PTHREAD_EVENT:
        pt_event_destroy(&p->ptev[0]);
        pt_event_destroy(&p->ptev[1]);
        break;
    case PP_PL_EVENT:
        plshim_event_free(p->ple[0]);
        plshim_event_free(p->ple[1]);
        break;
    case PP_PYTH_BARRIER:
        CHECK_PYTH(pyth_barrier_free(p->pbar));
        break;
    case PP_PTHREAD_BARRIER:
        pthread_barrier_destroy(&p->ptbar);
        break;
    }
}

#define PP_WARMUP 50

static void *pp_partner(void *arg)
{
    pingpong_t *p = arg;
    for (long i = 0; i < p->rounds + PP_WARMUP; i++)
        pp_round(p, 1);
    return NULL;
}

typedef struct {
    int nimpl;
    int kinds[MAX_IMPLS];
    int cpu_partner; /* the timing thread is on CPU 0 */
} pp_case_t;

/* Nanoseconds per round, timed by side 0 after a short warm-up. */
static double t_pingpong(const void *ctx, int impl, long n)
{
    const pp_case_t *pc = ctx;
    static pingpong_t p;
    p.kind = pc->kinds[impl];
    p.rounds = n;
    watchdog(pp_names[p.kind]);
    pp_setup(&p);
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    pthread_t t = spawn_on(pc->cpu_partner, pp_partner, &p);
    for (int i = 0; i < PP_WARMUP; i++)
        pp_round(&p, 0);
    double t0 = now_ns();
    for (long i = 0; i < n; i++)
        pp_round(&p, 0);
    double dt = now_ns() - t0;
    pthread_join(t, NULL);
    /* Whole process, partner included (its counts join the process's when
     * it exits); the warm-up rounds are in the count too. */
    getrusage(RUSAGE_SELF, &ru1);
    g_switches = (double)(ru1.ru_nvcsw - ru0.ru_nvcsw + ru1.ru_nivcsw - ru0.ru_nivcsw) / (n + PP_WARMUP);
    pp_teardown(&p);
    alarm(0);
    return dt / n;
}

/* ---- main ----------------------------------------------------------------- */

static void *nothing(void *arg)
{
    return arg;
}

/* What a libpyth thread must do that a bare pthread does not: learn its
 * kernel id (native_id) and set its OS name. Two system calls; this is the
 * fair floor for a Thread's start+join. */
static void *named_nothing(void *arg)
{
    volatile pid_t tid = gettid();
    (void)tid;
    prctl(PR_SET_NAME, "bench");
    return arg;
}

static void print_sizes(void)
{
    pyth_lock_t *l = pyth_lock_new();
    pyth_rlock_t *r = pyth_rlock_new();
    pyth_cond_t *c = pyth_cond_new();
    pyth_cond_t *cl = pyth_cond_new_with_lock(l);
    pyth_semaphore_t *s = pyth_semaphore_new(1);
    pyth_semaphore_t *bs = pyth_bounded_semaphore_new(1);
    pyth_event_t *e = pyth_event_new();
    pyth_barrier_t *b = pyth_barrier_new(2, NULL, NULL, PYTH_FOREVER);
    if (!l || !r || !c || !cl || !s || !bs || !e || !b)
        die("constructing the size samples", pyth_last_status());
    /* The same heap rounding applied to a pthread object, for a fair
     * comparison with a heap-allocated handle. */
    void *hm = malloc(sizeof(pthread_mutex_t)), *hc = malloc(sizeof(pthread_cond_t));
    void *hs = malloc(sizeof(sem_t)), *hb = malloc(sizeof(pthread_barrier_t));
    void *he = malloc(sizeof(pt_event));

    printf("\nbytes per primitive  [libpyth: malloc_usable_size of the handle; "
           "pthread: sizeof (heap-allocated: usable size); parking_lot: size_of]\n");
    printf("  %-22s %8s %20s %12s\n", "primitive", "libpyth", "pthread", "parking_lot");
    printf("  %-22s %8zu %11zu (%3zu heap) %12zu\n", "Lock", malloc_usable_size(l),
           sizeof(pthread_mutex_t), malloc_usable_size(hm), plshim_sizeof_mutex());
    printf("  %-22s %8zu %11zu (%3zu heap) %12zu\n", "RLock", malloc_usable_size(r),
           sizeof(pthread_mutex_t), malloc_usable_size(hm), plshim_sizeof_remutex());
    printf("  %-22s %8zu %11zu (%3zu heap) %12zu\n", "Condition (own RLock)", malloc_usable_size(c),
           sizeof(pthread_mutex_t) + sizeof(pthread_cond_t),
           malloc_usable_size(hm) + malloc_usable_size(hc),
           plshim_sizeof_mutex() + plshim_sizeof_cond());
    printf("  %-22s %8zu %11zu (%3zu heap) %12zu\n", "Condition(lock), +lock",
           malloc_usable_size(cl) + malloc_usable_size(l), sizeof(pthread_cond_t) + sizeof(pthread_mutex_t),
           malloc_usable_size(hc) + malloc_usable_size(hm), plshim_sizeof_cond() + plshim_sizeof_mutex());
    printf("  %-22s %8zu %11zu (%3zu heap) %12s\n", "Semaphore", malloc_usable_size(s), sizeof(sem_t),
           malloc_usable_size(hs), "-");
    printf("  %-22s %8zu %11s %23s\n", "BoundedSemaphore", malloc_usable_size(bs), "-", "-");
    printf("  %-22s %8zu %11zu (%3zu heap) %12zu\n", "Event (mutex+cond+flag)", malloc_usable_size(e),
           sizeof(pt_event), malloc_usable_size(he), plshim_sizeof_event());
    printf("  %-22s %8zu %11zu (%3zu heap) %12s\n", "Barrier", malloc_usable_size(b),
           sizeof(pthread_barrier_t), malloc_usable_size(hb), "-");
    free(hm), free(hc), free(hs), free(hb), free(he);
    pyth_cond_free(cl);
    pyth_cond_free(c);
    pyth_lock_free(l);
    pyth_rlock_free(r);
    pyth_semaphore_free(s);
    pyth_semaphore_free(bs);
    pyth_event_free(e);
    pyth_barrier_free(b);
}

static void uncontended_cases(void)
{
    const int T = trials(21);
    const long N = iters(1000000);
    result_t r[MAX_IMPLS];
    static const char *const lock_names[] = {"libpyth Lock", "pthread_mutex", "parking_lot Mutex"};
    static const char *const rlock_names[] = {"libpyth RLock", "pthread recursive mutex",
                                              "parking_lot ReentrantMutex"};
    static const char *const sem_names[] = {"libpyth Semaphore", "sem_t",
                                            "parking_lot Mutex (2-RMW reference)"};
    static const char *const ev_names[] = {"libpyth Event", "pthread mutex+cond event",
                                           "parking_lot Mutex+Condvar event"};
    summary_t *s;

    pin_self(0);

    measure(t_uncontended_lock, NULL, 3, lock_names, N, T, 1, r);
    print_case("uncontended acquire+release", "ns/op", 3, r, false);
    s = add_summary("uncontended Lock acquire+release", "ns", r[0].median, r[1].median, r[2].median, 0);
    set_target(s, "<= 1.05x parking_lot", r[0].median <= 1.05 * r[2].median);

    measure(t_rlock, NULL, 3, rlock_names, N, T, 1, r);
    print_case("RLock acquire+release at depth 1 (outermost level)", "ns/op", 3, r, false);
    s = add_summary("RLock acquire+release, depth 1", "ns", r[0].median, r[1].median, r[2].median, 0);
    set_target(s, "<= 1.05x parking_lot", r[0].median <= 1.05 * r[2].median);

    measure(t_rlock_nested, NULL, 3, rlock_names, N, T, 1, r);
    print_case("RLock acquire+release while already held (depth 2)", "ns/op", 3, r, false);
    add_summary("RLock acquire+release, depth 2", "ns", r[0].median, r[1].median, r[2].median, 0);

    measure(t_sem_nonblocking, NULL, 3, sem_names, N, T, 1, r);
    print_case("semaphore release+acquire, no blocking", "ns/op", 3, r, false);
    s = add_summary("Semaphore release+acquire, no blocking", "ns", r[0].median, r[1].median,
                    r[2].median, 0);
    set_target(s, "<= 1.05x parking_lot (lock+unlock)", r[0].median <= 1.05 * r[2].median);

    measure(t_event_set_clear, NULL, 3, ev_names, N, T, 1, r);
    print_case("event set+clear, no waiter", "ns/op", 3, r, false);
    s = add_summary("Event set+clear, no waiter", "ns", r[0].median, r[1].median, r[2].median, 0);
    set_target(s, "<= 0.65x parking_lot event", r[0].median <= 0.65 * r[2].median);
}

static double contended_rate(void)
{
    double t0 = g_c.per[0].t0 < g_c.per[1].t0 ? g_c.per[0].t0 : g_c.per[1].t0;
    double t1 = g_c.per[0].t1 > g_c.per[1].t1 ? g_c.per[0].t1 : g_c.per[1].t1;
    return g_c.total / (t1 - t0) * 1e3;
}

/* A worker that another task preempts (a compiler on the other core, say)
 * waits a whole time slice whatever the lock does: the FIFO control shows
 * the size of that. So every run records how long its workers sat
 * runnable without a CPU (schedstat), and the medians are taken over the
 * "clean" runs, where that was under 0.5 ms in all, when at least three
 * were; otherwise over all runs, and the line says so. Sleeps (voluntary
 * switches) per thousand acquisitions show how often the lock parked. */
#define CLEAN_DELAY_NS 500e3
static void contended_case(void)
{
    const int T = trials(15), TT = trials(7);
    const long N = iters(2000000);
    static double rate[C_N][MAX_TRIALS], clean_rate[C_N][MAX_TRIALS], sleeps[C_N][MAX_TRIALS];
    int nclean[C_N] = {0};
    double med[C_N];

    for (int i = 0; i < C_N; i++)
        contended_run(i, N / 10, false);
    for (int t = 0; t < T; t++)
        for (int k = 0; k < C_N; k++) {
            int i = (k + t) % C_N;
            contended_run(i, N, false);
            rate[i][t] = contended_rate();
            sleeps[i][t] = 1e3 * (g_c.per[0].sleeps + g_c.per[1].sleeps) / g_c.total;
            if (getenv("BENCH_DEBUG"))
                fprintf(stderr, "impl %d: %.1f M/s delay %.0f+%.0f us preempt %ld+%ld sleeps %ld+%ld\n", i, rate[i][t],
                        g_c.per[0].delayed / 1e3, g_c.per[1].delayed / 1e3, g_c.per[0].preempted,
                        g_c.per[1].preempted, g_c.per[0].sleeps, g_c.per[1].sleeps);
            if (g_c.per[0].delayed + g_c.per[1].delayed < CLEAN_DELAY_NS)
                clean_rate[i][nclean[i]++] = rate[i][t];
        }
    printf("\n2 threads contending on one lock, pinned to CPUs 0 and 1  "
           "[M acq/s, median; higher is better]\n");
    for (int i = 0; i < C_N; i++) {
        double iqr, all = median_of(rate[i], T, &iqr);
        bool use_clean = nclean[i] >= 3;
        med[i] = use_clean ? median_of(clean_rate[i], nclean[i], &iqr) : all;
        printf("  %-30s %8.2f  (iqr %4.1f%%; %2d/%d runs clean%s; sleeps/1k acq %5.2f)",
               contended_names[i], med[i], 100 * iqr / med[i], nclean[i], T,
               use_clean ? "" : ", median of all runs", median_of(sleeps[i], T, NULL));
        if (i > 0)
            printf("   libpyth/this = %.3f", med[0] / med[i]);
        printf("\n");
    }

    /* Fairness and the longest wait: separate runs, since reading the TSC
     * around every acquire slows the loop down. */
    printf("  fairness and starvation (%d runs each, TSC read around every acquire):\n", TT);
    double worst_pyth = -1;
    for (int impl = 0; impl < C_N; impl++) {
        double share[MAX_TRIALS], maxw[MAX_TRIALS], clean[MAX_TRIALS];
        long over = 0;
        int nc = 0;
        for (int t = 0; t < TT; t++) {
            contended_run(impl, N, true);
            double a = g_c.per[0].mine, b = g_c.per[1].mine;
            share[t] = (a < b ? a : b) / (a + b);
            uint64_t m = g_c.per[0].max_wait > g_c.per[1].max_wait ? g_c.per[0].max_wait
                                                                  : g_c.per[1].max_wait;
            maxw[t] = m / g_tsc_per_ns / 1e3;
            over += g_c.per[0].over_1ms + g_c.per[1].over_1ms;
            if (g_c.per[0].delayed + g_c.per[1].delayed < CLEAN_DELAY_NS)
                clean[nc++] = maxw[t];
        }
        double msh = median_of(share, TT, NULL), mmax = median_of(maxw, TT, NULL);
        printf("    %-30s smaller share %4.1f%%; longest acquire (median of runs): %7.1f us",
               contended_names[impl], 100 * msh, mmax);
        if (nc) {
            double mclean = median_of(clean, nc, NULL);
            printf(", %7.1f us over the %d clean", mclean, nc);
            if (impl == C_PYTH)
                worst_pyth = mclean;
        } else {
            printf(", no clean run");
        }
        printf("; acquires > 1 ms: %ld\n", over);
    }
    summary_t *s = add_summary("2-thread contended Lock (M acq/s)", "M/s", med[C_PYTH], med[C_PTHREAD],
                               med[C_PL], 0);
    char text[48];
    if (worst_pyth >= 0)
        snprintf(text, sizeof text, ">= 0.9x parking_lot; max wait %.0f us", worst_pyth);
    else
        snprintf(text, sizeof text, ">= 0.9x parking_lot; max wait: n/a (noisy)");
    set_target(s, text, med[C_PYTH] >= 0.9 * med[C_PL] && worst_pyth >= 0 && worst_pyth <= 1000);
}

/* More threads than CPUs: a holder can be preempted, and the spin before
 * parking (yield or not) decides whether a waiter lets it run again. */
enum { OVER_THREADS = 8 };

static void *over_worker(void *arg)
{
    contended_t *c = &g_c;
    (void)arg;
    atomic_fetch_add(&c->ready, 1);
    while (atomic_load(&c->ready) < OVER_THREADS)
        sched_yield();
    for (;;) {
        c_lock(c);
        if (c->counter >= c->total) {
            c_unlock(c);
            break;
        }
        c->counter++;
        c_unlock(c);
    }
    return NULL;
}

static double over_run(int impl, long total)
{
    watchdog(contended_names[impl]);
    g_c.impl = impl;
    g_c.total = total;
    g_c.counter = 0;
    atomic_store(&g_c.ready, 0);
    pthread_t t[OVER_THREADS];
    double t0 = now_ns();
    for (int i = 0; i < OVER_THREADS; i++)
        t[i] = spawn_on(i % 2, over_worker, NULL);
    for (int i = 0; i < OVER_THREADS; i++)
        pthread_join(t[i], NULL);
    double dt = now_ns() - t0;
    alarm(0);
    if (g_c.counter != total) {
        fprintf(stderr, "bench: oversubscribed counter is wrong: %ld\n", g_c.counter);
        exit(1);
    }
    return total / dt * 1e3;
}

static void oversubscribed_case(void)
{
    static const int impls[] = {C_PYTH, C_PTHREAD, C_PL};
    enum { K = sizeof impls / sizeof impls[0] };
    const int T = trials(9);
    const long N = iters(1000000);
    static double rate[K][MAX_TRIALS];
    double med[K];
    for (int t = 0; t < T; t++)
        for (int k = 0; k < K; k++) {
            int i = (k + t) % K;
            rate[i][t] = over_run(impls[i], N);
        }
    printf("\n%d threads contending on one lock, pinned alternately to CPUs 0 and 1  "
           "[M acq/s, median; higher is better]\n",
           OVER_THREADS);
    for (int k = 0; k < K; k++) {
        double iqr;
        med[k] = median_of(rate[k], T, &iqr);
        printf("  %-30s %8.2f  (iqr %4.1f%%)", contended_names[impls[k]], med[k], 100 * iqr / med[k]);
        if (k > 0)
            printf("   libpyth/this = %.3f", med[0] / med[k]);
        printf("\n");
    }
    add_summary("8-thread contended Lock, 2 CPUs (M acq/s)", "M/s", med[0], med[1], med[2], 0);
}

static void pingpong_cases(int cpu_partner, int T, long N)
{
    result_t r[MAX_IMPLS];
    const char *names[MAX_IMPLS];
    const char *where = cpu_partner == 0 ? "both threads on CPU 0" : "threads on CPUs 0 and 1";
    char title[160];
    static const pp_case_t cases[] = {
        {2, {PP_FUTEX, PP_FUTEX_BARRIER}, 0},
        {5, {PP_PYTH_COND, PP_PTHREAD_COND, PP_PL_COND, PP_PYTH_COND_RLOCK, PP_FUTEX}, 0},
        {3, {PP_PYTH_SEM, PP_SEM_T, PP_FUTEX}, 0},
        {4, {PP_PYTH_EVENT, PP_PTHREAD_EVENT, PP_PL_EVENT, PP_FUTEX}, 0},
        {3, {PP_PYTH_BARRIER, PP_PTHREAD_BARRIER, PP_FUTEX_BARRIER}, 0},
    };
    static const char *const titles[] = {"raw futex floors", "condition ping-pong",
                                         "semaphore ping-pong", "event ping-pong",
                                         "barrier(2) cycle"};
    bool same = cpu_partner == 0;
    double floor_pp = 0, floor_bar = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        pp_case_t pc = cases[c];
        pc.cpu_partner = cpu_partner;
        for (int i = 0; i < pc.nimpl; i++)
            names[i] = pp_names[pc.kinds[i]];
        measure(t_pingpong, &pc, pc.nimpl, names, N, T, 1e-3, r);
        snprintf(title, sizeof title, "%s, %s", titles[c], where);
        print_case(title, c == 4 || c == 0 ? "us/round trip (barrier: us/cycle)" : "us/round trip",
                   pc.nimpl, r, false);
        for (int i = 0; i < pc.nimpl; i++) {
            long n = atomic_exchange(&g_spurious[pc.kinds[i]], 0);
            if (n) {
                printf("  !! %s: %ld wait(s) returned although the event was not set since it was "
                       "last cleared (waited out; a correctness bug)\n", pp_names[pc.kinds[i]], n);
                snprintf(g_notes[g_nnotes++ % 8], sizeof g_notes[0],
                         "%s, %s: %ld spurious wait return(s)", pp_names[pc.kinds[i]], where, n);
            }
        }
        char name[64];
        summary_t *s;
        bool met;
        switch (c) {
        case 0:
            floor_pp = r[0].median;
            floor_bar = r[1].median;
            snprintf(name, sizeof name, "futex ping-pong (floor)%s", same ? "" : ", cross-CPU");
            add_summary(name, "us", 0, 0, 0, floor_pp);
            snprintf(name, sizeof name, "futex barrier(2) cycle (floor)%s", same ? "" : ", cross-CPU");
            add_summary(name, "us", 0, 0, 0, floor_bar);
            break;
        /* Ratios to the floor measured inside the same case, interleaved
         * with the others, rather than to the separate floor case. */
        case 1:
            snprintf(name, sizeof name, "Condition ping-pong%s", same ? "" : ", cross-CPU");
            s = add_summary(name, "us", r[0].median, r[1].median, r[2].median, r[4].median);
            met = r[0].median <= 1.1 * r[4].median;
            if (same)
                set_target(s, "<= 1.1x futex ping-pong", met);
            snprintf(name, sizeof name, "Condition() (RLock) ping-pong%s", same ? "" : ", cross-CPU");
            add_summary(name, "us", r[3].median, r[1].median, r[2].median, r[4].median);
            break;
        case 2:
            snprintf(name, sizeof name, "Semaphore ping-pong%s", same ? "" : ", cross-CPU");
            s = add_summary(name, "us", r[0].median, r[1].median, 0, r[2].median);
            if (same)
                set_target(s, "<= 1.1x futex ping-pong", r[0].median <= 1.1 * r[2].median);
            break;
        case 3:
            snprintf(name, sizeof name, "Event ping-pong%s", same ? "" : ", cross-CPU");
            s = add_summary(name, "us", r[0].median, r[1].median, r[2].median, r[3].median);
            if (same)
                set_target(s, "<= 1.1x futex ping-pong", r[0].median <= 1.1 * r[3].median);
            break;
        case 4:
            /* A barrier(2) cycle is not a ping-pong round trip: compare it
             * with the raw futex barrier in the same case, and show the
             * ping-pong floor beside it in the detailed output. */
            snprintf(name, sizeof name, "Barrier(2) cycle%s", same ? "" : ", cross-CPU");
            s = add_summary(name, "us", r[0].median, r[1].median, 0, floor_pp);
            if (same)
                set_target(s, "<= 1.1x futex ping-pong", r[0].median <= 1.1 * floor_pp);
            snprintf(name, sizeof name, "Barrier(2) cycle vs futex barrier%s", same ? "" : ", cross-CPU");
            s = add_summary(name, "us", r[0].median, r[1].median, 0, r[2].median);
            if (same)
                set_target(s, "(stricter) <= 1.1x futex barrier", r[0].median <= 1.1 * r[2].median);
            break;
        }
    }
}

/* ---- threads, thread-locals, queues and executors ------------------------- */

/* Lets the affinity of this thread (and so of every thread it creates
 * afterwards, which inherits it) cover both CPUs again. */
static void pin_any(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int c = 0; c < 2; c++)
        CPU_SET(c, &set);
    CHECK_PT(pthread_setaffinity_np(pthread_self(), sizeof set, &set));
}

static void note(const char *fmt, const char *what, long n)
{
    snprintf(g_notes[g_nnotes++ % 8], sizeof g_notes[0], fmt, what, n);
    printf("  !! ");
    printf(fmt, what, n);
    printf(" (a correctness bug)\n");
}

static volatile uintptr_t g_sink;

static int trivial_target(void *arg)
{
    (void)arg;
    return 0;
}

static atomic_int g_started_done;

static int signal_target(void *arg)
{
    (void)arg;
    atomic_store(&g_started_done, 1);
    futex_wake(&g_started_done);
    return 0;
}

static void *signal_pthread(void *arg)
{
    signal_target(arg);
    return NULL;
}

static void wait_started_done(void)
{
    while (!atomic_load(&g_started_done))
        futex_wait(&g_started_done, 0);
    atomic_store(&g_started_done, 0);
}

/* Thread lifetimes: pyth's full Thread object life against pthread's
 * create+join; and the untracked start_new_thread against a detached
 * pthread, both waited for through a futex flag set by the target. */
static double t_thread_start_join(const void *ctx, int impl, long n)
{
    (void)ctx;
    pthread_attr_t detached;
    CHECK_PT(pthread_attr_init(&detached));
    CHECK_PT(pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED));
    double t0 = now_ns();
    switch (impl) {
    case 0:
        for (long i = 0; i < n; i++) {
            pyth_thread_t *t = pyth_thread_new(trivial_target, NULL, "bench", 0);
            if (!t)
                die("pyth_thread_new", pyth_last_status());
            CHECK_PYTH(pyth_thread_start(t));
            CHECK_PYTH(pyth_thread_join(t, PYTH_FOREVER));
            pyth_thread_free(t);
        }
        break;
    case 1:
        for (long i = 0; i < n; i++) {
            pthread_t t;
            CHECK_PT(pthread_create(&t, NULL, nothing, NULL));
            CHECK_PT(pthread_join(t, NULL));
        }
        break;
    case 2:
        for (long i = 0; i < n; i++) {
            if (pyth_start_new_thread(signal_target, NULL) == 0)
                die("pyth_start_new_thread", pyth_last_status());
            wait_started_done();
        }
        break;
    case 3:
        for (long i = 0; i < n; i++) {
            pthread_t t;
            CHECK_PT(pthread_create(&t, &detached, signal_pthread, NULL));
            wait_started_done();
        }
        break;
    case 4:
        for (long i = 0; i < n; i++) {
            pthread_t t;
            CHECK_PT(pthread_create(&t, NULL, named_nothing, NULL));
            CHECK_PT(pthread_join(t, NULL));
        }
        break;
    }
    double dt = (now_ns() - t0) / n;
    pthread_attr_destroy(&detached);
    return dt;
}

static pyth_local_t *g_local;
static pthread_key_t g_key;
static __thread void *g_tls;
static int g_local_a, g_local_b; /* two distinct addresses to set */

static double t_local_get(const void *ctx, int impl, long n)
{
    (void)ctx;
    uintptr_t acc = 0;
    double t0 = now_ns();
    switch (impl) {
    case 0:
        for (long i = 0; i < n; i++)
            acc += (uintptr_t)pyth_local_get(g_local);
        break;
    case 1:
        for (long i = 0; i < n; i++)
            acc += (uintptr_t)pthread_getspecific(g_key);
        break;
    case 2:
        for (long i = 0; i < n; i++) {
            /* one load per iteration, as the calls each make */
            __asm__ volatile("" ::: "memory");
            acc += (uintptr_t)g_tls;
        }
        break;
    }
    double dt = (now_ns() - t0) / n;
    g_sink = acc;
    return dt;
}

/* Alternates two values so that every set really replaces the value. */
static double t_local_set(const void *ctx, int impl, long n)
{
    (void)ctx;
    void *v[2] = {&g_local_a, &g_local_b};
    double t0 = now_ns();
    switch (impl) {
    case 0:
        for (long i = 0; i < n; i++)
            pyth_local_set(g_local, v[i & 1]);
        break;
    case 1:
        for (long i = 0; i < n; i++)
            pthread_setspecific(g_key, v[i & 1]);
        break;
    case 2:
        for (long i = 0; i < n; i++) {
            __asm__ volatile("" ::: "memory");
            g_tls = v[i & 1];
        }
        break;
    }
    return (now_ns() - t0) / n;
}

/* glibc declares pthread_self() const, which would let the compiler hoist
 * it out of the loop: call it through a volatile pointer (one load and an
 * indirect call, about what a PLT call costs). */
static pthread_t (*volatile g_pthread_self)(void) = pthread_self;

static double t_current_thread(const void *ctx, int impl, long n)
{
    (void)ctx;
    uintptr_t acc = 0;
    double t0 = now_ns();
    switch (impl) {
    case 0:
        for (long i = 0; i < n; i++)
            acc += (uintptr_t)pyth_current_thread();
        break;
    case 1:
        for (long i = 0; i < n; i++)
            acc += (uintptr_t)pyth_get_ident();
        break;
    case 2:
        for (long i = 0; i < n; i++)
            acc += (uintptr_t)g_pthread_self();
        break;
    }
    double dt = (now_ns() - t0) / n;
    g_sink = acc;
    return dt;
}

/* The C baseline for the queues: a ring buffer as a C programmer writes it,
 * one mutex and two conditions, a signal after every put and every get. */
typedef struct {
    pthread_mutex_t m;
    pthread_cond_t not_empty, not_full;
    size_t cap, head, count;
    void **slot;
} ring_t;

static void ring_init(ring_t *r, size_t cap)
{
    CHECK_PT(pthread_mutex_init(&r->m, NULL));
    CHECK_PT(pthread_cond_init(&r->not_empty, NULL));
    CHECK_PT(pthread_cond_init(&r->not_full, NULL));
    r->cap = cap;
    r->head = r->count = 0;
    r->slot = malloc(cap * sizeof *r->slot);
    if (!r->slot)
        die("malloc", ENOMEM);
}

static void ring_destroy(ring_t *r)
{
    pthread_cond_destroy(&r->not_full);
    pthread_cond_destroy(&r->not_empty);
    pthread_mutex_destroy(&r->m);
    free(r->slot);
}

static void ring_put(ring_t *r, void *item)
{
    pthread_mutex_lock(&r->m);
    while (r->count == r->cap)
        pthread_cond_wait(&r->not_full, &r->m);
    r->slot[(r->head + r->count) % r->cap] = item;
    r->count++;
    pthread_cond_signal(&r->not_empty);
    pthread_mutex_unlock(&r->m);
}

static void *ring_get(ring_t *r)
{
    pthread_mutex_lock(&r->m);
    while (r->count == 0)
        pthread_cond_wait(&r->not_empty, &r->m);
    void *item = r->slot[r->head];
    r->head = (r->head + 1) % r->cap;
    r->count--;
    pthread_cond_signal(&r->not_full);
    pthread_mutex_unlock(&r->m);
    return item;
}

typedef struct {
    int cpu_producer, cpu_consumer; /* -1: either CPU */
    size_t cap;                     /* 0: SimpleQueue against a ring of RING_BIG */
} q_case_t;

#define RING_BIG 65536

typedef struct {
    pyth_queue_t *q;
    ring_t *ring;
    long n;
    long out_of_order;
} q_run_t;

static void *q_producer(void *arg)
{
    q_run_t *r = arg;
    for (long i = 1; i <= r->n; i++) {
        if (r->q)
            CHECK_PYTH(pyth_queue_put(r->q, (void *)(uintptr_t)i, true, PYTH_FOREVER));
        else
            ring_put(r->ring, (void *)(uintptr_t)i);
    }
    return NULL;
}

static pthread_t spawn_maybe_on(int cpu, void *(*fn)(void *), void *arg)
{
    pthread_t t;
    if (cpu >= 0)
        return spawn_on(cpu, fn, arg);
    CHECK_PT(pthread_create(&t, NULL, fn, arg));
    return t;
}

/* One producer and one consumer (both plain pthreads, so that only the
 * queue differs); returns M items/s. The consumer checks the order. */
static void *q_consumer(void *arg)
{
    q_run_t *r = arg;
    for (long i = 1; i <= r->n; i++) {
        void *item;
        if (r->q)
            CHECK_PYTH(pyth_queue_get(r->q, &item, true, PYTH_FOREVER));
        else
            item = ring_get(r->ring);
        if ((uintptr_t)item != (uintptr_t)i)
            r->out_of_order++;
    }
    return NULL;
}

static long g_queue_bad[2];

static double t_queue(const void *ctx, int impl, long n)
{
    const q_case_t *c = ctx;
    q_run_t r = {.n = n};
    ring_t ring;
    if (impl == 0) {
        r.q = c->cap ? pyth_queue_new(c->cap) : pyth_simple_queue_new();
        if (!r.q)
            die("pyth_queue_new", pyth_last_status());
    } else {
        ring_init(&ring, c->cap ? c->cap : RING_BIG);
        r.ring = &ring;
    }
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    double t0 = now_ns();
    pthread_t cons = spawn_maybe_on(c->cpu_consumer, q_consumer, &r);
    pthread_t prod = spawn_maybe_on(c->cpu_producer, q_producer, &r);
    pthread_join(prod, NULL);
    pthread_join(cons, NULL);
    double dt = now_ns() - t0;
    getrusage(RUSAGE_SELF, &ru1);
    g_switches = (double)(ru1.ru_nvcsw + ru1.ru_nivcsw - ru0.ru_nvcsw - ru0.ru_nivcsw) / n;
    if (impl == 0)
        CHECK_PYTH(pyth_queue_free(r.q));
    else
        ring_destroy(&ring);
    g_queue_bad[impl] += r.out_of_order;
    return n / dt * 1e3;
}

/* Executor round trip: one task at a time through a warm 1-worker pool,
 * against a hand-written worker thread that takes one job through a
 * mutex+cond slot and hands its result back through another cond. */
static int task_inc(void *arg, void **result)
{
    *result = (void *)((uintptr_t)arg + 1);
    return 0;
}

typedef struct {
    pthread_mutex_t m;
    pthread_cond_t job_cv, done_cv;
    int (*fn)(void *, void **);
    void *arg, *result;
    int has_job, has_result, stop;
} c_worker_t;

static void *c_worker_main(void *arg)
{
    c_worker_t *w = arg;
    pthread_mutex_lock(&w->m);
    for (;;) {
        while (!w->has_job && !w->stop)
            pthread_cond_wait(&w->job_cv, &w->m);
        if (w->stop)
            break;
        int (*fn)(void *, void **) = w->fn;
        void *a = w->arg, *res = NULL;
        w->has_job = 0;
        pthread_mutex_unlock(&w->m);
        fn(a, &res);
        pthread_mutex_lock(&w->m);
        w->result = res;
        w->has_result = 1;
        pthread_cond_signal(&w->done_cv);
    }
    pthread_mutex_unlock(&w->m);
    return NULL;
}

static void *c_worker_call(c_worker_t *w, int (*fn)(void *, void **), void *arg)
{
    pthread_mutex_lock(&w->m);
    w->fn = fn;
    w->arg = arg;
    w->has_job = 1;
    pthread_cond_signal(&w->job_cv);
    while (!w->has_result)
        pthread_cond_wait(&w->done_cv, &w->m);
    w->has_result = 0;
    void *res = w->result;
    pthread_mutex_unlock(&w->m);
    return res;
}

typedef struct {
    pyth_executor_t *pool;
    c_worker_t *worker;
} rt_case_t;

static long g_exec_bad;

static double t_round_trip(const void *ctx, int impl, long n)
{
    const rt_case_t *c = ctx;
    long bad = 0;
    double t0 = now_ns();
    if (impl == 0) {
        for (long i = 0; i < n; i++) {
            void *res;
            pyth_future_t *f = pyth_executor_submit(c->pool, task_inc, (void *)(uintptr_t)i);
            if (!f)
                die("pyth_executor_submit", pyth_last_status());
            CHECK_PYTH(pyth_future_result(f, PYTH_FOREVER, &res));
            pyth_future_free(f);
            bad += (uintptr_t)res != (uintptr_t)i + 1;
        }
    } else {
        for (long i = 0; i < n; i++)
            bad += (uintptr_t)c_worker_call(c->worker, task_inc, (void *)(uintptr_t)i) !=
                   (uintptr_t)i + 1;
    }
    double dt = (now_ns() - t0) / n;
    g_exec_bad += bad;
    return dt;
}

/* 100,000 tiny tasks. libpyth: a warm 4-worker pool, submit all, wait for
 * all, check and free. Baselines: the same task function run (a) by 4
 * pthreads created for the job, 25,000 tasks each (no per-task dispatch at
 * all: the floor), and (b) by one pthread per batch of 1,000 tasks, 4
 * batches at a time (100 threads created and joined in all). */
#define MANY_TASKS 100000
#define MANY_BATCH 1000

typedef struct {
    long first, count;
    long bad;
} batch_t;

static void *run_batch(void *arg)
{
    batch_t *b = arg;
    for (long i = b->first; i < b->first + b->count; i++) {
        void *res;
        task_inc((void *)(uintptr_t)i, &res);
        if ((uintptr_t)res != (uintptr_t)i + 1)
            b->bad++;
    }
    return NULL;
}

static pyth_future_t *g_many[MANY_TASKS];

static double t_many_tasks(const void *ctx, int impl, long n)
{
    pyth_executor_t *pool = (pyth_executor_t *)ctx;
    long bad = 0;
    if (n > MANY_TASKS)
        n = MANY_TASKS;
    double t0 = now_ns();
    if (impl == 0) {
        for (long i = 0; i < n; i++)
            if (!(g_many[i] = pyth_executor_submit(pool, task_inc, (void *)(uintptr_t)i)))
                die("pyth_executor_submit", pyth_last_status());
        CHECK_PYTH(pyth_wait(g_many, n, PYTH_FOREVER, PYTH_ALL_COMPLETED));
        for (long i = 0; i < n; i++) {
            void *res;
            CHECK_PYTH(pyth_future_result(g_many[i], PYTH_FOREVER, &res));
            bad += (uintptr_t)res != (uintptr_t)i + 1;
            pyth_future_free(g_many[i]);
        }
    } else {
        long per = impl == 1 ? (n + 3) / 4 : MANY_BATCH;
        batch_t b[4];
        pthread_t t[4];
        for (long first = 0; first < n;) {
            int k = 0;
            for (; k < 4 && first < n; k++, first += per) {
                b[k] = (batch_t){first, first + per <= n ? per : n - first, 0};
                CHECK_PT(pthread_create(&t[k], NULL, run_batch, &b[k]));
            }
            for (int j = 0; j < k; j++) {
                pthread_join(t[j], NULL);
                bad += b[j].bad;
            }
        }
    }
    double dt = now_ns() - t0;
    g_exec_bad += bad;
    return dt / 1e6; /* ms per batch of n */
}

static void threads_cases(void)
{
    const int T = trials(11);
    result_t r[MAX_IMPLS];
    summary_t *s;
    static const char *const thr_names[] = {"libpyth Thread new+start+join+free", "pthread_create+join",
                                            "pyth_start_new_thread (+futex flag)",
                                            "pthread detached (+futex flag)",
                                            "pthread+join, gettid+PR_SET_NAME"};
    static const char *const get_names[] = {"pyth_local_get", "pthread_getspecific",
                                            "__thread read (floor)"};
    static const char *const set_names[] = {"pyth_local_set", "pthread_setspecific",
                                            "__thread write (floor)"};
    static const char *const cur_names[] = {"pyth_current_thread", "pyth_get_ident", "pthread_self"};

    pin_self(0);
    watchdog("thread start+join");
    measure(t_thread_start_join, NULL, 5, thr_names, iters(2000), T, 1e-3, r);
    print_case("thread start+join of a trivial target, CPU 0", "us/thread", 5, r, false);
    s = add_summary("Thread new+start+join+free vs pthread_create+join", "us", r[0].median,
                    r[1].median, 0, 0);
    set_target(s, "<= 1.15x pthread", r[0].median <= 1.15 * r[1].median);
    add_summary("start_new_thread vs detached pthread (+futex flag)", "us", r[2].median,
                r[3].median, 0, 0);
    add_summary("Thread new+start+join+free vs pthread + gettid + name (diag.)", "us",
                r[0].median, r[4].median, 0, 0);

    watchdog("thread-local get/set");
    g_local = pyth_local_new(NULL, NULL, NULL);
    if (!g_local)
        die("pyth_local_new", pyth_last_status());
    CHECK_PT(pthread_key_create(&g_key, NULL));
    CHECK_PYTH(pyth_local_set(g_local, &g_local_a));
    CHECK_PT(pthread_setspecific(g_key, &g_local_a));
    g_tls = &g_local_a;
    const long N = iters(1000000);
    measure(t_local_get, NULL, 3, get_names, N, trials(21), 1, r);
    print_case("thread-local get, value already set", "ns/op", 3, r, false);
    s = add_summary("local get vs pthread_getspecific", "ns", r[0].median, r[1].median, 0,
                    r[2].median);
    set_target(s, "<= 1.0x pthread_getspecific", r[0].median <= r[1].median);
    measure(t_local_set, NULL, 3, set_names, N, trials(21), 1, r);
    print_case("thread-local set, replacing a value (no dtor)", "ns/op", 3, r, false);
    s = add_summary("local set vs pthread_setspecific", "ns", r[0].median, r[1].median, 0,
                    r[2].median);
    set_target(s, "<= 1.0x pthread_setspecific", r[0].median <= r[1].median);
    if (pyth_local_get(g_local) != &g_local_a && pyth_local_get(g_local) != &g_local_b)
        note("%s: %ld wrong value after the set loop", "pyth_local_get", 1);
    CHECK_PYTH(pyth_local_free(g_local));
    pthread_key_delete(g_key);

    watchdog("current_thread/get_ident");
    (void)pyth_current_thread(); /* this thread's dummy Thread exists from here */
    measure(t_current_thread, NULL, 3, cur_names, N, trials(21), 1, r);
    print_case("current thread (main thread: a dummy Thread in libpyth)", "ns/op", 3, r, false);
    s = add_summary("current_thread vs pthread_self", "ns", r[0].median, r[2].median, 0, 0);
    set_target(s, "a few ns", r[0].median <= 5);
    s = add_summary("get_ident vs pthread_self", "ns", r[1].median, r[2].median, 0, 0);
    set_target(s, "a few ns", r[1].median <= 5);
}

static void queue_cases(void)
{
    const int T = trials(7);
    const long N = iters(200000);
    result_t r[MAX_IMPLS];
    summary_t *s;
    static const char *const bq_names[] = {"libpyth Queue(64)", "C mutex+2 cond ring(64)"};
    static const char *const sq_names[] = {"libpyth SimpleQueue", "C mutex+2 cond ring(65536)"};
    static const struct {
        q_case_t c;
        const char *title, *row;
    } cases[] = {
        {{0, 1, 64}, "queue put/get, maxsize 64, producer CPU 1, consumer CPU 0",
         "Queue(64) put/get, CPUs 0/1 vs C ring"},
        {{0, 0, 64}, "queue put/get, maxsize 64, both on CPU 0", "Queue(64) put/get, one CPU vs C ring"},
        {{1, 0, 0}, "SimpleQueue put/get, producer CPU 1, consumer CPU 0",
         "SimpleQueue put/get, CPUs 0/1 vs C ring(65536)"},
        {{0, 0, 0}, "SimpleQueue put/get, both on CPU 0", "SimpleQueue put/get, one CPU vs C ring(65536)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        watchdog(cases[i].title);
        g_queue_bad[0] = g_queue_bad[1] = 0;
        const char *const *names = cases[i].c.cap ? bq_names : sq_names;
        measure(t_queue, &cases[i].c, 2, names, N, T, 1, r);
        double sw[2] = {r[0].switches, r[1].switches};
        r[0].switches = r[1].switches = -1;
        print_case(cases[i].title, "M items/s", 2, r, true);
        printf("  context switches per 1000 items (whole process): %.1f vs %.1f\n", 1e3 * sw[0],
               1e3 * sw[1]);
        s = add_summary(cases[i].row, "M/s", r[0].median, r[1].median, 0, 0);
        set_target(s, ">= 1.0x C ring", r[0].median >= r[1].median);
        for (int k = 0; k < 2; k++)
            if (g_queue_bad[k])
                note("%s: %ld items out of order", names[k], g_queue_bad[k]);
    }
}

static void executor_cases(void)
{
    result_t r[MAX_IMPLS];
    summary_t *s;
    static const char *const rt_names[] = {"libpyth submit+result+free", "C worker, mutex+cond slot"};
    static const char *const many_names[] = {"libpyth pool(4): submit all, wait, free",
                                             "4 pthreads x 25,000 tasks (floor)",
                                             "pthread per batch of 1,000, 4 at a time"};
    for (int cross = 0; cross < 2; cross++) {
        /* Workers inherit the creating thread's affinity: create them where
         * they are to run, then come back to CPU 0. */
        c_worker_t w;
        pthread_t wt;
        rt_case_t c;
        CHECK_PT(pthread_mutex_init(&w.m, NULL));
        CHECK_PT(pthread_cond_init(&w.job_cv, NULL));
        CHECK_PT(pthread_cond_init(&w.done_cv, NULL));
        w.has_job = w.has_result = w.stop = 0;
        pin_self(cross);
        c.pool = pyth_executor_new(1, "bench", NULL, NULL);
        if (!c.pool)
            die("pyth_executor_new", pyth_last_status());
        pyth_future_t *f = pyth_executor_submit(c.pool, task_inc, NULL);
        if (!f)
            die("pyth_executor_submit", pyth_last_status());
        CHECK_PYTH(pyth_future_result(f, PYTH_FOREVER, NULL));
        pyth_future_free(f);
        CHECK_PT(pthread_create(&wt, NULL, c_worker_main, &w));
        c.worker = &w;
        pin_self(0);
        const char *title = cross ? "executor submit->result round trip, worker on CPU 1"
                                  : "executor submit->result round trip, both on CPU 0";
        watchdog(title);
        g_exec_bad = 0;
        measure(t_round_trip, &c, 2, rt_names, cross ? iters(400) : iters(4000),
                cross ? trials(7) : trials(11), 1e-3, r);
        print_case(title, "us/round trip", 2, r, false);
        s = add_summary(cross ? "Executor round trip, cross-CPU vs C worker"
                              : "Executor round trip, one CPU vs C worker",
                        "us", r[0].median, r[1].median, 0, 0);
        if (!cross)
            set_target(s, "reported", true);
        if (g_exec_bad)
            note("%s: %ld wrong results", "executor round trip", g_exec_bad);
        CHECK_PYTH(pyth_executor_free(c.pool));
        pthread_mutex_lock(&w.m);
        w.stop = 1;
        pthread_cond_signal(&w.job_cv);
        pthread_mutex_unlock(&w.m);
        pthread_join(wt, NULL);
        pthread_cond_destroy(&w.done_cv);
        pthread_cond_destroy(&w.job_cv);
        pthread_mutex_destroy(&w.m);
    }

    /* Both CPUs for the 100k tasks, the pool warmed up with all 4 workers. */
    pin_any();
    pyth_executor_t *pool = pyth_executor_new(4, "bench", NULL, NULL);
    if (!pool)
        die("pyth_executor_new", pyth_last_status());
    watchdog("100,000 tasks");
    g_exec_bad = 0;
    measure(t_many_tasks, pool, 3, many_names, MANY_TASKS, trials(7), 1, r);
    print_case("100,000 tiny tasks, both CPUs", "ms/100k tasks", 3, r, false);
    s = add_summary("100k tasks, pool(4) vs pthread per batch of 1000", "ms", r[0].median,
                    r[2].median, 0, r[1].median);
    set_target(s, "reported", true);
    if (g_exec_bad)
        note("%s: %ld wrong results", "100k tasks", g_exec_bad);
    CHECK_PYTH(pyth_executor_free(pool));
    pin_self(0);
}

static void print_summary(void)
{
    printf("\nSUMMARY (medians; ratios are libpyth / other; floor = raw futex, same pinning)\n\n");
    printf("| case | unit | libpyth | pthread | parking_lot | floor | /pthread | /parking_lot | /floor | target | met |\n");
    printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|\n");
    for (int i = 0; i < g_nsummary; i++) {
        summary_t *s = &g_summary[i];
        char a[5][24];
        double v[4] = {s->pyth, s->pthread, s->pl, s->floor};
        for (int k = 0; k < 4; k++) {
            if (v[k] == 0)
                snprintf(a[k], sizeof a[k], "-");
            else
                snprintf(a[k], sizeof a[k], v[k] < 10 ? "%.2f" : "%.1f", v[k]);
        }
        printf("| %s | %s | %s | %s | %s | %s | ", s->name, s->unit, a[0], a[1], a[2],
               a[3]);
        double *r[3] = {&s->pthread, &s->pl, &s->floor};
        for (int k = 0; k < 3; k++) {
            if (s->pyth == 0 || *r[k] == 0)
                printf("- | ");
            else
                printf("%.2f | ", s->pyth / *r[k]);
        }
        if (s->met < 0)
            printf("| |\n");
        else
            printf("%s | %s |\n", s->target, s->met ? "yes" : "**no**");
    }
    for (int i = 0; i < g_nnotes && i < 8; i++)
        printf("\nCORRECTNESS: %s\n", g_notes[i]);
}

int main(void)
{
    g_quick = getenv("BENCH_QUICK") && atoi(getenv("BENCH_QUICK")) > 0;
    g_only = getenv("BENCH_ONLY");
    if (getenv("BENCH_TRIALS"))
        g_trials_override = atoi(getenv("BENCH_TRIALS"));
    if (g_trials_override > MAX_TRIALS)
        g_trials_override = MAX_TRIALS;
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGALRM, watchdog_fired);

    /* glibc drops the lock prefix from pthread_mutex_lock until a second
     * thread has existed; every measurement below is multi-threaded. */
    pthread_t t;
    CHECK_PT(pthread_create(&t, NULL, nothing, NULL));
    pthread_join(t, NULL);
    if (__libc_single_threaded) {
        fprintf(stderr, "bench: the process still counts as single-threaded\n");
        return 1;
    }

    double start = now_ns();
    printf("libpyth benchmarks: libpyth vs pthread/glibc vs parking_lot (via a C ABI shim)\n");
    printf("%ld CPUs online; medians of repeated, interleaved trials%s\n",
           sysconf(_SC_NPROCESSORS_ONLN), g_quick ? " (BENCH_QUICK: smoke test only)" : "");
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
        fprintf(stderr, "bench: needs 2 CPUs\n");
        return 1;
    }
    calibrate_tsc();

    u_lock = pyth_lock_new();
    u_rlock = pyth_rlock_new();
    u_sem = pyth_semaphore_new(0);
    u_event = pyth_event_new();
    if (!u_lock || !u_rlock || !u_sem || !u_event)
        die("pyth constructors", pyth_last_status());
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    CHECK_PT(pthread_mutex_init(&u_rmutex, &ma));
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
    CHECK_PT(pthread_mutex_init(&g_c.adaptive, &ma));
    pthread_mutexattr_destroy(&ma);
    CHECK_PT(pthread_mutex_init(&g_c.mutex, NULL));
    if (sem_init(&u_sem_t, 0, 0) != 0)
        die("sem_init", errno);
    pt_event_init(&u_ptevent);
    u_plm = plshim_mutex_new();
    u_plr = plshim_remutex_new();
    u_ple = plshim_event_new();
    g_c.pyth = pyth_lock_new();
    g_c.pl = plshim_mutex_new();
    g_c.pl_tagged = plshim_tagged_new();

    if (wanted("uncontended"))
        uncontended_cases();
    if (wanted("contended")) {
        contended_case();
        oversubscribed_case();
    }
    pin_self(0);
    if (wanted("pingpong"))
        pingpong_cases(0, trials(11), iters(4000));
    if (wanted("cross"))
        pingpong_cases(1, trials(7), iters(400));
    if (wanted("threads"))
        threads_cases();
    if (wanted("queue"))
        queue_cases();
    if (wanted("executor"))
        executor_cases();
    if (wanted("sizes"))
        print_sizes();
    print_summary();
    printf("\ntotal time %.1f s\n", (now_ns() - start) / 1e9);
    return 0;
}
