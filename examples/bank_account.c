/*
 * bank_account.c: bank accounts whose methods re-enter an RLock.
 *
 * Python: each Account has self.lock = threading.RLock(); deposit() and
 * withdraw() run "with self.lock:"; transfer(a, b, n) runs
 * "with a.lock, b.lock: if a.withdraw(n): b.deposit(n)", re-entering both
 * locks (legal only because they are RLocks). It takes them in a fixed
 * order so that two opposite transfers cannot deadlock. No transfer can be
 * refused, so the final balances depend only on the tellers' seeded
 * transfers, not on scheduling. Threads are plain pthreads; libpyth's
 * pyth_thread_* API works the same way.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyth.h"

#define ACCOUNTS 4
#define TELLERS 4
#define TRANSFERS 20000
#define START 1000000L /* > TELLERS * TRANSFERS * 10: never overdrawn */

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

typedef struct {
    pyth_rlock_t *lock;
    long balance; /* guarded by lock */
} account_t;

static account_t accounts[ACCOUNTS];

static void deposit(account_t *a, long n)
{
    CHECK(pyth_rlock_acquire(a->lock, true, PYTH_FOREVER));
    a->balance += n;
    CHECK(pyth_rlock_release(a->lock));
}

static bool withdraw(account_t *a, long n)
{
    CHECK(pyth_rlock_acquire(a->lock, true, PYTH_FOREVER));
    bool ok = a->balance >= n;
    if (ok)
        a->balance -= n;
    CHECK(pyth_rlock_release(a->lock));
    return ok;
}

static bool transfer(account_t *from, account_t *to, long n)
{
    account_t *first = from < to ? from : to, *second = from < to ? to : from;
    CHECK(pyth_rlock_acquire(first->lock, true, PYTH_FOREVER));
    CHECK(pyth_rlock_acquire(second->lock, true, PYTH_FOREVER));
    bool ok = withdraw(from, n); /* re-enters from->lock: recursion level 2 */
    if (ok)
        deposit(to, n);          /* re-enters to->lock */
    CHECK(pyth_rlock_release(second->lock));
    CHECK(pyth_rlock_release(first->lock));
    return ok;
}

static void *teller(void *arg)
{
    unsigned seed = (unsigned)(size_t)arg; /* each teller's own sequence */
    long refused = 0;                      /* returned to main by join */
    for (int i = 0; i < TRANSFERS; i++) {
        int from = rand_r(&seed) % ACCOUNTS, to = rand_r(&seed) % ACCOUNTS;
        long n = 1 + rand_r(&seed) % 10;
        if (from != to && !transfer(&accounts[from], &accounts[to], n))
            refused++;
    }
    return (void *)refused;
}

int main(void)
{
    for (int i = 0; i < ACCOUNTS; i++) {
        NEW(accounts[i].lock, pyth_rlock_new());
        accounts[i].balance = START;
    }

    pthread_t tellers[TELLERS];
    for (size_t i = 0; i < TELLERS; i++)
        PCHECK(pthread_create(&tellers[i], NULL, teller, (void *)(i + 1)));
    long refused = 0, total = 0;
    for (int i = 0; i < TELLERS; i++) {
        void *r;
        PCHECK(pthread_join(tellers[i], &r));
        refused += (long)r;
    }

    for (int i = 0; i < ACCOUNTS; i++) {
        printf("account %d: %ld\n", i, accounts[i].balance);
        total += accounts[i].balance;
        CHECK(pyth_rlock_free(accounts[i].lock));
    }
    printf("refused transfers: %ld\n", refused);
    printf("total = %ld (%s)\n", total,
           total == ACCOUNTS * START ? "conserved" : "NOT conserved");
    return total == ACCOUNTS * START ? EXIT_SUCCESS : EXIT_FAILURE;
}
