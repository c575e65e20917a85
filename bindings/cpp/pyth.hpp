// pyth.hpp: C++17 binding of libpyth (Python's threading, queue and
// ThreadPoolExecutor semantics), header-only, over the C API of pyth.h.
//
// Design rules, so the C contract holds from C++:
//  * Every handle is owned by one move-only RAII object; a moved-from object
//    holds no handle, and using it throws pyth::invalid_handle (the library
//    answers PYTH_EINVAL for NULL).
//  * Error statuses become exceptions (see "Errors" below); the non-error
//    outcomes PYTH_TIMEOUT/EMPTY/FULL are bool or std::optional results,
//    except where Python raises (queue get/put, Future::result).
//  * No C++ exception ever unwinds into the library: every callback given to
//    C (thread targets, predicates, barrier actions, tasks, comparators, done
//    callbacks, hooks) is a noexcept trampoline that catches and reports.
//  * Timeouts are std::chrono durations (pyth::Timeout); pyth::forever or
//    std::nullopt waits without limit.
//  * A destructor cannot throw, so when the library refuses to free a handle
//    that is still in use (PYTH_EBUSY) it reports that on stderr and leaks
//    the handle instead of crashing; close() frees eagerly and throws
//    pyth::busy_error so a program can react.
#ifndef PYTH_HPP
#define PYTH_HPP

#include "pyth.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace pyth {

// ===========================================================================
// Errors
// ===========================================================================

// Common base of every pyth exception, so callers can read the C status
// code whatever standard exception the error maps to.
class error {
public:
    virtual ~error() = default;
    // The pyth_status the library returned (e.g. PYTH_EVALUE).
    pyth_status status() const noexcept { return status_; }

protected:
    explicit error(pyth_status s) noexcept : status_(s) {}

private:
    pyth_status status_;
};

// Python's RuntimeError (PYTH_ERUNTIME): an operation not allowed in the
// object's current state, e.g. releasing an unlocked lock or joining an
// unstarted thread.
class runtime_error : public std::runtime_error, public error {
public:
    explicit runtime_error(const std::string& msg, pyth_status s = PYTH_ERUNTIME)
        : std::runtime_error(msg), error(s) {}
};

// Python's ValueError (PYTH_EVALUE): an argument outside its domain, e.g. a
// bounded semaphore released too many times or a NaN timeout.
class value_error : public std::invalid_argument, public error {
public:
    explicit value_error(const std::string& msg) : std::invalid_argument(msg), error(PYTH_EVALUE) {}
};

// Python's OverflowError (PYTH_EOVERFLOW): a number too large, e.g. a
// timeout above PYTH_TIMEOUT_MAX.
class overflow_error : public std::overflow_error, public error {
public:
    explicit overflow_error(const std::string& msg) : std::overflow_error(msg), error(PYTH_EOVERFLOW) {}
};

// Python's BrokenBarrierError (PYTH_EBROKEN from a barrier). Like in Python
// it is a RuntimeError, so `catch (pyth::runtime_error&)` also sees it.
class broken_barrier_error : public runtime_error {
public:
    explicit broken_barrier_error(const std::string& msg) : runtime_error(msg, PYTH_EBROKEN) {}
};

// Python's BrokenThreadPool (PYTH_EBROKEN from an executor or its futures):
// an initializer failed, so the pool accepts and runs nothing more.
class broken_executor_error : public runtime_error {
public:
    explicit broken_executor_error(const std::string& msg) : runtime_error(msg, PYTH_EBROKEN) {}
};

// Python's MemoryError (PYTH_ENOMEM); a std::bad_alloc so generic
// out-of-memory handling catches it.
class memory_error : public std::bad_alloc, public error {
public:
    explicit memory_error(std::string msg) : error(PYTH_ENOMEM), msg_(std::move(msg)) {}
    const char* what() const noexcept override { return msg_.c_str(); }

private:
    std::string msg_;
};

// Python's TypeError/AttributeError (PYTH_EINVAL): a NULL, moved-from or
// wrong-kind handle, or an operation this kind of object lacks.
class invalid_handle : public std::invalid_argument, public error {
public:
    explicit invalid_handle(const std::string& msg) : std::invalid_argument(msg), error(PYTH_EINVAL) {}
};

// PYTH_EBUSY: close() was refused because a thread is blocked on the object
// or another object (a Condition) still uses it; the object stays valid.
class busy_error : public std::runtime_error, public error {
public:
    explicit busy_error(const std::string& msg) : std::runtime_error(msg), error(PYTH_EBUSY) {}
};

// Python's queue.ShutDown or "cannot schedule new futures after shutdown"
// (PYTH_ESHUTDOWN).
class shutdown_error : public std::runtime_error, public error {
public:
    explicit shutdown_error(const std::string& msg) : std::runtime_error(msg), error(PYTH_ESHUTDOWN) {}
};

// Python's concurrent.futures.CancelledError (PYTH_ECANCELLED).
class cancelled_error : public std::runtime_error, public error {
public:
    explicit cancelled_error(const std::string& msg) : std::runtime_error(msg), error(PYTH_ECANCELLED) {}
};

// PYTH_EFAILED: a task or thread target failed with a nonzero code. A C
// task reports only its code, so this is what Future::result throws for it;
// a C++ callable may throw it to choose the code the library (and the
// excepthook) sees.
class task_error : public std::runtime_error, public error {
public:
    explicit task_error(int code, const std::string& msg = std::string())
        : std::runtime_error(msg.empty() ? "task failed with code " + std::to_string(code) : msg),
          error(PYTH_EFAILED), code_(code) {}
    // The task's nonzero failure code (pyth_future_error).
    int code() const noexcept { return code_; }

private:
    int code_;
};

// Python's TimeoutError from Future::result(timeout): the task was not done
// in time (PYTH_TIMEOUT). Future::wait is the non-throwing alternative.
class timeout_error : public std::runtime_error, public error {
public:
    explicit timeout_error(const std::string& msg) : std::runtime_error(msg), error(PYTH_TIMEOUT) {}
};

// Python's queue.Empty: a non-blocking or timed get found nothing. The try_
// functions return std::nullopt instead.
class empty : public std::runtime_error, public error {
public:
    empty() : std::runtime_error("queue.Empty"), error(PYTH_EMPTY) {}
};

// Python's queue.Full: a non-blocking or timed put found no room. The try_
// functions return false instead.
class full : public std::runtime_error, public error {
public:
    full() : std::runtime_error("queue.Full"), error(PYTH_FULL) {}
};

// The failure code a thread target or task reports to the library when its
// C++ callable exits with an exception other than pyth::task_error.
inline constexpr int exception_code = 1;

// The calling thread's message for its last failed libpyth call, copied so
// it survives the next call.
inline std::string last_error() { return pyth_last_error(); }

namespace detail {

// Which family a PYTH_EBROKEN belongs to; the C code is shared.
enum class broken_kind { barrier, executor };

[[noreturn]] inline void throw_status(pyth_status st, broken_kind bk = broken_kind::barrier) {
    std::string msg = pyth_last_error();
    if (msg.empty()) msg = pyth_strerror(st);
    switch (st) {
    case PYTH_ERUNTIME: throw runtime_error(msg);
    case PYTH_EVALUE: throw value_error(msg);
    case PYTH_EOVERFLOW: throw overflow_error(msg);
    case PYTH_EBROKEN:
        if (bk == broken_kind::executor) throw broken_executor_error(msg);
        throw broken_barrier_error(msg);
    case PYTH_ENOMEM: throw memory_error(msg);
    case PYTH_EINVAL: throw invalid_handle(msg);
    case PYTH_EBUSY: throw busy_error(msg);
    case PYTH_ESHUTDOWN: throw shutdown_error(msg);
    case PYTH_ECANCELLED: throw cancelled_error(msg);
    case PYTH_EFAILED: throw task_error(0, msg);
    case PYTH_TIMEOUT: throw timeout_error(msg);
    case PYTH_EMPTY: throw pyth::empty();
    case PYTH_FULL: throw pyth::full();
    default: throw runtime_error("unexpected libpyth status " + std::to_string(st) + ": " + msg, st);
    }
}

// Throws for an error status and passes the others (OK, TIMEOUT, ...) back.
inline pyth_status check(pyth_status st, broken_kind bk = broken_kind::barrier) {
    if (st < 0) throw_status(st, bk);
    return st;
}

// Constructors return NULL with the reason in pyth_last_status().
template <class H>
H* check_new(H* h, broken_kind bk = broken_kind::barrier) {
    if (!h) {
        pyth_status st = pyth_last_status();
        throw_status(st < 0 ? st : PYTH_ENOMEM, bk);
    }
    return h;
}

// Destructors cannot throw: a refused free is reported and the handle leaked
// (using freed memory later would be worse).
inline bool report_free(pyth_status st, const char* what) noexcept {
    if (st >= 0) return true;
    std::fprintf(stderr, "pyth: %s not freed (%s: %s); leaking it\n", what, pyth_strerror(st), pyth_last_error());
    return false;
}

// Turns a duration into the C API's seconds.
template <class Rep, class Period>
constexpr double to_seconds(const std::chrono::duration<Rep, Period>& d) noexcept {
    return std::chrono::duration<double>(d).count();
}

// For the standard TimedLockable functions, which must wait rather than
// throw for huge or negative durations.
template <class Rep, class Period>
double std_timeout(const std::chrono::duration<Rep, Period>& d) noexcept {
    double s = to_seconds(d);
    if (!(s > 0)) return 0.0;  // negative or NaN: just try
    return s > PYTH_TIMEOUT_MAX ? PYTH_TIMEOUT_MAX : s;
}

}  // namespace detail

