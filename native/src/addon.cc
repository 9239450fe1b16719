// The Node-API boundary of the native kernels (simd.h) and of the loops that
// build their requests (masks.h).
//
// Context-aware (NAPI_MODULE_INIT) and stateless: no global mutable state, so
// one loaded copy serves the main thread and every worker thread. Each call
// reads the caller's typed arrays in place (SharedArrayBuffer-backed ones
// included) and writes its results into output arrays the caller allocated.
//
// Every exported function catches everything: no C++ exception crosses into
// JavaScript. Errors come out as JS errors whose `code` is
//   VEILBOX_ERR_NATIVE_BAD_CALL  an argument the addon refuses (type, length,
//                                range): the JS wrapper validates first, so this
//                                is a bug in the wrapper, never a crash;
//   VEILBOX_ERR_NATIVE_FAILURE   anything else (out of memory, a Node-API
//                                failure).
// Data-dependent refusals are not exceptions but status numbers (api.h,
// Status), which the wrapper turns into the same errors the TS kernel throws.
#include <node_api.h>

#include <cmath>
#include <cstdint>
#include <exception>
#include <new>
#include <string>
#include <type_traits>

#include <vector>

#include "api.h"

#ifndef VEILBOX_NATIVE_FLAGS
#define VEILBOX_NATIVE_FLAGS "unknown"
#endif
#ifndef VEILBOX_NATIVE_SOURCE
#define VEILBOX_NATIVE_SOURCE "unknown"
#endif

namespace {

using veilbox::IsaTable;

constexpr double MAX_ROWS = 4294967295.0;  // 2^32 - 1, as validate.ts
constexpr double MAX_GROUPS = 1000000.0;    // types.ts MAX_GROUPS
constexpr double MAX_CELLS = 16777216.0;    // validate.ts MAX_HISTOGRAM_CELLS

struct BadCall {
  std::string message;
};

// A Node-API call failed; if it left a JS exception pending, that one is thrown.
struct NapiFailure {
  std::string what;
};

void check(napi_env, napi_status status, const char* what) {
  if (status != napi_ok) throw NapiFailure{what};
}

struct Typed {
  napi_typedarray_type type;
  void* data;
  std::size_t length;
};

bool is_null(napi_env env, napi_value v) {
  napi_valuetype t;
  check(env, napi_typeof(env, v, &t), "typeof");
  return t == napi_null || t == napi_undefined;
}

Typed typed(napi_env env, napi_value v, const char* name) {
  bool is = false;
  check(env, napi_is_typedarray(env, v, &is), "is_typedarray");
  if (!is) throw BadCall{std::string(name) + " must be a typed array"};
  Typed t{};
  // No arraybuffer out-parameter: the data pointer is all we need, and it is
  // valid for SharedArrayBuffer-backed views too.
  check(env, napi_get_typedarray_info(env, v, &t.type, &t.length, &t.data, nullptr, nullptr), "get_typedarray_info");
  if (t.data == nullptr && t.length > 0) throw BadCall{std::string(name) + " has no backing store"};
  return t;
}

Typed typed_of(napi_env env, napi_value v, napi_typedarray_type want, std::size_t length, const char* name,
               const char* type_name) {
  Typed t = typed(env, v, name);
  if (t.type != want) throw BadCall{std::string(name) + " must be a " + type_name};
  if (t.length != length) {
    throw BadCall{std::string(name) + " has " + std::to_string(t.length) + " elements, expected " +
                  std::to_string(length)};
  }
  return t;
}

double number(napi_env env, napi_value v, const char* name) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) throw BadCall{std::string(name) + " must be a number"};
  return d;
}

std::size_t whole(napi_env env, napi_value v, const char* name, double lo, double hi) {
  const double d = number(env, v, name);
  if (!(d >= lo && d <= hi) || std::floor(d) != d) {
    throw BadCall{std::string(name) + " must be an integer in [" + std::to_string(static_cast<std::uint64_t>(lo)) +
                  ", " + std::to_string(static_cast<std::uint64_t>(hi)) + "]"};
  }
  return static_cast<std::size_t>(d);
}

