#include "cpu_features.hpp"

#include <atomic>
#include <cstdint>
#include <cstdlib>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__linux__)
#include <unistd.h>
#endif

namespace fast_lstm {
namespace {

#if defined(__x86_64__) || defined(__i386__)
uint64_t read_xcr0() {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return (static_cast<uint64_t>(edx) << 32) | eax;
}

Isa detect() {
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return Isa::generic;
    const bool osxsave = ecx & (1u << 27), avx = ecx & (1u << 28), fma = ecx & (1u << 12);
    if (!(osxsave && avx && fma)) return Isa::generic;
    const uint64_t xcr0 = read_xcr0();
    const bool os_saves_ymm = (xcr0 & 0x6) == 0x6;
    const bool os_saves_zmm = (xcr0 & 0xE6) == 0xE6;  // XMM, YMM, opmask, ZMM_Hi256, Hi16_ZMM
    if (!os_saves_ymm) return Isa::generic;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return Isa::generic;
    const bool avx2 = ebx & (1u << 5);
    const bool avx512f = ebx & (1u << 16), avx512dq = ebx & (1u << 17);
    if (avx512f && avx512dq && os_saves_zmm) return Isa::avx512;
    if (avx2) return Isa::avx2;
    return Isa::generic;
}
#else
Isa detect() { return Isa::generic; }
#endif

std::atomic<Isa> g_active{Isa::generic};

}  // namespace

Isa best_supported_isa() {
    static const Isa best = detect();
    return best;
}

bool isa_supported(Isa isa) { return static_cast<int>(isa) <= static_cast<int>(best_supported_isa()); }

const char* isa_name(Isa isa) {
    switch (isa) {
        case Isa::avx512: return "avx512";
        case Isa::avx2: return "avx2";
        default: return "generic";
    }
}

bool parse_isa(const std::string& name, Isa* out) {
    for (Isa isa : {Isa::avx512, Isa::avx2, Isa::generic})
        if (name == isa_name(isa)) {
            *out = isa;
            return true;
        }
    return false;
}

std::vector<Isa> supported_isas() {
    std::vector<Isa> isas;
    for (Isa isa : {Isa::avx512, Isa::avx2, Isa::generic})
        if (isa_supported(isa)) isas.push_back(isa);
    return isas;
}

Isa active_isa() { return g_active.load(std::memory_order_relaxed); }
void set_active_isa(Isa isa) { g_active.store(isa, std::memory_order_relaxed); }

std::string select_isa_at_import() {
    const Isa best = best_supported_isa();
    set_active_isa(best);
    const char* forced = std::getenv("FAST_LSTM_ISA");
    if (!forced || !*forced) return "";
    Isa wanted;
    if (!parse_isa(forced, &wanted))
        return std::string("FAST_LSTM_ISA='") + forced + "' is not one of avx512, avx2, generic; using " +
               isa_name(best);
    if (!isa_supported(wanted))
        return std::string("FAST_LSTM_ISA='") + forced + "' is not supported by this CPU; using " + isa_name(best);
    set_active_isa(wanted);
    return "";
}

int64_t l1_data_cache_bytes() {
    static const int64_t bytes = [] {
#if defined(__linux__) && defined(_SC_LEVEL1_DCACHE_SIZE)
        const long reported = sysconf(_SC_LEVEL1_DCACHE_SIZE);
        if (reported >= 4096 && reported <= (long(1) << 24)) return static_cast<int64_t>(reported);
#endif
        return int64_t(32) << 10;
    }();
    return bytes;
}

}  // namespace fast_lstm
