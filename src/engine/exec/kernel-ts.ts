// Long on purpose: the portable kernel's hand-specialized loops (see below: V8 does not unswitch loops) are
// repetitive by design, and must stay side by side to be checked against each other and reference.ts.
import { badArgument } from './contract.js'
import { buildMask } from './nulls.js'
import { FOLD_LIMIT, FOLD_ROWS, SQ_SCALE, quantumScale } from './quantum.js'
import type {
  AggregateRequest,
  AggregateResult,
  CodeArray,
  Measure,
  MeasureResult,
  NullBitmap,
  Selection,
} from './types.js'
import { validateRequest } from './validate.js'

/**
 * The TypeScript aggregate kernel (`tsKernel`, reported as 'ts'): the
 * portable production kernel, which runs wherever the native one is not
 * loaded, and which the native kernel must match bit for bit (the loader's
 * self-check compares the two). It is not the reference: both are checked
 * against reference.ts, the slow, obviously correct oracle, in the tests.
 *
 * Shape. Each measure is one pass over its column, with the selection and the
 * group codes read alongside; COUNT(*) comes free from the first measure over
 * a column without nulls (its non-null count is the selected-row count), and
 * costs its own pass over selection and codes only when every column has
 * nulls. Each pass runs one of a few hand-specialized loops (ungrouped or
 * grouped, with or without a mask, with or without squares), because V8 does
 * not unswitch loops. What that buys (benchmarks/kernels.ts, 10M rows): the
 * ungrouped SUM runs 1.7x faster than one generic loop that tests selection,
 * null bit and grouping per row; on a grouped SUM under a WHERE selection the
 * two are level, since there the unpredictable selection branch and the
 * scatter into group partials dominate. Branch-free forms of the masked loops
 * (multiplying by the mask, a select, routing unselected rows to a spare
 * group) all measured 10-30% slower on random selections, so they branch.
 *
 * Nulls. A column with a null bitmap is run through the masked loops with a
 * mask built MASK_BLOCK rows at a time (selection AND NOT null, 8 rows per
 * table lookup: nulls.ts) in a small scratch buffer that stays in cache, so
 * the hot loops never test bits.
 *
 * Exactness. Quantized values are integers with |q| <= 2^31; partials live in
 * doubles and are folded into BigInt totals between blocks of FOLD_ROWS =
 * 2^21 rows whenever they pass 2^52, so every addition is exact (quantum.ts,
 * step 5). Counts are plain doubles: they never exceed 2^32.
 *
 * Clamping uses Math.min/Math.max rather than ternaries: V8 lowers them to
 * branch-free minsd/maxsd sequences, which measured faster on data that
 * crosses the bounds unpredictably. They propagate NaN, as C++ does when it
 * spells the clamp std::min(std::max(x, lower), upper) (std::max(a, b) is
 * a < b ? b : a, so x must come first); the NaN then surfaces at the fold.
 */

/** Rows of a null-folded mask built at a time: 64 KiB, cache resident. Divides FOLD_ROWS. */
const MASK_BLOCK = 1 << 16

type Values = Float64Array | Int32Array

export function aggregate(request: AggregateRequest): AggregateResult {
  validateRequest(request)
  return aggregateValidated(request)
}

/** The kernel without its guard, for callers that validated the request already. */
export function aggregateValidated(request: AggregateRequest): AggregateResult {
  const { rows, selection, grouping, measures } = request
  const codes = grouping === null ? null : grouping.codes
  const groups = grouping === null ? 1 : grouping.count
  const ctx: Context = { rows, selection, codes, groups, scratch: null }
  const results: (MeasureResult | null)[] = new Array<MeasureResult | null>(measures.length).fill(null)
  let count: Float64Array | null = null

  for (let i = 0; i < measures.length; i++) {
    const m = measures[i]
    if (m.kind === 'moments') {
      const r = moments(ctx, m, `measures[${i}]`)
      results[i] = r
      if (count === null && m.column.nulls === null) count = r.nonNull.slice()
    } else if (m.kind === 'histogram') {
      results[i] = histogram(ctx, m, `measures[${i}]`)
    } else if (m.column.nulls !== null) {
      results[i] = { kind: 'nonNull', nonNull: nonNullCounts(ctx, m.column.nulls) }
    }
  }
  const total = count ?? countRows(ctx)
  // A nonNull measure over a column without nulls counts exactly the selected rows.
  const out = results.map((r): MeasureResult => r ?? { kind: 'nonNull', nonNull: total.slice() })
  return { count: total, measures: out }
}