// ===========================================================================
// Timeouts
// ===========================================================================

// A wait limit, built implicitly from any std::chrono duration, from
// std::nullopt or an empty std::optional<duration> (no limit), or from
// pyth::forever, so every blocking call takes one parameter like Python's
// `timeout=None`. Negative durations mean "already expired" (do not block),
// as in the C++ standard library; Timeout::seconds passes a raw C value
// through unchanged, for Python's exact rules (NaN, negatives).
class Timeout {
public:
    // No limit, as Python's None.
    constexpr Timeout(std::nullopt_t) noexcept : s_(PYTH_FOREVER) {}

    // A limit given as a duration; negative ones are clamped to zero so a
    // duration of -1s cannot be mistaken for PYTH_FOREVER.
    template <class Rep, class Period>
    constexpr Timeout(const std::chrono::duration<Rep, Period>& d) noexcept : s_(clamp(detail::to_seconds(d))) {}

    // An optional limit: empty means no limit.
    template <class Rep, class Period>
    constexpr Timeout(const std::optional<std::chrono::duration<Rep, Period>>& d) noexcept
        : s_(d ? clamp(detail::to_seconds(*d)) : PYTH_FOREVER) {}

    // The C value as is (PYTH_FOREVER, NaN and negatives included), for code
    // that wants the library's own validation.
    static constexpr Timeout seconds(double s) noexcept { return Timeout(s, 0); }

    // Whether this waits without limit.
    constexpr bool is_forever() const noexcept { return s_ == PYTH_FOREVER; }

    // The value passed to C, in seconds.
    constexpr double count() const noexcept { return s_; }

private:
    constexpr Timeout(double s, int) noexcept : s_(s) {}
    static constexpr double clamp(double s) noexcept { return s < 0 ? 0.0 : s; }
    double s_;
};

// Wait without limit (Python's timeout=None).
inline constexpr Timeout forever{std::nullopt};

// ===========================================================================
// Locks
// ===========================================================================

