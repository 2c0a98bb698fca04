#include "thread_pool.hpp"

#include <sched.h>

#include <algorithm>
#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FAST_LSTM_PAUSE() _mm_pause()
#else
#define FAST_LSTM_PAUSE() ((void)0)
#endif

namespace fast_lstm {

static int current_cpu() {
#if defined(__linux__)
    return sched_getcpu();
#else
    return -1;
#endif
}

SpinBarrier::SpinBarrier(int threads) : threads_(threads), cpu_of_(new std::atomic<int>[threads]) {
    for (int i = 0; i < threads; ++i) cpu_of_[i].store(-1, std::memory_order_relaxed);
}

void SpinBarrier::note_cpu(int member) { cpu_of_[member].store(current_cpu(), std::memory_order_relaxed); }

bool SpinBarrier::other_member_on_cpu(int member, int cpu) const {
    if (cpu < 0) return false;
    for (int i = 0; i < threads_; ++i)
        if (i != member && cpu_of_[i].load(std::memory_order_relaxed) == cpu) return true;
    return false;
}

// A waiting member keeps its core, spinning, while the other members run elsewhere: yielding
// would hand the core for a whole time slice to whatever else is runnable there, and other
// runtimes' idle workers are (OpenBLAS's spin ~0.1 s after each numpy matmul). Yielding at once
// made a 2-thread call of the long shape 7x slower right after a matmul. It yields at once when
// another member last ran on its CPU (the scheduler has put both on one core: only the yield
// lets that one run), and every ~50 us in any case, so an oversubscribed machine loses at most
// that per wait.
void SpinBarrier::wait(int member) {
    const int cpu = current_cpu();
    cpu_of_[member].store(cpu, std::memory_order_relaxed);
    const uint32_t phase = phase_.load(std::memory_order_acquire);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) == threads_ - 1) {
        arrived_.store(0, std::memory_order_relaxed);
        phase_.store(phase + 1, std::memory_order_release);
        return;
    }
    constexpr auto spin_limit = std::chrono::microseconds(50);
    auto spin_until = std::chrono::steady_clock::now() + spin_limit;
    for (int spins = 0; phase_.load(std::memory_order_acquire) == phase; ++spins) {
        if (spins < 16) {
            FAST_LSTM_PAUSE();
        } else if (other_member_on_cpu(member, cpu)) {
            std::this_thread::yield();
        } else if (spins % 16 != 0 || std::chrono::steady_clock::now() < spin_until) {
            FAST_LSTM_PAUSE();
        } else {
            std::this_thread::yield();
            spin_until = std::chrono::steady_clock::now() + spin_limit;
        }
    }
}

int available_cpus() {
#ifdef CPU_COUNT
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        const int count = CPU_COUNT(&set);
        if (count > 0) return count;
    }
#endif
    const unsigned hw = std::thread::hardware_concurrency();
    return hw > 0 ? static_cast<int>(hw) : 1;
}

void split_range(int64_t count, int64_t grain, int parts, int index, int64_t* begin, int64_t* end) {
    const int64_t chunks = (count + grain - 1) / grain;
    const int64_t first = chunks * index / parts, last = chunks * (index + 1) / parts;
    *begin = first * grain < count ? first * grain : count;
    *end = last * grain < count ? last * grain : count;
}

ThreadPool& ThreadPool::instance() {
    static ThreadPool pool;
    return pool;
}

ThreadPool::ThreadPool() : num_threads_(available_cpus()) {}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    for (auto& worker : workers_) worker.join();
}

void ThreadPool::ensure_workers(int count) {
    while (static_cast<int>(workers_.size()) < count) {
        // A new worker waits for the next region, not the last one (whose job is gone).
        const int index = static_cast<int>(workers_.size());
        const uint64_t seen = generation_.load(std::memory_order_acquire);
        workers_.emplace_back([this, index, seen] { worker_loop(index, seen); });
        started_.store(static_cast<int>(workers_.size()), std::memory_order_release);
    }
}

bool ThreadPool::workers_awake(int threads) const {
    return started_.load(std::memory_order_acquire) >= threads - 1 && sleeping_.load(std::memory_order_acquire) == 0;
}