interface Context {
  readonly rows: number
  readonly selection: Selection | null
  readonly codes: CodeArray | null
  readonly groups: number
  scratch: Uint8Array | null
}

function scratchOf(ctx: Context): Uint8Array {
  ctx.scratch ??= new Uint8Array(Math.min(ctx.rows, MASK_BLOCK))
  return ctx.scratch
}

function moments(
  ctx: Context,
  m: Extract<Measure, { kind: 'moments' }>,
  at: string,
): Extract<MeasureResult, { kind: 'moments' }> {
  const { rows, selection, codes, groups } = ctx
  const v = m.column.values
  const nulls = m.column.nulls
  const lo = m.lower
  const hi = m.upper
  const scale = quantumScale(m.quantum)
  const squares = m.squares
  const nonNull = new Float64Array(groups)
  const sum = new Array<bigint>(groups).fill(0n)
  const sumSquares = squares ? new Array<bigint>(groups).fill(0n) : null

  if (codes === null) {
    // acc = [selected non-null rows, sum partial, squares partial]
    const acc = new Float64Array(3)
    for (let start = 0; start < rows; start += FOLD_ROWS) {
      const end = Math.min(rows, start + FOLD_ROWS)
      acc.fill(0)
      if (nulls !== null) {
        const mask = scratchOf(ctx)
        for (let s = start; s < end; s += MASK_BLOCK) {
          const e = Math.min(end, s + MASK_BLOCK)
          buildMask(mask, selection, nulls, s, e)
          if (squares) momentsMaskedSq(v, mask, s, s, e, lo, hi, scale, SQ_SCALE, acc)
          else momentsMasked(v, mask, s, s, e, lo, hi, scale, acc)
        }
      } else if (selection !== null) {
        if (squares) momentsMaskedSq(v, selection, 0, start, end, lo, hi, scale, SQ_SCALE, acc)
        else momentsMasked(v, selection, 0, start, end, lo, hi, scale, acc)
      } else if (squares) {
        momentsAllSq(v, start, end, lo, hi, scale, SQ_SCALE, acc)
      } else {
        momentsAll(v, start, end, lo, hi, scale, acc)
      }
      nonNull[0] += acc[0]
      sum[0] = sum[0] + exact(acc[1], at)
      if (sumSquares !== null) sumSquares[0] = sumSquares[0] + exact(acc[2], at)
    }
  } else {
    const psum = new Float64Array(groups)
    const psq = squares ? new Float64Array(groups) : psum
    for (let start = 0; start < rows; start += FOLD_ROWS) {
      const end = Math.min(rows, start + FOLD_ROWS)
      if (nulls !== null) {
        const mask = scratchOf(ctx)
        for (let s = start; s < end; s += MASK_BLOCK) {
          const e = Math.min(end, s + MASK_BLOCK)
          buildMask(mask, selection, nulls, s, e)
          if (squares) groupedMaskedSq(v, mask, s, codes, s, e, lo, hi, scale, SQ_SCALE, nonNull, psum, psq)
          else groupedMasked(v, mask, s, codes, s, e, lo, hi, scale, nonNull, psum)
        }
      } else if (selection !== null) {
        if (squares) groupedMaskedSq(v, selection, 0, codes, start, end, lo, hi, scale, SQ_SCALE, nonNull, psum, psq)
        else groupedMasked(v, selection, 0, codes, start, end, lo, hi, scale, nonNull, psum)
      } else if (squares) {
        groupedAllSq(v, codes, start, end, lo, hi, scale, SQ_SCALE, nonNull, psum, psq)
      } else {
        groupedAll(v, codes, start, end, lo, hi, scale, nonNull, psum)
      }
      const last = end === rows
      fold(psum, sum, at, last)
      if (sumSquares !== null) fold(psq, sumSquares, at, last)
    }
  }
  return { kind: 'moments', nonNull, sum, sumSquares }
}

/** A partial as an exact BigInt; a NaN partial means a NaN value was selected. */
function exact(partial: number, at: string): bigint {
  if (Number.isNaN(partial)) throw nanError(at)
  return BigInt(partial)
}

/**
 * Folds into the totals every partial that could not take another block
 * exactly (|p| > FOLD_LIMIT, or NaN), or, after the last block, every non-zero
 * one. Folding only the large ones keeps a million-group aggregate from
 * paying a million BigInt additions per block.
 */
