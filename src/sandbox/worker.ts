import { isVeilboxError } from '../errors/index.js'
import { buildAggregateRequest } from '../engine/exec/task.js'
import { tsKernel, type Kernel } from '../engine/exec/kernel.js'
import { workerRequestSchema, type WorkerResponse } from './protocol.js'

/**
 * A sandbox worker: validates the request, computes the exact aggregates over
 * the shared columns, and answers with them. It never sees a key, a budget or
 * a secret, and it adds no noise: that is the main process's job.
 */
const kernel: Kernel = tsKernel

export default async function run(message: unknown): Promise<WorkerResponse> {
  const parsed = workerRequestSchema.safeParse(message)
  if (!parsed.success) {
    return { ok: false, code: 'VEILBOX_ERR_SANDBOX_BAD_MESSAGE', detail: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') }
  }
  const { task, rows, keep, keepAll, columns } = parsed.data
  try {
    const request = buildAggregateRequest(task, { rows, keep, keepAll, columns: new Map(Object.entries(columns)) })
    return { ok: true, result: kernel.aggregate(request) }
  } catch (err) {
    if (isVeilboxError(err)) return { ok: false, code: err.code, detail: err.detail }
    throw err
  }
}