bool boolean(napi_env env, napi_value v, const char* name) {
  bool b;
  if (napi_get_value_bool(env, v, &b) != napi_ok) throw BadCall{std::string(name) + " must be a boolean"};
  return b;
}

template <std::size_t N>
void arguments(napi_env env, napi_callback_info info, napi_value (&argv)[N]) {
  std::size_t argc = N;
  check(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr), "get_cb_info");
  if (argc != N) throw BadCall{"expected " + std::to_string(N) + " arguments, got " + std::to_string(argc)};
}

// The shared leading arguments: rows, selection, codes, groups, nulls. The
// codes' element type picks the instantiation.
struct Common {
  std::size_t rows;
  const std::uint8_t* sel;
  const std::uint8_t* nulls;
  napi_typedarray_type code_type;  // napi_uint8_array when ungrouped
  const void* codes;               // nullptr when ungrouped
  std::uint32_t groups;
};

Common common(napi_env env, napi_value rows_v, napi_value sel_v, napi_value codes_v, napi_value groups_v,
              napi_value nulls_v) {
  Common c{};
  c.rows = whole(env, rows_v, "rows", 0, MAX_ROWS);
  c.groups = static_cast<std::uint32_t>(whole(env, groups_v, "groups", 1, MAX_GROUPS));
  if (!is_null(env, sel_v)) {
    c.sel = static_cast<const std::uint8_t*>(
        typed_of(env, sel_v, napi_uint8_array, c.rows, "selection", "Uint8Array").data);
  }
  c.code_type = napi_uint8_array;
  if (!is_null(env, codes_v)) {
    Typed t = typed(env, codes_v, "codes");
    if (t.type != napi_uint8_array && t.type != napi_uint16_array && t.type != napi_uint32_array) {
      throw BadCall{"codes must be a Uint8Array, Uint16Array or Uint32Array"};
    }
    if (t.length != c.rows) {
      throw BadCall{"codes has " + std::to_string(t.length) + " elements, expected " + std::to_string(c.rows)};
    }
    c.code_type = t.type;
    c.codes = t.data;
  } else if (c.groups != 1) {
    throw BadCall{"groups must be 1 without codes"};
  }
  if (!is_null(env, nulls_v)) {
    Typed t = typed(env, nulls_v, "nulls");
    if (t.type != napi_uint8_array) throw BadCall{"nulls must be a Uint8Array"};
    if (t.length < (c.rows + 7) / 8) throw BadCall{"nulls has fewer than ceil(rows / 8) bytes"};
    c.nulls = static_cast<const std::uint8_t*>(t.data);
  }
  return c;
}

veilbox::PassArgs pass_of(const Common& c) { return veilbox::PassArgs{c.rows, c.sel, c.nulls, c.codes, c.groups}; }

int code_index(const Common& c) {
  switch (c.code_type) {
    case napi_uint16_array:
      return 1;
    case napi_uint32_array:
      return 2;
    default:
      return 0;
  }
}

// Scratch and accumulators of one pass (api.h, Workspace): allocated here so
// that the kernels never allocate, zeroed, and freed when the call returns.
struct Scratch {
  std::vector<std::uint8_t> mask, keep;
  std::vector<std::uint32_t> group, bin;
  std::vector<std::int64_t> packed, squares, lanes, sq_lanes, cells;
  veilbox::Workspace ws{};

  Scratch(std::uint32_t groups, bool grouped, bool squares_wanted)
      : mask(veilbox::BLOCK + 8), keep(veilbox::BLOCK), group(veilbox::BLOCK), bin(veilbox::BLOCK),
        packed(veilbox::BLOCK), squares(veilbox::BLOCK) {
    const std::size_t stride = std::size_t{groups} + 1;
    if (grouped) {
      const bool laned = groups <= veilbox::LANE_GROUPS;
      if (laned) lanes.assign(veilbox::LANES * stride, 0);
      if (laned && squares_wanted) sq_lanes.assign(veilbox::LANES * stride, 0);
      cells.assign(3 * stride, 0);
    }
    ws = veilbox::Workspace{mask.data(),    keep.data(),  group.data(),    bin.data(), packed.data(),
                            squares.data(), lanes.data(), sq_lanes.data(), cells.data()};
  }
};

