// The loops that build a request (src/engine/exec/loops.ts is the contract
// and the TypeScript reference): a WHERE leaf compiled to a 0/1 byte per row,
// null clearing, AND / OR / NOT over masks, the maximum of a code array and
// the mixed-radix combination of group codes. They move no decision out of
// TypeScript: the three-valued logic, the dictionary lookups that build the
// tables and the padding of the masks stay in predicate.ts and grouping.ts;
// only the per-row loops run here.
//
// Compiled once per instruction-set variant after simd.h (variant.h), inside
// the same namespace and under the same rules: no standard-library template,
// no allocation, nothing shared between variants.
//
// Semantics, exactly as the TypeScript loops:
// - comparisons are IEEE binary64 comparisons of the value (an Int32 value is
//   converted to a double first, exactly): NaN compares false with everything
//   except <>, which is true; -0 == 0. The vector comparisons below are the
//   ordered ones for = < <= > >= and the unordered one for <> (x != c in GCC's
//   vector extensions is cmpneq_uq), as the scalar operators are;
// - a lookup of a code past the table reads 0 (a Uint8Array read past its end
//   is undefined, which a Uint8Array stores as 0);
// - masks are bytes: AND / OR are bytewise, NOT is XOR 1 (the TS loop works on
//   words with 0x01010101), null clearing writes 0 and leaves other bytes as
//   they are;
// - group digits are combined modulo 2^32 and stored modulo the code type's
//   range, which is what JavaScript's typed-array stores (ToUint8 and friends)
//   do with the exact integers the TypeScript loop computes.
//
// Memory safety. Every index is a loop counter checked against lengths the
// boundary validated, except the lookup, which indexes the table by a code
// read from (possibly shared) memory: when the table does not cover every
// value of the code type, each code is read once with a relaxed atomic load
// (which the compiler may not re-read) and clamped before it indexes.
#ifndef VEILBOX_ISA
#error "define VEILBOX_ISA (the variant's namespace) before including masks.h"
#endif

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "api.h"