void ThreadPool::wake_workers(int threads) {
    if (woken_.exchange(true, std::memory_order_acq_rel)) return;  // a wake-up is on its way
    {
        std::unique_lock<std::mutex> region(region_mutex_, std::try_to_lock);
        if (region.owns_lock()) ensure_workers(threads - 1);  // new ones start out spinning
    }
#if defined(__linux__)
    caller_core_.store(sched_getcpu(), std::memory_order_relaxed);
#endif
    {
        std::lock_guard<std::mutex> lock(mutex_);
        ++wake_calls_;
    }
    wake_.notify_all();
    // A woken thread is often queued on its waker's CPU, and this caller goes on computing: it
    // would wait there until the scheduler preempts the caller, a ms or more (a stream of steps
    // ran 30 of them alone). One yield lets it run now and move to another core (worker_loop).
    std::this_thread::yield();
}

// The cost of a wait moves while a process runs: on the Zen 4 VM the same pair of vCPUs measured
// 70-100 ns for some seconds and 340-380 ns for others (the host placing them near or far), so a
// value is kept for a second, then measured again (~0.1 ms, under 1e-4 of the time).
constexpr auto barrier_wait_lifetime = std::chrono::seconds(1);

double ThreadPool::barrier_wait_ns() {
    const double known = barrier_wait_ns_.load(std::memory_order_acquire);
    const int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
    if (known >= 0 && now - barrier_measured_at_.load(std::memory_order_relaxed) <
                          std::chrono::steady_clock::duration(barrier_wait_lifetime).count())
        return known;
    constexpr int runs = 5, waits = 64;
    double least = -1.0;
    bool shared_cpu = false;
    run(2, [&](const Team& team) {
        if (team.size < 2) return;  // run() found the pool busy and gave this job one thread
        for (int r = 0; r < runs; ++r) {
            team.sync();  // both members here: the first run also absorbs a worker's wake-up
            const auto start = std::chrono::steady_clock::now();
            for (int i = 0; i < waits; ++i) team.sync();
            const std::chrono::duration<double, std::nano> took = std::chrono::steady_clock::now() - start;
            if (team.index == 0 && (least < 0 || took.count() / waits < least)) least = took.count() / waits;
        }
        if (team.index == 0) shared_cpu = team.barrier->other_member_on_cpu(0, current_cpu());
    });
    if (least < 0) return known >= 0 ? known : 0.0;
    // Both members on one CPU timed the scheduler, not the machine: this call uses it, and the
    // next call measures again.
    if (shared_cpu) return least;
    barrier_wait_ns_.store(least, std::memory_order_release);
    barrier_measured_at_.store(now, std::memory_order_relaxed);
    return least;
}

// A worker spins for the next region before it sleeps: a sequence of calls (a stream of single
// steps, a layer per call) then costs no futex wake-up per call, about 5-10 us, which is the
// whole of a small step's time. 0.1 ms, or after a longer share of a region 1/8 of its time up
// to 0.5 ms: members that split the rows finish apart (long's forward: by 2% of 5.7 ms), a
// plain forward packs its weights before its region, and at the benchmark's small and long
// shapes the worker then slept before the next call's region and that call paid a wake-up
// (0.1-0.5 ms here) every time.
constexpr auto worker_spin = std::chrono::microseconds(100);
constexpr auto worker_spin_longest = std::chrono::microseconds(500);
// Woken ahead of a region (wake_workers), it spins longer: across the short call its caller
// then runs alone (lstm_threads_for: at most ~0.5 ms), so that a next call soon after finds it.
constexpr auto worker_spin_when_woken = std::chrono::milliseconds(1);

// A worker woken from its sleep is often placed on the core of the thread that woke it, and the
// scheduler moves one of them away only after a few ms; until then every barrier of the
// region is a context switch (a tiny-shape call measured 10x slower). A worker that finds
// itself on its caller's core moves to another allowed core, then allows all of them again.
static void move_off_core(int busy_core, int member) {
#if defined(__linux__) && defined(CPU_COUNT)
    if (busy_core < 0 || sched_getcpu() != busy_core) return;
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0 || CPU_COUNT(&allowed) < 2) return;
    std::vector<int> others;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
        if (cpu != busy_core && CPU_ISSET(cpu, &allowed)) others.push_back(cpu);
    cpu_set_t target;
    CPU_ZERO(&target);
    CPU_SET(others[(member - 1) % others.size()], &target);
    if (sched_setaffinity(0, sizeof(target), &target) == 0) sched_setaffinity(0, sizeof(allowed), &allowed);
