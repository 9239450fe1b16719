import { VeilboxError, type ErrorCode } from '../../errors/index.js'
import { badArgument } from './contract.js'
import type { Kernel, KernelParts, RowFilter } from './kernel.js'
import { tsLoops, type CompareOp, type Loops, type NumericValues, type Store } from './loops.js'
import { quantumScale } from './quantum.js'
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
 * The native kernel: the C++ addon in native/ behind the Kernel interface.
 *
 * The request is validated in JavaScript first (validate.ts, the same guard
 * and the same messages as the TypeScript kernel), then each measure is one
 * call into the addon, which reads the typed arrays in place (no copy, shared
 * memory included) and fills output arrays allocated here. Results are exactly
 * those of kernel-ts.ts: the same integers, the same COUNT(*) shortcut, the
 * same refusals (a NaN in a selected non-null row).
 *
 * Group codes. The addon does not trust the validator for memory safety: it
 * reads every code once and routes an out-of-range one to a spare slot, then
 * reports it. So a grouping that grouping.ts vouched for is not scanned here
 * either, and a code changed after validation (the arrays are shared) gives
 * VEILBOX_ERR_EXEC_BAD_ARGUMENT, never an out-of-bounds write.
 *
 * Errors. Everything the addon throws is mapped to a VeilboxError:
 * VEILBOX_ERR_NATIVE_BAD_CALL when it refused an argument the validator let
 * through (a bug here), VEILBOX_ERR_NATIVE_FAILURE for anything else (out of
 * memory for per-group accumulators, a Node-API failure).
 */

/** What the addon reports about its build and the machine. */
export interface NativeInfo {
  readonly napiVersion: number
  readonly flags: string
  readonly compiler: string
  /** A hash of the sources it was built from (native/source-hash.cjs). */
  readonly source: string
  /** The instruction-set variant the default functions use: 'avx2', 'sse2' or 'generic'. */
  readonly isa: string
  /** Every variant this machine runs, best first. */
  readonly isas: readonly string[]
}

/** One instruction-set variant of the kernels (native/src/simd.h). Each call returns a NativeStatus. */
export interface NativeKernels {
  moments(
    rows: number,
    selection: Selection | null,
    codes: CodeArray | null,
    groups: number,
    values: Float64Array | Int32Array,
    nulls: NullBitmap | null,
    lower: number,
    upper: number,
    scale: number,
    squares: boolean,
    outNonNull: Float64Array,
    outSum: BigInt64Array,
    outSumSquares: BigInt64Array | null,
    /** [gt, ge, lt, le] of a fused comparison (kernel.ts RowFilter), or null. */
    filter: Float64Array | null,
  ): number
  histogram(
    rows: number,
    selection: Selection | null,
    codes: CodeArray | null,
    groups: number,
    values: Float64Array | Int32Array,
    nulls: NullBitmap | null,
    lower: number,
    upper: number,
    bins: number,
    outCounts: Float64Array,
  ): number
  /** COUNT(*) per group when nulls is null, else selected non-null rows per group. */
  counts(
    rows: number,
    selection: Selection | null,
    codes: CodeArray | null,
    groups: number,
    nulls: NullBitmap | null,
    out: Float64Array,
  ): number
}

/** One instruction-set variant of the request-building loops (native/src/masks.h), as loops.ts describes them. */
export interface NativeLoops {
  /** op: 0..5 for = <> < <= > >= (NATIVE_OPS); store: 0..2 for set, and, or (NATIVE_STORES). */
  compare(values: NumericValues, op: number, c: number, out: Uint8Array, store: number): void
  between(values: NumericValues, low: number, high: number, out: Uint8Array, store: number): void
  inList(values: NumericValues, sorted: Float64Array, out: Uint8Array, store: number): void
  lookup(codes: CodeArray, table: Uint8Array, out: Uint8Array, store: number): void
  clearNulls(mask: Uint8Array, nulls: NullBitmap, rows: number): void
  markNulls(mask: Uint8Array, nulls: NullBitmap, rows: number): void
  andMasks(a: Uint8Array, b: Uint8Array): void
  orMasks(a: Uint8Array, b: Uint8Array): void
  notMask(dst: Uint8Array, src: Uint8Array): void
  maxCode(codes: CodeArray): number
  addDigits(
    codes: CodeArray,
    values: CodeArray,
    multiplier: number,
    assign: boolean,
    nulls: NullBitmap | null,
    nullDigit: number,
  ): void
}

