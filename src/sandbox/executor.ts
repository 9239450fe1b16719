import type { ExecTask } from '../engine/exec/task.js'
import type { AggregateResult } from '../engine/exec/types.js'

/**
 * Where exact aggregates are computed. The service runs them in a worker pool
 * (pool.ts); tests and tools may run them inline. Either way the caller gets
 * exact aggregates only and adds the noise itself.
 */
export interface Executor {
  /** Which kernel computes (native or TypeScript). */
  readonly kernel: string
  execute(task: ExecTask): Promise<AggregateResult>
  close(): Promise<void>
}