// Python's threading.Lock: not reentrant, and any thread may release it.
// Meets Lockable and TimedLockable, so std::lock_guard, std::unique_lock and
// std::scoped_lock work with it.
class Lock {
public:
    // An unlocked lock.
    Lock() : h_(detail::check_new(pyth_lock_new())) {}
    // Move-only: one object owns the handle and frees it on destruction
    // (close() does it eagerly and reports a refusal).
    ~Lock() { destroy(); }
    Lock(Lock&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
    Lock& operator=(Lock&& o) noexcept {
        if (this != &o) { destroy(); h_ = std::exchange(o.h_, nullptr); }
        return *this;
    }
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;

    // Python's acquire(blocking, timeout): true if acquired. A timeout with
    // blocking=false, or a negative Timeout::seconds, is a value_error as in
    // Python.
    bool acquire(bool blocking = true, Timeout timeout = forever) {
        return detail::check(pyth_lock_acquire(h_, blocking, timeout.count())) == PYTH_OK;
    }
    // Releases; runtime_error if not locked ("release unlocked lock").
    void release() { detail::check(pyth_lock_release(h_)); }
    // Whether any thread holds it (a snapshot).
    bool locked() const noexcept { return pyth_lock_locked(h_); }

    // Lockable: blocks until acquired.
    void lock() { acquire(); }
    // Lockable: runtime_error if not locked (std guards never do that).
    void unlock() { release(); }
    // Lockable: one attempt, no wait.
    bool try_lock() { return acquire(false); }
    // TimedLockable: waits at most d (negative: one attempt).
    template <class Rep, class Period>
    bool try_lock_for(const std::chrono::duration<Rep, Period>& d) {
        return detail::check(pyth_lock_acquire(h_, true, detail::std_timeout(d))) == PYTH_OK;
    }
    // TimedLockable: waits until tp, measured on tp's clock.
    template <class Clock, class Duration>
    bool try_lock_until(const std::chrono::time_point<Clock, Duration>& tp) {
        return try_lock_for(tp - Clock::now());
    }

    // Frees the lock now; busy_error (and the lock stays valid) while a
    // thread waits for it or a Condition is built on it.
    void close() { detail::check(pyth_lock_free(h_)); h_ = nullptr; }
    // The C handle, for mixing with C code; still owned by this object.
    pyth_lock_t* native_handle() const noexcept { return h_; }

private:
    void destroy() noexcept {
        if (h_) detail::report_free(pyth_lock_free(h_), "Lock");
        h_ = nullptr;
    }
    pyth_lock_t* h_;
};

// Python's threading.RLock: reentrant, and only the owner may release (one
// level per release). Lockable and TimedLockable like Lock.
class RLock {
public:
    // An unowned reentrant lock.
    RLock() : h_(detail::check_new(pyth_rlock_new())) {}
    // Move-only; the destructor frees the handle.
    ~RLock() { destroy(); }
    RLock(RLock&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
    RLock& operator=(RLock&& o) noexcept {
        if (this != &o) { destroy(); h_ = std::exchange(o.h_, nullptr); }
        return *this;
    }
    RLock(const RLock&) = delete;
    RLock& operator=(const RLock&) = delete;

    // As Lock::acquire; an owner acquires one more level at once.
    bool acquire(bool blocking = true, Timeout timeout = forever) {
        return detail::check(pyth_rlock_acquire(h_, blocking, timeout.count())) == PYTH_OK;
    }
    // Releases one level; runtime_error for a thread that does not own it.
    void release() { detail::check(pyth_rlock_release(h_)); }
    // Whether any thread holds it (Python 3.14's RLock.locked()).
    bool locked() const noexcept { return pyth_rlock_locked(h_); }
    // Whether the calling thread owns it (Python's _is_owned()).
    bool is_owned() const noexcept { return pyth_rlock_is_owned(h_); }

    // Lockable: blocks until acquired (at once when already owned).
    void lock() { acquire(); }
    // Lockable: releases one level.
    void unlock() { release(); }
    // Lockable: one attempt, no wait.
    bool try_lock() { return acquire(false); }
    // TimedLockable: waits at most d (negative: one attempt).
    template <class Rep, class Period>
    bool try_lock_for(const std::chrono::duration<Rep, Period>& d) {
        return detail::check(pyth_rlock_acquire(h_, true, detail::std_timeout(d))) == PYTH_OK;
    }
    // TimedLockable: waits until tp, measured on tp's clock.
    template <class Clock, class Duration>
    bool try_lock_until(const std::chrono::time_point<Clock, Duration>& tp) {
        return try_lock_for(tp - Clock::now());
    }

    // Frees now; busy_error while a thread waits for it or a Condition uses it.
    void close() { detail::check(pyth_rlock_free(h_)); h_ = nullptr; }
    // The C handle, still owned by this object.
    pyth_rlock_t* native_handle() const noexcept { return h_; }

private:
    void destroy() noexcept {
        if (h_) detail::report_free(pyth_rlock_free(h_), "RLock");
        h_ = nullptr;
    }
    pyth_rlock_t* h_;
};

// ===========================================================================
// Condition
// ===========================================================================

// Python's threading.Condition. It is itself Lockable (its lock), so
// `std::unique_lock<pyth::Condition> g(cond);` is Python's `with cond:`.
// There are no spurious wake-ups: wait() returns true only after a notify.
class Condition {
public:
    // Over a new RLock of its own (Python's Condition()).
    Condition() : h_(detail::check_new(pyth_cond_new())) {}
    // Over `lock`, which must outlive the condition ("owned" = "locked").
    explicit Condition(Lock& lock) : h_(detail::check_new(pyth_cond_new_with_lock(lock.native_handle()))) {}
    // Over `rlock`, which must outlive the condition; wait() releases every
    // recursion level and restores them.
    explicit Condition(RLock& rlock) : h_(detail::check_new(pyth_cond_new_with_rlock(rlock.native_handle()))) {}
    // Move-only; the destructor frees the condition (and its own RLock).
    ~Condition() { destroy(); }
    Condition(Condition&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
    Condition& operator=(Condition&& o) noexcept {
        if (this != &o) { destroy(); h_ = std::exchange(o.h_, nullptr); }
        return *this;
    }
    Condition(const Condition&) = delete;
    Condition& operator=(const Condition&) = delete;

    // Acquires the underlying lock, as Lock::acquire / RLock::acquire.
    bool acquire(bool blocking = true, Timeout timeout = forever) {
        return detail::check(pyth_cond_acquire(h_, blocking, timeout.count())) == PYTH_OK;
    }
    // Releases the underlying lock.
    void release() { detail::check(pyth_cond_release(h_)); }
    // Whether any thread holds the underlying lock.
    bool locked() const noexcept { return pyth_cond_locked(h_); }
    // Lockable, for std::unique_lock / std::lock_guard.
    void lock() { acquire(); }
    // Lockable.
    void unlock() { release(); }
    // Lockable.
    bool try_lock() { return acquire(false); }
    // TimedLockable.
    template <class Rep, class Period>
    bool try_lock_for(const std::chrono::duration<Rep, Period>& d) {
        return detail::check(pyth_cond_acquire(h_, true, detail::std_timeout(d))) == PYTH_OK;
    }
    // TimedLockable.
    template <class Clock, class Duration>
    bool try_lock_until(const std::chrono::time_point<Clock, Duration>& tp) {
        return try_lock_for(tp - Clock::now());
    }

    // Releases the lock, waits for a notify or the timeout, reacquires.
    // true only if notified; runtime_error if the caller does not own the lock.
    bool wait(Timeout timeout = forever) { return detail::check(pyth_cond_wait(h_, timeout.count())) == PYTH_OK; }

    // Waits until pred() is true (checked first, with the lock held) or the
    // timeout passes; returns pred's last answer. An exception from pred
    // ends the wait and is rethrown here, with the lock still held.
    template <class Pred>
    bool wait_for(Pred&& pred, Timeout timeout = forever) {
        using P = std::remove_reference_t<Pred>;
        struct Ctx {
            P* pred;
            std::exception_ptr err;
        } ctx{&pred, nullptr};
        auto tramp = [](void* arg) noexcept -> bool {
            auto* c = static_cast<Ctx*>(arg);
            if (c->err) return true;
            try {
                return static_cast<bool>((*c->pred)());
            } catch (...) {
                c->err = std::current_exception();
                return true;  // stop waiting; rethrown below
            }
        };
        pyth_status st = pyth_cond_wait_for(h_, tramp, &ctx, timeout.count());
        if (ctx.err) std::rethrow_exception(ctx.err);
        return detail::check(st) == PYTH_OK;
    }

    // Wakes min(n, waiters) threads, oldest first; the caller must own the lock.
    void notify(std::size_t n = 1) { detail::check(pyth_cond_notify(h_, n)); }
    // Wakes every waiter; the caller must own the lock.
    void notify_all() { detail::check(pyth_cond_notify_all(h_)); }

    // Frees now; busy_error while a thread waits on it.
    void close() { detail::check(pyth_cond_free(h_)); h_ = nullptr; }
    // The C handle, still owned by this object.
    pyth_cond_t* native_handle() const noexcept { return h_; }

private:
    void destroy() noexcept {
        if (h_) detail::report_free(pyth_cond_free(h_), "Condition");
        h_ = nullptr;
    }
    pyth_cond_t* h_;
};

// ===========================================================================
// Semaphores
// ===========================================================================

// Python's threading.Semaphore: a counter that acquire() decrements, waiting
// at zero. Lockable (one unit), for use with std::lock_guard like Python's
// `with sem:`.
class Semaphore {
public:
    // value_error if value is negative.
    explicit Semaphore(std::int64_t value = 1) : h_(detail::check_new(pyth_semaphore_new(value))) {}
    // Move-only; the destructor frees the handle.
    ~Semaphore() { destroy(); }
    Semaphore(Semaphore&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
    Semaphore& operator=(Semaphore&& o) noexcept {
        if (this != &o) { destroy(); h_ = std::exchange(o.h_, nullptr); }
        return *this;
    }
    Semaphore(const Semaphore&) = delete;
    Semaphore& operator=(const Semaphore&) = delete;

    // true if a unit was taken. A timeout with blocking=false is a value_error.
    bool acquire(bool blocking = true, Timeout timeout = forever) {
        return detail::check(pyth_semaphore_acquire(h_, blocking, timeout.count())) == PYTH_OK;
    }
    // Adds n units and wakes up to n waiters. value_error for n < 1 or a
    // bounded semaphore released above its initial value; overflow_error past
    // INT64_MAX. On error nothing changes.
    void release(std::size_t n = 1) { detail::check(pyth_semaphore_release(h_, n)); }
    // The current counter (Python's private _value), for diagnostics.
    std::int64_t value() const noexcept { return pyth_semaphore_value(h_); }

    // Lockable: one unit.
    void lock() { acquire(); }
    // Lockable: one unit.
    void unlock() { release(); }
    // Lockable: one attempt.
    bool try_lock() { return acquire(false); }
    // TimedLockable.
    template <class Rep, class Period>
    bool try_lock_for(const std::chrono::duration<Rep, Period>& d) {
        return detail::check(pyth_semaphore_acquire(h_, true, detail::std_timeout(d))) == PYTH_OK;
    }
    // TimedLockable.
    template <class Clock, class Duration>
    bool try_lock_until(const std::chrono::time_point<Clock, Duration>& tp) {
        return try_lock_for(tp - Clock::now());
    }

    // Frees now; busy_error while a thread waits on it.
    void close() { detail::check(pyth_semaphore_free(h_)); h_ = nullptr; }
    // The C handle, still owned by this object.
    pyth_semaphore_t* native_handle() const noexcept { return h_; }

protected:
    // For BoundedSemaphore, which only differs in its C constructor (the tag
    // keeps Semaphore(0) unambiguous).
    struct adopt_t {};
    Semaphore(adopt_t, pyth_semaphore_t* h) noexcept : h_(h) {}

private:
    void destroy() noexcept {
        if (h_) detail::report_free(pyth_semaphore_free(h_), "Semaphore");
        h_ = nullptr;
    }
    pyth_semaphore_t* h_;
};

// Python's threading.BoundedSemaphore: releasing above the initial value is
// a value_error ("Semaphore released too many times"), catching
// unbalanced releases.
class BoundedSemaphore : public Semaphore {
public:
    // value_error if value is negative.
    explicit BoundedSemaphore(std::int64_t value = 1)
        : Semaphore(adopt_t{}, detail::check_new(pyth_bounded_semaphore_new(value))) {}
};

// ===========================================================================
// Event
// ===========================================================================

// Python's threading.Event: a flag threads can wait for.
class Event {
public:
    // An event whose flag is clear.
    Event() : h_(detail::check_new(pyth_event_new())) {}
    // Move-only; the destructor frees the handle.
    ~Event() { destroy(); }
    Event(Event&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
    Event& operator=(Event&& o) noexcept {
        if (this != &o) { destroy(); h_ = std::exchange(o.h_, nullptr); }
        return *this;
    }
    Event(const Event&) = delete;
    Event& operator=(const Event&) = delete;

    // Whether the flag is set now.
    bool is_set() const noexcept { return pyth_event_is_set(h_); }
    // Sets the flag and wakes every waiter.
    void set() { detail::check(pyth_event_set(h_)); }
    // Clears the flag.
    void clear() { detail::check(pyth_event_clear(h_)); }
    // true if the flag was set within the timeout (even if cleared since).
    bool wait(Timeout timeout = forever) { return detail::check(pyth_event_wait(h_, timeout.count())) == PYTH_OK; }

    // Frees now; busy_error while a thread waits on it.
    void close() { detail::check(pyth_event_free(h_)); h_ = nullptr; }
    // The C handle, still owned by this object.
    pyth_event_t* native_handle() const noexcept { return h_; }

private:
    void destroy() noexcept {
        if (h_) detail::report_free(pyth_event_free(h_), "Event");
        h_ = nullptr;
    }
    pyth_event_t* h_;
};

// ===========================================================================
// Barrier
// ===========================================================================

namespace detail {
// The action failure of the barrier whose action ran in this thread, kept
// until that thread's wait() returns, since the C action cannot fail.
struct BarrierActionError {
    const void* owner = nullptr;
    std::exception_ptr err;
};
inline thread_local BarrierActionError barrier_action_error;
}  // namespace detail

// Python's threading.Barrier: `parties` threads wait for each other; the
// action, if any, runs in one of them before any is released.
class Barrier {
public:
    // A barrier for `parties` threads (value_error if 0). `timeout` is the
    // default for wait(). The action is kept alive by the barrier.
    //
    // If the action throws, the barrier breaks, as in Python: the thread
    // that ran it gets the exception from wait(), the other parties (and
    // later waits) broken_barrier_error.
    explicit Barrier(std::size_t parties, std::function<void()> action = {}, Timeout timeout = forever)
        : action_(action ? std::make_unique<std::function<void()>>(std::move(action)) : nullptr) {
        h_ = detail::check_new(
            pyth_barrier_new_ex(parties, action_ ? &run_action : nullptr, action_.get(), timeout.count()));
    }
    // Move-only; the action moves with the barrier (its address is stable).
    ~Barrier() { destroy(); }
    Barrier(Barrier&& o) noexcept : h_(std::exchange(o.h_, nullptr)), action_(std::move(o.action_)) {}
    Barrier& operator=(Barrier&& o) noexcept {
        if (this != &o) {
            destroy();
            h_ = std::exchange(o.h_, nullptr);
            action_ = std::move(o.action_);
        }
        return *this;
    }
    Barrier(const Barrier&) = delete;
    Barrier& operator=(const Barrier&) = delete;

