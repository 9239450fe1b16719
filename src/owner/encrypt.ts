import os from 'node:os'
import { Transform, type Readable, type Writable } from 'node:stream'
import { once } from 'node:events'
import { VeilboxError } from '../errors/index.js'
import { ColumnEncryptor } from '../engine/he/encrypt.js'
import { KeyStore } from '../engine/he/keystore.js'
import type { HeProfile } from '../engine/he/profile.js'
import { columnBatchRows } from '../engine/he/upload.js'
import type { ColumnSpec, DatasetSpec } from '../schema.js'
import { RowChecker } from '../ingest/rows.js'
import { csvRecords } from './csv.js'
import { Layout } from './layout.js'
import { EncryptionPool } from './pool.js'
import { cipherLines, EncryptedUploadWriter, type BatchEncrypter, type BatchJob } from './writer.js'

/**
 * The data owner's encryption (`veilbox encrypt`, and the demo's encrypted dataset). Reads a CSV (streamed), encrypts
 * its `he` columns with the owner's secret key from the custodian's key
 * directory (seeded symmetric encryption, full batches), keeps every other
 * column as the text it was, and writes an encrypted upload
 * (src/engine/he/upload.ts) for `veilbox ingest` or POST
 * /v1/datasets/{id}/versions. The plaintext of the he columns never leaves
 * this process: what the file holds of them is ciphertext.
 *
 * Batches are encrypted by a pool of worker threads (pool.ts; one per core
 * by default) while this thread parses, checks and writes; the writer
 * (writer.ts) keeps the output in the one order a single thread would write
 * and at most `maxInFlight` batches in memory. A file of less than one batch
 * is encrypted in this thread: starting workers would cost more than it saves.
 */

/**
 * Batches in flight by default: enough for the main thread to read ahead
 * while the workers start (each loads SEAL and builds its context, about half
 * a second), and small: a batch is 8,192 values (64 KB), its rows' text
 * (about 200 KB for the benchmark's rows) and at most its ciphertext lines
 * (about 580 KB at n = 8192, values and squares), so 16 of them stay under
 * 14 MB whatever the file size.
 */
export const DEFAULT_IN_FLIGHT = 16

export interface EncryptOptions {
  /** Encryption worker threads; 0 encrypts in this thread. Default: os.availableParallelism(). */
  readonly workers?: number
  /** Batches being encrypted or waiting to be written, at most. Default: DEFAULT_IN_FLIGHT. */
  readonly maxInFlight?: number
  /** Progress: rows so far and bytes read. */
  readonly onRow?: (rows: number, bytesIn: number) => void
}

/**
 * The encrypter encryptCsv uses: the worker pool, started when the first
 * batch fills; before that (a file of less than one batch), this thread,
 * with keys loaded only then.
 */
class OwnerEncrypter implements BatchEncrypter {
  private pool: EncryptionPool | null = null
  private local: ColumnEncryptor | null = null

  constructor(
    private readonly keystore: KeyStore,
    private readonly keysDir: string,
    private readonly profile: HeProfile,
    private readonly workers: number,
  ) {}

  async encrypt(job: BatchJob): Promise<string> {
    const full = job.values.length === columnBatchRows(this.profile, job.column)
    if (this.pool === null && this.workers > 0 && full)
      this.pool = new EncryptionPool(
        { keysDir: this.keysDir, dataset: this.profile.dataset, profileId: this.profile.id },
        this.workers,
      )
    if (this.pool !== null) return this.pool.encrypt(job)
    this.local ??= await ColumnEncryptor.open(this.keystore, this.profile.dataset)
    return cipherLines(this.local, job)
  }

  /** Deletes every copy of the keys: the workers' and this thread's. */
  async close(): Promise<void> {
    try {
      await this.pool?.close()
    } finally {
      this.local?.close()
    }
  }
}

export interface EncryptStats {
  readonly rows: number
  readonly bytesIn: number
  readonly bytesOut: number
  readonly seconds: number
  readonly profileId: string
}

/** The he columns as a schema, so the owner's values are checked by the same rules as any upload's. */
function heSpec(profile: HeProfile): DatasetSpec {
  const columns: ColumnSpec[] = profile.columns.map((c) => ({
    name: c.name,
    type: c.type,
    protection: 'he',
    lower: c.lower,
    upper: c.upper,
    ...(c.scheme === 'bfv' && c.scale > 0 ? { scale: c.scale } : {}),
  }))
  return {
    id: profile.dataset,
    title: profile.dataset,
    classification: 'internal',
    privacyUnit: 'unit',
    maxRowsPerUnit: 1,
    columns: [{ name: 'unit', type: 'id', protection: 'public' }, ...columns],
  }
}

