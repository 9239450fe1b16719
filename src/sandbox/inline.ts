import { execTaskSchema, buildAggregateRequest, type ExecTask } from '../engine/exec/task.js'
import { tsKernel, type Kernel } from '../engine/exec/kernel.js'
import type { AggregateResult } from '../engine/exec/types.js'
import type { ColumnStore } from '../engine/exec/column-store.js'
import { VeilboxError } from '../errors/index.js'
import type { Executor } from '../engine/exec/executor.js'

/** Runs tasks on the calling thread: for tools and tests, never for the service. */
export class InlineExecutor implements Executor {
  constructor(
    private readonly store: ColumnStore,
    private readonly k: Kernel = tsKernel,
  ) {}

  get kernel(): string {
    return this.k.name
  }

  async execute(task: ExecTask): Promise<AggregateResult> {
    const checked = execTaskSchema.parse(task)
    if (checked.encrypted !== undefined) {
      throw new VeilboxError(
        'VEILBOX_ERR_EXEC_BAD_ARGUMENT',
        'encrypted aggregates run in the sandbox pool, not inline',
      )
    }
    const lease = await this.store.acquire(checked.dataset, checked.version)
    try {
      const v = lease.version
      return this.k.aggregate(buildAggregateRequest(checked, { rows: v.rows, columns: v.columns, keep: v.keep }))
    } finally {
      lease.release()
    }
  }

  async close(): Promise<void> {}
}
