import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { Piscina } from 'piscina'
import { errorFromData, VeilboxError, type ErrorData } from '../errors/index.js'
import type { HeProfile } from '../engine/he/profile.js'
import { type CiphertextChecker, MAX_CIPHERTEXT_BYTES } from '../engine/he/upload.js'

/**
 * The ciphertexts of an encrypted upload, checked beside its rows.
 *
 * Each ciphertext line's data is decoded (canonical base64 only), bounded in
 * size and loaded into SEAL to check it is a fresh encryption under its
 * context (CiphertextChecker): about 2.5 ms at n = 8192, 246 times for a
 * million rows with squares. The main thread has the rows to check and store
 * meanwhile, so the checks go to a worker thread (cipher-worker.ts: its own
 * SEAL and contexts), shared by the process's uploads, started on first use
 * and ended when idle. An upload's first few ciphertexts are checked here (a
 * small upload never starts a thread), and so is any that would find more
 * than a few waiting for the worker (while it starts, say): the main thread
 * never waits for a worker when it could do the check itself, and at most
 * POOL_PENDING ciphertexts (a few MB) wait per upload.
 */

export interface CipherJob {
  readonly context: number
  /** The line's base64. */
  readonly data: string
  /** The ciphertext named for refusals: "line 12: the values of column amount, batch 0". */
  readonly what: string
  readonly line: number
}

export function malformed(line: number, detail: string): VeilboxError {
  return new VeilboxError(
    'VEILBOX_ERR_INGEST_MALFORMED',
    `line ${line} of the encrypted upload: ${detail}; nothing was stored`,
    { line },
  )
}

/** A ciphertext line's bytes, checked: canonical base64, no larger than any profile makes, fresh under its context. */
export function readCiphertext(checker: CiphertextChecker, job: CipherJob): Uint8Array {
  const bytes = Buffer.from(job.data, 'base64')
  // Node's decoder skips what is not base64; encoding back must give the very text.
  if (bytes.toString('base64') !== job.data) throw malformed(job.line, 'a bad ciphertext line (data: must be base64)')
  if (bytes.length > MAX_CIPHERTEXT_BYTES)
    throw malformed(job.line, `a ciphertext of ${bytes.length} bytes is larger than any this profile makes`)
  checker.check(job.context, bytes, job.what)
  return bytes
}

/** What the worker is sent and answers. */
export interface PoolJob extends CipherJob {
  readonly profile: HeProfile
}
/** The checked bytes (moved, not copied), or the refusal. */
export type PoolAnswer = Uint8Array | { readonly error: ErrorData }

/** An upload's first ciphertexts, checked on the main thread. */
const INLINE_FIRST = 4
/** Ciphertexts of one upload waiting for the worker, at most; past it the next is checked here. */
export const POOL_PENDING = 8

// Under tsx the sources run as .ts and workers need tsx to load them; the build runs compiled .js.
const FROM_SOURCE = import.meta.url.endsWith('.ts')

let pool: Piscina | null = null

function checkPool(): Piscina {
  if (pool === null) {
    pool = new Piscina({
      filename: fileURLToPath(new URL(`./cipher-worker.${FROM_SOURCE ? 'ts' : 'js'}`, import.meta.url)),
      minThreads: 0,
      // The main thread has the rows: one thread beside it on two cores, more on more.
      maxThreads: Math.max(1, Math.min(4, os.availableParallelism() - 1)),
      idleTimeout: 30_000,
      execArgv: FROM_SOURCE ? ['--import', 'tsx'] : [],
    })
    pool.on('error', () => {})
  }
  return pool
}

const workerFailed = (message: string): VeilboxError =>
  new VeilboxError('VEILBOX_ERR_HE_SEAL_FAILURE', `a ciphertext check failed unexpectedly: ${message}`)

/** One upload's checks. Results come back as promises; the reader keeps them in file order. */
export class CiphertextChecks {
  private submitted = 0
  private pooled = 0

  constructor(
    private readonly profile: HeProfile,
    private readonly inline: CiphertextChecker,
  ) {}

  check(job: CipherJob): Promise<Uint8Array> {
    this.submitted += 1
    if (this.submitted <= INLINE_FIRST || this.pooled >= POOL_PENDING) {
      try {
        return Promise.resolve(readCiphertext(this.inline, job))
      } catch (e) {
        return Promise.reject(e)
      }
    }
    this.pooled += 1
    const task: PoolJob = { ...job, profile: this.profile }
    return (checkPool().run(task) as Promise<PoolAnswer>)
      .then(
        (answer) => {
          if (answer instanceof Uint8Array) return answer
          throw errorFromData(answer.error, workerFailed)
        },
        (e: unknown) => {
          throw workerFailed(e instanceof Error ? e.message : String(e))
        },
      )
      .finally(() => {
        this.pooled -= 1
      })
  }
}
