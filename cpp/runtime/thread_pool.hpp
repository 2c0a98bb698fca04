// A small persistent thread pool and a spin barrier for the per-step sync of the recurrence.
//
// run(n, job) runs job(0..n-1) on n threads (the caller is thread 0) and returns
// when all are done. One parallel region runs at a time; a caller that finds the
// pool busy (another Python thread, the GIL being released) runs its job on one
// thread instead, which gives the same bits since no kernel's result depends on
// the thread count.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace fast_lstm {

class SpinBarrier {
  public:
    explicit SpinBarrier(int threads);
    // Where `member` runs now (see wait); members note it when their job starts.
    void note_cpu(int member);
    void wait(int member);
    // Whether a member other than `member` last noted `cpu` (the scheduler put both on it).
    bool other_member_on_cpu(int member, int cpu) const;

  private:
    const int threads_;
    std::atomic<int> arrived_{0};
    std::atomic<uint32_t> phase_{0};
    // Each member's CPU when it last arrived or started, -1 unknown.
    std::unique_ptr<std::atomic<int>[]> cpu_of_;
};

// What a job sees: its index, the team size, and the team's barrier.
struct Team {
    int index;
    int size;
    SpinBarrier* barrier;
    void sync() const {
        if (size > 1) barrier->wait(index);
    }
};

class ThreadPool {
  public:
    static ThreadPool& instance();
    ~ThreadPool();

    // Threads used by default for a call: set_num_threads, else the CPUs this process may use.
    int num_threads() const { return num_threads_.load(); }
    void set_num_threads(int n) { num_threads_.store(n); }

    void run(int threads, const std::function<void(const Team&)>& job);

    // Whether the workers a `threads` region needs exist and are awake, spinning for it: the
    // region then starts at once. Asleep, they take a wake-up first (see the .cpp).
    bool workers_awake(int threads) const;
    // Wakes the workers a `threads` region needs, creating them if need be, without a job: they
    // spin for the next region as after one of their own. For a caller that runs this call alone.
    void wake_workers(int threads);

    // Nanoseconds a wait at a 2-member barrier costs on this machine, both members spinning on
    // their own cores: the least of a few timed runs of back-to-back waits (~0.1 ms), kept for a
    // second. A run with both members on one CPU is used by its call only. When it cannot be
    // measured (the pool busy with another caller's region): the kept value, else 0.
    double barrier_wait_ns();

  private:
    ThreadPool();
    void ensure_workers(int count);
    void worker_loop(int worker_index, uint64_t seen);

    std::atomic<int> num_threads_;
    std::mutex region_mutex_;  // one parallel region at a time
    std::mutex mutex_;         // guards the sleep of idle workers
    std::condition_variable wake_;
    std::vector<std::thread> workers_;
    // The region's job, published by the release increment of generation_.
    const std::function<void(const Team&)>* job_ = nullptr;
    SpinBarrier* barrier_ = nullptr;
    int team_size_ = 0;
    std::atomic<int> caller_core_{-1};  // where run() or wake_workers() was called, -1: unknown
    std::atomic<int> pending_{0};
    std::atomic<uint64_t> generation_{0};
    std::atomic<double> barrier_wait_ns_{-1.0};  // < 0: not measured yet
    std::atomic<int64_t> barrier_measured_at_{0};  // steady_clock ticks
    std::atomic<int> started_{0};   // workers created
    std::atomic<int> sleeping_{0};  // workers waiting on wake_
    std::atomic<bool> woken_{false};  // wake_workers() called, its workers not yet up
    uint64_t wake_calls_ = 0;       // guarded by mutex_: wake_workers() calls
    bool stopping_ = false;
};

// Number of CPUs this process may run on (affinity mask), at least 1.
int available_cpus();

// [begin, end) of `index`'s share when `count` items are split into `parts`
// contiguous ranges of whole `grain`-sized chunks.
void split_range(int64_t count, int64_t grain, int parts, int index, int64_t* begin, int64_t* end);

}  // namespace fast_lstm
