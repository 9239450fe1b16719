// What the Node-API boundary (addon.cc) and the instruction-set variants of
// the kernels (simd.h, compiled once per variant) share: plain types and
// constants only. No functions live here: an inline function in a header that
// two translation units compile with different -m flags could be merged by the
// linker into the copy built for the wider instruction set.
#pragma once

#include <cstddef>
#include <cstdint>

namespace veilbox {

// Rows per block: the unit of the scratch buffers (mask, packed values, group
// codes, bins). A multiple of 8 so that a block starts on a null-bitmap byte;
// small enough that the scratch stays in L1/L2.
constexpr std::size_t BLOCK = 2048;

// Group counts up to this many get LANES copies of their accumulators, row j
// going to copy j % LANES, so that consecutive rows of one group do not wait on
// each other's store (with 7 groups, one row in 7 would). Past it, rows rarely
// collide and the copies would only cost cache.
constexpr std::uint32_t LANE_GROUPS = 4096;
constexpr std::size_t LANES = 4;

// Data-dependent outcomes of a pass, returned rather than thrown.
enum Status : int { OK = 0, NAN_SELECTED = 1, CODE_OUT_OF_RANGE = 2 };

// The request-wide inputs of one pass. codes is nullptr when ungrouped (then
// groups = 1); its element type is the one the table entry was chosen for.
struct PassArgs {
  std::size_t rows;
  const std::uint8_t* sel;    // nullptr: every row selected
  const std::uint8_t* nulls;  // nullptr: no nulls
  const void* codes;
  std::uint32_t groups;
};

struct MomentsParams {
  double lower;
  double upper;
  double scale;  // 2^-exp, with max(|lower|, |upper|) * scale <= 2^31
  // A WHERE comparison on the measured column fused into the pass
  // (src/engine/exec/chunked.ts): when filtered, a row takes part only if
  // x > gt && x >= ge && x < lt && x <= le (IEEE comparisons: NaN fails).
  bool filtered;
  double gt, ge, lt, le;
};

struct MomentsOut {
  double* non_null;      // groups
  std::int64_t* sum;     // groups
  std::int64_t* sum_sq;  // groups, or nullptr
};

struct HistogramParams {
  double lower;
  double upper;
  std::uint32_t bins;
};

// Scratch and accumulators, allocated (and zeroed) by the caller for one pass,
// so that the kernels themselves never allocate. stride = groups + 1: the last
// slot is the spare that collects rows with an out-of-range code.
struct Workspace {
  std::uint8_t* mask;       // BLOCK + 8
  std::uint8_t* keep;       // BLOCK
  std::uint32_t* group;     // BLOCK
  std::uint32_t* bin;       // BLOCK
  std::int64_t* packed;     // BLOCK
  std::int64_t* squares;    // BLOCK
  std::int64_t* lanes;      // LANES * stride when groups <= LANE_GROUPS, else unused
  std::int64_t* sq_lanes;   // LANES * stride when groups <= LANE_GROUPS and squares, else unused
  std::int64_t* cells;      // 3 * stride
};

using MomentsFn = int (*)(const PassArgs&, const void* values, const MomentsParams&, const MomentsOut&,
                          const Workspace&);
using HistogramFn = int (*)(const PassArgs&, const void* values, const HistogramParams&, double* counts,
                            const Workspace&);
using CountFn = int (*)(const PassArgs&, double* out, const Workspace&);

// The request-building loops (masks.h; the contract is src/engine/exec/loops.ts).
// Lengths are in elements; out has room for n bytes. None returns a status:
// they cannot fail on data the boundary accepted.
using CompareFn = void (*)(const void* values, std::size_t n, double c, std::uint8_t* out);
using BetweenFn = void (*)(const void* values, std::size_t n, double low, double high, std::uint8_t* out);
using InFn = void (*)(const void* values, std::size_t n, const double* list, std::size_t k, std::uint8_t* out);
using LookupFn = void (*)(const void* codes, std::size_t n, const std::uint8_t* table, std::size_t len,
                          std::uint8_t* out);
using NullsFn = void (*)(std::uint8_t* mask, const std::uint8_t* nulls, std::size_t rows);
using MasksFn = void (*)(std::uint8_t* a, const std::uint8_t* b, std::size_t n);
using MaxCodeFn = std::uint32_t (*)(const void* codes, std::size_t n);
using DigitsFn = void (*)(void* codes, const void* values, std::size_t n, std::uint32_t multiplier, bool assign,
                          const std::uint8_t* nulls, std::uint32_t null_digit);

// Index order as IsaTable; op 0..5 = '=' '<>' '<' '<=' '>' '>='; store 0..2 =
// out = r, out &= r, out |= r (the leaf's result r folded into a mask).
struct LoopTable {
  CompareFn compare[2][6][3];
  BetweenFn between[2][3];
  InFn in[2][3];
  LookupFn lookup[3][3];
  NullsFn clear_nulls;
  NullsFn mark_nulls;
  MasksFn and_masks;
  MasksFn or_masks;
  MasksFn not_mask;  // a[i] = b[i] ^ 1
  MaxCodeFn max_code[3];
  DigitsFn digits[3][3];  // [codes][values]
};

// Index order: values 0 = Float64Array, 1 = Int32Array; codes 0 = Uint8Array
// (or ungrouped), 1 = Uint16Array, 2 = Uint32Array; squares 0 = no, 1 = yes.
struct IsaTable {
  const char* name;
  MomentsFn moments[2][3][2];
  HistogramFn histogram[2][3];
  CountFn counts[3];
  LoopTable loops;
};

namespace base {
extern const IsaTable TABLE;
}
#if defined(VEILBOX_HAVE_AVX2)
namespace avx2 {
extern const IsaTable TABLE;
}
#endif

}  // namespace veilbox
