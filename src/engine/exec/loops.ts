import { clearNulls, markNulls } from './nulls.js'
import type { CodeArray, NullBitmap } from './types.js'

/**
 * The per-row loops that build a kernel's request: a WHERE leaf into a 0/1
 * byte per row, nulls cleared from a mask, AND / OR / NOT over masks (the
 * predicate compiler, predicate.ts), the maximum of a code array and the
 * mixed-radix combination of group codes (grouping.ts). Everything else (the
 * three-valued logic, dictionary lookups, padding, validation) stays with
 * those callers; only these loops have two implementations:
 *
 *   tsLoops      here, the reference and the fallback;
 *   native       native/src/masks.h behind native.ts `createNativeLoops`,
 *                which the loader hands out with the native kernel
 *                (KernelChoice.loops) after checking it against these.
 *
 * Both must give the same bytes for the same arguments, whatever they are:
 * comparisons are IEEE binary64 comparisons (an Int32 value is compared as
 * the double it is; NaN compares false, except for <>, where it is true;
 * -0 === 0), a code past a lookup table reads 0, NOT is XOR 1 bytewise, and
 * group digits wrap as typed-array stores do. The parity tests
 * (test/engine/exec/native.loops.test.ts) and the loader's self-check hold
 * the native loops to that.
 *
 * Preconditions (the callers meet them; the native loops refuse a breach
 * with VEILBOX_ERR_NATIVE_BAD_CALL, these may misbehave quietly): `out`
 * holds at least as many bytes as the values have elements, masks passed
 * together have one length, `sorted` is strictly increasing without NaN,
 * `values` has as many elements as `codes`, a null bitmap covers its rows.
 */

export type CompareOp = '=' | '<>' | '<' | '<=' | '>' | '>='

export type NumericValues = Float64Array | Int32Array

/**
 * How a leaf loop stores its result r[i] into out[i]: 'set' out[i] = r[i],
 * 'and' out[i] &= r[i], 'or' out[i] |= r[i] (a leaf folded straight into the
 * mask of its AND / OR, without a mask of its own). Default 'set'.
 */
export type Store = 'set' | 'and' | 'or'

export interface Loops {
  readonly name: 'ts' | 'native'
  /** r[i] = 1 if values[i] op c, else 0, for i < values.length, stored into out; bytes past that are untouched. */
  compare(values: NumericValues, op: CompareOp, c: number, out: Uint8Array, store?: Store): void
  /** r[i] = 1 if low <= values[i] <= high, else 0, for i < values.length. */
  between(values: NumericValues, low: number, high: number, out: Uint8Array, store?: Store): void
  /** r[i] = 1 if values[i] equals (===) a value of `sorted`, else 0, for i < values.length. */
  in(values: NumericValues, sorted: Float64Array, out: Uint8Array, store?: Store): void
  /** r[i] = table[codes[i]], 0 for a code past the table, for i < codes.length. */
  lookup(codes: CodeArray, table: Uint8Array, out: Uint8Array, store?: Store): void
  /** mask[i] = 0 for every null row i < rows; other bytes unchanged. */
  clearNulls(mask: Uint8Array, nulls: NullBitmap, rows: number): void
  /** mask[i] = the null bit of row i, for the rows i < rows of every non-zero null byte (1 at the null rows of a zeroed mask). */
  markNulls(mask: Uint8Array, nulls: NullBitmap, rows: number): void
  /** a[i] &= b[i], bytewise, over the whole (equal) length. */
  and(a: Uint8Array, b: Uint8Array): void
  /** a[i] |= b[i], bytewise. */
  or(a: Uint8Array, b: Uint8Array): void
  /** dst[i] = src[i] ^ 1 (NOT for 0/1 bytes); dst may be src. */
  not(dst: Uint8Array, src: Uint8Array): void
  /** The largest element, 0 for an empty array. */
  maxCode(codes: CodeArray): number
  /**
   * codes[i] = (assign ? 0 : codes[i]) + multiplier * digit, stored as the
   * array stores it (modulo 2^8, 2^16 or 2^32), where digit = values[i], or
   * nullDigit at a row whose bit is set in `nulls`. multiplier and nullDigit
   * are integers in [0, 10^6] and [0, 2^32), so every product is exact.
   */
  addDigits(
    codes: CodeArray,
    values: CodeArray,
    multiplier: number,
    assign: boolean,
    nulls: NullBitmap | null,
    nullDigit: number,
  ): void
}

/** IN lists up to this length are one pass per value; longer ones binary-search per row. */
const IN_PASSES_MAX = 8

/**
 * Number(boolean) rather than `cond ? 1 : 0`: V8 compiles it without a
 * branch, which measured twice as fast on data the branch cannot predict.
 */
function compare(v: NumericValues, op: CompareOp, c: number, out: Uint8Array): void {
  const n = v.length
  switch (op) {
    case '=':
      for (let i = 0; i < n; i++) out[i] = Number(v[i] === c)
      break
    case '<>':
      for (let i = 0; i < n; i++) out[i] = Number(v[i] !== c)
      break
    case '<':
      for (let i = 0; i < n; i++) out[i] = Number(v[i] < c)
      break
    case '<=':
      for (let i = 0; i < n; i++) out[i] = Number(v[i] <= c)
      break
    case '>':
      for (let i = 0; i < n; i++) out[i] = Number(v[i] > c)
      break
    case '>=':
      for (let i = 0; i < n; i++) out[i] = Number(v[i] >= c)
      break
  }
}

function between(v: NumericValues, low: number, high: number, out: Uint8Array): void {
  for (let i = 0; i < v.length; i++) {
    const x = v[i]
    out[i] = Number(x >= low) & Number(x <= high)
  }
}

