import { aggregate } from './kernel-ts.js'
import type { AggregateRequest, AggregateResult } from './types.js'

/**
 * What the sandbox calls to compute exact aggregates. Two production
 * implementations honour the same contract (types.ts) bit for bit: the
 * TypeScript one (kernel-ts.ts), portable and always there, and the native
 * one, which the loader prefers once it has loaded and passed its self-check
 * against the TypeScript one. The tests check both against the reference
 * (reference.ts). Both validate their request (validate.ts) and throw
 * VEILBOX_ERR_EXEC_* errors, never anything else.
 */
export interface Kernel {
  readonly name: 'ts' | 'native'
  aggregate(request: AggregateRequest): AggregateResult
  /**
   * Optional: one aggregate over consecutive row ranges, each added as a
   * request of its own with the same groups and measures, summed exactly
   * (exec/chunked.ts). Without it, chunked.ts adds up `aggregate`'s results.
   */
  parts?(): KernelParts
}

/** A running aggregate over row ranges: `result()` equals `aggregate` over all of them at once. */
export interface KernelParts {
  /** Whether `add` takes a RowFilter (the native kernel's do); exec/chunked.ts fuses a comparison only then. */
  readonly filters: boolean
  /**
   * `filter`: a WHERE comparison on the column every measure reads (moments
   * only, a column without nulls), applied in the pass as if it were ANDed
   * into the selection.
   */
  add(request: AggregateRequest, filter?: RowFilter): void
  result(): AggregateResult
}

/** Rows with x > gt, x >= ge, x < lt and x <= le (IEEE: NaN fails); ±Infinity where a side is open. */
export interface RowFilter {
  readonly gt: number
  readonly ge: number
  readonly lt: number
  readonly le: number
}

export const tsKernel: Kernel = Object.freeze({ name: 'ts', aggregate })
