/* Smoke test: the library links and its basic calls work. */
#include "harness.h"

TEST(lock_roundtrip) {
    pyth_lock_t *l = pyth_lock_new();
    CHECK(l != NULL);
    CHECK_STATUS(pyth_lock_acquire(l, true, PYTH_FOREVER), PYTH_OK);
    CHECK(pyth_lock_locked(l));
    CHECK_STATUS(pyth_lock_acquire(l, false, PYTH_FOREVER), PYTH_TIMEOUT);
    CHECK_STATUS(pyth_lock_release(l), PYTH_OK);
    CHECK_STATUS(pyth_lock_release(l), PYTH_ERUNTIME);
    CHECK_MSG("release unlocked lock");
    CHECK_STATUS(pyth_lock_free(l), PYTH_OK);
    CHECK_STATUS(pyth_lock_free(NULL), PYTH_OK);
    CHECK_STATUS(pyth_lock_acquire(NULL, true, PYTH_FOREVER), PYTH_EINVAL);
}

int main(void) {
    RUN(lock_roundtrip);
    return REPORT();
}
