/* Regression tests for two Condition bugs the C suite found: wait_for with
 * a false predicate always waits once (so without the lock it fails, even
 * with a zero timeout), and a thread blocked in pyth_cond_acquire on a
 * borrowed lock makes pyth_cond_free refuse with PYTH_EBUSY. */
#include "harness.h"

static atomic_int pred_calls;
static bool false_pred(void *arg) {
    (void)arg;
    atomic_fetch_add(&pred_calls, 1);
    return false;
}

/* Python's Condition.wait_for calls self.wait(timeout) whenever the
 * predicate is false, even with timeout 0 or a negative one, and wait()
 * without the lock raises RuntimeError("cannot wait on un-acquired lock").
 * (libpyth once checked the deadline first and returned PYTH_TIMEOUT.) */
TEST(cond_wait_for_false_predicate_without_lock_zero_timeout) {
    pyth_cond_t *c = pyth_cond_new();
    CHECK_STATUS(pyth_cond_wait_for(c, false_pred, NULL, 0.0), PYTH_ERUNTIME);
    CHECK_MSG("cannot wait on un-acquired lock");
    CHECK_STATUS(pyth_cond_wait_for(c, false_pred, NULL, -0.5), PYTH_ERUNTIME);
    CHECK_MSG("cannot wait on un-acquired lock");
    CHECK(!pyth_cond_locked(c));
    CHECK_STATUS(pyth_cond_free(c), PYTH_OK);
}

typedef struct {
    pyth_cond_t *c;
    atomic_int tid;
    pyth_status acq;
} acquirer;

static void *acquirer_fn(void *p) {
    acquirer *a = p;
    atomic_store(&a->tid, h_gettid());
    a->acq = pyth_cond_acquire(a->c, true, PYTH_FOREVER);
    /* It does not touch the condition again: the main thread releases the
     * lock through the lock's own handle. */
    return NULL;
}

/* API.md: "Freeing a primitive that a thread is blocked on is
 * refused with PYTH_EBUSY and the handle stays valid." A thread blocked in
 * pyth_cond_acquire on a condition built with pyth_cond_new_with_lock or
 * pyth_cond_new_with_rlock is blocked on that condition, so the free is
 * refused (it once was only for a condition owning its lock). */
TEST(cond_free_while_acquiring_borrowed_lock) {
    for (int v = 0; v < 2; v++) {
        pyth_lock_t *l = v ? NULL : pyth_lock_new();
        pyth_rlock_t *r = v ? pyth_rlock_new() : NULL;
        pyth_cond_t *c = v ? pyth_cond_new_with_rlock(r) : pyth_cond_new_with_lock(l);
        CHECK_STATUS(pyth_cond_acquire(c, true, PYTH_FOREVER), PYTH_OK);
        acquirer a = {.c = c};
        h_thread t = spawn(acquirer_fn, &a);
        CHECK(WAIT_UNTIL(atomic_load(&a.tid) != 0, 30));
        pyth_status st = PYTH_EBUSY;
        if (WAIT_BLOCKED(atomic_load(&a.tid), 30)) {
            st = pyth_cond_free(c);
            CHECK_EQ(st, PYTH_EBUSY);
        } else {
            CHECK(!"acquirer never blocked");
        }
        /* Let it through by releasing our hold through the lock's own
         * handle (valid either way). It then holds the lock and exits: we
         * release a plain Lock for it; an RLock held by nobody waiting may
         * be freed as it is. */
        if (v) CHECK_STATUS(pyth_rlock_release(r), PYTH_OK);
        else CHECK_STATUS(pyth_lock_release(l), PYTH_OK);
        join_within(t, 60);
        CHECK_EQ(a.acq, PYTH_OK);
        if (st == PYTH_EBUSY) CHECK_STATUS(pyth_cond_free(c), PYTH_OK);
        if (!v) CHECK_STATUS(pyth_lock_release(l), PYTH_OK);
        CHECK_STATUS(pyth_lock_free(l), PYTH_OK);
        CHECK_STATUS(pyth_rlock_free(r), PYTH_OK);
    }
}

int main(void) {
    RUN(cond_wait_for_false_predicate_without_lock_zero_timeout);
    RUN(cond_free_while_acquiring_borrowed_lock);
    return REPORT();
}
