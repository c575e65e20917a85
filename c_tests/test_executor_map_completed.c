/* pyth_executor_map sets *completed on every failure, also when it fails
 * before waiting (a submit refused with PYTH_ESHUTDOWN and the like), so a
 * caller may always read results[0 .. completed). */
#include "harness.h"

static int identity(void *arg, void **result) {
    *result = arg;
    return 0;
}

TEST(map_failing_to_submit_reports_zero_completed) {
    pyth_executor_t *ex = pyth_executor_new(1, "mapz", NULL, NULL);
    CHECK_STATUS(pyth_executor_shutdown(ex, true, false), PYTH_OK);
    void *args[3] = {NULL, NULL, NULL}, *res[3];
    size_t completed = 99;
    CHECK_STATUS(pyth_executor_map(ex, identity, args, 3, 1.0, res, &completed, NULL), PYTH_ESHUTDOWN);
    CHECK_EQ(completed, 0);
    CHECK_STATUS(pyth_executor_free(ex), PYTH_OK);
}

int main(void) {
    RUN(map_failing_to_submit_reports_zero_completed);
    return REPORT();
}
