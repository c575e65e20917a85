/* Stress: 4 threads x 100,000 operations per primitive (ITERS-scaled). */
#include "harness.h"

enum { T = 4 };
#define OPS ITERS(100000)

static atomic_int go;

static void start_all(h_thread *t, void *(*fn)(void *), void *args, size_t argsize) {
    atomic_store(&go, 0);
    for (int i = 0; i < T; i++) t[i] = spawn(fn, (char *)args + i * argsize);
    atomic_store(&go, 1);
}

static void wait_go(void) {
    while (!atomic_load(&go)) sched_yield();
}

/* ---- Lock / RLock: no lost increments ----------------------------------- */

/* Widens the read-modify-write window, so a broken lock loses increments. */
static inline void widen(void) {
    for (int k = 0; k < 20; k++) __asm__ volatile("" ::: "memory");
}

typedef struct {
    pyth_lock_t *l;
    pyth_rlock_t *r;
    long *counter;     /* plain memory, protected by the lock */
    atomic_int *inside;
    long n;
    long errors;
    long overlaps;
} lock_arg;

static void *lock_fn(void *p) {
    lock_arg *a = p;
    wait_go();
    for (long i = 0; i < a->n; i++) {
        pyth_status st;
        /* Mix the acquire forms: blocking, timed, and try-then-block. */
        switch (i % 3) {
        case 0: st = pyth_lock_acquire(a->l, true, PYTH_FOREVER); break;
        case 1: st = pyth_lock_acquire(a->l, true, 60.0); break;
        default:
            st = pyth_lock_acquire(a->l, false, PYTH_FOREVER);
            if (st == PYTH_TIMEOUT) st = pyth_lock_acquire(a->l, true, PYTH_FOREVER);
        }
        if (st != PYTH_OK) { a->errors++; continue; }
        if (atomic_fetch_add(a->inside, 1) != 0) a->overlaps++;
        long v = *a->counter;
        widen();
        *a->counter = v + 1;
        atomic_fetch_sub(a->inside, 1);
        if (pyth_lock_release(a->l) != PYTH_OK) a->errors++;
    }
    return NULL;
}

TEST(stress_lock) {
    long counter = 0;
    atomic_int inside = 0;
    pyth_lock_t *l = pyth_lock_new();
    lock_arg a[T];
    for (int i = 0; i < T; i++) a[i] = (lock_arg){.l = l, .counter = &counter, .inside = &inside, .n = OPS};
    h_thread t[T];
    start_all(t, lock_fn, a, sizeof *a);
    for (int i = 0; i < T; i++) join_within(t[i], 200);
    CHECK_EQ(counter, T * OPS);
    for (int i = 0; i < T; i++) {
        CHECK_EQ(a[i].errors, 0);
        CHECK_EQ(a[i].overlaps, 0);
    }
    CHECK(!pyth_lock_locked(l));
    CHECK_STATUS(pyth_lock_free(l), PYTH_OK);
}

static void *rlock_fn(void *p) {
    lock_arg *a = p;
    wait_go();
    for (long i = 0; i < a->n; i++) {
        int depth = 1 + (int)(i % 3);
        for (int d = 0; d < depth; d++) {
            pyth_status st = d == 1 ? pyth_rlock_acquire(a->r, false, PYTH_FOREVER)  /* owned: never fails */
                                    : pyth_rlock_acquire(a->r, true, d ? 60.0 : PYTH_FOREVER);
            if (st != PYTH_OK) a->errors++;
        }
        if (atomic_fetch_add(a->inside, 1) != 0) a->overlaps++;
        long v = *a->counter;
        widen();
        *a->counter = v + 1;
        atomic_fetch_sub(a->inside, 1);
        for (int d = 0; d < depth; d++)
            if (pyth_rlock_release(a->r) != PYTH_OK) a->errors++;
    }
    return NULL;
}

