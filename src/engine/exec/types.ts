/**
 * The column cache's in-memory shapes and the exact-aggregate contract that
 * every kernel implements: the TypeScript and native production kernels, and
 * the reference they are tested against (reference.ts).
 *
 * Arrays are views over SharedArrayBuffer when they come from the column cache,
 * so a worker reads them in place; kernels never copy or retain them.
 *
 * Exactness. Kernels must agree bit for bit, whatever order they add in, so
 * sums are integers: every clamped value is first quantized to a power-of-two
 * grid (see `quantum`), and the kernel adds the resulting integers exactly
 * (BigInt totals; partial sums kept below 2^53 in JS, int64 in C++). Counts are
 * plain integers.
 */

/**
 * One bit per row, bit (i & 7) of byte (i >> 3); a set bit means the value is
 * null. At least ceil(rows / 8) bytes; bits past the last row are ignored.
 */
export type NullBitmap = Uint8Array

export type CodeArray = Uint8Array | Uint16Array | Uint32Array

/**
 * An id column's dictionary as the column cache loads it: one entry per
 * unit, packed (store/packed-strings.ts) into UTF-8 bytes over shared memory
 * with an offset per entry, so ten million ids are two arrays and not ten
 * million strings. Entry k is bytes[offsets[k]] up to bytes[offsets[k + 1]],
 * or `special.get(k)` for one with no UTF-8 form. Read it with
 * dictionary.ts's entryAt and entries.
 */
export interface IdDictionary {
  readonly kind: 'ids'
  readonly length: number
  readonly bytes: Uint8Array
  readonly offsets: Uint32Array
  readonly special: ReadonlyMap<number, string> | null
}

/** Code k stands for entry k. Categories and booleans: an array; ids: packed. */
export type Dictionary = readonly string[] | IdDictionary

/**
 * `values` has exactly `rows` elements. The value under a null bit is ignored.
 * A non-null f64 value is never NaN (ingest refuses it); a NaN that slips
 * through is refused by the kernels (VEILBOX_ERR_EXEC_BAD_ARGUMENT), never
 * summed. Infinities are fine: they clamp to the bounds.
 */
export type ColumnArray =
  | { readonly kind: 'f64'; readonly values: Float64Array; readonly nulls: NullBitmap | null }
  | { readonly kind: 'i32'; readonly values: Int32Array; readonly nulls: NullBitmap | null }
  /**
   * Dictionary-encoded: category, boolean (dictionary ['false','true']) and id
   * columns. Code k stands for dictionary[k].
   */
  | {
      readonly kind: 'code'
      readonly values: CodeArray
      readonly dictionary: Dictionary
      readonly nulls: NullBitmap | null
    }

export type NumericColumn = Extract<ColumnArray, { kind: 'f64' | 'i32' }>

/**
 * A selection: one byte per row, 1 when the row takes part in the aggregate,
 * 0 otherwise. It already folds in the WHERE clause and the contribution
 * bound (rows beyond a unit's maxRowsPerUnit are 0). The predicate compiler
 * writes only 0 and 1; kernels read any non-zero byte as selected.
 *
 * A branch-free kernel must blend, not multiply: it may compute q for every
 * row, but an unselected or null row can hold NaN (a common null placeholder),
 * and NaN * 0 is NaN. Select with a mask built from `sel != 0` and the null
 * bit (an AND of bit patterns, or a blend), so such rows contribute exactly 0
 * and a NaN is refused only where the TS kernel refuses it: in a selected,
 * non-null row.
 */
export type Selection = Uint8Array

/**
 * Per-row group code in [0, count), for every row, selected or not: a native
 * kernel may scatter unselected rows too (adding 0), so an out-of-range code
 * anywhere would be an out-of-bounds write. Rows that belong to no group are
 * excluded by the selection but still carry a valid code. 1 <= count <=
 * MAX_GROUPS; the group set comes from declared domains, never
 * from the data, so an empty group is reported as zeros, not dropped.
 */
export interface Grouping {
  readonly codes: CodeArray
  readonly count: number
}

/** The most groups one aggregate may have: every kernel allocates per group. */
export const MAX_GROUPS = 1_000_000

/**
 * Power-of-two quantization of a clamped column. A value x is clamped to
 * [lower, upper], then mapped to the integer q = floor(x * 2^-exp + 0.5).
 * `exp` is chosen (see `quantumFor`) so that |q| <= 2^31, which keeps 2^21
 * rows of partial sums exact in a double. Note |q| can be 2^31 itself, one
 * past INT32_MAX: C++ holds q in a double or an int64.
 * Squares are quantized again: s = floor(q*q * 2^-31 + 0.5), with q*q computed
 * as a double product (rounded once |q| > 2^26.5; that rounding is part of the
 * definition, so C++ must not use an exact int64 product), so a sum of squares
 * is in units of 2^(2*exp + 31). Every expression is evaluated in binary64 in
 * the order written; quantum.ts proves which steps are exact and why the rest
 * reproduce bit for bit.
 */
export interface Quantum {
  readonly exp: number
}

export const Q_BITS = 31
export const SQ_SHIFT = 31

export type Measure =
  /** Non-null count, sum and (optionally) sum of squares of a clamped, quantized column. */
  | {
      readonly kind: 'moments'
      readonly column: NumericColumn
      readonly lower: number
      readonly upper: number
      readonly quantum: Quantum
      readonly squares: boolean
    }
  /** Non-null count only (COUNT(col)) for any column kind. */
  | { readonly kind: 'nonNull'; readonly column: ColumnArray }
  /**
   * Histogram of a clamped column over `bins` equal-width bins of [lower, upper]:
   * bin = min(bins - 1, max(0, floor((x - lower) / (upper - lower) * bins))),
   * x clamped first, evaluated in binary64 in exactly that order (subtract,
   * divide, multiply; no reciprocal, no fused multiply-add). upper - lower must
   * be finite. Nulls are not counted.
   */
  | {
      readonly kind: 'histogram'
      readonly column: NumericColumn
      readonly lower: number
      readonly upper: number
      readonly bins: number
    }

export interface AggregateRequest {
  readonly rows: number
  readonly selection: Selection | null
  readonly grouping: Grouping | null
  readonly measures: readonly Measure[]
}

export type MeasureResult =
  | {
      readonly kind: 'moments'
      readonly nonNull: Float64Array
      readonly sum: bigint[]
      readonly sumSquares: bigint[] | null
    }
  | { readonly kind: 'nonNull'; readonly nonNull: Float64Array }
  /** counts[group * bins + bin] */
  | { readonly kind: 'histogram'; readonly counts: Float64Array; readonly bins: number }

export interface AggregateResult {
  /** Selected rows per group (COUNT(*)). Length = grouping count, or 1 when ungrouped. */
  readonly count: Float64Array
  readonly measures: readonly MeasureResult[]
  /** Partition selection: the version's keys of the selected column, in code order (group g is keys[g]). */
  readonly keys?: readonly string[]
}
