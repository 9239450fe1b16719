// The exact aggregate kernels: the same contract as the TypeScript kernel
// (src/engine/exec/kernel-ts.ts, types.ts), bit for bit.
//
// This header is compiled once per instruction-set variant (simd_base.cc:
// the compiler's baseline, SSE2 on x86-64; simd_avx2.cc: -mavx2), each time
// inside its own namespace veilbox::VEILBOX_ISA, and addon.cc picks a variant
// at run time. So that no code built for AVX2 can leak into the baseline
// variant through the linker's merging of inline functions, nothing here uses
// a standard-library template or allocates: the caller passes every buffer
// (api.h, Workspace), and every helper lives in the variant's namespace.
//
// Exactness (src/engine/exec/quantum.ts has the proof). A non-null value x is
// clamped to c = min(max(x, lower), upper), spelled as the definitions of
// std::max and std::min (max(a, b) = a < b ? b : a, min(a, b) = b < a ? b : a,
// x first), so that a NaN x stays NaN; the compiler emits maxpd/minpd with the
// operand order that keeps that. Then q = floor(c * scale + 0.5): two separately
// rounded binary64 operations (the build passes -ffp-contract=off, so no fused
// multiply-add skips the first rounding). A square is floor(q * q * 2^-31 +
// 0.5) with q * q a double product. Sums are exact int64 additions: |q| <=
// 2^31 and rows < 2^32 keep every total below 2^63, so any order of addition
// (lanes, vectors) gives the same integers.
//
// floor() without SSE4.1. Baseline x86-64 has no vector floor instruction and
// its scalar floor is a libm call. For |t| < 2^51, y = t + 1.5 * 2^52 lands in
// [2^52, 2^53), where the doubles are exactly the integers, so r = y - 1.5 *
// 2^52 is t rounded to the nearest integer (one correctly rounded addition; the
// subtraction is exact) and floor(t) = r - (r > t). The bits of y minus the
// bits of 1.5 * 2^52 are r as an int64, since both lie in one binade where
// consecutive integers have consecutive bit patterns. Every t here is at most
// 2^31 + 0.5 in magnitude (a quantized value, a square unit, or a histogram
// position <= bins <= 2^24). For a NaN t, r > t is false and the bits are
// garbage; such rows are masked to zero (unselected or null) or refused (the
// nan flag), never used, and a NaN bin is capped into range.
//
// Branch-free masks blend, never multiply: an unselected or null row may hold
// NaN, and NaN * 0 is NaN. A row's contribution is ANDed with an all-ones or
// all-zeros int64 (a vector comparison yields exactly those).
//
// Memory safety does not rest on the JavaScript validation alone: group codes
// are copied once per block into private scratch, each clamped to the spare
// slot when out of range (which raises the flag behind CODE_OUT_OF_RANGE), and
// histogram bins are capped to [0, bins - 1] before they index anything.
#ifndef VEILBOX_ISA
#error "define VEILBOX_ISA (the variant's namespace) before including simd.h"
#endif

#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "api.h"

