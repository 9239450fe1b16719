import { workerData } from 'node:worker_threads'
import { isVeilboxError } from '../errors/index.js'
import { joinedColumns } from '../engine/exec/join.js'
import { aggregateChunked } from '../engine/exec/chunked.js'
import { aggregateTask } from '../engine/exec/task.js'
import type { Kernel } from '../engine/exec/kernel.js'
import { loadKernel } from '../engine/exec/loader.js'
import type { Loops } from '../engine/exec/loops.js'
import { runEncrypted } from './encrypted.js'
import { workerRequestSchema, type WorkerResponse } from './protocol.js'

/**
 * A sandbox worker: validates the request, computes the exact aggregates over
 * the shared columns, and answers with them. Encrypted (he) measures are
 * summed on ciphertexts with public Galois keys (encrypted.ts). It never sees
 * an API key, a budget or a secret key, and it adds no noise: that is the
 * main process's job.
 */
// Picked once per worker: the native kernel and loops when they load and pass their self-check here too.
const choice = loadKernel({ native: (workerData as { native?: boolean } | undefined)?.native !== false })
const kernel: Kernel = choice.kernel
const loops: Loops = choice.loops

/** Tells the pool the task has a worker now (its deadline starts). Idempotent: the port is closed after the first call. */
export function signalStart(message: unknown): void {
  const port = (message as { started?: unknown } | null)?.started
  if (port instanceof MessagePort) {
    port.postMessage(1)
    port.close()
  }
}

export default async function run(message: unknown): Promise<WorkerResponse> {
  signalStart(message)
  const parsed = workerRequestSchema.safeParse(message)
  if (!parsed.success) {
    return {
      ok: false,
      code: 'VEILBOX_ERR_SANDBOX_BAD_MESSAGE',
      detail: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
    }
  }
  const { task, rows, keep, columns, he, joined } = parsed.data
  try {
    const own = { rows, keep, columns: new Map(Object.entries(columns)) }
    if ((task.join === undefined) !== (joined === undefined))
      return {
        ok: false,
        code: 'VEILBOX_ERR_SANDBOX_BAD_MESSAGE',
        detail: 'a join task needs the joined version, and only it',
      }
    // A unit join: the joined rows built here, in the sandbox (exec/join.ts), then the kernels as for one dataset.
    const src =
      task.join === undefined || joined === undefined
        ? own
        : joinedColumns(
            { src: own, unit: task.join.leftUnit },
            {
              src: { rows: joined.rows, keep: joined.keep, columns: new Map(Object.entries(joined.columns)) },
              unit: task.join.rightUnit,
            },
            task.join.lookup === true ? 'lookup' : task.join.maxRowsPerUnit,
            new Map(task.join.columns.map((c) => [c.name, { side: c.side, column: c.column }])),
          )
    // Plaintext measures by row ranges, each column read from memory once (exec/chunked.ts).
    if (task.encrypted === undefined) return { ok: true, result: aggregateChunked(kernel, task, src, loops) }
    const { request, result } = aggregateTask(kernel, task, src, loops)
    if (he === undefined)
      return {
        ok: false,
        code: 'VEILBOX_ERR_SANDBOX_BAD_MESSAGE',
        detail: 'the task has encrypted measures but no ciphertexts or keys were sent',
      }
    // SEAL's wasm is compiled on first use (contextFor): a worker that never sees an encrypted column never loads it.
    return { ok: true, result: { ...result, encrypted: await runEncrypted(he, task.encrypted, request) } }
  } catch (err) {
    if (isVeilboxError(err)) return { ok: false, code: err.code, detail: err.detail }
    throw err
  }
}
