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

// How a leaf loop stores its 0/1 result r: SET out = r, AND out &= r, OR out
// |= r (a leaf folded straight into its AND / OR parent's mask).
enum Store : int { SET = 0, AND = 1, OR = 2 };

template <int S, class T>
inline T combined(const std::uint8_t* p, T r) {
  if (S == SET) return r;
  T old;
  std::memcpy(&old, p, sizeof old);
  return S == AND ? (old & r) : (old | r);
}

// Stores r (a byte, a word of 8 bytes or a vector of bytes) at p as S says.
template <int S, class T>
inline void put(std::uint8_t* p, T r) {
  const T w = combined<S>(p, r);
  std::memcpy(p, &w, sizeof w);
}

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

// out[i] (S) 1 where values[i] passes, else 0, for i < n.
template <int S, class V, class P>
inline void mask_rows(const V* v, std::size_t n, const P& pass, std::uint8_t* out) {
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const unsigned m0 = bits8(v + i, pass), m1 = bits8(v + i + 8, pass);
    const unsigned m2 = bits8(v + i + 16, pass), m3 = bits8(v + i + 24, pass);
    put<S>(out + i, load8(BYTES.expand[m0]));
    put<S>(out + i + 8, load8(BYTES.expand[m1]));
    put<S>(out + i + 16, load8(BYTES.expand[m2]));
    put<S>(out + i + 24, load8(BYTES.expand[m3]));
  }
  for (; i + 8 <= n; i += 8) put<S>(out + i, load8(BYTES.expand[bits8(v + i, pass)]));
  if (i < n) {
    // The last < 8 rows through the same code, from a zero-padded copy.
    V t[8] = {};
    for (std::size_t k = 0; k < n - i; k++) t[k] = v[i + k];
    const unsigned m = bits8(t, pass);
    for (std::size_t k = 0; k < n - i; k++) put<S>(out + i + k, static_cast<std::uint8_t>((m >> k) & 1));
  }
}

template <class V, int OP, int S>
void compare_rows(const void* values, std::size_t n, double c, std::uint8_t* out) {
  mask_rows<S>(static_cast<const V*>(values), n, Compare<OP>(c), out);
}

template <class V, int S>
void between_rows(const void* values, std::size_t n, double low, double high, std::uint8_t* out) {
  mask_rows<S>(static_cast<const V*>(values), n, Between(low, high), out);
}

// Rows searched together: their searches take the same steps (the step
// sizes depend on the list's length only), so their loads overlap.
constexpr std::size_t SEARCH_ROWS = 8;

// list: k values, strictly increasing, no NaN (the boundary checks). Past
// IN_SCAN_MAX, a branch-free lower bound per row: it lands on x's position if
// x is in the list, and every index stays in [0, k).
template <class V, int S>
void in_rows(const void* values, std::size_t n, const double* list, std::size_t k, std::uint8_t* out) {
  const V* v = static_cast<const V*>(values);
  if (k <= IN_SCAN_MAX) {
    mask_rows<S>(v, n, InScan(list, k), out);
    return;
  }
  for (std::size_t i = 0; i < n; i += SEARCH_ROWS) {
    const std::size_t m = lesser(SEARCH_ROWS, n - i);
    double x[SEARCH_ROWS] = {};
    std::size_t base[SEARCH_ROWS] = {};
    for (std::size_t r = 0; r < m; r++) x[r] = static_cast<double>(v[i + r]);
    for (std::size_t len = k; len > 1;) {
      const std::size_t half = len >> 1;
      for (std::size_t r = 0; r < SEARCH_ROWS; r++) base[r] += half & (std::size_t{0} - (list[base[r] + half] < x[r]));
      len -= half;
    }
    for (std::size_t r = 0; r < m; r++) {
      const std::size_t at = base[r] + (list[base[r]] < x[r]);
      const std::size_t j = at < k ? at : k - 1;
      put<S>(out + i + r, static_cast<std::uint8_t>((at < k) & (list[j] == x[r])));
    }
  }
}

// Lookups through a table that holds one value (0 or 1) but for a few
// entries (a category compared with one or a few dictionary entries, or with
// all but a few: the usual WHERE) match each code against those entries, a
// vector of codes at a time, instead of reading the table per row:
//   out = (code inside the table ? background : 0), then, for each exception
//   k, out = (code == k ? table[k] : out)
// which is table[code] for every code, 0 past the table included.
constexpr std::size_t LOOKUP_EXCEPTIONS = 8;

// Vectors of codes: 16 bytes on the baseline, 32 with AVX2.
template <class C>
struct CodeVec {
  static constexpr std::size_t BYTES = L * sizeof(double);
  static constexpr std::size_t N = BYTES / sizeof(C);
  typedef C vec __attribute__((vector_size(BYTES)));
  typedef std::uint8_t bytes __attribute__((vector_size(N)));
};

template <class C>
struct Exceptions {
  C keys[LOOKUP_EXCEPTIONS];
  std::uint8_t vals[LOOKUP_EXCEPTIONS];
  std::size_t count;
  std::uint8_t background;
};