TEST(stress_rlock) {
    long counter = 0;
    atomic_int inside = 0;
    pyth_rlock_t *r = pyth_rlock_new();
    lock_arg a[T];
    for (int i = 0; i < T; i++) a[i] = (lock_arg){.r = r, .counter = &counter, .inside = &inside, .n = OPS};
    h_thread t[T];
    start_all(t, rlock_fn, a, sizeof *a);
    for (int i = 0; i < T; i++) join_within(t[i], 200);
    CHECK_EQ(counter, T * OPS);
    for (int i = 0; i < T; i++) {
        CHECK_EQ(a[i].errors, 0);
        CHECK_EQ(a[i].overlaps, 0);
    }
    CHECK(!pyth_rlock_locked(r));
    CHECK_STATUS(pyth_rlock_free(r), PYTH_OK);
}

/* ---- BoundedSemaphore(2): never more than 2 inside ---------------------- */

typedef struct {
    pyth_semaphore_t *s;
    atomic_int *inside;
    atomic_int *max_inside;
    long n;
    long errors;
} sem_arg;

static void *sem_fn(void *p) {
    sem_arg *a = p;
    wait_go();
    for (long i = 0; i < a->n; i++) {
        pyth_status st = (i & 1) ? pyth_semaphore_acquire(a->s, true, PYTH_FOREVER)
                                 : pyth_semaphore_acquire(a->s, true, 60.0);
        if (st != PYTH_OK) { a->errors++; continue; }
        int now = atomic_fetch_add(a->inside, 1) + 1;
        int m = atomic_load(a->max_inside);
        while (now > m && !atomic_compare_exchange_weak(a->max_inside, &m, now)) {}
        atomic_fetch_sub(a->inside, 1);
        if (pyth_semaphore_release(a->s, 1) != PYTH_OK) a->errors++;
    }
    return NULL;
}

TEST(stress_bounded_semaphore) {
    atomic_int inside = 0, max_inside = 0;
    pyth_semaphore_t *s = pyth_bounded_semaphore_new(2);
    sem_arg a[T];
    for (int i = 0; i < T; i++) a[i] = (sem_arg){.s = s, .inside = &inside, .max_inside = &max_inside, .n = OPS};
    h_thread t[T];
    start_all(t, sem_fn, a, sizeof *a);
    for (int i = 0; i < T; i++) join_within(t[i], 200);
    CHECK(atomic_load(&max_inside) <= 2);
    CHECK(atomic_load(&max_inside) >= 1);
    for (int i = 0; i < T; i++) CHECK_EQ(a[i].errors, 0);
    CHECK_EQ(pyth_semaphore_value(s), 2);
    CHECK_STATUS(pyth_semaphore_release(s, 1), PYTH_EVALUE);
    CHECK_STATUS(pyth_semaphore_free(s), PYTH_OK);
}

/* ---- Event: every waiter woken, every round ----------------------------- */

/* Round r uses event ev[r % 2]. The main thread clears the other event
 * before setting this round's one, and only after every waiter is done
 * with the previous round (it collected their acknowledgements on a
 * semaphore), so a waiter can only pass round r because round r's set
 * happened. Each waiter uses a bounded wait: a lost wake-up shows as a
 * PYTH_TIMEOUT rather than a hang. */
typedef struct {
    pyth_event_t **ev;
    pyth_semaphore_t *ack;
    long rounds;
    long errors;
    atomic_long *passed;  /* per round, how many waiters passed it */
} event_arg;

static void *event_fn(void *p) {
    event_arg *a = p;
    wait_go();
    for (long r = 0; r < a->rounds; r++) {
        pyth_status st = pyth_event_wait(a->ev[r % 2], 60.0);
        if (st != PYTH_OK) a->errors++;
        atomic_fetch_add(&a->passed[r], 1);
        pyth_semaphore_release(a->ack, 1);
    }
    return NULL;
}