/** The addon's exports (native/src/addon.cc): the best variant's kernels and loops, info, and every variant by name. */
export interface NativeBinding extends NativeKernels, NativeLoops {
  info(): NativeInfo
  readonly variants: Readonly<Record<string, NativeKernels & NativeLoops>>
}

/** The addon's status numbers (native/src/kernels.h, Status). */
export const NativeStatus = Object.freeze({ OK: 0, NAN_SELECTED: 1, CODE_OUT_OF_RANGE: 2 })

const KERNEL_FUNCTIONS = ['moments', 'histogram', 'counts'] as const
const LOOP_FUNCTIONS = [
  'compare',
  'between',
  'inList',
  'lookup',
  'clearNulls',
  'markNulls',
  'andMasks',
  'orMasks',
  'notMask',
  'maxCode',
  'addDigits',
] as const

/** The addon's numbering of the comparison operators (masks.h, Op). */
export const NATIVE_OPS: Readonly<Record<CompareOp, number>> = Object.freeze({
  '=': 0,
  '<>': 1,
  '<': 2,
  '<=': 3,
  '>': 4,
  '>=': 5,
})

/** The addon's numbering of the stores of a leaf loop (masks.h, Store). */
export const NATIVE_STORES: Readonly<Record<Store, number>> = Object.freeze({ set: 0, and: 1, or: 2 })

/** An unknown name maps to -1, which the addon refuses. */
function code<K extends string>(table: Readonly<Record<K, number>>, key: K): number {
  return Object.hasOwn(table, key) ? table[key] : -1
}

/** Checks that a loaded module has the addon's shape; throws VEILBOX_ERR_NATIVE_UNAVAILABLE if not. */
export function asNativeBinding(mod: unknown, where: string): NativeBinding {
  const record = (mod ?? {}) as Record<string, unknown>
  const missing = [...KERNEL_FUNCTIONS, 'info'].filter((f) => typeof record[f] !== 'function')
  if (typeof record.variants !== 'object' || record.variants === null) missing.push('variants')
  missing.push(...LOOP_FUNCTIONS.filter((f) => typeof record[f] !== 'function'))
  if (mod === null || typeof mod !== 'object' || missing.length > 0) {
    throw new VeilboxError('VEILBOX_ERR_NATIVE_UNAVAILABLE', `${where} does not export ${missing.join(', ')}`)
  }
  return mod as NativeBinding
}

/**
 * A Kernel over a loaded addon: its best instruction-set variant, or the one
 * named by `isa` (tests check each). Prefer loader.ts, which also runs the
 * self-check.
 */
export function createNativeKernel(binding: NativeBinding, options: { readonly isa?: string } = {}): Kernel {
  const kernels = variantOf(binding, options.isa)
  return Object.freeze({
    name: 'native' as const,
    aggregate: (request: AggregateRequest) => aggregateNative(kernels, request),
    parts: () => new NativeParts(kernels),
  })
}

/**
 * The request-building loops (loops.ts) over a loaded addon: its best
 * instruction-set variant, or the one named by `isa`. Each is one addon call
 * on the arrays themselves (no copy); the addon checks every type and length
 * and refuses a bad call with VEILBOX_ERR_NATIVE_BAD_CALL. Prefer loader.ts,
 * which checks them against the TypeScript loops first.
 */