/**
 * Encrypts `input` (CSV with a header row) into `output`. Throws, having
 * written an unusable file (no end line), when a row is bad: the service
 * refuses such a file whole.
 */
export async function encryptCsv(
  keysDir: string,
  dataset: string,
  input: Readable,
  output: Writable,
  options: EncryptOptions = {},
): Promise<EncryptStats> {
  const started = Date.now()
  const workers = Math.max(0, Math.floor(options.workers ?? os.availableParallelism()))
  const maxInFlight = options.maxInFlight ?? DEFAULT_IN_FLIGHT
  const keystore = await KeyStore.open(keysDir)
  const profile = await keystore.profile(dataset)
  const encrypter = new OwnerEncrypter(keystore, keysDir, profile, workers)
  let bytesIn = 0
  let bytesOut = 0
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytesIn += chunk.length
      done(null, chunk)
    },
  })
  // Text is gathered into writes of about 256 KB: a write per row would cost more than the encryption.
  let pending: string[] = []
  let pendingBytes = 0
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return
    const chunk = pending.length === 1 ? pending[0]! : pending.join('')
    pending = []
    pendingBytes = 0
    bytesOut += Buffer.byteLength(chunk)
    if (!output.write(chunk)) await once(output, 'drain')
  }
  const write = (text: string): void | Promise<void> => {
    pending.push(text)
    pendingBytes += text.length
    return pendingBytes >= 256 * 1024 ? flush() : undefined
  }
  // Set by the header (in `record`): typed so, not narrowed to their first value.
  let writer = null as EncryptedUploadWriter | null
  try {
    const spec = heSpec(profile)
    const checker = new RowChecker(spec)
    const heCols = profile.columns.map((c) => spec.columns.find((s) => s.name === c.name)!)
    // Lines are counted here, a record's own line plus the line breaks inside its quoted
    // fields (csv-parse's `info` per record would make it 2.5x slower); empty lines are skipped here too.
    let line = 0
    input.on('error', (err) => counter.destroy(err))
    input.pipe(counter)
    let layout = null as Layout | null
    let row = 0
    const he: number[] = new Array<number>(heCols.length).fill(0)
    /** A record split into fields: the header, or a row. */
    const record = (fields: string[]): void | Promise<void> => {
      if (fields.length === 1 && fields[0] === '') return
      if (layout === null) {
        layout = new Layout(
          fields.map((h) => h.trim()),
          heCols.map((c) => c.name),
        )
        writer = new EncryptedUploadWriter(
          profile,
          { dataset, columns: [...layout.plainNames], he: heCols.map((c) => c.name) },
          write,
          encrypter,
          { maxInFlight },
        )
        return writer.start()
      }
      row += 1
      const pos = { row, line }
      layout.checkWidth(fields.length, pos)
      for (let k = 0; k < he.length; k++) he[k] = checker.fromText(heCols[k]!, fields[layout.heAt[k]!]!, pos) as number
      // The plain cells moved to the front of the record, in order (plainAt ascends): no array per row.
      const plainAt = layout.plainAt
      for (let k = 0; k < plainAt.length; k++) fields[k] = fields[plainAt[k]!]!
      fields.length = plainAt.length
      return writer!.addRow(fields, he)
    }
    for await (const batch of csvRecords(counter)) {
      if (batch.kind === 'records')
        for (const fields of batch.records) {
          line += 1
          for (const f of fields) for (let i = f.indexOf('\n'); i !== -1; i = f.indexOf('\n', i + 1)) line += 1
          const wait = record(fields)
          if (wait !== undefined) await wait
          options.onRow?.(row, bytesIn)
        }
      else
        for (const text of batch.lines) {
          line += 1
          // The usual row is read where it lies; anything else (the header, an empty line, a field too many
          // or too few, an escape JSON would need) goes the way of any record.
          const fields = layout === null ? null : layout.read(text)
          let wait: void | Promise<void>
          if (fields === null) wait = record(text.split(','))
          else {
            row += 1
            const pos = { row, line }
            for (let k = 0; k < he.length; k++) he[k] = checker.fromText(heCols[k]!, fields.he(k), pos) as number
            wait = writer!.addRowJson(fields.plainJson(), he)
          }
          if (wait !== undefined) await wait
          options.onRow?.(row, bytesIn)
        }
    }
    if (writer === null)
      throw new VeilboxError('VEILBOX_ERR_INGEST_EMPTY', 'the CSV is empty: it needs a header row and data rows')
    const rows = await writer.finish()
    await flush()
    return { rows, bytesIn, bytesOut, seconds: (Date.now() - started) / 1000, profileId: profile.id }
  } catch (e) {
    // No encryption may still run when the keys are deleted; the file stays without its end line.
    await writer?.abandon()
    throw e
  } finally {
    await encrypter.close()
  }
}