namespace veilbox {
namespace VEILBOX_ISA {

// Vectors in GCC/Clang vector extensions: 16 bytes on the baseline (one SSE2
// register on x86-64, NEON on arm64, scalar code elsewhere), 32 bytes with
// AVX2. Explicit, because the auto-vectorizer gives up on this arithmetic
// under SSE2 (it will not turn a double comparison into an int64 mask), and
// because 32-byte vectors on an SSE2 target get their comparisons scalarized.
#if defined(__AVX2__)
constexpr std::size_t L = 4;
typedef double fvec __attribute__((vector_size(32)));
typedef std::int64_t ivec __attribute__((vector_size(32)));
typedef std::int32_t i32vec __attribute__((vector_size(16)));
#else
constexpr std::size_t L = 2;
typedef double fvec __attribute__((vector_size(16)));
typedef std::int64_t ivec __attribute__((vector_size(16)));
typedef std::int32_t i32vec __attribute__((vector_size(8)));
#endif

// Rows per loop step: two vectors, for instruction-level parallelism.
constexpr std::size_t STEP = 2 * L;

constexpr double MAGIC = 6755399441055744.0;     // 1.5 * 2^52
constexpr double SQ_SCALE = 1.0 / 2147483648.0;  // 2^-31, exact

inline std::int64_t bits_of(double d) {
  std::int64_t b;
  std::memcpy(&b, &d, sizeof b);
  return b;
}

inline std::size_t lesser(std::size_t a, std::size_t b) { return b < a ? b : a; }

inline fvec loadv(const double* p) {
  fvec x;
  std::memcpy(&x, p, sizeof x);
  return x;
}

inline fvec loadv(const std::int32_t* p) {
  i32vec i;
  std::memcpy(&i, p, sizeof i);
  return __builtin_convertvector(i, fvec);
}

inline void storev(std::int64_t* p, ivec v) { std::memcpy(p, &v, sizeof v); }

inline fvec fsplat(double d) { return fvec{} + d; }
inline ivec isplat(std::int64_t i) { return ivec{} + i; }

inline std::int64_t hsum(ivec v) {
  std::int64_t t = 0;
  for (std::size_t k = 0; k < L; k++) t += v[k];
  return t;
}

inline std::int64_t hor(ivec v) {
  std::int64_t t = 0;
  for (std::size_t k = 0; k < L; k++) t |= v[k];
  return t;
}

// The STEP mask bytes at m as two int64 masks (rows 0..L-1, L..2L-1): -1 where
// the byte is non-zero, else 0. The generic vector conversion compiles to a
// scalar sign-extension per lane on x86, hence the intrinsics.
inline void keepv(const std::uint8_t* m, ivec& a, ivec& b) {
#if defined(__AVX2__)
  long long w;
  std::memcpy(&w, m, sizeof w);
  const __m128i nz = _mm_xor_si128(_mm_cmpeq_epi8(_mm_cvtsi64_si128(w), _mm_setzero_si128()), _mm_set1_epi32(-1));
  a = (ivec)_mm256_cvtepi8_epi64(nz);
  b = (ivec)_mm256_cvtepi8_epi64(_mm_srli_si128(nz, 4));
#elif defined(__SSE2__)
  std::int32_t w;
  std::memcpy(&w, m, sizeof w);
  const __m128i nz = _mm_xor_si128(_mm_cmpeq_epi8(_mm_cvtsi32_si128(w), _mm_setzero_si128()), _mm_set1_epi32(-1));
  const __m128i x16 = _mm_unpacklo_epi8(nz, nz);
  const __m128i x32 = _mm_unpacklo_epi16(x16, x16);
  a = (ivec)_mm_unpacklo_epi32(x32, x32);
  b = (ivec)_mm_unpackhi_epi32(x32, x32);
#else
  for (std::size_t k = 0; k < L; k++) {
    a[k] = -static_cast<std::int64_t>(m[k] != 0);
    b[k] = -static_cast<std::int64_t>(m[L + k] != 0);
  }
#endif
}

// q and the square unit s of L rows, exactly as quantum.ts (steps 1-4).
struct Quantizer {
  fvec lo, hi, scale;
  bool filtered;
  fvec gt, ge, lt, le;

  explicit Quantizer(const MomentsParams& p)
      : lo(fsplat(p.lower)), hi(fsplat(p.upper)), scale(fsplat(p.scale)), filtered(p.filtered), gt(fsplat(p.gt)),
        ge(fsplat(p.ge)), lt(fsplat(p.lt)), le(fsplat(p.le)) {}

  // The fused comparison's rows (-1) among the kept ones: keep & the comparisons, branch-free per row.
  void filter(fvec xa, fvec xb, ivec& ka, ivec& kb) const {
    if (!filtered) return;
    ka &= (ivec)(xa > gt) & (ivec)(xa >= ge) & (ivec)(xa < lt) & (ivec)(xa <= le);
    kb &= (ivec)(xb > gt) & (ivec)(xb >= ge) & (ivec)(xb < lt) & (ivec)(xb <= le);
  }