    // Waits with the barrier's default timeout; returns this thread's
    // arrival index (0..parties-1, distinct per cycle). broken_barrier_error
    // if the barrier is or becomes broken, is reset, or the wait times out.
    std::size_t wait() {
        std::size_t index = 0;
        pyth_status st = pyth_barrier_wait(h_, &index);
        rethrow_action_error();
        detail::check(st);
        return index;
    }
    // As wait(), with this timeout instead of the default.
    std::size_t wait(Timeout timeout) {
        std::size_t index = 0;
        pyth_status st = pyth_barrier_wait_timeout(h_, timeout.count(), &index);
        rethrow_action_error();
        detail::check(st);
        return index;
    }
    // Back to empty and unbroken; current waiters get broken_barrier_error.
    void reset() { detail::check(pyth_barrier_reset(h_)); }
    // Breaks the barrier until reset(), e.g. when a party gives up.
    void abort() { detail::check(pyth_barrier_abort(h_)); }
    // The number of threads needed to pass.
    std::size_t parties() const noexcept { return pyth_barrier_parties(h_); }
    // The number waiting in the current cycle.
    std::size_t n_waiting() const noexcept { return pyth_barrier_n_waiting(h_); }
    // Whether it is broken.
    bool broken() const noexcept { return pyth_barrier_broken(h_); }

    // Frees now; busy_error while a thread waits on it.
    void close() {
        detail::check(pyth_barrier_free(h_));
        h_ = nullptr;
        action_.reset();
    }
    // The C handle, still owned by this object.
    pyth_barrier_t* native_handle() const noexcept { return h_; }

private:
    // Nonzero breaks the barrier; the exception waits in this thread's
    // slot for the wait() that ran the action (PYTH_EFAILED) to rethrow.
    static int run_action(void* arg) noexcept {
        try {
            (*static_cast<std::function<void()>*>(arg))();
            return 0;
        } catch (...) {
            detail::barrier_action_error = {arg, std::current_exception()};
            return 1;
        }
    }
    void rethrow_action_error() {
        auto& slot = detail::barrier_action_error;
        if (action_ && slot.owner == action_.get()) {
            std::exception_ptr e = std::move(slot.err);
            slot = {};
            std::rethrow_exception(e);
        }
    }
    void destroy() noexcept {
        if (h_ && !detail::report_free(pyth_barrier_free(h_), "Barrier")) {
            (void)action_.release();  // the C barrier may still call it
        }
        h_ = nullptr;
        action_.reset();
    }

    pyth_barrier_t* h_ = nullptr;
    std::unique_ptr<std::function<void()>> action_;
};

// ===========================================================================
// Threads
// ===========================================================================

namespace detail {

// The exception that ended this thread's target, for the C++ excepthook,
// which the library calls in the failing thread right after the target.
inline thread_local std::exception_ptr thread_exception;

// A thread's callable and its arguments. Owned by the Thread object until the
// thread starts; then whichever of the object and the running target
// finishes last deletes it (the object may be destroyed first: the thread
// keeps running, as in Python).
struct ThreadBox {
    enum : int { owned = 0, detached = 1, finished = 2 };
    std::atomic<int> state{owned};
    virtual ~ThreadBox() = default;
    virtual void run() = 0;

    static int trampoline(void* arg) noexcept {
        auto* box = static_cast<ThreadBox*>(arg);
        int code = 0;
        try {
            box->run();
        } catch (const task_error& e) {
            thread_exception = std::current_exception();
            code = e.code() ? e.code() : exception_code;
        } catch (...) {
            thread_exception = std::current_exception();
            code = exception_code;
        }
        if (box->state.exchange(finished) == detached) delete box;
        return code;
    }
};

template <class F, class... Args>
struct ThreadBoxImpl final : ThreadBox {
    template <class G, class... A>
    explicit ThreadBoxImpl(G&& g, A&&... a) : fn(std::forward<G>(g)), args(std::forward<A>(a)...) {}
    void run() override { std::apply(std::move(fn), std::move(args)); }
    F fn;
    std::tuple<Args...> args;
};

template <class F, class... Args>
ThreadBox* make_thread_box(F&& f, Args&&... args) {
    static_assert(std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...>,
                  "pyth::Thread: the callable cannot be invoked with these arguments");
    return new ThreadBoxImpl<std::decay_t<F>, std::decay_t<Args>...>(std::forward<F>(f), std::forward<Args>(args)...);
}

}  // namespace detail

// Name and daemon flag for a new Thread (Python's name= and daemon=).
struct ThreadOptions {
    // Empty: the library's "Thread-N".
    std::string name;
    // Empty: inherit the creating thread's flag.
    std::optional<bool> daemon;
};

// Python's threading.Thread. Like std::thread's constructor it takes any
// callable and arguments (copied or moved, then invoked as rvalues), but
// with Python's life cycle: nothing runs until start(); join() may time out;
// destroying the object neither joins nor terminates (the thread keeps
// running, and non-daemon threads are waited for at process exit).
// An exception escaping the callable is caught in the thread and reported
// as a failure code (pyth::exception_code, or a task_error's code) to the
// excepthook; it never unwinds into the library.
class Thread;
std::vector<Thread> enumerate();

class Thread {
public:
    // An empty object (no thread), to move-assign into later.
    Thread() noexcept = default;

    // A thread, not yet started, that will call f(args...).
    template <class F, class... Args,
              class = std::enable_if_t<!std::is_base_of_v<Thread, std::decay_t<F>> &&
                                       !std::is_same_v<std::decay_t<F>, ThreadOptions>>>
    explicit Thread(F&& f, Args&&... args)
        : Thread(ThreadOptions{}, std::forward<F>(f), std::forward<Args>(args)...) {}

    // As above, with a name and daemon flag.
    template <class F, class... Args>
    Thread(const ThreadOptions& opts, F&& f, Args&&... args) {
        std::unique_ptr<detail::ThreadBox> box(detail::make_thread_box(std::forward<F>(f), std::forward<Args>(args)...));
        int daemon = opts.daemon ? (*opts.daemon ? 1 : 0) : PYTH_DAEMON_INHERIT;
        h_ = detail::check_new(pyth_thread_new(&detail::ThreadBox::trampoline, box.get(),
                                               opts.name.empty() ? nullptr : opts.name.c_str(), daemon));
        box_ = box.release();
    }