function inList(v: NumericValues, sorted: Float64Array, out: Uint8Array): void {
  const n = v.length
  if (sorted.length === 0) {
    out.fill(0, 0, n)
    return
  }
  if (sorted.length <= IN_PASSES_MAX) {
    // One pass per value: a handful of passes beats a per-row search.
    const c0 = sorted[0]
    for (let i = 0; i < n; i++) out[i] = Number(v[i] === c0)
    for (let k = 1; k < sorted.length; k++) {
      const c = sorted[k]
      for (let i = 0; i < n; i++) out[i] |= Number(v[i] === c)
    }
    return
  }
  const last = sorted.length - 1
  for (let i = 0; i < n; i++) {
    const x = v[i]
    let lo = 0
    let hi = last
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (sorted[mid] < x) lo = mid + 1
      else hi = mid
    }
    out[i] = Number(sorted[lo] === x)
  }
}

function lookup(codes: CodeArray, table: Uint8Array, out: Uint8Array): void {
  // An out-of-range code reads undefined, which a Uint8Array stores as 0.
  for (let i = 0; i < codes.length; i++) out[i] = table[codes[i]]
}

/** 32-bit views when both masks allow them (offsets multiple of 4), then the bytes left. */
function aligned(a: Uint8Array, b: Uint8Array): number {
  return a.byteOffset % 4 === 0 && b.byteOffset % 4 === 0 ? a.length >> 2 : 0
}

function words(m: Uint8Array, n: number): Uint32Array {
  return new Uint32Array(m.buffer, m.byteOffset, n)
}

function and(a: Uint8Array, b: Uint8Array): void {
  const w = aligned(a, b)
  if (w > 0) {
    const x = words(a, w)
    const y = words(b, w)
    for (let i = 0; i < w; i++) x[i] &= y[i]
  }
  for (let i = w << 2; i < a.length; i++) a[i] &= b[i]
}

function or(a: Uint8Array, b: Uint8Array): void {
  const w = aligned(a, b)
  if (w > 0) {
    const x = words(a, w)
    const y = words(b, w)
    for (let i = 0; i < w; i++) x[i] |= y[i]
  }
  for (let i = w << 2; i < a.length; i++) a[i] |= b[i]
}

function not(dst: Uint8Array, src: Uint8Array): void {
  const w = aligned(dst, src)
  if (w > 0) {
    const x = words(dst, w)
    const y = words(src, w)
    for (let i = 0; i < w; i++) x[i] = y[i] ^ 0x01010101
  }
  for (let i = w << 2; i < dst.length; i++) dst[i] = src[i] ^ 1
}

function maxCode(codes: CodeArray): number {
  let max = 0
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i]
    if (c > max) max = c
  }
  return max
}

/**
 * Values under a null bit may be anything, and the store wraps modulo
 * 2^8/2^16/2^32 (ToUint8 and friends are modular), so the null pass can
 * subtract them back out exactly: every intermediate is an integer below 2^53
 * in magnitude, hence an exact double.
 */
function addDigits(
  codes: CodeArray,
  values: CodeArray,
  multiplier: number,
  assign: boolean,
  nulls: NullBitmap | null,
  nullDigit: number,
): void {
  const n = codes.length
  if (assign) {
    for (let i = 0; i < n; i++) codes[i] = multiplier * values[i]
  } else {
    for (let i = 0; i < n; i++) codes[i] += multiplier * values[i]
  }
  if (nulls === null) return
  // Replaces, at null rows, the digit with the null digit.
  const bytes = Math.ceil(n / 8)
  for (let b = 0; b < bytes; b++) {
    const nb = nulls[b]
    if (nb === 0) continue
    const base = b << 3
    const lim = Math.min(8, n - base)
    for (let k = 0; k < lim; k++) {
      if ((nb >> k) & 1) codes[base + k] += multiplier * (nullDigit - values[base + k])
    }
  }
}

/**
 * A leaf's result r folded into out as `store` says. The reference computes r
 * into a scratch mask first: it saves nothing over the unfused way, and costs
 * nothing more.
 */
function fold(out: Uint8Array, r: Uint8Array, store: 'and' | 'or'): void {
  if (store === 'and') and(out.subarray(0, r.length), r)
  else or(out.subarray(0, r.length), r)
}

const leafLoops: Pick<Loops, 'compare' | 'between' | 'in' | 'lookup'> = {
  compare(v, op, c, out, store = 'set') {
    if (store === 'set') return compare(v, op, c, out)
    const r = new Uint8Array(v.length)
    compare(v, op, c, r)
    fold(out, r, store)
  },
  between(v, low, high, out, store = 'set') {
    if (store === 'set') return between(v, low, high, out)
    const r = new Uint8Array(v.length)
    between(v, low, high, r)
    fold(out, r, store)
  },
  in(v, sorted, out, store = 'set') {
    if (store === 'set') return inList(v, sorted, out)
    const r = new Uint8Array(v.length)
    inList(v, sorted, r)
    fold(out, r, store)
  },
  lookup(codes, table, out, store = 'set') {
    if (store === 'set') return lookup(codes, table, out)
    const r = new Uint8Array(codes.length)
    lookup(codes, table, r)
    fold(out, r, store)
  },
}

/** The TypeScript loops: the reference, and what runs without the native addon. */
export const tsLoops: Loops = Object.freeze({
  name: 'ts' as const,
  ...leafLoops,
  clearNulls,
  markNulls,
  and,
  or,
  not,
  maxCode,
  addDigits,
})