const IsaTable& table_of(napi_env env, napi_callback_info info) {
  void* data = nullptr;
  check(env, napi_get_cb_info(env, info, nullptr, nullptr, nullptr, &data), "get_cb_info");
  if (data == nullptr) throw NapiFailure{"missing kernel table"};
  return *static_cast<const IsaTable*>(data);
}

napi_value status_value(napi_env env, int status) {
  napi_value out;
  check(env, napi_create_int32(env, status, &out), "create_int32");
  return out;
}

// Runs body, turning every C++ exception into a pending JS error.
template <class F>
napi_value guarded(napi_env env, F&& body) {
  const auto fail = [env](const char* code, const std::string& message) -> napi_value {
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) == napi_ok && !pending) {
      napi_throw_error(env, code, message.c_str());
    }
    return nullptr;
  };
  try {
    return body();
  } catch (const BadCall& e) {
    return fail("VEILBOX_ERR_NATIVE_BAD_CALL", e.message);
  } catch (const NapiFailure& e) {
    return fail("VEILBOX_ERR_NATIVE_FAILURE", std::string("Node-API call failed: ") + e.what);
  } catch (const std::bad_alloc&) {
    return fail("VEILBOX_ERR_NATIVE_FAILURE", "out of memory");
  } catch (const std::exception& e) {
    return fail("VEILBOX_ERR_NATIVE_FAILURE", e.what());
  } catch (...) {
    return fail("VEILBOX_ERR_NATIVE_FAILURE", "unknown C++ exception");
  }
}

// moments(rows, selection, codes, groups, values, nulls, lower, upper, scale,
//         squares, outNonNull: Float64Array, outSum: BigInt64Array,
//         outSumSquares: BigInt64Array | null, filter: Float64Array [gt, ge, lt, le] | null) -> status
// The outputs are added to (the caller zeroes them), as histogram's and counts'.
napi_value Moments(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value a[14];
    arguments(env, info, a);
    const Common c = common(env, a[0], a[1], a[2], a[3], a[5]);
    const Typed values = typed(env, a[4], "values");
    if (values.type != napi_float64_array && values.type != napi_int32_array) {
      throw BadCall{"values must be a Float64Array or an Int32Array"};
    }
    if (values.length != c.rows) throw BadCall{"values has a length other than rows"};
    veilbox::MomentsParams p{number(env, a[6], "lower"), number(env, a[7], "upper"), number(env, a[8], "scale"),
                             false, 0, 0, 0, 0};
    if (!is_null(env, a[13])) {
      const double* f = static_cast<const double*>(typed_of(env, a[13], napi_float64_array, 4, "filter", "Float64Array").data);
      p.filtered = true;
      p.gt = f[0];
      p.ge = f[1];
      p.lt = f[2];
      p.le = f[3];
    }
    if (!std::isfinite(p.lower) || !std::isfinite(p.upper) || !(p.lower < p.upper)) {
      throw BadCall{"lower and upper must be finite with lower < upper"};
    }
    // Every clamped value must quantize within 2^31 (types.ts): the magic-number floor relies on it.
    const double m = std::max(std::fabs(p.lower), std::fabs(p.upper));
    if (!(p.scale > 0) || !std::isfinite(p.scale) || !(m * p.scale <= 2147483648.0)) {
      throw BadCall{"scale must be positive with max(|lower|, |upper|) * scale <= 2^31"};
    }
    const bool squares = boolean(env, a[9], "squares");
    veilbox::MomentsOut out{};
    out.non_null = static_cast<double*>(typed_of(env, a[10], napi_float64_array, c.groups, "outNonNull", "Float64Array").data);
    out.sum = static_cast<std::int64_t*>(typed_of(env, a[11], napi_bigint64_array, c.groups, "outSum", "BigInt64Array").data);
    if (squares) {
      out.sum_sq = static_cast<std::int64_t*>(
          typed_of(env, a[12], napi_bigint64_array, c.groups, "outSumSquares", "BigInt64Array").data);
    } else if (!is_null(env, a[12])) {
      throw BadCall{"outSumSquares must be null without squares"};
    }
    const IsaTable& table = table_of(env, info);
    Scratch scratch(c.groups, c.codes != nullptr, squares);
    const int status = table.moments[values.type == napi_float64_array ? 0 : 1][code_index(c)][squares ? 1 : 0](
        pass_of(c), values.data, p, out, scratch.ws);
    return status_value(env, status);
  });
}