    // Move-only; the destructor drops this reference without joining:
    // a running thread keeps running, and frees its callable when done.
    ~Thread() { destroy(); }
    Thread(Thread&& o) noexcept
        : h_(std::exchange(o.h_, nullptr)), box_(std::exchange(o.box_, nullptr)),
          started_(std::exchange(o.started_, false)), cancelled_(std::exchange(o.cancelled_, false)) {}
    Thread& operator=(Thread&& o) noexcept {
        if (this != &o) {
            destroy();
            h_ = std::exchange(o.h_, nullptr);
            box_ = std::exchange(o.box_, nullptr);
            started_ = std::exchange(o.started_, false);
            cancelled_ = std::exchange(o.cancelled_, false);
        }
        return *this;
    }
    Thread(const Thread&) = delete;
    Thread& operator=(const Thread&) = delete;

    // Starts it; when this returns the thread is alive and enumerated.
    // runtime_error if started before or the OS refused.
    void start() {
        detail::check(pyth_thread_start(h_));
        started_ = true;
    }
    // Waits for the thread to end; true if it did within the timeout.
    // runtime_error for the current thread, an unstarted or a dummy thread.
    bool join(Timeout timeout = forever) { return detail::check(pyth_thread_join(h_, timeout.count())) == PYTH_OK; }
    // Whether it has started and not ended.
    bool is_alive() const noexcept { return pyth_thread_is_alive(h_); }

    // The thread's name (Python's name), any length.
    std::string name() const {
        char buf[64];
        std::size_t n = pyth_thread_name(h_, buf, sizeof buf);
        if (n < sizeof buf) return std::string(buf, n);
        std::string s(n + 1, '\0');
        n = pyth_thread_name(h_, &s[0], s.size());
        s.resize(n < s.size() ? n : s.size() - 1);
        return s;
    }
    // Renames it (the OS name is only set at start).
    void set_name(const std::string& name) { detail::check(pyth_thread_set_name(h_, name.c_str())); }
    // Its get_ident() value; 0 before start.
    std::uint64_t ident() const noexcept { return pyth_thread_ident(h_); }
    // Its kernel thread id; 0 before start.
    std::uint64_t native_id() const noexcept { return pyth_thread_native_id(h_); }
    // Whether it is a daemon (abandoned at process exit instead of waited for).
    bool daemon() const noexcept { return pyth_thread_daemon(h_); }
    // Sets the daemon flag; runtime_error once started.
    void set_daemon(bool daemon) { detail::check(pyth_thread_set_daemon(h_, daemon)); }

    // Whether this object refers to the calling thread.
    bool is_current() const noexcept { return h_ && pyth_current_thread() == h_; }
    // Whether it holds a thread at all (false when empty or moved from).
    explicit operator bool() const noexcept { return h_ != nullptr; }
    // The C handle (one reference, owned by this object).
    pyth_thread_t* native_handle() const noexcept { return h_; }

    // Two objects for the same thread compare equal (one C handle per thread).
    friend bool operator==(const Thread& a, const Thread& b) noexcept { return a.h_ == b.h_; }
    friend bool operator!=(const Thread& a, const Thread& b) noexcept { return a.h_ != b.h_; }

    // A new owning reference to a C thread handle (e.g. one a hook received).
    static Thread from_handle(pyth_thread_t* borrowed) { return adopt(detail::check_new(pyth_thread_ref(borrowed))); }

protected:
    friend std::vector<Thread> enumerate();
    // Takes over a reference the caller owns.
    static Thread adopt(pyth_thread_t* owned) noexcept {
        Thread t;
        t.h_ = owned;
        return t;
    }

    void destroy() noexcept {
        if (box_) {
            if (!started_) {
                delete box_;  // never ran and never will
            } else if (cancelled_ && !is_current()) {
                // A cancelled timer ends promptly; afterwards its callable
                // either ran or never will, so it is ours to delete.
                pyth_thread_join(h_, PYTH_FOREVER);
                delete box_;
            } else if (box_->state.exchange(detail::ThreadBox::detached) == detail::ThreadBox::finished) {
                delete box_;  // the target already returned
            }
            // else: the running target deletes it when it returns.
            box_ = nullptr;
        }
        if (h_) detail::report_free(pyth_thread_free(h_), "Thread");
        h_ = nullptr;
        started_ = cancelled_ = false;
    }

    pyth_thread_t* h_ = nullptr;
    detail::ThreadBox* box_ = nullptr;
    bool started_ = false;
    bool cancelled_ = false;
};

// Python's threading.Timer: a thread that calls f(args...) after an interval
// unless cancelled first. Destroying a started timer does not cancel it
// (Python semantics); destroying one this object cancelled waits briefly
// for its thread to end so the callable can be freed.
class Timer : public Thread {
public:
    // A timer, not yet started. A negative interval fires at once;
    // pyth::forever waits until cancel().
    template <class F, class... Args>
    Timer(Timeout interval, F&& f, Args&&... args) {
        std::unique_ptr<detail::ThreadBox> box(detail::make_thread_box(std::forward<F>(f), std::forward<Args>(args)...));
        h_ = detail::check_new(pyth_timer_new(interval.count(), &detail::ThreadBox::trampoline, box.get()));
        box_ = box.release();
    }
    // Move-only, like Thread.
    Timer(Timer&&) noexcept = default;
    Timer& operator=(Timer&&) noexcept = default;

    // Stops it if it has not fired yet: the callable then never runs.
    void cancel() {
        detail::check(pyth_timer_cancel(h_));
        cancelled_ = true;
    }
};

// The calling thread (a "Dummy-N" for threads the library did not start).
inline Thread current_thread() { return Thread::from_handle(pyth_current_thread()); }
// The process's initial thread.
inline Thread main_thread() { return Thread::from_handle(pyth_main_thread()); }
// threading.get_ident(): nonzero, unique among alive threads.
inline std::uint64_t get_ident() noexcept { return pyth_get_ident(); }
// threading.get_native_id(): the kernel thread id.
inline std::uint64_t get_native_id() noexcept { return pyth_get_native_id(); }
// threading.active_count(): alive threads, main included.
inline std::size_t active_count() noexcept { return pyth_active_count(); }

// threading.enumerate(): every alive thread.
inline std::vector<Thread> enumerate() {
    std::vector<pyth_thread_t*> raw(16);
    for (;;) {
        std::size_t n = pyth_enumerate(raw.data(), raw.size());
        if (n <= raw.size()) {
            std::vector<Thread> out;
            try {
                out.reserve(n);
            } catch (...) {
                for (std::size_t i = 0; i < n; ++i) pyth_thread_free(raw[i]);
                throw;
            }
            for (std::size_t i = 0; i < n; ++i) out.push_back(Thread::adopt(raw[i]));  // cannot throw now
            return out;
        }
        for (pyth_thread_t* t : raw) pyth_thread_free(t);
        raw.assign(n + 8, nullptr);
    }
}

// threading.stack_size(): the stack size for threads started from now on.
inline std::size_t stack_size() noexcept { return pyth_get_stack_size(); }
// threading.stack_size(size): 0 (default) or >= 32768, else value_error.
// Returns the previous size.
inline std::size_t stack_size(std::size_t size) {
    std::size_t prev = 0;
    detail::check(pyth_stack_size(size, &prev));
    return prev;
}

// What the C++ excepthook is told about a thread whose callable failed.
struct ExceptHookArgs {
    // The failing thread.
    Thread thread;
    // The failure code the library saw.
    int code;
    // The exception that escaped the callable (null for a C target).
    std::exception_ptr exception;
};

// A C++ excepthook (threading.excepthook).
using ExceptHook = std::function<void(const ExceptHookArgs&)>;

namespace detail {
struct HookSlot {
    std::mutex m;
    std::shared_ptr<const ExceptHook> fn;
};
// Never destroyed: the library may report failures during process exit.
inline HookSlot& hook_slot() {
    static HookSlot* s = new HookSlot;
    return *s;
}
inline void run_cxx_excepthook(const pyth_excepthook_args* a, void*) noexcept {
    std::shared_ptr<const ExceptHook> fn;
    {
        std::lock_guard<std::mutex> g(hook_slot().m);
        fn = hook_slot().fn;
    }
    std::exception_ptr e = std::exchange(thread_exception, nullptr);
    try {
        ExceptHookArgs args{Thread::from_handle(a->thread), a->code, e};
        if (fn && *fn) (*fn)(args);
    } catch (...) {
        std::fputs("pyth: exception in the excepthook ignored\n", stderr);
    }
}
}  // namespace detail

// The library's default report ("Exception in thread NAME:" and the code),
// plus the exception's what() when a C++ exception caused it; for hooks
// that want to chain to it.
inline void default_excepthook(const ExceptHookArgs& args) {
    pyth_excepthook_args a{args.thread.native_handle(), args.code};
    pyth_default_excepthook(&a);
    if (args.exception) {
        try {
            std::rethrow_exception(args.exception);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "  %s\n", e.what());
        } catch (...) {
            std::fputs("  (non-standard C++ exception)\n", stderr);
        }
    }
}

// Installs a C++ excepthook, run in the failing thread; an empty function
// restores the library's default. It replaces any C hook. The library's
// default prints only the code; `pyth::set_excepthook(pyth::default_excepthook)`
// adds the exception's message.
inline void set_excepthook(ExceptHook hook) {
    bool on = static_cast<bool>(hook);
    {
        std::lock_guard<std::mutex> g(detail::hook_slot().m);
        detail::hook_slot().fn = on ? std::make_shared<const ExceptHook>(std::move(hook)) : nullptr;
    }
    pyth_set_excepthook(on ? &detail::run_cxx_excepthook : nullptr, nullptr);
}

// ===========================================================================
// Thread-local data
// ===========================================================================

// Python's threading.local for one typed value: each thread sees its own T.
// Values are destroyed when their thread exits (before join() on it
// returns), when replaced, or when the ThreadLocal is destroyed.
template <class T>
class ThreadLocal {
public:
    // No value until a thread sets one: get() returns nullptr.
    ThreadLocal() : h_(detail::check_new(pyth_local_new(nullptr, nullptr, &destroy_value))) {}
    // Each thread's first get() creates its value from init() (in that
    // thread, outside any C callback, so init may throw: the next get()
    // tries again).
    explicit ThreadLocal(std::function<T()> init)
        : h_(detail::check_new(pyth_local_new(nullptr, nullptr, &destroy_value))),
          init_(std::make_unique<std::function<T()>>(std::move(init))) {}
    // Move-only; the destructor frees the local and every thread's value.
    ~ThreadLocal() { destroy(); }
    ThreadLocal(ThreadLocal&& o) noexcept : h_(std::exchange(o.h_, nullptr)), init_(std::move(o.init_)) {}
    ThreadLocal& operator=(ThreadLocal&& o) noexcept {
        if (this != &o) {
            destroy();
            h_ = std::exchange(o.h_, nullptr);
            init_ = std::move(o.init_);
        }
        return *this;
    }
    ThreadLocal(const ThreadLocal&) = delete;
    ThreadLocal& operator=(const ThreadLocal&) = delete;

