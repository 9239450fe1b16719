// The kernels and loops built for the compiler's baseline instruction set (SSE2 on
// x86-64): what runs on any machine the addon loads on.
#define VEILBOX_ISA base
#include "variant.h"

namespace veilbox {
namespace base {
#if defined(__x86_64__) || defined(_M_X64)
extern const IsaTable TABLE = make_table("sse2");
#else
extern const IsaTable TABLE = make_table("generic");
#endif
}  // namespace base
}  // namespace veilbox