export function createNativeLoops(binding: NativeBinding, options: { readonly isa?: string } = {}): Loops {
  const k = variantOf(binding, options.isa)
  return Object.freeze({
    name: 'native' as const,
    compare: (values: NumericValues, op: CompareOp, c: number, out: Uint8Array, store: Store = 'set') =>
      run(() => k.compare(values, code(NATIVE_OPS, op), c, out, code(NATIVE_STORES, store))),
    between: (values: NumericValues, low: number, high: number, out: Uint8Array, store: Store = 'set') =>
      run(() => k.between(values, low, high, out, code(NATIVE_STORES, store))),
    in: (values: NumericValues, sorted: Float64Array, out: Uint8Array, store: Store = 'set') =>
      run(() => k.inList(values, sorted, out, code(NATIVE_STORES, store))),
    lookup: (codes: CodeArray, table: Uint8Array, out: Uint8Array, store: Store = 'set') =>
      run(() => k.lookup(codes, table, out, code(NATIVE_STORES, store))),
    clearNulls: (mask: Uint8Array, nulls: NullBitmap, rows: number) => run(() => k.clearNulls(mask, nulls, rows)),
    markNulls: (mask: Uint8Array, nulls: NullBitmap, rows: number) => run(() => k.markNulls(mask, nulls, rows)),
    and: (a: Uint8Array, b: Uint8Array) => run(() => k.andMasks(a, b)),
    or: (a: Uint8Array, b: Uint8Array) => run(() => k.orMasks(a, b)),
    not: (dst: Uint8Array, src: Uint8Array) => run(() => k.notMask(dst, src)),
    maxCode: (codes: CodeArray) => run(() => k.maxCode(codes)),
    addDigits: (
      codes: CodeArray,
      values: CodeArray,
      multiplier: number,
      assign: boolean,
      nulls: NullBitmap | null,
      nullDigit: number,
    ) => run(() => k.addDigits(codes, values, multiplier, assign, nulls, nullDigit)),
  })
}

function variantOf(binding: NativeBinding, isa: string | undefined): NativeKernels & NativeLoops {
  if (isa === undefined) return binding
  const variant = Object.hasOwn(binding.variants, isa) ? binding.variants[isa] : undefined
  if (variant === undefined) {
    throw new VeilboxError(
      'VEILBOX_ERR_NATIVE_UNAVAILABLE',
      `no native kernel variant ${JSON.stringify(isa)} on this machine; it runs ${Object.keys(binding.variants).join(', ')}`,
    )
  }
  return variant
}

export function aggregateNative(binding: NativeKernels, request: AggregateRequest): AggregateResult {
  const parts = new NativeParts(binding)
  parts.add(request)
  return parts.result()
}

/**
 * One request's aggregate over consecutive row ranges (exec/chunked.ts), each
 * range a request of its own with the same groups and measures: the addon adds
 * every range's results into the same outputs (exact int64 and integer
 * counts), converted to a result once at the end. One range gives exactly
 * aggregateNative's result.
 */
export class NativeParts implements KernelParts {
  readonly filters = true
  private shape: { groups: number; measures: readonly Measure[] } | null = null
  private outs: (
    | { kind: 'moments'; nonNull: Float64Array; sum: BigInt64Array; sumSquares: BigInt64Array | null }
    | { kind: 'histogram'; counts: Float64Array; bins: number }
    | { kind: 'nonNull'; nonNull: Float64Array }
    | null
  )[] = []
  /** COUNT(*) per group, when no measure over a column without nulls gives it for free. */
  private total: Float64Array | null = null
  private countFrom = -1

  constructor(private readonly binding: NativeKernels) {}