namespace veilbox {
namespace VEILBOX_ISA {

// Byte k of EXPAND.bytes[m] is bit k of m: an 8-row bit mask as 8 bytes of 0/1.
// Byte k of CLEAR.bytes[nb] is 0xff when bit k of null byte nb is clear (row
// not null), else 0: ANDed into 8 mask bytes, it zeroes the null rows.
struct ByteTables {
  std::uint8_t expand[256][8];
  std::uint8_t clear[256][8];
  constexpr ByteTables() : expand(), clear() {
    for (int m = 0; m < 256; m++) {
      for (int k = 0; k < 8; k++) {
        expand[m][k] = static_cast<std::uint8_t>((m >> k) & 1);
        clear[m][k] = static_cast<std::uint8_t>(((m >> k) & 1) != 0 ? 0 : 0xff);
      }
    }
  }
};
constexpr ByteTables BYTES{};

inline std::uint64_t load8(const std::uint8_t* p) {
  std::uint64_t w;
  std::memcpy(&w, p, sizeof w);
  return w;
}

inline void store8(std::uint8_t* p, std::uint64_t w) { std::memcpy(p, &w, sizeof w); }

// The sign bits of a comparison result (-1 or 0 per lane) as an L-bit mask.
inline unsigned signs(ivec r) {
#if defined(__AVX2__)
  return static_cast<unsigned>(_mm256_movemask_pd((__m256d)r));
#elif defined(__SSE2__)
  return static_cast<unsigned>(_mm_movemask_pd((__m128d)r));
#else
  unsigned m = 0;
  for (std::size_t k = 0; k < L; k++) m |= static_cast<unsigned>(r[k] & 1) << k;
  return m;
#endif
}

// The predicates, one vector of L values at a time: -1 where the row passes.
enum Op : int { EQ = 0, NE = 1, LT = 2, LE = 3, GT = 4, GE = 5 };

template <int OP>
struct Compare {
  fvec c;
  explicit Compare(double value) : c(fsplat(value)) {}
  ivec operator()(fvec x) const {
    if (OP == EQ) return (ivec)(x == c);
    if (OP == NE) return (ivec)(x != c);
    if (OP == LT) return (ivec)(x < c);
    if (OP == LE) return (ivec)(x <= c);
    if (OP == GT) return (ivec)(x > c);
    return (ivec)(x >= c);
  }
};

struct Between {
  fvec lo, hi;
  Between(double low, double high) : lo(fsplat(low)), hi(fsplat(high)) {}
  ivec operator()(fvec x) const { return (ivec)(x >= lo) & (ivec)(x <= hi); }
};

// IN lists up to this length are compared value by value; longer ones are
// searched. The choice changes only the speed: both give membership.
constexpr std::size_t IN_SCAN_MAX = 16;

struct InScan {
  fvec c[IN_SCAN_MAX];
  std::size_t n;
  InScan(const double* list, std::size_t k) : c(), n(k) {
    for (std::size_t j = 0; j < k; j++) c[j] = fsplat(list[j]);
  }
  ivec operator()(fvec x) const {
    ivec r{};
    for (std::size_t j = 0; j < n; j++) r |= (ivec)(x == c[j]);
    return r;
  }
};

// 8 rows' results as 8 bits (bit k = row k).
template <class V, class P>
inline unsigned bits8(const V* v, const P& pass) {
  unsigned m = 0;
  for (std::size_t k = 0; k < 8; k += L) m |= signs(pass(loadv(v + k))) << k;
  return m;
}

// out[i] = 1 where values[i] passes, else 0, for i < n.
template <class V, class P>
inline void mask_rows(const V* v, std::size_t n, const P& pass, std::uint8_t* out) {
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const unsigned m0 = bits8(v + i, pass), m1 = bits8(v + i + 8, pass);
    const unsigned m2 = bits8(v + i + 16, pass), m3 = bits8(v + i + 24, pass);
    store8(out + i, load8(BYTES.expand[m0]));
    store8(out + i + 8, load8(BYTES.expand[m1]));
    store8(out + i + 16, load8(BYTES.expand[m2]));
    store8(out + i + 24, load8(BYTES.expand[m3]));
  }
  for (; i + 8 <= n; i += 8) store8(out + i, load8(BYTES.expand[bits8(v + i, pass)]));
  if (i < n) {
    // The last < 8 rows through the same code, from a zero-padded copy.
    V t[8] = {};
    for (std::size_t k = 0; k < n - i; k++) t[k] = v[i + k];
    const unsigned m = bits8(t, pass);
    for (std::size_t k = 0; k < n - i; k++) out[i + k] = static_cast<std::uint8_t>((m >> k) & 1);
  }
}

template <class V, int OP>
void compare_rows(const void* values, std::size_t n, double c, std::uint8_t* out) {
  mask_rows(static_cast<const V*>(values), n, Compare<OP>(c), out);
}

template <class V>
void between_rows(const void* values, std::size_t n, double low, double high, std::uint8_t* out) {
  mask_rows(static_cast<const V*>(values), n, Between(low, high), out);
}

// list: k values, strictly increasing, no NaN (the boundary checks). Past
// IN_SCAN_MAX, a branch-free lower bound per row: it lands on x's position if
// x is in the list, and every index stays in [0, k).
template <class V>
void in_rows(const void* values, std::size_t n, const double* list, std::size_t k, std::uint8_t* out) {
  const V* v = static_cast<const V*>(values);
  if (k <= IN_SCAN_MAX) {
    mask_rows(v, n, InScan(list, k), out);
    return;
  }
  for (std::size_t i = 0; i < n; i++) {
    const double x = static_cast<double>(v[i]);
    const double* base = list;
    std::size_t len = k;
    while (len > 1) {
      const std::size_t half = len >> 1;
      base = base[half] < x ? base + half : base;
      len -= half;
    }
    const std::size_t at = static_cast<std::size_t>(base - list) + (*base < x ? 1 : 0);
    const std::size_t j = at < k ? at : k - 1;
    out[i] = static_cast<std::uint8_t>((at < k) & (list[j] == x));
  }
}

// out[i] = table[codes[i]], or 0 past the table.
template <class C>
void lookup_rows(const void* codes_v, std::size_t n, const std::uint8_t* table, std::size_t len, std::uint8_t* out) {
  const C* codes = static_cast<const C*>(codes_v);
  constexpr std::size_t span = std::size_t{1} << (8 * sizeof(C));
  if (sizeof(C) < 4 && len >= span) {
    // Every value the code type holds is inside the table.
    for (std::size_t i = 0; i < n; i++) out[i] = table[codes[i]];
    return;
  }
  if (len == 0) {
    std::memset(out, 0, n);
    return;
  }
  for (std::size_t i = 0; i < n; i++) {
    const std::size_t c = __atomic_load_n(codes + i, __ATOMIC_RELAXED);
    const bool inside = c < len;
    out[i] = static_cast<std::uint8_t>(table[inside ? c : 0] & (inside ? 0xff : 0));
  }
}

// mask[i] = 0 for every null row i < rows; other bytes unchanged.
void clear_nulls(std::uint8_t* mask, const std::uint8_t* nulls, std::size_t rows) {
  const std::size_t full = rows >> 3;
  for (std::size_t b = 0; b < full; b++) store8(mask + 8 * b, load8(mask + 8 * b) & load8(BYTES.clear[nulls[b]]));
  const std::size_t rest = rows & 7;
  if (rest != 0) {
    const std::uint8_t* keep = BYTES.clear[nulls[full]];
    for (std::size_t k = 0; k < rest; k++) mask[8 * full + k] &= keep[k];
  }
}

// For every null byte that is not zero, mask[i] = its bit for each of its rows
// i < rows (1 for a null row, 0 otherwise); bytes under a zero null byte are
// left as they are. On a zeroed mask: 1 exactly at the null rows.
void mark_nulls(std::uint8_t* mask, const std::uint8_t* nulls, std::size_t rows) {
  const std::size_t full = rows >> 3;
  for (std::size_t b = 0; b < full; b++) {
    const std::uint8_t nb = nulls[b];
    const std::uint64_t pick = ~std::uint64_t{0} * (nb != 0);
    store8(mask + 8 * b, (load8(mask + 8 * b) & ~pick) | (load8(BYTES.expand[nb]) & pick));
  }
  const std::size_t rest = rows & 7;
  if (rest != 0) {
    const std::uint8_t nb = nulls[full];
    if (nb != 0) {
      for (std::size_t k = 0; k < rest; k++) mask[8 * full + k] = BYTES.expand[nb][k];
    }
  }
}

void and_masks(std::uint8_t* a, const std::uint8_t* b, std::size_t n) {
  for (std::size_t i = 0; i < n; i++) a[i] = a[i] & b[i];
}

void or_masks(std::uint8_t* a, const std::uint8_t* b, std::size_t n) {
  for (std::size_t i = 0; i < n; i++) a[i] = a[i] | b[i];
}

// dst[i] = src[i] ^ 1: NOT for 0/1 bytes. dst may be src.
void not_mask(std::uint8_t* dst, const std::uint8_t* src, std::size_t n) {
  for (std::size_t i = 0; i < n; i++) dst[i] = src[i] ^ 1;
}

template <class C>
std::uint32_t max_code(const void* codes_v, std::size_t n) {
  const C* codes = static_cast<const C*>(codes_v);
  C m = 0;
  for (std::size_t i = 0; i < n; i++) m = codes[i] > m ? codes[i] : m;
  return m;
}

// codes[i] = (assign ? 0 : codes[i]) + multiplier * digit, digit = values[i],
// or null_digit at a null row (nulls may be nullptr), modulo the code type's
// range. Two passes, like the TypeScript loop: every row, then the null rows'
// correction multiplier * (null_digit - values[i]), all modulo 2^32.
template <class C, class V>
void add_digits(void* codes_v, const void* values_v, std::size_t n, std::uint32_t multiplier, bool assign,
                const std::uint8_t* nulls, std::uint32_t null_digit) {
  C* codes = static_cast<C*>(codes_v);
  const V* values = static_cast<const V*>(values_v);
  if (assign) {
    for (std::size_t i = 0; i < n; i++) codes[i] = static_cast<C>(multiplier * std::uint32_t{values[i]});
  } else {
    for (std::size_t i = 0; i < n; i++) codes[i] = static_cast<C>(codes[i] + multiplier * std::uint32_t{values[i]});
  }
  if (nulls == nullptr) return;
  const std::size_t bytes = (n + 7) >> 3;
  for (std::size_t b = 0; b < bytes; b++) {
    const std::uint32_t nb = nulls[b];
    if (nb == 0) continue;
    const std::size_t base = b << 3;
    const std::size_t lim = lesser(8, n - base);
    for (std::size_t k = 0; k < lim; k++) {
      const std::uint32_t on = 0u - ((nb >> k) & 1u);
      const std::uint32_t fix = multiplier * (null_digit - std::uint32_t{values[base + k]});
      codes[base + k] = static_cast<C>(codes[base + k] + (fix & on));
    }
  }
}

}  // namespace VEILBOX_ISA
}  // namespace veilbox
