// One instruction-set variant: the kernels (simd.h), the request-building
// loops (masks.h) and the table of their entry points that addon.cc calls
// through. Included once, by simd_base.cc or simd_avx2.cc, with VEILBOX_ISA
// naming the variant's namespace.
#ifndef VEILBOX_ISA
#error "define VEILBOX_ISA (the variant's namespace) before including variant.h"
#endif

#include "simd.h"
#include "masks.h"

namespace veilbox {
namespace VEILBOX_ISA {

// The variant's entry points, indexed as api.h IsaTable says.
#define VEILBOX_MOMENTS(V, C) {&moments_pass<V, C, false>, &moments_pass<V, C, true>}
#define VEILBOX_CODES(F, V) {F(V, std::uint8_t), F(V, std::uint16_t), F(V, std::uint32_t)}
#define VEILBOX_HISTOGRAM(V, C) &histogram_pass<V, C>
#define VEILBOX_STORES(F, ...) {&F<__VA_ARGS__, SET>, &F<__VA_ARGS__, AND>, &F<__VA_ARGS__, OR>}
#define VEILBOX_COMPARE(V)                                                                                  \
  {VEILBOX_STORES(compare_rows, V, EQ), VEILBOX_STORES(compare_rows, V, NE), VEILBOX_STORES(compare_rows, V, LT), \
   VEILBOX_STORES(compare_rows, V, LE), VEILBOX_STORES(compare_rows, V, GT), VEILBOX_STORES(compare_rows, V, GE)}
#define VEILBOX_DIGITS(C) {&add_digits<C, std::uint8_t>, &add_digits<C, std::uint16_t>, &add_digits<C, std::uint32_t>}

inline constexpr IsaTable make_table(const char* name) {
  return IsaTable{
      name,
      {VEILBOX_CODES(VEILBOX_MOMENTS, double), VEILBOX_CODES(VEILBOX_MOMENTS, std::int32_t)},
      {VEILBOX_CODES(VEILBOX_HISTOGRAM, double), VEILBOX_CODES(VEILBOX_HISTOGRAM, std::int32_t)},
      {&count_pass<std::uint8_t>, &count_pass<std::uint16_t>, &count_pass<std::uint32_t>},
      LoopTable{
          {VEILBOX_COMPARE(double), VEILBOX_COMPARE(std::int32_t)},
          {VEILBOX_STORES(between_rows, double), VEILBOX_STORES(between_rows, std::int32_t)},
          {VEILBOX_STORES(in_rows, double), VEILBOX_STORES(in_rows, std::int32_t)},
          {VEILBOX_STORES(lookup_rows, std::uint8_t), VEILBOX_STORES(lookup_rows, std::uint16_t),
           VEILBOX_STORES(lookup_rows, std::uint32_t)},
          &clear_nulls,
          &mark_nulls,
          &and_masks,
          &or_masks,
          &not_mask,
          {&max_code<std::uint8_t>, &max_code<std::uint16_t>, &max_code<std::uint32_t>},
          {VEILBOX_DIGITS(std::uint8_t), VEILBOX_DIGITS(std::uint16_t), VEILBOX_DIGITS(std::uint32_t)},
      },
  };
}

#undef VEILBOX_MOMENTS
#undef VEILBOX_CODES
#undef VEILBOX_HISTOGRAM
#undef VEILBOX_COMPARE
#undef VEILBOX_STORES
#undef VEILBOX_DIGITS

}  // namespace VEILBOX_ISA
}  // namespace veilbox