  add(request: AggregateRequest, rowFilter?: RowFilter): void {
    validateRequest(request)
    const { measures } = request
    const filter =
      rowFilter === undefined ? null : Float64Array.of(rowFilter.gt, rowFilter.ge, rowFilter.lt, rowFilter.le)
    if (
      filter !== null &&
      (filter.some(Number.isNaN) || measures.some((m) => m.kind !== 'moments' || m.column.nulls !== null))
    )
      throw badArgument('a row filter needs moments measures over columns without nulls, and no NaN bound')
    const { rows, selection, grouping } = request
    const codes = grouping === null ? null : grouping.codes
    const groups = grouping === null ? 1 : grouping.count
    if (this.shape === null) this.begin(groups, measures)
    else if (this.shape.groups !== groups || this.shape.measures.length !== measures.length)
      throw badArgument('every part of a request needs the same groups and measures')
    const binding = this.binding
    const status = (s: number, at: string): void => {
      if (s === NativeStatus.OK) return
      if (s === NativeStatus.NAN_SELECTED) throw badArgument(`${at}.column holds NaN in a selected non-null row`)
      if (s === NativeStatus.CODE_OUT_OF_RANGE && codes !== null) {
        throw badArgument(`grouping.codes holds code ${tsLoops.maxCode(codes)}, not below grouping.count = ${groups}`)
      }
      throw new VeilboxError('VEILBOX_ERR_NATIVE_FAILURE', `the native kernel returned status ${String(s)}`)
    }
    for (let i = 0; i < measures.length; i++) {
      const m = measures[i]!
      const o = this.outs[i]!
      const at = `measures[${i}]`
      if (m.kind !== (o === null ? 'nonNull' : o.kind))
        throw badArgument('every part of a request needs the same groups and measures')
      if (m.kind === 'moments' && o !== null && o.kind === 'moments') {
        const { values, nulls } = m.column
        const scale = quantumScale(m.quantum)
        status(
          run(() =>
            binding.moments(
              rows,
              selection,
              codes,
              groups,
              values,
              nulls,
              m.lower,
              m.upper,
              scale,
              m.squares,
              o.nonNull,
              o.sum,
              o.sumSquares,
              filter,
            ),
          ),
          at,
        )
      } else if (m.kind === 'histogram' && o !== null && o.kind === 'histogram') {
        const { values, nulls } = m.column
        status(
          run(() =>
            binding.histogram(rows, selection, codes, groups, values, nulls, m.lower, m.upper, m.bins, o.counts),
          ),
          at,
        )
      } else if (m.kind === 'nonNull' && o !== null && o.kind === 'nonNull' && m.column.nulls !== null) {
        const nulls = m.column.nulls
        status(
          run(() => binding.counts(rows, selection, codes, groups, nulls, o.nonNull)),
          at,
        )
      }
    }
    const total = this.total
    if (total !== null) {
      status(
        run(() => binding.counts(rows, selection, codes, groups, null, total)),
        'count',
      )
    }
  }

  /** Output arrays for the first part's shape. As the TS kernel: a column without nulls counts the selected rows for free. */
  private begin(groups: number, measures: readonly Measure[]): void {
    this.shape = { groups, measures }
    this.outs = measures.map((m, i) => {
      if (m.kind === 'moments') {
        if (this.countFrom < 0 && m.column.nulls === null) this.countFrom = i
        return {
          kind: 'moments' as const,
          nonNull: new Float64Array(groups),
          sum: new BigInt64Array(groups),
          sumSquares: m.squares ? new BigInt64Array(groups) : null,
        }
      }
      if (m.kind === 'histogram')
        return { kind: 'histogram' as const, counts: new Float64Array(groups * m.bins), bins: m.bins }
      return m.column.nulls !== null ? { kind: 'nonNull' as const, nonNull: new Float64Array(groups) } : null
    })
    if (this.countFrom < 0) this.total = new Float64Array(groups)
  }

  result(): AggregateResult {
    if (this.shape === null) throw badArgument('no part was added')
    const from = this.countFrom < 0 ? null : this.outs[this.countFrom]
    const total = from !== null && from !== undefined && from.kind === 'moments' ? from.nonNull.slice() : this.total!
    const measures = this.outs.map((o): MeasureResult => {
      if (o === null) return { kind: 'nonNull', nonNull: total.slice() }
      if (o.kind === 'moments')
        return {
          kind: 'moments',
          nonNull: o.nonNull,
          sum: Array.from(o.sum),
          sumSquares: o.sumSquares === null ? null : Array.from(o.sumSquares),
        }
      if (o.kind === 'histogram') return { kind: 'histogram', counts: o.counts, bins: o.bins }
      return { kind: 'nonNull', nonNull: o.nonNull }
    })
    return { count: total, measures }
  }
}

const NATIVE_CODES: ReadonlySet<string> = new Set<ErrorCode>([
  'VEILBOX_ERR_NATIVE_BAD_CALL',
  'VEILBOX_ERR_NATIVE_FAILURE',
])

/** Runs one addon call, mapping whatever it throws to a VeilboxError. */
function run<T>(fn: () => T): T {
  try {
    return fn()
  } catch (e) {
    const code = (e as { code?: unknown } | null)?.code
    const message = e instanceof Error ? e.message : String(e)
    const mapped: ErrorCode =
      typeof code === 'string' && NATIVE_CODES.has(code) ? (code as ErrorCode) : 'VEILBOX_ERR_NATIVE_FAILURE'
    throw new VeilboxError(mapped, `native kernel: ${message}`, {}, { cause: e })
  }
}
