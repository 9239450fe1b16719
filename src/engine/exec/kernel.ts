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
  add(request: AggregateRequest): void
  result(): AggregateResult
}

export const tsKernel: Kernel = Object.freeze({ name: 'ts', aggregate })