    // This thread's value, created by init() if there is one; nullptr if
    // there is none. The pointer is valid in this thread until replaced.
    T* get() {
        if (!h_) throw invalid_handle("pyth::ThreadLocal: moved-from object");
        if (void* p = pyth_local_get(h_)) return static_cast<T*>(p);
        if (init_ && *init_) return &emplace((*init_)());
        return nullptr;
    }
    // Whether this thread has a value (without running init).
    bool has_value() const noexcept { return h_ && pyth_local_get(h_) != nullptr; }
    // This thread's value; std::out_of_range if it has none (Python's
    // AttributeError).
    T& operator*() {
        if (T* p = get()) return *p;
        throw std::out_of_range("pyth::ThreadLocal: no value in this thread");
    }
    // Member access to this thread's value.
    T* operator->() { return &**this; }

    // Replaces this thread's value (the old one is destroyed).
    void set(T value) { emplace(std::move(value)); }
    // Builds this thread's value in place.
    template <class... A>
    T& emplace(A&&... a) {
        auto box = std::make_unique<T>(std::forward<A>(a)...);
        detail::check(pyth_local_set(h_, box.get()));
        return *box.release();
    }
    // Destroys this thread's value; get() runs init again.
    void reset() { detail::check(pyth_local_set(h_, nullptr)); }

    // The C handle, still owned by this object.
    pyth_local_t* native_handle() const noexcept { return h_; }

private:
    static void destroy_value(void* p) noexcept { delete static_cast<T*>(p); }
    void destroy() noexcept {
        if (h_) detail::report_free(pyth_local_free(h_), "ThreadLocal");
        h_ = nullptr;
    }
    pyth_local_t* h_;
    std::unique_ptr<std::function<T()>> init_;
};

// ===========================================================================
// Queues
// ===========================================================================

namespace detail {

// What every queue kind shares: items are T values, each boxed on the heap
// while queued. Items still queued when the queue is destroyed or closed are
// destroyed with it.
template <class T>
class QueueBase {
public:
    // Move-only (derived queues move; items stay in the moved queue).
    QueueBase(const QueueBase&) = delete;
    QueueBase& operator=(const QueueBase&) = delete;

    // Puts a copy of item, waiting for room at most `timeout` (bounded
    // queues only); pyth::full if there was none, shutdown_error after
    // shutdown().
    void put(const T& item, Timeout timeout = forever) {
        T copy(item);
        put(std::move(copy), timeout);
    }
    // As above, moving item in. On failure (full, shutdown) the item is moved
    // back into `item`, so a move-only value is never lost.
    void put(T&& item, Timeout timeout = forever) {
        pyth_status st = put_impl(std::move(item), true, timeout.count());
        if (st == PYTH_FULL) throw pyth::full();
    }
    // Python's put_nowait: pyth::full at once if there is no room.
    void put_nowait(T item) {
        if (put_impl(std::move(item), false, PYTH_FOREVER) == PYTH_FULL) throw pyth::full();
    }
    // put without the exception: false if no room within the timeout (the
    // default: do not wait), leaving a moved-in item in `item`.
    bool try_put(T&& item, Timeout timeout = std::chrono::seconds(0)) {
        return put_impl(std::move(item), true, timeout.count()) == PYTH_OK;
    }
    // As above, with a copy.
    bool try_put(const T& item, Timeout timeout = std::chrono::seconds(0)) {
        T copy(item);
        return try_put(std::move(copy), timeout);
    }

    // Removes and returns an item, waiting at most `timeout`; pyth::empty if
    // none came, shutdown_error once shut down and drained.
    T get(Timeout timeout = forever) {
        std::optional<T> v = get_impl(true, timeout.count());
        if (!v) throw pyth::empty();
        return std::move(*v);
    }
    // Python's get_nowait: pyth::empty at once if there is nothing.
    T get_nowait() {
        std::optional<T> v = get_impl(false, PYTH_FOREVER);
        if (!v) throw pyth::empty();
        return std::move(*v);
    }
    // get without the exception: std::nullopt if nothing came within the
    // timeout (the default: do not wait).
    std::optional<T> try_get(Timeout timeout = std::chrono::seconds(0)) { return get_impl(true, timeout.count()); }

    // The number of items (a snapshot).
    std::size_t qsize() const noexcept { return pyth_queue_qsize(h_); }
    // Whether it holds no item (a snapshot).
    bool empty() const noexcept { return pyth_queue_empty(h_); }

    // Destroys the items left and frees the queue now; busy_error (the queue
    // stays valid, emptied) while a thread is blocked in it.
    void close() {
        drain();
        detail::check(pyth_queue_free(h_));
        h_ = nullptr;
        free_ctx();
    }
    // The C handle (items are T* boxes owned by the queue); still owned by
    // this object.
    pyth_queue_t* native_handle() const noexcept { return h_; }

protected:
    explicit QueueBase(pyth_queue_t* h, void* ctx = nullptr, void (*ctx_free)(void*) = nullptr) noexcept
        : h_(h), ctx_(ctx), ctx_free_(ctx_free) {}
    ~QueueBase() { destroy(); }
    QueueBase(QueueBase&& o) noexcept
        : h_(std::exchange(o.h_, nullptr)), ctx_(std::exchange(o.ctx_, nullptr)),
          ctx_free_(std::exchange(o.ctx_free_, nullptr)) {}
    QueueBase& operator=(QueueBase&& o) noexcept {
        if (this != &o) {
            destroy();
            h_ = std::exchange(o.h_, nullptr);
            ctx_ = std::exchange(o.ctx_, nullptr);
            ctx_free_ = std::exchange(o.ctx_free_, nullptr);
        }
        return *this;
    }