TEST(stress_event) {
    const long rounds = OPS;
    pyth_event_t *ev[2] = {pyth_event_new(), pyth_event_new()};
    pyth_semaphore_t *ack = pyth_semaphore_new(0);
    atomic_long *passed = calloc((size_t)rounds, sizeof *passed);
    event_arg a[T];
    for (int i = 0; i < T; i++) a[i] = (event_arg){.ev = ev, .ack = ack, .rounds = rounds, .passed = passed};
    h_thread t[T];
    start_all(t, event_fn, a, sizeof *a);
    long early = 0, ack_errors = 0;
    for (long r = 0; r < rounds; r++) {
        /* Nobody can have passed this round before its set. */
        if (atomic_load(&passed[r]) != 0) early++;
        if (pyth_event_clear(ev[(r + 1) % 2]) != PYTH_OK) ack_errors++;
        if (pyth_event_set(ev[r % 2]) != PYTH_OK) ack_errors++;
        for (int i = 0; i < T; i++)
            if (pyth_semaphore_acquire(ack, true, 60.0) != PYTH_OK) ack_errors++;
        if (atomic_load(&passed[r]) != T) early++;
    }
    for (int i = 0; i < T; i++) join_within(t[i], 200);
    CHECK_EQ(early, 0);
    CHECK_EQ(ack_errors, 0);
    for (int i = 0; i < T; i++) CHECK_EQ(a[i].errors, 0);
    CHECK_EQ(pyth_semaphore_value(ack), 0);
    free(passed);
    CHECK_STATUS(pyth_event_free(ev[0]), PYTH_OK);
    CHECK_STATUS(pyth_event_free(ev[1]), PYTH_OK);
    CHECK_STATUS(pyth_semaphore_free(ack), PYTH_OK);
}

/* ---- Condition: every waiter woken, every round ------------------------- */

/* Each round, all T waiters wait for `generation` to move past the one
 * they saw; the main thread waits (holding the lock) until all T are in
 * wait, bumps the generation and wakes them (notify_all, or notify(T) on
 * odd rounds). A waiter that is not woken times out, which is counted. */
typedef struct {
    pyth_cond_t *c;
    long generation;  /* under the lock */
    int waiting;      /* under the lock */
    long rounds;
} cond_shared;

typedef struct {
    cond_shared *sh;
    long errors;
    long wakeups;
} cond_arg;

static void *cond_fn(void *p) {
    cond_arg *a = p;
    cond_shared *sh = a->sh;
    wait_go();
    for (long r = 0; r < sh->rounds; r++) {
        if (pyth_cond_acquire(sh->c, true, PYTH_FOREVER) != PYTH_OK) { a->errors++; continue; }
        long seen = sh->generation;
        sh->waiting++;
        while (sh->generation == seen) {
            pyth_status st = pyth_cond_wait(sh->c, 60.0);
            if (st != PYTH_OK) { a->errors++; break; }
            a->wakeups++;
        }
        pyth_cond_release(sh->c);
    }
    return NULL;
}

TEST(stress_condition) {
    cond_shared sh = {.c = pyth_cond_new(), .rounds = OPS};
    cond_arg a[T];
    for (int i = 0; i < T; i++) a[i] = (cond_arg){.sh = &sh};
    h_thread t[T];
    start_all(t, cond_fn, a, sizeof *a);
    long stuck = 0;
    for (long r = 0; r < sh.rounds; r++) {
        double end = now_s() + 60;
        for (;;) {
            pyth_cond_acquire(sh.c, true, PYTH_FOREVER);
            if (sh.waiting == T) break;
            pyth_cond_release(sh.c);
            if (now_s() > end) { stuck++; goto out; }
            sched_yield();
        }
        /* All T are inside wait. */
        sh.waiting = 0;
        sh.generation++;
        if (r & 1) pyth_cond_notify(sh.c, T);
        else pyth_cond_notify_all(sh.c);
        pyth_cond_release(sh.c);
    }
out:
    for (int i = 0; i < T; i++) join_within(t[i], 200);
    CHECK_EQ(stuck, 0);
    long wakeups = 0;
    for (int i = 0; i < T; i++) {
        CHECK_EQ(a[i].errors, 0);
        wakeups += a[i].wakeups;
    }
    /* One notification per waiter per round, and no spurious wake-ups. */
    CHECK_EQ(wakeups, T * sh.rounds);
    CHECK(!pyth_cond_locked(sh.c));
    CHECK_STATUS(pyth_cond_free(sh.c), PYTH_OK);
}

