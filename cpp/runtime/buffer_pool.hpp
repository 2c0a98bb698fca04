// A cache of large scratch blocks, kept mapped from one call to the next.
//
// Why: the kernels' large buffers (the training record, the gate gradients, packed operands:
// hundreds of MB at the grid's xlarge shape) come from mmap and go back to the kernel on free.
// Every call then faults them in again and the kernel clears each page first: 8-9% of an
// xlarge training step on this machine class went to page clearing. Kept here, a block is
// reused as it is (its contents are stale: buffers are uninitialised by contract).
//
// Visible and bounded: the bytes held are reported by cached_bytes(), released by clear(),
// and capped by a limit (set_limit; FAST_LSTM_BUFFER_CACHE_MB at start-up; 0 turns the cache off).
// Thread-safe: calls from several Python threads take blocks under one mutex.
#pragma once

#include <cstddef>

namespace fast_lstm {

namespace buffer_pool {

// A block of at least `bytes`, aligned to `alignment` (a power of two), with its real size in
// *capacity: a cached one when one fits, else a new one (nullptr when that allocation fails).
void* acquire(size_t bytes, size_t alignment, size_t* capacity);
// Gives a block from acquire() back: kept while the cache stays within its limit, else freed.
void release(void* block, size_t capacity);

size_t cached_bytes();
size_t limit();
void set_limit(size_t bytes);  // frees cached blocks beyond the new limit
void clear();                  // frees every cached block

}  // namespace buffer_pool

}  // namespace fast_lstm
