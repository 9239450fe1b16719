import type { ColumnEncryptor } from '../engine/he/encrypt.js'
import { heError } from '../engine/he/he-error.js'
import { columnPlan, type HeProfile } from '../engine/he/profile.js'
import { columnBatchRows, ENCRYPTED_FORMAT, type UploadHeader } from '../engine/he/upload.js'

/**
 * The data owner's side of the encrypted upload format
 * (src/engine/he/upload.ts): rows in, text out. Plain cells are written as
 * they come; each he column's values are gathered into full batches, and a
 * batch is handed to a `BatchEncrypter` as soon as it fills (the partial last
 * one at `finish`).
 *
 * Encryption runs beside the writing: the encrypter may be a pool of worker
 * threads (pool.ts) that encrypts several batches at once. The output stays
 * exactly what the one-batch-at-a-time writer wrote: header, the rows up to
 * the one that fills a batch, that batch's ciphertext lines, the next rows,
 * ..., the partial batches, the end line. Text is kept in order in a queue of
 * segments (row text, or a batch being encrypted) and written from the front
 * as far as it is ready. Memory is bounded by design: at most `maxInFlight`
 * batches are being encrypted or waiting to be written; a batch that fills
 * when that many are out waits for the oldest (and the caller with it), so
 * the rows queued behind them are at most (maxInFlight + 1) batches' worth,
 * whatever the file size.
 */

/** One batch of one column to encrypt. `values` is handed over (the encrypter may transfer or wipe it). */
export interface BatchJob {
  readonly column: string
  /** Batch index: rows batch * batchRows onwards. */
  readonly batch: number
  /** 0-based row of values[0], to name a row in a refusal. */
  readonly firstRow: number
  readonly values: Float64Array
}

/** Encrypts batches into ciphertext lines (cipherLines' text). */
export interface BatchEncrypter {
  encrypt(job: BatchJob): Promise<string>
}

/** Where text goes: one or more whole lines, each ending in a line break; a promise when the sink is full. */
export type TextSink = (text: string) => void | Promise<void>

/** A batch handed to the encrypter, its lines once they are ready. */
interface Job {
  settled: boolean
  text: string | null
  error: unknown
  readonly done: Promise<void>
}

/** A job that records its outcome; `done` never rejects. */
function track(encrypted: Promise<string>, settle: () => void): Job {
  const job: { settled: boolean; text: string | null; error: unknown; done: Promise<void> } = {
    settled: false,
    text: null,
    error: null,
    done: Promise.resolve(),
  }
  job.done = encrypted.then(
    (text) => {
      job.text = text
      job.settled = true
      settle()
    },
    (e: unknown) => {
      job.error = e ?? new Error('encryption failed')
      job.settled = true
      settle()
    },
  )
  return job
}

/** A ciphertext line, as JSON.stringify writes it (base64 needs no escaping; the column is an identifier). */
function cipherLine(column: string, kind: string, context: number, batch: number, bytes: Uint8Array): string {
  const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
  return `{"column":${JSON.stringify(column)},"kind":"${kind}","context":${context},"batch":${batch},"data":"${data}"}\n`
}

/**
 * The ciphertext lines of one batch: its values under each SUM context, then
 * its squares under each square context. The job's values are wiped.
 */
export function cipherLines(encryptor: ColumnEncryptor, job: BatchJob): string {
  try {
    const enc = encryptor.encryptBatch(job.column, job.values, job.firstRow)
    const plan = columnPlan(encryptor.profile, job.column)
    let text = ''
    enc.values.forEach((ct, i) => {
      text += cipherLine(job.column, 'values', plan.sumContexts[i]!, job.batch, ct)
    })
    enc.squares?.forEach((ct, i) => {
      text += cipherLine(job.column, 'squares', plan.squareContexts![i]!, job.batch, ct)
    })
    return text
  } finally {
    job.values.fill(0)
  }
}

/** Batches encrypted in this thread, one at a time: small files, and the reference the parallel path is tested against. */
export class InThreadEncrypter implements BatchEncrypter {
  constructor(private readonly encryptor: ColumnEncryptor) {
    if (encryptor.mode !== 'symmetric')
      throw heError('VEILBOX_ERR_HE_BAD_ARGUMENT', 'the data owner encrypts with the secret key (ColumnEncryptor.open)')
  }

  encrypt(job: BatchJob): Promise<string> {
    try {
      return Promise.resolve(cipherLines(this.encryptor, job))
    } catch (e) {
      return Promise.reject(e)
    }
  }
}

export interface WriterOptions {
  /** Batches being encrypted or waiting to be written, at most (default 4). */
  readonly maxInFlight?: number
}

interface Pending {
  readonly column: string
  readonly batchRows: number
  buffer: Float64Array
  filled: number
  batch: number
}

/** Row lines gathered into one segment before it joins the queue. */
const ROWS_PER_SEGMENT = 4096

export class EncryptedUploadWriter {
  private rows = 0
  private readonly pending: Pending[]
  private readonly queue: (string | Job)[] = []
  private rowText: string[] = []
  private inFlight = 0
  private readonly maxInFlight: number

