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
}

export const tsKernel: Kernel = Object.freeze({ name: 'ts', aggregate })