// histogram(rows, selection, codes, groups, values, nulls, lower, upper, bins,
//           outCounts: Float64Array of groups * bins, zeroed) -> status
napi_value Histogram(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value a[10];
    arguments(env, info, a);
    const Common c = common(env, a[0], a[1], a[2], a[3], a[5]);
    const Typed values = typed(env, a[4], "values");
    if (values.type != napi_float64_array && values.type != napi_int32_array) {
      throw BadCall{"values must be a Float64Array or an Int32Array"};
    }
    if (values.length != c.rows) throw BadCall{"values has a length other than rows"};
    const double lower = number(env, a[6], "lower");
    const double upper = number(env, a[7], "upper");
    if (!std::isfinite(lower) || !std::isfinite(upper) || !(lower < upper) || !std::isfinite(upper - lower)) {
      throw BadCall{"lower and upper must be finite with lower < upper and a finite width"};
    }
    const std::size_t bins = whole(env, a[8], "bins", 1, MAX_CELLS);
    if (static_cast<double>(bins) * c.groups > MAX_CELLS) throw BadCall{"groups * bins exceeds 2^24 cells"};
    double* counts = static_cast<double*>(
        typed_of(env, a[9], napi_float64_array, bins * c.groups, "outCounts", "Float64Array").data);
    const veilbox::HistogramParams p{lower, upper, static_cast<std::uint32_t>(bins)};
    const IsaTable& table = table_of(env, info);
    Scratch scratch(c.groups, c.codes != nullptr, false);
    const int status =
        table.histogram[values.type == napi_float64_array ? 0 : 1][code_index(c)](pass_of(c), values.data, p, counts, scratch.ws);
    return status_value(env, status);
  });
}

// counts(rows, selection, codes, groups, nulls, out: Float64Array of groups, zeroed) -> status
// COUNT(*) per group when nulls is null, else selected non-null rows per group.
napi_value Counts(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value a[6];
    arguments(env, info, a);
    const Common c = common(env, a[0], a[1], a[2], a[3], a[4]);
    double* out = static_cast<double*>(typed_of(env, a[5], napi_float64_array, c.groups, "out", "Float64Array").data);
    const IsaTable& table = table_of(env, info);
    Scratch scratch(c.groups, c.codes != nullptr, false);
    const int status = table.counts[code_index(c)](pass_of(c), out, scratch.ws);
    return status_value(env, status);
  });
}

// ---------------------------------------------------------------------------
// The request-building loops (masks.h). Each writes into arrays the caller
// passed, after checking their types and lengths, and returns undefined (or
// the maximum, for maxCode).

const veilbox::LoopTable& loops_of(napi_env env, napi_callback_info info) { return table_of(env, info).loops; }

napi_value undefined_value(napi_env env) {
  napi_value u;
  check(env, napi_get_undefined(env, &u), "get_undefined");
  return u;
}

// A Float64Array (index 0) or an Int32Array (index 1).
Typed numeric_values(napi_env env, napi_value v, const char* name, int& index) {
  Typed t = typed(env, v, name);
  if (t.type != napi_float64_array && t.type != napi_int32_array) {
    throw BadCall{std::string(name) + " must be a Float64Array or an Int32Array"};
  }
  index = t.type == napi_float64_array ? 0 : 1;
  return t;
}

// A Uint8Array (index 0), Uint16Array (1) or Uint32Array (2).
Typed code_values(napi_env env, napi_value v, const char* name, int& index) {
  Typed t = typed(env, v, name);
  switch (t.type) {
    case napi_uint8_array:
      index = 0;
      return t;
    case napi_uint16_array:
      index = 1;
      return t;
    case napi_uint32_array:
      index = 2;
      return t;
    default:
      throw BadCall{std::string(name) + " must be a Uint8Array, Uint16Array or Uint32Array"};
  }
}