function fold(partial: Float64Array, totals: bigint[], at: string, last: boolean): void {
  for (let g = 0; g < partial.length; g++) {
    const p = partial[g]
    if (last ? p !== 0 : !(Math.abs(p) <= FOLD_LIMIT)) {
      totals[g] = totals[g] + exact(p, at)
      partial[g] = 0
    }
  }
}

function nanError(at: string): Error {
  return badArgument(`${at}.column holds NaN in a selected non-null row`)
}

// The hot loops. Each is monomorphic in its flags; keep them small and alike.

function momentsAll(
  v: Values,
  start: number,
  end: number,
  lo: number,
  hi: number,
  scale: number,
  acc: Float64Array,
): void {
  let s = 0
  for (let i = start; i < end; i++) s += Math.floor(Math.min(Math.max(v[i], lo), hi) * scale + 0.5)
  acc[0] = acc[0] + (end - start)
  acc[1] = acc[1] + s
}

function momentsAllSq(
  v: Values,
  start: number,
  end: number,
  lo: number,
  hi: number,
  scale: number,
  sqScale: number,
  acc: Float64Array,
): void {
  let s = 0
  let ss = 0
  for (let i = start; i < end; i++) {
    const q = Math.floor(Math.min(Math.max(v[i], lo), hi) * scale + 0.5)
    s += q
    ss += Math.floor(q * q * sqScale + 0.5)
  }
  acc[0] = acc[0] + (end - start)
  acc[1] = acc[1] + s
  acc[2] = acc[2] + ss
}

/** `mask[i - base]` gates row i: base is 0 for the selection, the block start for a scratch mask. */
function momentsMasked(
  v: Values,
  mask: Uint8Array,
  base: number,
  start: number,
  end: number,
  lo: number,
  hi: number,
  scale: number,
  acc: Float64Array,
): void {
  let n = 0
  let s = 0
  for (let i = start; i < end; i++) {
    if (mask[i - base] !== 0) {
      s += Math.floor(Math.min(Math.max(v[i], lo), hi) * scale + 0.5)
      n++
    }
  }
  acc[0] = acc[0] + n
  acc[1] = acc[1] + s
}

function momentsMaskedSq(
  v: Values,
  mask: Uint8Array,
  base: number,
  start: number,
  end: number,
  lo: number,
  hi: number,
  scale: number,
  sqScale: number,
  acc: Float64Array,
): void {
  let n = 0
  let s = 0
  let ss = 0
  for (let i = start; i < end; i++) {
    if (mask[i - base] !== 0) {
      const q = Math.floor(Math.min(Math.max(v[i], lo), hi) * scale + 0.5)
      s += q
      ss += Math.floor(q * q * sqScale + 0.5)
      n++
    }
  }
  acc[0] = acc[0] + n
  acc[1] = acc[1] + s
  acc[2] = acc[2] + ss
}

function groupedAll(
  v: Values,
  codes: CodeArray,
  start: number,
  end: number,
  lo: number,
  hi: number,
  scale: number,
  cnt: Float64Array,
  sum: Float64Array,
): void {
  for (let i = start; i < end; i++) {
    const g = codes[i]
    sum[g] += Math.floor(Math.min(Math.max(v[i], lo), hi) * scale + 0.5)
    cnt[g]++
  }
}

function groupedAllSq(
  v: Values,
  codes: CodeArray,
  start: number,
  end: number,
  lo: number,
  hi: number,
  scale: number,
  sqScale: number,
  cnt: Float64Array,
  sum: Float64Array,
  sq: Float64Array,
): void {
  for (let i = start; i < end; i++) {
    const g = codes[i]
    const q = Math.floor(Math.min(Math.max(v[i], lo), hi) * scale + 0.5)
    sum[g] += q
    sq[g] += Math.floor(q * q * sqScale + 0.5)
    cnt[g]++
  }
}

function groupedMasked(
  v: Values,
  mask: Uint8Array,
  base: number,
  codes: CodeArray,
  start: number,
  end: number,
  lo: number,
  hi: number,
  scale: number,
  cnt: Float64Array,
  sum: Float64Array,
): void {
  for (let i = start; i < end; i++) {
    if (mask[i - base] !== 0) {
      const g = codes[i]
      sum[g] += Math.floor(Math.min(Math.max(v[i], lo), hi) * scale + 0.5)
      cnt[g]++
    }
  }
}

