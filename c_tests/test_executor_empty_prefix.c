/* An empty thread-name prefix means the default, as in CPython, whose
 * ThreadPoolExecutor uses `thread_name_prefix or "ThreadPoolExecutor-%d"`:
 * pyth_executor_new(1, "", ...) names its workers "ThreadPoolExecutor-K_N". */
#include "harness.h"

static char name[64];
static int record_name(void *arg, void **result) {
    (void)arg;
    pyth_thread_name(pyth_current_thread(), name, sizeof name);
    *result = NULL;
    return 0;
}

TEST(empty_prefix_means_default_name) {
    pyth_executor_t *ex = pyth_executor_new(1, "", NULL, NULL);
    pyth_future_t *f = pyth_executor_submit(ex, record_name, NULL);
    CHECK_STATUS(pyth_future_result(f, 60, NULL), PYTH_OK);
    int k = -1, n = -1;
    if (sscanf(name, "ThreadPoolExecutor-%d_%d", &k, &n) != 2) H_FAIL("worker named \"%s\"", name);
    CHECK(k >= 0);
    CHECK_EQ(n, 0);
    pyth_future_free(f);
    CHECK_STATUS(pyth_executor_free(ex), PYTH_OK);
}

int main(void) {
    RUN(empty_prefix_means_default_name);
    return REPORT();
}