    pyth_status put_impl(T&& item, bool block, double timeout) {
        auto box = std::make_unique<T>(std::move(item));
        pyth_status st = pyth_queue_put(h_, box.get(), block, timeout);
        if (st == PYTH_OK) {
            (void)box.release();  // the queue owns it now
            return st;
        }
        if constexpr (std::is_move_assignable_v<T>) item = std::move(*box);
        return detail::check(st);
    }
    std::optional<T> get_impl(bool block, double timeout) {
        void* p = nullptr;
        pyth_status st = detail::check(pyth_queue_get(h_, &p, block, timeout));
        if (st != PYTH_OK) return std::nullopt;
        std::unique_ptr<T> box(static_cast<T*>(p));
        return std::optional<T>(std::move(*box));
    }
    // Destroys whatever is left; puts are the caller's to stop.
    void drain() noexcept {
        void* p = nullptr;
        while (h_ && pyth_queue_get(h_, &p, false, PYTH_FOREVER) == PYTH_OK) delete static_cast<T*>(p);
    }
    void free_ctx() noexcept {
        if (ctx_free_) ctx_free_(ctx_);
        ctx_ = nullptr;
        ctx_free_ = nullptr;
    }
    void destroy() noexcept {
        if (!h_) return;
        drain();
        if (report_free(pyth_queue_free(h_), "Queue")) free_ctx();  // else the C queue may still compare
        h_ = nullptr;
    }

    pyth_queue_t* h_;
    void* ctx_;
    void (*ctx_free_)(void*);
};

// The queue kinds with task tracking and shutdown (all but SimpleQueue).
template <class T>
class JoinableQueue : public QueueBase<T> {
public:
    // Whether a bounded queue is at its maxsize (a snapshot).
    bool full() const noexcept { return pyth_queue_full(this->h_); }
    // Marks one item gotten earlier as processed; value_error if called more
    // times than items were put.
    void task_done() { detail::check(pyth_queue_task_done(this->h_)); }
    // Waits until every item put has been marked done.
    void join() { detail::check(pyth_queue_join(this->h_)); }
    // Python 3.13's shutdown: puts fail from now on with shutdown_error and
    // blocked callers wake with it; gets drain what is left, unless
    // `immediate`, which destroys the items left (counting them as done for
    // join) so gets fail at once.
    void shutdown(bool immediate = false) {
        detail::check(pyth_queue_shutdown(this->h_, false));
        if (immediate) {
            // The C immediate shutdown would drop the boxes unfreed: destroy
            // them here first (no put can add more now), then let C wake
            // the getters.
            void* p = nullptr;
            while (pyth_queue_get(this->h_, &p, false, PYTH_FOREVER) == PYTH_OK) {
                delete static_cast<T*>(p);
                pyth_queue_task_done(this->h_);
            }
            detail::check(pyth_queue_shutdown(this->h_, true));
        }
    }

protected:
    using QueueBase<T>::QueueBase;
};

}  // namespace detail

// Python's queue.Queue: FIFO, bounded if maxsize > 0.
template <class T>
class Queue : public detail::JoinableQueue<T> {
public:
    // maxsize 0: unbounded.
    explicit Queue(std::size_t maxsize = 0) : detail::JoinableQueue<T>(detail::check_new(pyth_queue_new(maxsize))) {}
};

// Python's queue.LifoQueue: last in, first out.
template <class T>
class LifoQueue : public detail::JoinableQueue<T> {
public:
    // maxsize 0: unbounded.
    explicit LifoQueue(std::size_t maxsize = 0)
        : detail::JoinableQueue<T>(detail::check_new(pyth_lifo_queue_new(maxsize))) {}
};

// Python's queue.PriorityQueue: get() returns the smallest item by Compare
// (like Python's heapq, and unlike std::priority_queue which pops the
// largest); equal items come out in insertion order. Compare must not
// throw: it runs inside the library (an exception would terminate).
template <class T, class Compare = std::less<T>>
class PriorityQueue : public detail::JoinableQueue<T> {
public:
    // maxsize 0: unbounded.
    explicit PriorityQueue(std::size_t maxsize = 0, Compare comp = Compare())
        : PriorityQueue(maxsize, std::make_unique<Compare>(std::move(comp))) {}

private:
    PriorityQueue(std::size_t maxsize, std::unique_ptr<Compare> comp)
        : detail::JoinableQueue<T>(detail::check_new(pyth_priority_queue_new(maxsize, &cmp, comp.get())),
                                   comp.get(), &free_comp) {
        (void)comp.release();  // the base frees it after the C queue
    }
    static int cmp(const void* a, const void* b, void* ctx) noexcept {
        Compare& c = *static_cast<Compare*>(ctx);
        const T& x = *static_cast<const T*>(a);
        const T& y = *static_cast<const T*>(b);
        return c(x, y) ? -1 : c(y, x) ? 1 : 0;
    }
    static void free_comp(void* p) noexcept { delete static_cast<Compare*>(p); }
};

// Python's queue.SimpleQueue: unbounded FIFO whose put never blocks; no
// task_done, join or shutdown.
template <class T>
class SimpleQueue : public detail::QueueBase<T> {
public:
    SimpleQueue() : detail::QueueBase<T>(detail::check_new(pyth_simple_queue_new())) {}
};

// ===========================================================================
// ThreadPoolExecutor and Future
// ===========================================================================

template <class R>
class Future;
class ThreadPoolExecutor;

namespace detail {

// What a Future and its task share: the C future and the C++ outcome (the
// C future carries only a void* and an int code).
template <class R>
struct FutureState {
    explicit FutureState(pyth_future_t* handle) noexcept : h(handle) {}
    ~FutureState() { pyth_future_free(h); }
    FutureState(const FutureState&) = delete;
    FutureState& operator=(const FutureState&) = delete;

    pyth_future_t* h;
    std::optional<std::conditional_t<std::is_void_v<R>, char, R>> value;  // set before the C future finishes
    std::exception_ptr error;  // the exception the C++ task threw
    bool raw = false;          // a C task: the value is the C result pointer
};

// A submitted callable; deleted by the first done callback, which the
// library calls exactly once whether the task ran, was cancelled, or the
// pool broke. A submit that fails never runs the task, so then submit
// deletes it.
template <class R>
struct TaskBoxBase {
    std::shared_ptr<FutureState<R>> state;
    virtual ~TaskBoxBase() = default;
    virtual void run() = 0;

    static int trampoline(void* arg, void** result) noexcept {
        auto* box = static_cast<TaskBoxBase*>(arg);
        *result = nullptr;
        int code = 0;
        try {
            box->run();
        } catch (const task_error& e) {
            box->state->error = std::current_exception();
            code = e.code() ? e.code() : exception_code;
        } catch (...) {
            box->state->error = std::current_exception();
            code = exception_code;
        }
        return code;
    }
    static void done(pyth_future_t*, void* arg) noexcept { delete static_cast<TaskBoxBase*>(arg); }
};

template <class R, class F, class... Args>
struct TaskBox final : TaskBoxBase<R> {
    template <class G, class... A>
    explicit TaskBox(G&& g, A&&... a) : fn(std::forward<G>(g)), args(std::forward<A>(a)...) {}
    void run() override {
        if constexpr (std::is_void_v<R>) {
            std::apply(std::move(fn), std::move(args));
            this->state->value.emplace('\0');
        } else {
            this->state->value.emplace(std::apply(std::move(fn), std::move(args)));
        }
    }
    F fn;
    std::tuple<Args...> args;
};

template <class R>
struct CallbackRecord {
    std::shared_ptr<FutureState<R>> state;
    std::function<void(Future<R>&)> fn;
    static void call(pyth_future_t*, void* arg) noexcept;
};

}  // namespace detail

// concurrent.futures.Future for a task returning R (void allowed). Move-only;
// the task keeps running if the Future is destroyed first.
template <class R>
class Future {
public:
    // An empty future (valid() is false), to move-assign into later.
    Future() noexcept = default;
    // Move-only: one owner per result (the state is shared with the task).
    Future(Future&&) noexcept = default;
    Future& operator=(Future&&) noexcept = default;
    Future(const Future&) = delete;
    Future& operator=(const Future&) = delete;