  template <bool SQ>
  void run(fvec x, ivec& q, ivec& s) const {
    const fvec m = x < lo ? lo : x;  // std::max(x, lower)
    const fvec c = hi < m ? hi : m;  // std::min(that, upper)
    const fvec t = c * scale + 0.5;
    const fvec y = t + MAGIC;
    const fvec r = y - MAGIC;
    const ivec up = (ivec)(r > t);  // -1 where the nearest integer is above t: floor is one less
    q = ((ivec)y - bits_of(MAGIC)) + up;
    if (SQ) {
      const fvec qd = r - (fvec)(isplat(bits_of(1.0)) & up);  // q as a double
      const fvec u = qd * qd * SQ_SCALE + 0.5;
      const fvec yu = u + MAGIC;
      const fvec ru = yu - MAGIC;
      s = ((ivec)yu - bits_of(MAGIC)) + (ivec)(ru > u);
    } else {
      s = ivec{};
    }
  }
};

// Copies a short tail (< STEP rows) into zero-padded local arrays, so that the
// tail runs through the same vector code as every other row: padding rows get
// mask byte 0 and value 0 (not NaN), hence contribute nothing.
template <class V>
struct Tail {
  V v[STEP];
  std::uint8_t m[STEP];
  Tail(const V* values, const std::uint8_t* mask, std::size_t n) : v(), m() {
    for (std::size_t k = 0; k < n; k++) {
      v[k] = values[k];
      m[k] = mask == nullptr ? 1 : mask[k];
    }
  }
};

// ---------------------------------------------------------------------------
// Ungrouped moments: reduced on the fly.

struct FlatAcc {
  ivec count_a{}, count_b{}, sum_a{}, sum_b{}, sq_a{}, sq_b{}, nan_a{}, nan_b{};
};

template <class V, bool MASKED, bool SQ>
inline void flat_step(const V* v, const std::uint8_t* m, const Quantizer& z, FlatAcc& acc) {
  const fvec xa = loadv(v), xb = loadv(v + L);
  ivec ka = isplat(-1), kb = ka;
  if (MASKED) keepv(m, ka, kb);
  z.filter(xa, xb, ka, kb);
  ivec qa, qb, sa, sb;
  z.run<SQ>(xa, qa, sa);
  z.run<SQ>(xb, qb, sb);
  acc.sum_a += qa & ka;
  acc.sum_b += qb & kb;
  if (SQ) {
    acc.sq_a += sa & ka;
    acc.sq_b += sb & kb;
  }
  acc.count_a -= ka;
  acc.count_b -= kb;
  acc.nan_a |= (ivec)(xa != xa) & ka;
  acc.nan_b |= (ivec)(xb != xb) & kb;
}

// Adds a block's selected non-null count, sum and squares; returns non-zero if a kept row is NaN.
template <class V, bool MASKED, bool SQ>
inline std::int64_t moments_flat(const V* v, const std::uint8_t* mask, std::size_t n, const Quantizer& z,
                                 std::int64_t& count, std::int64_t& sum, std::int64_t& sumsq) {
  FlatAcc acc;
  std::size_t j = 0;
  for (; j + STEP <= n; j += STEP) flat_step<V, MASKED, SQ>(v + j, MASKED ? mask + j : nullptr, z, acc);
  if (j < n) {
    const Tail<V> tail(v + j, MASKED ? mask + j : nullptr, n - j);
    flat_step<V, true, SQ>(tail.v, tail.m, z, acc);
  }
  count += hsum(acc.count_a + acc.count_b);
  sum += hsum(acc.sum_a + acc.sum_b);
  if (SQ) sumsq += hsum(acc.sq_a + acc.sq_b);
  return hor(acc.nan_a | acc.nan_b);
}

// ---------------------------------------------------------------------------
// Grouped moments.
//
// Phase 1 of a block (vectorized) writes, per row, the packed contribution
// p = q + k * 2^47 (q the quantized value, k = 1 if the row takes part, both
// zero otherwise) and the square unit s; phase 2 scatters them by group code.
// Packing the count with the sum halves the read-modify-writes of the scatter,
// which is what bounds a grouped aggregate. It is exact while the low part of
// a packed accumulator stays within its 47 bits: over PACK_ROWS = 2^14 rows,
// |sum of q| <= 2^14 * 2^31 = 2^45 < 2^46 and the count <= 2^14, so P = count
// * 2^47 + sum fits an int64 (< 2^62) and decodes uniquely as sum = P
// sign-extended from bit 46, count = (P - sum) / 2^47.
//
// Up to LANE_GROUPS groups, LANES copies of packed accumulators take the rows
// in turn and are flushed into int64 totals every PACK_ROWS rows. Past it, one
// unpacked {count, sum, squares} cell per group takes the decoded values
// directly (flushing would cost a pass over every group each time).

constexpr int PACK_SHIFT = 47;
constexpr std::int64_t PACK_ONE = std::int64_t{1} << PACK_SHIFT;
constexpr std::size_t PACK_ROWS = std::size_t{1} << 14;
static_assert(PACK_ROWS % BLOCK == 0, "a packing window is whole blocks");

inline std::int64_t unpack_sum(std::int64_t p) {
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(p) << (64 - PACK_SHIFT)) >> (64 - PACK_SHIFT);
}

inline std::int64_t unpack_count(std::int64_t p, std::int64_t sum) {
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(p - sum) >> PACK_SHIFT);
}

