// The least time a streaming LSTM step (B = 1) can take on this machine, whatever the kernel.
//
// A step must read every weight once: W_ih and W_hh, 4H x (D + H) floats, 2 MB at the grid's
// stream shape (D = H = 256). Its threads must then meet before the next step reads h_t. This
// probe does only that: each thread streams its share of the weights through FMAs into 8
// accumulators (a GEMV and nothing else: no cell update, no Python call, no checks), and the
// threads meet at a spin barrier after every step. What it measures is the memory system's
// rate for this access pattern, a floor under fast_lstm.PackedLSTM.step's time per step (the
// stream rows of bench/RESULTS.md). bench/stream_bound.py builds it with the system C compiler and
// prints it beside PackedLSTM.step and torch's LSTMCell; by hand (AVX2 with FMA needed):
//
//   cc -O3 -mavx2 -mfma -pthread bench/probes/weight_stream_bound.c -o /tmp/weight_stream_bound
//   /tmp/weight_stream_bound 2 2.0    # threads, MB of weights read per step
#include <immintrin.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { kRowFloats = 256, kRepeats = 7, kMaxThreads = 64 };

static int threads;
static long floats_per_thread;
static long steps;
static float* weights;
static float inputs[1024];
static volatile float sinks[kMaxThreads];  // keeps each thread's sums alive
static atomic_int arrived;
static atomic_int generation;

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

// Sense-reversing spin barrier: fast_lstm's pool also spins between the steps of a call.
static void meet(void) {
    const int seen = atomic_load(&generation);
    if (atomic_fetch_add(&arrived, 1) == threads - 1) {
        atomic_store(&arrived, 0);
        atomic_fetch_add(&generation, 1);
    } else {
        while (atomic_load(&generation) == seen) _mm_pause();
    }
}

static void* stream_steps(void* arg) {
    const long id = (long)arg;
    const float* share = weights + id * floats_per_thread;
    const long rows = floats_per_thread / kRowFloats;
    // 8 chains of 4-cycle FMAs keep both FMA pipes busy; each weight is read by one FMA.
    __m256 sums[8];
    for (int v = 0; v < 8; ++v) sums[v] = _mm256_setzero_ps();
    for (long step = 0; step < steps; ++step) {
        for (long k = 0; k < rows; ++k) {
            const __m256 input = _mm256_set1_ps(inputs[k & 1023]);
            const float* row = share + k * kRowFloats;
#pragma GCC unroll 32  // unrolled, the sums stay in registers
            for (int v = 0; v < kRowFloats / 8; ++v)
                sums[v & 7] = _mm256_fmadd_ps(input, _mm256_load_ps(row + 8 * v), sums[v & 7]);
        }
        meet();
    }
    __m256 total = sums[0];
    for (int v = 1; v < 8; ++v) total = _mm256_add_ps(total, sums[v]);
    float lanes[8];
    _mm256_storeu_ps(lanes, total);
    sinks[id] = lanes[0];
    return NULL;
}

static double time_steps(void) {
    pthread_t workers[kMaxThreads];
    const double start = seconds();
    for (long i = 1; i < threads; ++i) pthread_create(&workers[i], NULL, stream_steps, (void*)i);
    stream_steps((void*)0);
    for (long i = 1; i < threads; ++i) pthread_join(workers[i], NULL);
    return (seconds() - start) / steps;
}

static int by_value(const void* a, const void* b) {
    const double x = *(const double*)a, y = *(const double*)b;
    return (x > y) - (x < y);
}

int main(int argc, char** argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s THREADS MEGABYTES_PER_STEP\n", argv[0]);
        return 2;
    }
    threads = atoi(argv[1]);
    const double megabytes = atof(argv[2]);
    if (threads < 1 || threads > kMaxThreads || !(megabytes > 0)) {
        fprintf(stderr, "THREADS must be 1-%d and MEGABYTES_PER_STEP positive\n", kMaxThreads);
        return 2;
    }
    const long rows = (long)(megabytes * 1048576 / 4 / kRowFloats / threads);
    floats_per_thread = (rows > 0 ? rows : 1) * kRowFloats;
    weights = aligned_alloc(64, sizeof(float) * floats_per_thread * threads);
    if (!weights) return 1;
    for (long i = 0; i < floats_per_thread * threads; ++i) weights[i] = (float)(i % 97) * 1e-4f;
    for (int i = 0; i < 1024; ++i) inputs[i] = 1e-3f * (float)i;

    steps = 100;
    while (time_steps() * steps < 0.05) steps *= 2;  // warm: weights in cache as far as they fit
    double per_step[kRepeats];
    for (int r = 0; r < kRepeats; ++r) per_step[r] = time_steps();
    qsort(per_step, kRepeats, sizeof(double), by_value);
    const double median = per_step[kRepeats / 2];
    const double bytes = sizeof(float) * (double)floats_per_thread * threads;
    // One line of key=value pairs, for people and for bench/stream_bound.py.
    printf("threads=%d megabytes=%.3f us_per_step=%.3f gb_per_s_per_thread=%.1f steps=%ld\n", threads,
           bytes / 1048576, median * 1e6, bytes / threads / median / 1e9, steps);
    return 0;
}