    // Waits at most `timeout` and returns the value. Throws: the task's own
    // exception (rethrown as is), cancelled_error, timeout_error if not done
    // in time, broken_executor_error if the pool broke first, task_error for
    // a failing C task. A copyable value can be read many times, like
    // Python's; a move-only one is moved out by the first call (later calls
    // throw runtime_error).
    R result(Timeout timeout = forever) {
        void* out = nullptr;
        settle(pyth_future_result(handle(), timeout.count(), &out));
        if constexpr (std::is_void_v<R>) {
            return;
        } else if constexpr (std::is_same_v<R, void*>) {
            return s_->raw ? out : *s_->value;
        } else if constexpr (std::is_copy_constructible_v<R>) {
            return *s_->value;
        } else {
            if (!s_->value) throw runtime_error("pyth::Future: the move-only result was already taken");
            R r = std::move(*s_->value);
            s_->value.reset();
            return r;
        }
    }
    // Python's exception(timeout): the task's exception (the original C++
    // one, or a task_error / broken_executor_error), or null if it succeeded;
    // throws cancelled_error/timeout_error as result() does.
    std::exception_ptr exception(Timeout timeout = forever) {
        pyth_status st = pyth_future_result(handle(), timeout.count(), nullptr);
        if (st == PYTH_EFAILED || st == PYTH_EBROKEN) {
            if (st == PYTH_EFAILED && s_->error) return s_->error;
            try {
                settle(st);
            } catch (...) {
                return std::current_exception();
            }
        }
        settle(st);
        return nullptr;
    }
    // Waits until done without throwing: true if done within the timeout.
    bool wait(Timeout timeout = forever) const {
        pyth_future_t* h = handle();
        return detail::check(pyth_wait(&h, 1, timeout.count(), PYTH_ALL_COMPLETED)) == PYTH_OK;
    }
    // Cancels the task if it has not started: true if it is now cancelled.
    bool cancel() noexcept { return s_ && pyth_future_cancel(s_->h); }
    // Whether it finished or was cancelled.
    bool done() const noexcept { return s_ && pyth_future_done(s_->h); }
    // Whether the task is running now.
    bool running() const noexcept { return s_ && pyth_future_running(s_->h); }
    // Whether it was cancelled.
    bool cancelled() const noexcept { return s_ && pyth_future_cancelled(s_->h); }
    // Calls fn(future) once done, in the thread that completes it, or at once
    // here if already done. An exception from fn is reported on stderr and
    // ignored, as Python logs it.
    void add_done_callback(std::function<void(Future<R>&)> fn) {
        auto* rec = new detail::CallbackRecord<R>{s_, std::move(fn)};
        pyth_status st = pyth_future_add_done_callback(handle(), &detail::CallbackRecord<R>::call, rec);
        if (st != PYTH_OK) {
            delete rec;
            detail::check(st, detail::broken_kind::executor);
        }
    }
    // Whether it refers to a task (false when empty or moved from).
    bool valid() const noexcept { return s_ != nullptr; }
    // The C handle, still owned by this object.
    pyth_future_t* native_handle() const noexcept { return s_ ? s_->h : nullptr; }

private:
    friend class ThreadPoolExecutor;
    friend struct detail::CallbackRecord<R>;
    explicit Future(std::shared_ptr<detail::FutureState<R>> s) noexcept : s_(std::move(s)) {}

    pyth_future_t* handle() const {
        if (!s_) throw invalid_handle("pyth::Future: no task (empty or moved-from future)");
        return s_->h;
    }
    // Turns pyth_future_result's status into the C++ outcome.
    void settle(pyth_status st) {
        if (st == PYTH_OK) return;
        if (st == PYTH_EFAILED) {
            if (s_->error) std::rethrow_exception(s_->error);
            throw task_error(pyth_future_error(s_->h), pyth_last_error());
        }
        detail::throw_status(st, detail::broken_kind::executor);  // TIMEOUT becomes timeout_error
    }

    std::shared_ptr<detail::FutureState<R>> s_;
};

template <class R>
void detail::CallbackRecord<R>::call(pyth_future_t*, void* arg) noexcept {
    std::unique_ptr<CallbackRecord> rec(static_cast<CallbackRecord*>(arg));
    try {
        Future<R> f(rec->state);
        if (rec->fn) rec->fn(f);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "pyth: exception calling callback for future: %s\n", e.what());
    } catch (...) {
        std::fputs("pyth: exception calling callback for future\n", stderr);
    }
}

// concurrent.futures.ThreadPoolExecutor: runs callables on up to
// max_workers threads, started as work arrives. Destroying it shuts it down
// and waits for the submitted work, like Python's `with` block.
class ThreadPoolExecutor {
public:
    // max_workers 0: min(32, cpus + 4). Workers are named <prefix>_N (empty
    // prefix: the library's "ThreadPoolExecutor-K"). `initializer` runs first
    // in each worker; if it throws, the pool breaks as in Python (later
    // submits and queued work give broken_executor_error).
    explicit ThreadPoolExecutor(std::size_t max_workers = 0, const std::string& thread_name_prefix = std::string(),
                                std::function<void()> initializer = {})
        : init_(initializer ? std::make_unique<std::function<void()>>(std::move(initializer)) : nullptr) {
        h_ = detail::check_new(pyth_executor_new_ex(max_workers,
                                                    thread_name_prefix.empty() ? nullptr : thread_name_prefix.c_str(),
                                                    init_ ? &run_init : nullptr, init_.get()),
                               detail::broken_kind::executor);
    }
    // Move-only; the destructor shuts the pool down and waits for the
    // submitted work (Python's `with` block).
    ~ThreadPoolExecutor() { destroy(); }
    ThreadPoolExecutor(ThreadPoolExecutor&& o) noexcept : h_(std::exchange(o.h_, nullptr)), init_(std::move(o.init_)) {}
    ThreadPoolExecutor& operator=(ThreadPoolExecutor&& o) noexcept {
        if (this != &o) {
            destroy();
            h_ = std::exchange(o.h_, nullptr);
            init_ = std::move(o.init_);
        }
        return *this;
    }
    ThreadPoolExecutor(const ThreadPoolExecutor&) = delete;
    ThreadPoolExecutor& operator=(const ThreadPoolExecutor&) = delete;

    // Schedules f(args...) (copied or moved, invoked as rvalues, like
    // std::async) and returns its typed future. shutdown_error after
    // shutdown(), broken_executor_error once the pool broke.
    template <class F, class... Args>
    auto submit(F&& f, Args&&... args)
        -> Future<std::decay_t<std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>>> {
        using R = std::decay_t<std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>>;
        using Box = detail::TaskBox<R, std::decay_t<F>, std::decay_t<Args>...>;
        auto box = std::make_unique<Box>(std::forward<F>(f), std::forward<Args>(args)...);
        // The state exists before the task can run; it takes the handle after.
        auto state = std::make_shared<detail::FutureState<R>>(nullptr);
        box->state = state;
        detail::TaskBoxBase<R>* base = box.get();
        pyth_future_t* h = pyth_executor_submit(h_, &detail::TaskBoxBase<R>::trampoline, base);
        if (!h) {
            // A failed submit never runs the task: the box goes with `box`.
            pyth_status st = pyth_last_status();
            detail::throw_status(st < 0 ? st : PYTH_ENOMEM, detail::broken_kind::executor);
        }
        state->h = h;  // owned by the state from here (the task never reads it)
        (void)box.release();  // deleted by the done callback below
        pyth_status st = pyth_future_add_done_callback(h, &detail::TaskBoxBase<R>::done, base);
        (void)st;  // cannot fail for a live future and a non-NULL callback
        return Future<R>(std::move(state));
    }

    // Schedules a C task fn(arg); its result() is the void* the task stored.
    // A nonzero return makes result() throw task_error with that code.
    Future<void*> submit_c(pyth_task_fn fn, void* arg) {
        pyth_future_t* h = detail::check_new(pyth_executor_submit(h_, fn, arg), detail::broken_kind::executor);
        auto state = std::make_shared<detail::FutureState<void*>>(h);
        state->raw = true;
        return Future<void*>(std::move(state));
    }

    // Stops accepting work; `cancel_futures` cancels what has not started;
    // `wait` returns once the workers finished the rest.
    void shutdown(bool wait = true, bool cancel_futures = false) {
        detail::check(pyth_executor_shutdown(h_, wait, cancel_futures), detail::broken_kind::executor);
    }

    // The C handle, still owned by this object.
    pyth_executor_t* native_handle() const noexcept { return h_; }

private:
    static int run_init(void* arg) noexcept {
        try {
            (*static_cast<std::function<void()>*>(arg))();
            return 0;
        } catch (const task_error& e) {
            return e.code() ? e.code() : exception_code;
        } catch (...) {
            return exception_code;
        }
    }
    void destroy() noexcept {
        // Frees after waiting for the workers, so init_ outlives them.
        if (h_ && !detail::report_free(pyth_executor_free(h_), "ThreadPoolExecutor")) (void)init_.release();
        h_ = nullptr;
        init_.reset();
    }

    pyth_executor_t* h_ = nullptr;
    std::unique_ptr<std::function<void()>> init_;
};

}  // namespace pyth

#endif  // PYTH_HPP
