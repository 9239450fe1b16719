import type { ExecTask } from './task.js'
import type { AggregateResult } from './types.js'
import type { EncryptedAggregateResult } from '../he/types.js'

/** Exact aggregates, and for a task with encrypted measures their result ciphertexts (one entry per measure). */
export interface ExecResult extends AggregateResult {
  readonly encrypted?: readonly EncryptedAggregateResult[]
}

/**
 * Where exact aggregates are computed. The service runs them in a worker pool
 * (pool.ts); tests and tools may run them inline. Either way the caller gets
 * exact aggregates only and adds the noise itself.
 */
export interface Executor {
  /** Which kernel computes (native or TypeScript). */
  readonly kernel: string
  execute(task: ExecTask): Promise<ExecResult>
  close(): Promise<void>
}
