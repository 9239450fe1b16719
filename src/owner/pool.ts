import { fileURLToPath } from 'node:url'
import { Piscina } from 'piscina'
import { errorFromData, VeilboxError, type ErrorData } from '../errors/index.js'
import type { BatchEncrypter, BatchJob } from './writer.js'

/**
 * The data owner's encryption workers: a piscina pool of `size` threads
 * (worker.ts), each with its own SEAL, context and keys, encrypting whole
 * batches while the main thread reads the CSV and writes. A batch's values
 * are transferred, not copied, and come back as ciphertext lines. The order
 * of the output is the writer's business (writer.ts), not the pool's.
 *
 * A refusal in a worker (a value out of bounds, which the main thread checks
 * first anyway) comes back as the same VeilboxError; a worker that cannot
 * open the keys, or fails otherwise, fails the batch with
 * VEILBOX_ERR_HE_SEAL_FAILURE. `close` ends the threads; each one's
 * WebAssembly heap, and the keys in it, goes with it.
 */

export interface PoolWorkerData {
  readonly keysDir: string
  readonly dataset: string
  /** The profile the main thread read: a worker that finds another refuses to encrypt. */
  readonly profileId: string
}

export type PoolReply = { readonly text: string } | { readonly error: ErrorData }

// Under tsx the sources run as .ts and workers need tsx to load them; the build runs compiled .js.
const FROM_SOURCE = import.meta.url.endsWith('.ts')
const WORKER_FILE = fileURLToPath(new URL(`./worker.${FROM_SOURCE ? 'ts' : 'js'}`, import.meta.url))

const workerFailed = (message: string): VeilboxError =>
  new VeilboxError('VEILBOX_ERR_HE_SEAL_FAILURE', `an encryption worker failed: ${message}`)

export class EncryptionPool implements BatchEncrypter {
  private readonly pool: Piscina
  private closed = false

  constructor(data: PoolWorkerData, size: number) {
    const threads = Math.max(1, size)
    this.pool = new Piscina({
      filename: WORKER_FILE,
      minThreads: threads,
      maxThreads: threads,
      workerData: data,
      // Workers get exactly what loading their module needs, not the parent's loaders and flags.
      execArgv: FROM_SOURCE ? ['--import', 'tsx'] : [],
    })
    // Worker deaths surface as task rejections; this keeps a stray 'error' from being unhandled.
    this.pool.on('error', () => {})
  }

  async encrypt(job: BatchJob): Promise<string> {
    if (this.closed) throw new VeilboxError('VEILBOX_ERR_HE_BAD_ARGUMENT', 'the encryption pool is closed')
    let reply: PoolReply
    try {
      reply = (await this.pool.run(job, { transferList: [job.values.buffer as ArrayBuffer] })) as PoolReply
    } catch (e) {
      throw workerFailed(e instanceof Error ? e.message : String(e))
    }
    if ('error' in reply) throw errorFromData(reply.error, workerFailed)
    return reply.text
  }

  /** Ends the threads (their keys go with their heaps). */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.pool.destroy()
  }
}