// A Uint8Array of at least `at_least` bytes.
Typed bytes_of(napi_env env, napi_value v, std::size_t at_least, const char* name) {
  Typed t = typed(env, v, name);
  if (t.type != napi_uint8_array) throw BadCall{std::string(name) + " must be a Uint8Array"};
  if (t.length < at_least) {
    throw BadCall{std::string(name) + " has " + std::to_string(t.length) + " bytes, fewer than " +
                  std::to_string(at_least)};
  }
  return t;
}

std::uint8_t* out_bytes(napi_env env, napi_value v, std::size_t at_least, const char* name) {
  return static_cast<std::uint8_t*>(bytes_of(env, v, at_least, name).data);
}

// The last argument of the leaf loops: 0 out = r, 1 out &= r, 2 out |= r.
std::size_t store_of(napi_env env, napi_value v) { return whole(env, v, "store", 0, 2); }

// compare(values, op: 0..5 for = <> < <= > >=, c, out, store) -> undefined
napi_value Compare(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value a[5];
    arguments(env, info, a);
    int vi = 0;
    const Typed v = numeric_values(env, a[0], "values", vi);
    const std::size_t op = whole(env, a[1], "op", 0, 5);
    const double c = number(env, a[2], "c");
    std::uint8_t* out = out_bytes(env, a[3], v.length, "out");
    const std::size_t store = store_of(env, a[4]);
    loops_of(env, info).compare[vi][op][store](v.data, v.length, c, out);
    return undefined_value(env);
  });
}

// between(values, low, high, out, store) -> undefined
napi_value Between(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value a[5];
    arguments(env, info, a);
    int vi = 0;
    const Typed v = numeric_values(env, a[0], "values", vi);
    const double low = number(env, a[1], "low");
    const double high = number(env, a[2], "high");
    std::uint8_t* out = out_bytes(env, a[3], v.length, "out");
    const std::size_t store = store_of(env, a[4]);
    loops_of(env, info).between[vi][store](v.data, v.length, low, high, out);
    return undefined_value(env);
  });
}

// inList(values, list: Float64Array strictly increasing, out, store) -> undefined
napi_value InList(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value a[4];
    arguments(env, info, a);
    int vi = 0;
    const Typed v = numeric_values(env, a[0], "values", vi);
    const Typed list = typed(env, a[1], "list");
    if (list.type != napi_float64_array) throw BadCall{"list must be a Float64Array"};
    const double* l = static_cast<const double*>(list.data);
    // Strictly increasing (so no NaN and no repeat): the search relies on it.
    for (std::size_t k = 0; k < list.length; k++) {
      if (l[k] != l[k] || (k > 0 && !(l[k - 1] < l[k]))) throw BadCall{"list must be strictly increasing, without NaN"};
    }
    std::uint8_t* out = out_bytes(env, a[2], v.length, "out");
    const std::size_t store = store_of(env, a[3]);
    loops_of(env, info).in[vi][store](v.data, v.length, l, list.length, out);
    return undefined_value(env);
  });
}

// lookup(codes, table: Uint8Array, out, store) -> undefined
napi_value Lookup(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value a[4];
    arguments(env, info, a);
    int ci = 0;
    const Typed codes = code_values(env, a[0], "codes", ci);
    const Typed table = bytes_of(env, a[1], 0, "table");
    std::uint8_t* out = out_bytes(env, a[2], codes.length, "out");
    const std::size_t store = store_of(env, a[3]);
    loops_of(env, info).lookup[ci][store](codes.data, codes.length, static_cast<const std::uint8_t*>(table.data),
                                          table.length, out);
    return undefined_value(env);
  });
}

// clearNulls / markNulls(mask, nulls, rows) -> undefined
template <bool MARK>
napi_value Nulls(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value a[3];
    arguments(env, info, a);
    const std::size_t rows = whole(env, a[2], "rows", 0, MAX_ROWS);
    std::uint8_t* mask = out_bytes(env, a[0], rows, "mask");
    const auto* nulls = static_cast<const std::uint8_t*>(bytes_of(env, a[1], (rows + 7) / 8, "nulls").data);
    const veilbox::LoopTable& loops = loops_of(env, info);
    (MARK ? loops.mark_nulls : loops.clear_nulls)(mask, nulls, rows);
    return undefined_value(env);
  });
}