// The entries of table[0 .. reach) that differ from `background`, if there
// are at most LOOKUP_EXCEPTIONS of them. A word of 8 background bytes is
// skipped at once.
template <class C>
inline bool exceptions_of(const std::uint8_t* table, std::size_t reach, std::uint8_t background, Exceptions<C>& e) {
  const std::uint64_t word = 0x0101010101010101ull * background;
  e.count = 0;
  e.background = background;
  for (std::size_t k = 0; k < reach; k++) {
    if ((k & 7) == 0 && k + 8 <= reach && load8(table + k) == word) {
      k += 7;
      continue;
    }
    const std::uint8_t v = table[k];
    if (v == background) continue;
    if (e.count == LOOKUP_EXCEPTIONS) return false;
    e.keys[e.count] = static_cast<C>(k);
    e.vals[e.count] = v;
    e.count++;
  }
  return true;
}

// `inside`: codes below it are inside the table; 0 when every code is.
template <int S, class C>
inline void lookup_exceptions(const C* codes, std::size_t n, const Exceptions<C>& e, C inside, std::uint8_t* out) {
  typedef typename CodeVec<C>::vec cvec;
  typedef typename CodeVec<C>::bytes bvec;
  constexpr std::size_t N = CodeVec<C>::N;
  const cvec bg = cvec{} + static_cast<C>(e.background);
  const cvec lim = cvec{} + inside;
  std::size_t i = 0;
  for (; i + N <= n; i += N) {
    cvec c;
    std::memcpy(&c, codes + i, sizeof c);
    cvec r = inside == 0 ? bg : ((cvec)(c < lim) & bg);
    for (std::size_t j = 0; j < e.count; j++) {
      const cvec hit = (cvec)(c == (cvec{} + e.keys[j]));
      r = (r & ~hit) | (hit & static_cast<C>(e.vals[j]));
    }
    put<S>(out + i, __builtin_convertvector(r, bvec));
  }
  for (; i < n; i++) {
    const C c = codes[i];
    std::uint8_t r = inside == 0 || c < inside ? e.background : 0;
    for (std::size_t j = 0; j < e.count; j++) r = c == e.keys[j] ? e.vals[j] : r;
    put<S>(out + i, r);
  }
}

// out[i] (S) table[codes[i]], or 0 past the table.
template <class C, int S>
void lookup_rows(const void* codes_v, std::size_t n, const std::uint8_t* table, std::size_t len, std::uint8_t* out) {
  const C* codes = static_cast<const C*>(codes_v);
  // How many table entries a code can reach.
  constexpr std::size_t span = sizeof(C) < sizeof(std::size_t) ? std::size_t{1} << (8 * sizeof(C)) : ~std::size_t{0};
  const std::size_t reach = len < span ? len : span;
  if (reach > 0 && reach <= 8 * n) {
    // Worth a scan of the table (it costs less than the rows): a background of 0 or 1 and few exceptions.
    Exceptions<C> e;
    if (exceptions_of(table, reach, 0, e) || exceptions_of(table, reach, 1, e)) {
      lookup_exceptions<S>(codes, n, e, reach == span ? C{0} : static_cast<C>(reach), out);
      return;
    }
  }
  if (sizeof(C) < 4 && len >= span) {
    // Every value the code type holds is inside the table.
    for (std::size_t i = 0; i < n; i++) put<S>(out + i, table[codes[i]]);
    return;
  }
  if (len == 0) {
    for (std::size_t i = 0; i < n; i++) put<S>(out + i, std::uint8_t{0});
    return;
  }
  for (std::size_t i = 0; i < n; i++) {
    const std::size_t c = __atomic_load_n(codes + i, __ATOMIC_RELAXED);
    const bool inside = c < len;
    put<S>(out + i, static_cast<std::uint8_t>(table[inside ? c : 0] & (inside ? 0xff : 0)));
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
// or null_digit at a null row (nulls may be nullptr), modulo 2^32 and then the
// code type's range. The TypeScript loop adds multiplier * values[i] to every
// row and then multiplier * (null_digit - values[i]) to the null rows, exact
// integers stored modulo the type's range: the same residue. Null rows are
// picked a block at a time from the bitmap spread into bytes, so that the
// row loop has no branch.
template <class C, class V>
void add_digits(void* codes_v, const void* values_v, std::size_t n, std::uint32_t multiplier, bool assign,
                const std::uint8_t* nulls, std::uint32_t null_digit) {
  C* codes = static_cast<C*>(codes_v);
  const V* values = static_cast<const V*>(values_v);
  const std::uint32_t keep = assign ? 0u : ~0u;
  if (nulls == nullptr) {
    for (std::size_t i = 0; i < n; i++) {
      codes[i] = static_cast<C>((codes[i] & keep) + multiplier * std::uint32_t{values[i]});
    }
    return;
  }
  std::uint8_t is_null[BLOCK];
  for (std::size_t start = 0; start < n; start += BLOCK) {
    const std::size_t len = lesser(BLOCK, n - start);
    const std::uint8_t* nb = nulls + (start >> 3);
    for (std::size_t b = 0; b < (len + 7) >> 3; b++) std::memcpy(is_null + 8 * b, BYTES.expand[nb[b]], 8);
    C* c = codes + start;
    const V* v = values + start;
    for (std::size_t j = 0; j < len; j++) {
      const std::uint32_t on = 0u - std::uint32_t{is_null[j]};  // is_null bytes are 0 or 1
      const std::uint32_t digit = (std::uint32_t{v[j]} & ~on) | (null_digit & on);
      c[j] = static_cast<C>((c[j] & keep) + multiplier * digit);
    }
  }
}

}  // namespace VEILBOX_ISA
}  // namespace veilbox
