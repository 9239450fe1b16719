// The kernels and loops built with -mavx2 (binding.gyp compiles this file alone with
// that flag, x86-64 only). addon.cc calls into this table only when the CPU
// and the OS support AVX2 (__builtin_cpu_supports), so the same .node file
// still runs on a machine without it.
#if !defined(__AVX2__)
#error "simd_avx2.cc must be compiled with -mavx2"
#endif
#define VEILBOX_ISA avx2
#include "variant.h"

namespace veilbox {
namespace avx2 {
extern const IsaTable TABLE = make_table("avx2");
}  // namespace avx2
}  // namespace veilbox
