// The C++ binding in one page: a producer fills a pyth::Queue, a
// pyth::ThreadPoolExecutor's workers drain it and add to a shared total
// under std::scoped_lock on a pyth::Lock, and each worker's future reports
// how many items it handled.
//
// Expected output (the per-worker split varies, the totals do not):
//     items: 100, total: 5050 (expected 5050)
#include "pyth.hpp"

#include <cstdio>
#include <mutex>
#include <optional>
#include <vector>

int main() {
    const int n = 100, workers = 4;
    pyth::Queue<std::optional<int>> queue(10);  // bounded: the producer waits for room
    pyth::Lock lock;
    long total = 0;

    pyth::ThreadPoolExecutor pool(workers + 1, "demo");
    std::vector<pyth::Future<int>> consumers;
    for (int w = 0; w < workers; ++w) {
        consumers.push_back(pool.submit([&] {
            int handled = 0;
            while (std::optional<int> item = queue.get()) {  // std::nullopt ends the stream
                std::scoped_lock guard(lock);
                total += *item;
                ++handled;
            }
            return handled;
        }));
    }
    pyth::Future<void> producer = pool.submit([&] {
        for (int i = 1; i <= n; ++i) queue.put(i);
        for (int w = 0; w < workers; ++w) queue.put(std::nullopt);
    });

    producer.result();
    int items = 0;
    for (auto& f : consumers) items += f.result();
    pool.shutdown();

    long expected = static_cast<long>(n) * (n + 1) / 2;
    std::printf("items: %d, total: %ld (expected %ld)\n", items, total, expected);
    return items == n && total == expected ? 0 : 1;
}