// andMasks / orMasks(a, b), notMask(dst, src): Uint8Arrays of one length -> undefined
enum class MaskOp { AND, OR, NOT };

template <MaskOp OP>
napi_value Masks(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value a[2];
    arguments(env, info, a);
    const Typed x = bytes_of(env, a[0], 0, OP == MaskOp::NOT ? "dst" : "a");
    const Typed y = bytes_of(env, a[1], 0, OP == MaskOp::NOT ? "src" : "b");
    if (x.length != y.length) throw BadCall{"the masks must have one length"};
    const veilbox::LoopTable& loops = loops_of(env, info);
    auto* dst = static_cast<std::uint8_t*>(x.data);
    const auto* src = static_cast<const std::uint8_t*>(y.data);
    if (OP == MaskOp::AND) loops.and_masks(dst, src, x.length);
    if (OP == MaskOp::OR) loops.or_masks(dst, src, x.length);
    if (OP == MaskOp::NOT) loops.not_mask(dst, src, x.length);
    return undefined_value(env);
  });
}

// maxCode(codes) -> the largest code, 0 when empty
napi_value MaxCode(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value a[1];
    arguments(env, info, a);
    int ci = 0;
    const Typed codes = code_values(env, a[0], "codes", ci);
    const std::uint32_t m = loops_of(env, info).max_code[ci](codes.data, codes.length);
    napi_value out;
    check(env, napi_create_uint32(env, m, &out), "create_uint32");
    return out;
  });
}

// addDigits(codes, values, multiplier, assign, nulls | null, nullDigit) -> undefined
napi_value AddDigits(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value a[6];
    arguments(env, info, a);
    int ci = 0, vi = 0;
    const Typed codes = code_values(env, a[0], "codes", ci);
    const Typed values = code_values(env, a[1], "values", vi);
    if (values.length != codes.length) throw BadCall{"values must have as many elements as codes"};
    // Bounded so that the TypeScript loop's products stay exact doubles (below 2^53).
    const auto multiplier = static_cast<std::uint32_t>(whole(env, a[2], "multiplier", 0, MAX_GROUPS));
    const bool assign = boolean(env, a[3], "assign");
    const std::uint8_t* nulls = nullptr;
    if (!is_null(env, a[4])) {
      nulls = static_cast<const std::uint8_t*>(bytes_of(env, a[4], (codes.length + 7) / 8, "nulls").data);
    }
    const auto null_digit = static_cast<std::uint32_t>(whole(env, a[5], "nullDigit", 0, 4294967295.0));
    loops_of(env, info).digits[ci][vi](codes.data, values.data, codes.length, multiplier, assign, nulls, null_digit);
    return undefined_value(env);
  });
}

// The kernel variants this machine can run, best first. AVX2 needs both the
// CPU and the OS (saved YMM state); __builtin_cpu_supports checks both.
int available(const IsaTable* (&out)[2]) {
  int n = 0;
#if defined(VEILBOX_HAVE_AVX2)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2")) out[n++] = &veilbox::avx2::TABLE;
#endif
  out[n++] = &veilbox::base::TABLE;
  return n;
}

napi_value string_value(napi_env env, const std::string& text) {
  napi_value v;
  check(env, napi_create_string_utf8(env, text.c_str(), text.size(), &v), "create_string");
  return v;
}

