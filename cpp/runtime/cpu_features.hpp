// Which kernel paths this CPU can run, and which one is active.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../kernels/kernel_table.hpp"

namespace fast_lstm {

// Best path the CPU and the OS support (AVX-512 needs the OS to save ZMM state).
Isa best_supported_isa();
bool isa_supported(Isa isa);
const char* isa_name(Isa isa);
// Parses "avx512" / "avx2" / "generic"; returns false on an unknown name.
bool parse_isa(const std::string& name, Isa* out);
// Supported paths, best first.
std::vector<Isa> supported_isas();

// The active path, chosen once at import (select_isa_at_import) and changed
// only by the test hook _force_isa.
Isa active_isa();
void set_active_isa(Isa isa);
// Applies FAST_LSTM_ISA; returns a warning message (empty when none).
std::string select_isa_at_import();

// The L1 data cache of a core in bytes, as the OS reports it; 32 KiB when it does not.
int64_t l1_data_cache_bytes();

}  // namespace fast_lstm