#else
    (void)busy_core;
    (void)member;
#endif
}

void ThreadPool::worker_loop(int worker_index, uint64_t seen) {
    bool woken_ahead = false;
    std::chrono::nanoseconds spin = worker_spin;
    for (;;) {
        const auto spin_until = std::chrono::steady_clock::now() + (woken_ahead ? worker_spin_when_woken : spin);
        woken_ahead = false;
        spin = worker_spin;
        for (int spins = 0; generation_.load(std::memory_order_acquire) == seen; ++spins) {
            FAST_LSTM_PAUSE();
            if (spins % 64 == 63 && std::chrono::steady_clock::now() > spin_until) break;
        }
        const int member = worker_index + 1;  // the caller is member 0
        if (generation_.load(std::memory_order_acquire) == seen) {
            std::unique_lock<std::mutex> lock(mutex_);
            const uint64_t wake_calls = wake_calls_;
            sleeping_.fetch_add(1, std::memory_order_acq_rel);
            woken_.store(false, std::memory_order_release);  // a wake-up before this one did not reach it
            wake_.wait(lock, [&] {
                return stopping_ || generation_.load(std::memory_order_acquire) != seen || wake_calls_ != wake_calls;
            });
            sleeping_.fetch_sub(1, std::memory_order_acq_rel);
            woken_.store(false, std::memory_order_release);
            if (stopping_) return;
            if (generation_.load(std::memory_order_acquire) == seen) {
                // Woken ahead of a region (wake_workers): off the caller's core, then spin for it.
                lock.unlock();
                const int caller_core = caller_core_.load(std::memory_order_relaxed);
                move_off_core(caller_core, member);
                woken_ahead = current_cpu() != caller_core;  // else its spin would take the caller's CPU
                continue;
            }
        }
        seen = generation_.load(std::memory_order_acquire);
        if (member >= team_size_) continue;
        // Not only after a sleep: a new worker starts where its creator runs, and on the Zen 4 VM
        // 5 of 40 new workers stayed there through their first region.
        move_off_core(caller_core_.load(std::memory_order_relaxed), member);
        barrier_->note_cpu(member);
        const auto job_start = std::chrono::steady_clock::now();
        (*job_)(Team{member, team_size_, barrier_});
        spin = std::clamp<std::chrono::nanoseconds>((std::chrono::steady_clock::now() - job_start) / 8, worker_spin,
                                                    worker_spin_longest);
        pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
}

void ThreadPool::run(int threads, const std::function<void(const Team&)>& job) {
    std::unique_lock<std::mutex> region(region_mutex_, std::try_to_lock);
    if (threads <= 1 || !region.owns_lock()) {
        job(Team{0, 1, nullptr});
        return;
    }
    SpinBarrier barrier(threads);
    ensure_workers(threads - 1);
    job_ = &job;
    barrier_ = &barrier;
    team_size_ = threads;
#if defined(__linux__)
    caller_core_.store(sched_getcpu(), std::memory_order_relaxed);
#endif
    pending_.store(threads - 1, std::memory_order_relaxed);
    const bool workers_slept = sleeping_.load(std::memory_order_acquire) > 0;
    {
        // Under the mutex: a worker that has just found no new region and is going to sleep
        // either sees this one in its wait predicate or is already waiting for the notify.
        std::lock_guard<std::mutex> lock(mutex_);
        generation_.fetch_add(1, std::memory_order_acq_rel);
    }
    wake_.notify_all();
    if (workers_slept) std::this_thread::yield();
    barrier.note_cpu(0);
    job(Team{0, threads, &barrier});
    for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins) {
        if (spins < 4096) FAST_LSTM_PAUSE();
        else std::this_thread::yield();
    }
}

}  // namespace fast_lstm