  constructor(
    private readonly profile: HeProfile,
    private readonly header: Omit<UploadHeader, 'format' | 'profileId'>,
    private readonly sink: TextSink,
    private readonly encrypter: BatchEncrypter,
    options: WriterOptions = {},
  ) {
    this.maxInFlight = Math.max(1, options.maxInFlight ?? 4)
    const plan = new Set(profile.columns.map((c) => c.name))
    const he = new Set(header.he)
    for (const c of plan)
      if (!he.has(c))
        throw heError(
          'VEILBOX_ERR_HE_BAD_ARGUMENT',
          `the he column ${c} of the HE profile is not among the file's encrypted columns`,
        )
    for (const c of he)
      if (!plan.has(c))
        throw heError('VEILBOX_ERR_HE_BAD_ARGUMENT', `column ${c} is not an he column of the HE profile`)
    this.pending = header.he.map((column) => {
      const batchRows = columnBatchRows(profile, column)
      return { column, batchRows, buffer: new Float64Array(batchRows), filled: 0, batch: 0 }
    })
  }

  /** Rows written so far. */
  get rowCount(): number {
    return this.rows
  }

  async start(): Promise<void> {
    const h: UploadHeader = { format: ENCRYPTED_FORMAT, profileId: this.profile.id, ...this.header }
    await this.sink(`${JSON.stringify(h)}\n`)
  }

  /**
   * One row: its plain cells (text, header order) and its he values (header
   * `he` order). Returns a promise only when it has to wait (the most batches
   * are in flight, or the sink is full): the caller awaits that, and a million
   * rows cost no million awaits.
   */
  addRow(plain: readonly string[], he: readonly number[]): void | Promise<void> {
    if (plain.length !== this.header.columns.length || he.length !== this.pending.length) {
      throw heError(
        'VEILBOX_ERR_HE_BAD_ARGUMENT',
        `a row needs ${this.header.columns.length} plain cells and ${this.pending.length} he values`,
      )
    }
    return this.addRowJson(JSON.stringify(plain), he)
  }

  /** As addRow, the plain cells given as the JSON array JSON.stringify makes of them. */
  addRowJson(plainJson: string, he: readonly number[]): void | Promise<void> {
    if (this.rows >= this.profile.maxRows) {
      throw heError(
        'VEILBOX_ERR_HE_CAPACITY_EXCEEDED',
        `the file has more than ${this.profile.maxRows} rows, the most the HE keys were made for (sums beyond that could wrap); ask the custodian for keys with a larger maxRows`,
        { maxRows: this.profile.maxRows },
      )
    }
    this.rows += 1
    this.rowText.push(plainJson)
    let full = false
    for (let i = 0; i < this.pending.length; i++) {
      const p = this.pending[i]!
      p.buffer[p.filled++] = he[i]!
      if (p.filled === p.batchRows) full = true
    }
    if (full) {
      this.takeRows()
      return this.submitFull()
    }
    if (this.rowText.length < ROWS_PER_SEGMENT) return
    this.takeRows()
    return this.writeReady()
  }

  /** Encrypts the partial batches, writes everything and the end line; returns the row count. */
  async finish(): Promise<number> {
    if (this.rows === 0) throw heError('VEILBOX_ERR_HE_BAD_ARGUMENT', 'the file has no data rows')
    this.takeRows()
    for (const p of this.pending) {
      if (p.filled === 0) continue
      await this.room()
      this.submit(p)
    }
    this.queue.push(`${JSON.stringify({ end: true, rows: this.rows })}\n`)
    while (this.queue.length > 0) {
      const head = this.queue[0]!
      if (typeof head !== 'string' && !head.settled) await head.done
      await this.writeReady()
    }
    return this.rows
  }

  /**
   * Waits for every batch handed out to settle, without writing anything
   * more: call it before giving up on the file (an error), so that no
   * encryption still runs when the encrypter is closed.
   */
  async abandon(): Promise<void> {
    const jobs = this.queue.filter((s): s is Job => typeof s !== 'string')
    this.queue.length = 0
    this.rowText = []
    for (const p of this.pending) p.buffer.fill(0)
    await Promise.all(jobs.map((j) => j.done))
  }

  private takeRows(): void {
    if (this.rowText.length === 0) return
    this.queue.push(`${this.rowText.join('\n')}\n`)
    this.rowText = []
  }

  private submit(p: Pending): void {
    const values = p.filled === p.batchRows ? p.buffer : p.buffer.slice(0, p.filled)
    if (values !== p.buffer) p.buffer.fill(0)
    const firstRow = p.batch * p.batchRows
    this.inFlight += 1
    this.queue.push(
      track(this.encrypter.encrypt({ column: p.column, batch: p.batch, firstRow, values }), () => {
        this.inFlight -= 1
      }),
    )
    // The encrypter owns the full buffer now (it may transfer it to a worker): the column gets a fresh one.
    p.buffer = new Float64Array(p.batchRows)
    p.filled = 0
    p.batch += 1
  }

  /** Hands out every full batch, each once there is room for it. */
  private async submitFull(): Promise<void> {
    for (const p of this.pending) {
      if (p.filled !== p.batchRows) continue
      await this.room()
      this.submit(p)
    }
    await this.writeReady()
  }

  /** Writes what is ready; while the most batches are in flight, waits for the oldest. */
  private async room(): Promise<void> {
    await this.writeReady()
    while (this.inFlight >= this.maxInFlight) {
      const oldest = this.queue.find((s): s is Job => typeof s !== 'string' && !s.settled)
      if (oldest === undefined) break
      await oldest.done
      await this.writeReady()
    }
  }

  /** Writes the queue's front for as long as it is ready; throws the error of a batch that failed. */
  private async writeReady(): Promise<void> {
    while (this.queue.length > 0) {
      const head = this.queue[0]!
      let text: string
      if (typeof head === 'string') text = head
      else if (!head.settled) return
      else if (head.text === null) throw head.error
      else text = head.text
      this.queue.shift()
      const wait = this.sink(text)
      if (wait !== undefined) await wait
    }
  }
}