template <class V, bool MASKED, bool SQ>
inline void pack_step(const V* v, const std::uint8_t* m, const Quantizer& z, std::int64_t* p, std::int64_t* s,
                      ivec& nan_a, ivec& nan_b) {
  const fvec xa = loadv(v), xb = loadv(v + L);
  ivec ka = isplat(-1), kb = ka;
  if (MASKED) keepv(m, ka, kb);
  z.filter(xa, xb, ka, kb);
  ivec qa, qb, sa, sb;
  z.run<SQ>(xa, qa, sa);
  z.run<SQ>(xb, qb, sb);
  storev(p, (qa + PACK_ONE) & ka);
  storev(p + L, (qb + PACK_ONE) & kb);
  if (SQ) {
    storev(s, sa & ka);
    storev(s + L, sb & kb);
  }
  nan_a |= (ivec)(xa != xa) & ka;
  nan_b |= (ivec)(xb != xb) & kb;
}

// Phase 1: packed contributions and square units of one block. Returns
// non-zero when a kept row holds NaN.
template <class V, bool MASKED, bool SQ>
inline std::int64_t pack_block(const V* v, const std::uint8_t* mask, std::size_t n, const Quantizer& z,
                               std::int64_t* p, std::int64_t* s) {
  ivec nan_a{}, nan_b{};
  std::size_t j = 0;
  for (; j + STEP <= n; j += STEP) pack_step<V, MASKED, SQ>(v + j, MASKED ? mask + j : nullptr, z, p + j, s + j, nan_a, nan_b);
  if (j < n) {
    const Tail<V> tail(v + j, MASKED ? mask + j : nullptr, n - j);
    std::int64_t tp[STEP], ts[STEP];
    pack_step<V, true, SQ>(tail.v, tail.m, z, tp, ts, nan_a, nan_b);
    for (std::size_t k = 0; k < n - j; k++) {
      p[j + k] = tp[k];
      if (SQ) s[j + k] = ts[k];
    }
  }
  return hor(nan_a | nan_b);
}

// Copies one block's group codes into private scratch, each clamped to
// `groups` (the spare slot) when out of range; returns non-zero if any was.
// Each shared code is read once here; the compiler barrier after the copy
// stops the compiler from re-reading the shared array in place of the private
// copy, so a code changed by another thread meanwhile (the column store is
// shared memory) cannot steer a write out of bounds.
template <class C>
inline std::uint32_t load_groups(const C* codes, std::size_t n, std::uint32_t groups, std::uint32_t* g) {
  std::uint32_t bad = 0;
  for (std::size_t j = 0; j < n; j++) {
    const std::uint32_t c = codes[j];
    const std::uint32_t over = c >= groups;
    bad |= over;
    g[j] = over ? groups : c;
  }
  asm volatile("" ::: "memory");
  return bad;
}

template <bool SQ>
inline void scatter_laned(const std::uint32_t* g, const std::int64_t* p, const std::int64_t* s, std::size_t n,
                          std::int64_t* lanes, std::int64_t* sq_lanes, std::size_t stride) {
  std::int64_t* a0 = lanes;
  std::int64_t* a1 = a0 + stride;
  std::int64_t* a2 = a1 + stride;
  std::int64_t* a3 = a2 + stride;
  std::int64_t* q0 = sq_lanes;
  std::int64_t* q1 = SQ ? q0 + stride : q0;
  std::int64_t* q2 = SQ ? q1 + stride : q0;
  std::int64_t* q3 = SQ ? q2 + stride : q0;
  static_assert(LANES == 4, "the scatter is unrolled for four lanes");
  std::size_t j = 0;
  for (; j + 4 <= n; j += 4) {
    const std::uint32_t g0 = g[j], g1 = g[j + 1], g2 = g[j + 2], g3 = g[j + 3];
    a0[g0] += p[j];
    a1[g1] += p[j + 1];
    a2[g2] += p[j + 2];
    a3[g3] += p[j + 3];
    if (SQ) {
      q0[g0] += s[j];
      q1[g1] += s[j + 1];
      q2[g2] += s[j + 2];
      q3[g3] += s[j + 3];
    }
  }
  for (; j < n; j++) {
    a0[g[j]] += p[j];
    if (SQ) q0[g[j]] += s[j];
  }
}

template <bool SQ>
inline void scatter_cells(const std::uint32_t* g, const std::int64_t* p, const std::int64_t* s, std::size_t n,
                          std::int64_t* cells) {
  for (std::size_t j = 0; j < n; j++) {
    std::int64_t* cell = cells + std::size_t{g[j]} * 3;
    const std::int64_t sum = unpack_sum(p[j]);
    cell[0] += unpack_count(p[j], sum);
    cell[1] += sum;
    if (SQ) cell[2] += s[j];
  }
}