/* ---- Barrier: distinct indices and one action per cycle ----------------- */

typedef struct {
    pyth_barrier_t *b;
    atomic_long runs;
    atomic_int in_action;
    atomic_long overlaps;
} barrier_shared;

static void barrier_action(void *p) {
    barrier_shared *sh = p;
    if (atomic_fetch_add(&sh->in_action, 1) != 0) atomic_fetch_add(&sh->overlaps, 1);
    atomic_fetch_add(&sh->runs, 1);
    atomic_fetch_sub(&sh->in_action, 1);
}

typedef struct {
    barrier_shared *sh;
    long cycles;
    unsigned char *idx;  /* per cycle */
    long errors;
    long action_mismatch;
} barrier_arg;

static void *barrier_fn(void *p) {
    barrier_arg *a = p;
    wait_go();
    for (long c = 0; c < a->cycles; c++) {
        size_t idx = 99;
        pyth_status st = (c & 1) ? pyth_barrier_wait(a->sh->b, &idx)
                                 : pyth_barrier_wait_timeout(a->sh->b, 60.0, &idx);
        if (st != PYTH_OK) { a->errors++; break; }
        a->idx[c] = (unsigned char)idx;
        /* Cycle c's action ran before anyone left cycle c; cycle c+1's
         * cannot have run before this thread arrives there. */
        if (atomic_load(&a->sh->runs) != c + 1) a->action_mismatch++;
    }
    return NULL;
}

TEST(stress_barrier) {
    const long cycles = OPS;
    barrier_shared sh = {0};
    sh.b = pyth_barrier_new(T, barrier_action, &sh, 120.0);
    barrier_arg a[T];
    for (int i = 0; i < T; i++) a[i] = (barrier_arg){.sh = &sh, .cycles = cycles, .idx = calloc((size_t)cycles, 1)};
    h_thread t[T];
    start_all(t, barrier_fn, a, sizeof *a);
    for (int i = 0; i < T; i++) join_within(t[i], 220);
    long bad_cycles = 0;
    for (long c = 0; c < cycles; c++) {
        unsigned seen = 0;
        for (int i = 0; i < T; i++)
            if (a[i].idx[c] < T) seen |= 1u << a[i].idx[c];
        if (seen != (1u << T) - 1) bad_cycles++;
    }
    CHECK_EQ(bad_cycles, 0);
    CHECK_EQ(atomic_load(&sh.runs), cycles);
    CHECK_EQ(atomic_load(&sh.overlaps), 0);
    for (int i = 0; i < T; i++) {
        CHECK_EQ(a[i].errors, 0);
        CHECK_EQ(a[i].action_mismatch, 0);
        free(a[i].idx);
    }
    CHECK(!pyth_barrier_broken(sh.b));
    CHECK_EQ(pyth_barrier_n_waiting(sh.b), 0);
    CHECK_STATUS(pyth_barrier_free(sh.b), PYTH_OK);
}

#define RUN_TIMED(name) do { double t_ = now_s(); RUN(name); fprintf(stderr, "     (%.2fs)\n", now_s() - t_); } while (0)

int main(void) {
    double t0 = now_s();
    RUN_TIMED(stress_lock);
    RUN_TIMED(stress_rlock);
    RUN_TIMED(stress_bounded_semaphore);
    RUN_TIMED(stress_event);
    RUN_TIMED(stress_condition);
    RUN_TIMED(stress_barrier);
    fprintf(stderr, "stress: %ld ops per thread, %.2fs\n", OPS, now_s() - t0);
    return REPORT();
}
