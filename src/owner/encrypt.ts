import { Transform, type Readable, type Writable } from 'node:stream'
import { once } from 'node:events'
import { parse as csvParse } from 'csv-parse'
import { VeilboxError } from '../errors/index.js'
import { ColumnEncryptor } from '../engine/he/encrypt.js'
import { KeyStore } from '../engine/he/keystore.js'
import type { HeProfile } from '../engine/he/profile.js'
import { EncryptedUploadWriter } from '../engine/he/upload.js'
import type { ColumnSpec, DatasetSpec } from '../schema.js'
import { RowChecker } from '../ingest/rows.js'

/**
 * The data owner's encryption (`veilbox encrypt`, and the demo's encrypted dataset). Reads a CSV (streamed), encrypts
 * its `he` columns with the owner's secret key from the custodian's key
 * directory (seeded symmetric encryption, full batches), keeps every other
 * column as the text it was, and writes an encrypted upload
 * (src/engine/he/upload.ts) for `veilbox ingest` or POST
 * /v1/datasets/{id}/versions. The plaintext of the he columns never leaves
 * this process: what the file holds of them is ciphertext.
 */

/**
 * The parser's records in batches, as many as are readable at a time: an
 * await per record (the stream's own async iterator) costs more than
 * parsing the record.
 */
async function* batches(parser: Readable): AsyncGenerator<string[][]> {
  const ended = new Promise<void>((resolve, reject) => {
    parser.once('end', resolve)
    parser.once('error', reject)
  })
  let done = false
  void ended.then(
    () => (done = true),
    () => (done = true),
  )
  for (;;) {
    const batch: string[][] = []
    for (let record = parser.read() as string[] | null; record !== null; record = parser.read() as string[] | null) {
      batch.push(record)
    }
    if (batch.length > 0) yield batch
    if (done) break
    await Promise.race([once(parser, 'readable'), ended])
  }
  await ended
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
 * Encrypts `input` (CSV with a header row) into `output`. `onRow` reports
 * progress. Throws, having written an unusable file (no end line), when a
 * row is bad: the service refuses such a file whole.
 */
export async function encryptCsv(
  keysDir: string,
  dataset: string,
  input: Readable,
  output: Writable,
  onRow?: (rows: number, bytesIn: number) => void,
): Promise<EncryptStats> {
  const started = Date.now()
  const keystore = await KeyStore.open(keysDir)
  const encryptor = await ColumnEncryptor.open(keystore, dataset)
  let bytesIn = 0
  let bytesOut = 0
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytesIn += chunk.length
      done(null, chunk)
    },
  })
  // Lines are gathered into writes of about 256 KB: a write per row would cost more than the encryption.
  let pending: string[] = []
  let pendingBytes = 0
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return
    const chunk = `${pending.join('\n')}\n`
    pending = []
    pendingBytes = 0
    if (!output.write(chunk)) await once(output, 'drain')
  }
  const write = (line: string): void | Promise<void> => {
    bytesOut += Buffer.byteLength(line) + 1
    pending.push(line)
    pendingBytes += line.length
    return pendingBytes >= 256 * 1024 ? flush() : undefined
  }
  try {
    const profile = encryptor.profile
    const spec = heSpec(profile)
    const checker = new RowChecker(spec)
    const heCols = profile.columns.map((c) => spec.columns.find((s) => s.name === c.name)!)
    // No `info` per record (it makes csv-parse 2.5x slower): lines are counted here, a record's
    // own line plus the line breaks inside its quoted fields; empty lines are skipped here too.
    const parser = csvParse({ bom: true, relax_column_count: true })
    let line = 0
    input.on('error', (err) => parser.destroy(err))
    input.pipe(counter).pipe(parser)
    let writer: EncryptedUploadWriter | null = null
    let plainAt: number[] = []
    let heAt: number[] = []
    let width = 0
    let row = 0
    for await (const batch of batches(parser))
      for (const record of batch) {
        line += 1
        for (const f of record) for (let i = f.indexOf('\n'); i !== -1; i = f.indexOf('\n', i + 1)) line += 1
        if (record.length === 1 && record[0] === '') continue
        if (writer === null) {
          const names = record.map((h) => h.trim())
          width = names.length
          if (new Set(names).size !== names.length)
            throw new VeilboxError('VEILBOX_ERR_INGEST_BAD_HEADER', 'the CSV header names a column twice')
          heAt = heCols.map((c) => {
            const i = names.indexOf(c.name)
            if (i < 0)
              throw new VeilboxError('VEILBOX_ERR_INGEST_BAD_HEADER', `the CSV header lacks the he column ${c.name}`, {
                column: c.name,
              })
            return i
          })
          plainAt = names.map((_, i) => i).filter((i) => !heAt.includes(i))
          writer = new EncryptedUploadWriter(
            encryptor,
            { dataset, columns: plainAt.map((i) => names[i]!), he: heCols.map((c) => c.name) },
            write,
          )
          await writer.start()
          continue
        }
        row += 1
        const pos = { row, line }
        if (record.length !== width)
          throw new VeilboxError(
            'VEILBOX_ERR_INGEST_BAD_ROW',
            `data row ${row} (line ${pos.line}) has ${record.length} fields; the header has ${width}`,
            { row, line: pos.line },
          )
        const he = heAt.map((i, k) => checker.fromText(heCols[k]!, record[i]!, pos) as number)
        const wait = writer.addRow(
          plainAt.map((i) => record[i]!),
          he,
        )
        if (wait !== undefined) await wait
        onRow?.(row, bytesIn)
      }
    if (writer === null)
      throw new VeilboxError('VEILBOX_ERR_INGEST_EMPTY', 'the CSV is empty: it needs a header row and data rows')
    const rows = await writer.finish()
    await flush()
    return { rows, bytesIn, bytesOut, seconds: (Date.now() - started) / 1000, profileId: profile.id }
  } finally {
    encryptor.close()
  }
}