// info() -> { napiVersion, flags, compiler, source, isa, isas }: what the loader reports.
napi_value Info(napi_env env, napi_callback_info) {
  return guarded(env, [&]() -> napi_value {
    napi_value obj, v;
    check(env, napi_create_object(env, &obj), "create_object");
    check(env, napi_create_int32(env, NAPI_VERSION, &v), "create_int32");
    check(env, napi_set_named_property(env, obj, "napiVersion", v), "set_named_property");
    check(env, napi_set_named_property(env, obj, "flags", string_value(env, VEILBOX_NATIVE_FLAGS)), "set_named_property");
    check(env, napi_set_named_property(env, obj, "source", string_value(env, VEILBOX_NATIVE_SOURCE)), "set_named_property");
#if defined(__clang__)
    const std::string compiler = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
    const std::string compiler = std::string("gcc ") + __VERSION__;
#else
    const std::string compiler = "unknown";
#endif
    check(env, napi_set_named_property(env, obj, "compiler", string_value(env, compiler)), "set_named_property");
    const IsaTable* tables[2];
    const int n = available(tables);
    check(env, napi_set_named_property(env, obj, "isa", string_value(env, tables[0]->name)), "set_named_property");
    napi_value list;
    check(env, napi_create_array_with_length(env, static_cast<std::size_t>(n), &list), "create_array");
    for (int k = 0; k < n; k++) {
      check(env, napi_set_element(env, list, static_cast<std::uint32_t>(k), string_value(env, tables[k]->name)), "set_element");
    }
    check(env, napi_set_named_property(env, obj, "isas", list), "set_named_property");
    return obj;
  });
}

// Defines the kernels (moments, histogram, counts) and the loops (compare ...
// addDigits) on target, bound to one variant's table (the function data: a
// pointer to constant data, not state).
void define_kernels(napi_env env, napi_value target, const IsaTable* table) {
  void* data = const_cast<IsaTable*>(table);
  const napi_property_descriptor props[] = {
      {"moments", nullptr, Moments, nullptr, nullptr, nullptr, napi_enumerable, data},
      {"histogram", nullptr, Histogram, nullptr, nullptr, nullptr, napi_enumerable, data},
      {"counts", nullptr, Counts, nullptr, nullptr, nullptr, napi_enumerable, data},
      {"compare", nullptr, Compare, nullptr, nullptr, nullptr, napi_enumerable, data},
      {"between", nullptr, Between, nullptr, nullptr, nullptr, napi_enumerable, data},
      {"inList", nullptr, InList, nullptr, nullptr, nullptr, napi_enumerable, data},
      {"lookup", nullptr, Lookup, nullptr, nullptr, nullptr, napi_enumerable, data},
      {"clearNulls", nullptr, Nulls<false>, nullptr, nullptr, nullptr, napi_enumerable, data},
      {"markNulls", nullptr, Nulls<true>, nullptr, nullptr, nullptr, napi_enumerable, data},
      {"andMasks", nullptr, Masks<MaskOp::AND>, nullptr, nullptr, nullptr, napi_enumerable, data},
      {"orMasks", nullptr, Masks<MaskOp::OR>, nullptr, nullptr, nullptr, napi_enumerable, data},
      {"notMask", nullptr, Masks<MaskOp::NOT>, nullptr, nullptr, nullptr, napi_enumerable, data},
      {"maxCode", nullptr, MaxCode, nullptr, nullptr, nullptr, napi_enumerable, data},
      {"addDigits", nullptr, AddDigits, nullptr, nullptr, nullptr, napi_enumerable, data},
  };
  check(env, napi_define_properties(env, target, sizeof props / sizeof props[0], props), "define_properties");
}

// exports: the kernels and loops of the best variant, info, and variants:
// { [isa]: { moments, histogram, counts, compare, ... } } for every variant
// this machine runs, so that tests can check each one against TypeScript.
napi_value init(napi_env env, napi_value exports) {
  const IsaTable* tables[2];
  const int n = available(tables);
  define_kernels(env, exports, tables[0]);
  napi_value variants;
  check(env, napi_create_object(env, &variants), "create_object");
  for (int k = 0; k < n; k++) {
    napi_value one;
    check(env, napi_create_object(env, &one), "create_object");
    define_kernels(env, one, tables[k]);
    check(env, napi_set_named_property(env, variants, tables[k]->name, one), "set_named_property");
  }
  const napi_property_descriptor props[] = {
      {"info", nullptr, Info, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"variants", nullptr, nullptr, nullptr, nullptr, variants, napi_enumerable, nullptr},
  };
  check(env, napi_define_properties(env, exports, sizeof props / sizeof props[0], props), "define_properties");
  return exports;
}

}  // namespace

NAPI_MODULE_INIT() {
  return guarded(env, [&]() -> napi_value { return init(env, exports); });
}