// Moves packed lanes into the {count, sum, squares} cells and zeroes them.
template <bool SQ>
inline void flush_lanes(std::int64_t* lanes, std::int64_t* sq_lanes, std::size_t stride, std::int64_t* cells) {
  for (std::size_t k = 0; k < LANES; k++) {
    for (std::size_t g = 0; g < stride; g++) {
      std::int64_t& a = lanes[k * stride + g];
      const std::int64_t sum = unpack_sum(a);
      cells[g * 3] += unpack_count(a, sum);
      cells[g * 3 + 1] += sum;
      a = 0;
      if (SQ) {
        cells[g * 3 + 2] += sq_lanes[k * stride + g];
        sq_lanes[k * stride + g] = 0;
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Masks.

// 0x01 in byte k of KEEP[nb] when bit k of null byte nb is clear (row not null).
struct KeepTable {
  std::uint8_t bytes[256][8];
  constexpr KeepTable() : bytes() {
    for (int nb = 0; nb < 256; nb++)
      for (int k = 0; k < 8; k++) bytes[nb][k] = static_cast<std::uint8_t>(((nb >> k) & 1) ^ 1);
  }
};
constexpr KeepTable KEEP{};

// mask[j] = 1 when row start + j is not null and (no selection or its byte is
// non-zero), else 0. start is a multiple of 8; mask has room for n rounded up to 8.
inline void build_mask(std::uint8_t* mask, const std::uint8_t* sel, const std::uint8_t* nulls, std::size_t start,
                       std::size_t n) {
  const std::uint8_t* nb = nulls + (start >> 3);
  const std::size_t bytes = (n + 7) >> 3;
  for (std::size_t k = 0; k < bytes; k++) std::memcpy(mask + 8 * k, KEEP.bytes[nb[k]], 8);
  if (sel != nullptr) {
    const std::uint8_t* s = sel + start;
    for (std::size_t j = 0; j < n; j++) mask[j] = mask[j] & static_cast<std::uint8_t>(s[j] != 0);
  }
}

// A block's mask: nullptr (every row), the selection itself, or the scratch
// built from the selection and the null bitmap.
inline const std::uint8_t* block_mask(const PassArgs& pass, std::uint8_t* scratch, std::size_t start, std::size_t n) {
  if (pass.nulls != nullptr) {
    build_mask(scratch, pass.sel, pass.nulls, start, n);
    return scratch;
  }
  return pass.sel == nullptr ? nullptr : pass.sel + start;
}

// k[j] = 1 where the row takes part (mask byte non-zero, or no mask), else 0.
inline void keep_block(const std::uint8_t* mask, std::size_t n, std::uint8_t* k) {
  if (mask == nullptr) {
    std::memset(k, 1, n);
  } else {
    for (std::size_t j = 0; j < n; j++) k[j] = mask[j] != 0;
  }
}

inline std::int64_t count_flat(const std::uint8_t* mask, std::size_t n) {
  std::int64_t k = 0;
  for (std::size_t j = 0; j < n; j++) k += mask[j] != 0;
  return k;
}

// ---------------------------------------------------------------------------
// Histogram bins: bin = min(bins - 1, floor((c - lo) / width * bins)) in
// binary64, in that order, c the clamped value; capped into [0, bins - 1] in
// registers before it is stored (a NaN row lands in the last bin, and is
// refused through the returned flag if it is kept).

struct Binner {
  fvec lo, hi, width, bins, last;
  Binner(double lower, double upper, std::uint32_t n)
      : lo(fsplat(lower)), hi(fsplat(upper)), width(fsplat(upper - lower)), bins(fsplat(static_cast<double>(n))),
        last(fsplat(static_cast<double>(n) - 1.0)) {}

  i32vec run(fvec x) const {
    const fvec m = x < lo ? lo : x;
    const fvec c = hi < m ? hi : m;
    const fvec d = ((c - lo) / width) * bins;
    const fvec y = d + MAGIC;
    const fvec r = y - MAGIC;
    const fvec f = r - (fvec)(isplat(bits_of(1.0)) & (ivec)(r > d));
    const fvec capped = f < last ? f : last;  // NaN -> last
    const fvec b = capped > 0.0 ? capped : fvec{};
    return __builtin_convertvector(b, i32vec);
  }
};

template <class V, bool MASKED>
inline void bin_step(const V* v, const std::uint8_t* m, const Binner& z, std::uint32_t* b, ivec& nan_a, ivec& nan_b) {
  const fvec xa = loadv(v), xb = loadv(v + L);
  ivec ka = isplat(-1), kb = ka;
  if (MASKED) keepv(m, ka, kb);
  const i32vec ba = z.run(xa), bb = z.run(xb);
  std::memcpy(b, &ba, sizeof ba);
  std::memcpy(b + L, &bb, sizeof bb);
  nan_a |= (ivec)(xa != xa) & ka;
  nan_b |= (ivec)(xb != xb) & kb;
}

template <class V, bool MASKED>
inline std::int64_t bin_block(const V* v, const std::uint8_t* mask, std::size_t n, const Binner& z, std::uint32_t* b) {
  ivec nan_a{}, nan_b{};
  std::size_t j = 0;
  for (; j + STEP <= n; j += STEP) bin_step<V, MASKED>(v + j, MASKED ? mask + j : nullptr, z, b + j, nan_a, nan_b);
  if (j < n) {
    const Tail<V> tail(v + j, MASKED ? mask + j : nullptr, n - j);
    std::uint32_t tb[STEP];
    bin_step<V, true>(tail.v, tail.m, z, tb, nan_a, nan_b);
    for (std::size_t k = 0; k < n - j; k++) b[j + k] = tb[k];
  }
  return hor(nan_a | nan_b);
}

// ---------------------------------------------------------------------------
// Grouped moments over a few groups (AVX2, one-byte codes, no squares): the
// common GROUP BY of a small category. One packed accumulator vector per group
// stays in a register; each row's packed contribution is added to every
// group's vector under a mask of code == group, so nothing is stored or
// scattered per row and no code ever indexes memory (a code >= groups matches
// no group and raises the flag behind CODE_OUT_OF_RANGE, as load_groups does).
// The packing bound is the same as the lanes': each int64 lane takes at most
// PACK_ROWS rows between flushes.
#if defined(__AVX2__)
constexpr std::uint32_t FEW_GROUPS = 8;

template <class V, bool MASKED, int G>
__attribute__((always_inline)) inline void few_step(const V* v, const std::uint8_t* m, const std::uint8_t* c,
                                                    const Quantizer& z, ivec (&acc)[G], ivec& nan, ivec& bad) {
  const fvec xa = loadv(v), xb = loadv(v + L);
  ivec ka = isplat(-1), kb = ka;
  if (MASKED) keepv(m, ka, kb);
  z.filter(xa, xb, ka, kb);
  ivec qa, qb, sa, sb;
  z.run<false>(xa, qa, sa);
  z.run<false>(xb, qb, sb);
  const ivec pa = (qa + PACK_ONE) & ka, pb = (qb + PACK_ONE) & kb;
  long long w;
  std::memcpy(&w, c, sizeof w);
  const __m128i c8 = _mm_cvtsi64_si128(w);
  const ivec ca = (ivec)_mm256_cvtepu8_epi64(c8);
  const ivec cb = (ivec)_mm256_cvtepu8_epi64(_mm_srli_si128(c8, 4));
  for (int g = 0; g < G; g++) {
    const ivec gv = isplat(g);
    acc[g] += (pa & (ivec)(ca == gv)) + (pb & (ivec)(cb == gv));
  }
  const ivec limit = isplat(G - 1);
  bad |= (ivec)(ca > limit) | (ivec)(cb > limit);
  nan |= ((ivec)(xa != xa) & ka) | ((ivec)(xb != xb) & kb);
}

template <class V, bool MASKED, int G>
inline void few_block(const V* v, const std::uint8_t* mask, const std::uint8_t* codes, std::size_t n,
                      const Quantizer& z, ivec (&acc)[G], ivec& nan, ivec& bad) {
  std::size_t j = 0;
  for (; j + STEP <= n; j += STEP) few_step<V, MASKED, G>(v + j, MASKED ? mask + j : nullptr, codes + j, z, acc, nan, bad);
  if (j < n) {
    const Tail<V> tail(v + j, MASKED ? mask + j : nullptr, n - j);
    std::uint8_t tc[STEP] = {};
    for (std::size_t k = 0; k < n - j; k++) tc[k] = codes[j + k];
    few_step<V, true, G>(tail.v, tail.m, tc, z, acc, nan, bad);
  }
}

template <int G>
inline void few_flush(ivec (&acc)[G], std::int64_t* cells) {
  for (int g = 0; g < G; g++) {
    for (std::size_t k = 0; k < L; k++) {
      const std::int64_t sum = unpack_sum(acc[g][k]);
      cells[g * 3] += unpack_count(acc[g][k], sum);
      cells[g * 3 + 1] += sum;
    }
    acc[g] = ivec{};
  }
}

template <class V, int G>
int moments_few(const PassArgs& pass, const V* v, const std::uint8_t* codes, const Quantizer& z,
                const MomentsOut& out, const Workspace& ws) {
  ivec acc[G];
  for (int g = 0; g < G; g++) acc[g] = ivec{};
  ivec nan{}, bad{};
  for (std::size_t start = 0; start < pass.rows; start += BLOCK) {
    const std::size_t n = lesser(BLOCK, pass.rows - start);
    const std::uint8_t* mask = block_mask(pass, ws.mask, start, n);
    if (mask == nullptr) few_block<V, false, G>(v + start, nullptr, codes + start, n, z, acc, nan, bad);
    else few_block<V, true, G>(v + start, mask, codes + start, n, z, acc, nan, bad);
    if ((start + n) % PACK_ROWS == 0) few_flush<G>(acc, ws.cells);
  }
  few_flush<G>(acc, ws.cells);
  if (hor(bad) != 0) return CODE_OUT_OF_RANGE;
  if (hor(nan) != 0) return NAN_SELECTED;
  for (int g = 0; g < G; g++) {
    out.non_null[g] += static_cast<double>(ws.cells[g * 3]);
    out.sum[g] += ws.cells[g * 3 + 1];
  }
  return OK;
}

template <class V>
int moments_few_any(const PassArgs& pass, const V* v, const std::uint8_t* codes, const Quantizer& z,
                    const MomentsOut& out, const Workspace& ws) {
  switch (pass.groups) {
    case 1: return moments_few<V, 1>(pass, v, codes, z, out, ws);
    case 2: return moments_few<V, 2>(pass, v, codes, z, out, ws);
    case 3: return moments_few<V, 3>(pass, v, codes, z, out, ws);
    case 4: return moments_few<V, 4>(pass, v, codes, z, out, ws);
    case 5: return moments_few<V, 5>(pass, v, codes, z, out, ws);
    case 6: return moments_few<V, 6>(pass, v, codes, z, out, ws);
    case 7: return moments_few<V, 7>(pass, v, codes, z, out, ws);
    default: return moments_few<V, 8>(pass, v, codes, z, out, ws);
  }
}
#endif

// ---------------------------------------------------------------------------
// Passes: one measure over all rows, block by block. Every pass adds its
// results to its outputs (the caller zeroes them), so that consecutive row
// ranges of one request can be summed into the same outputs
// (src/engine/exec/chunked.ts): int64 totals are exact in any order, and the
// counts stay integers below 2^53 (rows < 2^32).

template <class V, class C, bool SQ>
int moments_pass(const PassArgs& pass, const void* values, const MomentsParams& params, const MomentsOut& out,
                 const Workspace& ws) {
  const V* v = static_cast<const V*>(values);
  const C* codes = static_cast<const C*>(pass.codes);
  const Quantizer z(params);
  std::int64_t nan = 0;
  if (codes == nullptr) {
    std::int64_t count = 0, sum = 0, sumsq = 0;
    for (std::size_t start = 0; start < pass.rows; start += BLOCK) {
      const std::size_t n = lesser(BLOCK, pass.rows - start);
      const std::uint8_t* mask = block_mask(pass, ws.mask, start, n);
      nan |= mask == nullptr ? moments_flat<V, false, SQ>(v + start, nullptr, n, z, count, sum, sumsq)
                             : moments_flat<V, true, SQ>(v + start, mask, n, z, count, sum, sumsq);
    }
    if (nan != 0) return NAN_SELECTED;
    out.non_null[0] += static_cast<double>(count);
    out.sum[0] += sum;
    if (SQ) out.sum_sq[0] += sumsq;
    return OK;
  }
#if defined(__AVX2__)
  if constexpr (!SQ && sizeof(C) == 1) {
    if (pass.groups <= FEW_GROUPS)
      return moments_few_any<V>(pass, v, reinterpret_cast<const std::uint8_t*>(codes), z, out, ws);
  }
#endif
  const std::size_t stride = std::size_t{pass.groups} + 1;
  const bool laned = pass.groups <= LANE_GROUPS;
  std::uint32_t bad = 0;
  for (std::size_t start = 0; start < pass.rows; start += BLOCK) {
    const std::size_t n = lesser(BLOCK, pass.rows - start);
    const std::uint8_t* mask = block_mask(pass, ws.mask, start, n);
    nan |= mask == nullptr ? pack_block<V, false, SQ>(v + start, nullptr, n, z, ws.packed, ws.squares)
                           : pack_block<V, true, SQ>(v + start, mask, n, z, ws.packed, ws.squares);
    bad |= load_groups(codes + start, n, pass.groups, ws.group);
    if (laned) {
      scatter_laned<SQ>(ws.group, ws.packed, ws.squares, n, ws.lanes, ws.sq_lanes, stride);
      if ((start + n) % PACK_ROWS == 0) flush_lanes<SQ>(ws.lanes, ws.sq_lanes, stride, ws.cells);
    } else {
      scatter_cells<SQ>(ws.group, ws.packed, ws.squares, n, ws.cells);
    }
  }
  if (laned) flush_lanes<SQ>(ws.lanes, ws.sq_lanes, stride, ws.cells);
  if (bad != 0) return CODE_OUT_OF_RANGE;
  if (nan != 0) return NAN_SELECTED;
  for (std::size_t g = 0; g < pass.groups; g++) {
    out.non_null[g] += static_cast<double>(ws.cells[g * 3]);
    out.sum[g] += ws.cells[g * 3 + 1];
    if (SQ) out.sum_sq[g] += ws.cells[g * 3 + 2];
  }
  return OK;
}

template <class V, class C>
int histogram_pass(const PassArgs& pass, const void* values, const HistogramParams& params, double* counts,
                   const Workspace& ws) {
  const V* v = static_cast<const V*>(values);
  const C* codes = static_cast<const C*>(pass.codes);
  const Binner z(params.lower, params.upper, params.bins);
  std::uint32_t bad = 0;
  std::int64_t nan = 0;
  for (std::size_t start = 0; start < pass.rows; start += BLOCK) {
    const std::size_t n = lesser(BLOCK, pass.rows - start);
    const std::uint8_t* mask = block_mask(pass, ws.mask, start, n);
    nan |= mask == nullptr ? bin_block<V, false>(v + start, nullptr, n, z, ws.bin)
                           : bin_block<V, true>(v + start, mask, n, z, ws.bin);
    keep_block(mask, n, ws.keep);
    if (codes == nullptr) {
      for (std::size_t j = 0; j < n; j++) counts[ws.bin[j]] += ws.keep[j];
    } else {
      bad |= load_groups(codes + start, n, pass.groups, ws.group);
      // A row of the spare group (an out-of-range code) adds 0 to cell 0.
      for (std::size_t j = 0; j < n; j++) {
        const std::uint32_t g = ws.group[j];
        const bool over = g == pass.groups;
        counts[over ? 0 : std::size_t{g} * params.bins + ws.bin[j]] += over ? 0 : ws.keep[j];
      }
    }
  }
  if (bad != 0) return CODE_OUT_OF_RANGE;
  if (nan != 0) return NAN_SELECTED;
  return OK;
}

// COUNT(*) per group (pass.nulls == nullptr) or selected non-null rows per group.
template <class C>
int count_pass(const PassArgs& pass, double* out, const Workspace& ws) {
  const C* codes = static_cast<const C*>(pass.codes);
  if (codes == nullptr) {
    std::int64_t total = 0;
    for (std::size_t start = 0; start < pass.rows; start += BLOCK) {
      const std::size_t n = lesser(BLOCK, pass.rows - start);
      const std::uint8_t* mask = block_mask(pass, ws.mask, start, n);
      total += mask == nullptr ? static_cast<std::int64_t>(n) : count_flat(mask, n);
    }
    out[0] += static_cast<double>(total);
    return OK;
  }
  const std::size_t stride = std::size_t{pass.groups} + 1;
  const bool laned = pass.groups <= LANE_GROUPS;
  std::int64_t* acc = laned ? ws.lanes : ws.cells;
  std::uint32_t bad = 0;
  for (std::size_t start = 0; start < pass.rows; start += BLOCK) {
    const std::size_t n = lesser(BLOCK, pass.rows - start);
    keep_block(block_mask(pass, ws.mask, start, n), n, ws.keep);
    bad |= load_groups(codes + start, n, pass.groups, ws.group);
    const std::uint32_t* g = ws.group;
    const std::uint8_t* k = ws.keep;
    std::size_t j = 0;
    if (laned) {
      std::int64_t* a0 = acc;
      std::int64_t* a1 = a0 + stride;
      std::int64_t* a2 = a1 + stride;
      std::int64_t* a3 = a2 + stride;
      for (; j + 4 <= n; j += 4) {
        a0[g[j]] += k[j];
        a1[g[j + 1]] += k[j + 1];
        a2[g[j + 2]] += k[j + 2];
        a3[g[j + 3]] += k[j + 3];
      }
    }
    for (; j < n; j++) acc[g[j]] += k[j];
  }
  if (bad != 0) return CODE_OUT_OF_RANGE;
  const std::size_t lanes = laned ? LANES : 1;
  for (std::size_t x = 0; x < pass.groups; x++) {
    std::int64_t t = 0;
    for (std::size_t l = 0; l < lanes; l++) t += acc[l * stride + x];
    out[x] += static_cast<double>(t);
  }
  return OK;
}

}  // namespace VEILBOX_ISA
}  // namespace veilbox