function groupedMaskedSq(
  v: Values,
  mask: Uint8Array,
  base: number,
  codes: CodeArray,
  start: number,
  end: number,
  lo: number,
  hi: number,
  scale: number,
  sqScale: number,
  cnt: Float64Array,
  sum: Float64Array,
  sq: Float64Array,
): void {
  for (let i = start; i < end; i++) {
    if (mask[i - base] !== 0) {
      const g = codes[i]
      const q = Math.floor(Math.min(Math.max(v[i], lo), hi) * scale + 0.5)
      sum[g] += q
      sq[g] += Math.floor(q * q * sqScale + 0.5)
      cnt[g]++
    }
  }
}

function histogram(ctx: Context, m: Extract<Measure, { kind: 'histogram' }>, at: string): MeasureResult {
  const { rows, selection, codes, groups } = ctx
  const { bins, lower: lo, upper: hi } = m
  const v = m.column.values
  const nulls = m.column.nulls
  const counts = new Float64Array(groups * bins)
  const width = hi - lo
  let probe = 0
  if (nulls !== null) {
    const mask = scratchOf(ctx)
    for (let s = 0; s < rows; s += MASK_BLOCK) {
      const e = Math.min(rows, s + MASK_BLOCK)
      buildMask(mask, selection, nulls, s, e)
      probe += histMasked(v, mask, s, codes, s, e, lo, hi, width, bins, counts)
    }
  } else if (selection !== null) {
    probe = histMasked(v, selection, 0, codes, 0, rows, lo, hi, width, bins, counts)
  } else {
    probe = histAll(v, codes, 0, rows, lo, hi, width, bins, counts)
  }
  // The probe sums clamped values, finite or +-Infinity unless one of them was NaN.
  if (Number.isNaN(probe)) throw nanError(at)
  return { kind: 'histogram', counts, bins }
}

/**
 * bin = min(bins - 1, floor((x - lo) / width * bins)). The contract's max(0, .)
 * is implied: x >= lo after the clamp, and rounding is monotone, so every
 * factor is >= 0. Likewise (x - lo) / width <= 1, so only x = hi reaches bins.
 */
function histMasked(
  v: Values,
  mask: Uint8Array,
  base: number,
  codes: CodeArray | null,
  start: number,
  end: number,
  lo: number,
  hi: number,
  width: number,
  bins: number,
  counts: Float64Array,
): number {
  const last = bins - 1
  let probe = 0
  for (let i = start; i < end; i++) {
    if (mask[i - base] !== 0) {
      const x = Math.min(Math.max(v[i], lo), hi)
      probe += x
      const b = Math.floor(((x - lo) / width) * bins)
      counts[(codes === null ? 0 : codes[i] * bins) + (b < last ? b : last)]++
    }
  }
  return probe
}

function histAll(
  v: Values,
  codes: CodeArray | null,
  start: number,
  end: number,
  lo: number,
  hi: number,
  width: number,
  bins: number,
  counts: Float64Array,
): number {
  const last = bins - 1
  let probe = 0
  for (let i = start; i < end; i++) {
    const x = Math.min(Math.max(v[i], lo), hi)
    probe += x
    const b = Math.floor(((x - lo) / width) * bins)
    counts[(codes === null ? 0 : codes[i] * bins) + (b < last ? b : last)]++
  }
  return probe
}

function nonNullCounts(ctx: Context, nulls: NullBitmap): Float64Array {
  const { rows, selection, codes, groups } = ctx
  const out = new Float64Array(groups)
  const mask = scratchOf(ctx)
  for (let s = 0; s < rows; s += MASK_BLOCK) {
    const e = Math.min(rows, s + MASK_BLOCK)
    buildMask(mask, selection, nulls, s, e)
    if (codes === null) {
      let n = 0
      for (let j = 0; j < e - s; j++) n += mask[j]
      out[0] += n
    } else {
      for (let j = 0; j < e - s; j++) out[codes[s + j]] += mask[j]
    }
  }
  return out
}

/** COUNT(*) per group, when no measure's column came without nulls to count it for free. */
function countRows(ctx: Context): Float64Array {
  const { rows, selection, codes, groups } = ctx
  const out = new Float64Array(groups)
  if (codes === null) {
    if (selection === null) {
      out[0] = rows
    } else {
      let n = 0
      for (let i = 0; i < rows; i++) n += (selection[i] + 255) >> 8
      out[0] = n
    }
  } else if (selection === null) {
    for (let i = 0; i < rows; i++) out[codes[i]]++
  } else {
    for (let i = 0; i < rows; i++) out[codes[i]] += (selection[i] + 255) >> 8
  }
  return out
}
