import type { Readable } from 'node:stream'
import type { Worker } from 'node:worker_threads'
import { VeilboxError } from '../errors/index.js'
import type { DatasetSpec } from '../schema.js'
import type { AuditActor } from '../store/audit.js'
import type { Sql } from '../store/sql.js'
import { startWorker } from '../worker-thread.js'
import { discardUpload, stageChunks, startUpload, type ChunkWrite } from '../store/uploads.js'
import { ByteKeys } from './byte-keys.js'
import { ColumnarSink, endOfCsv, type ChunkOut } from './columnar.js'
import { dictionaryParts } from './fast-bytes.js'
import { CsvScanner } from './csv-scan.js'
import { Utf8Checker, type IngestLimits } from './lines.js'
import type { FromParser, ToParser } from './parser-messages.js'
import { publishVersion, type IngestResult } from './publish.js'
import { stageDictionary } from '../store/dictionaries.js'

/**
 * A CSV upload of a dataset without encrypted columns, the fast way: bytes
 * checked as UTF-8, scanned into records (csv-scan.ts), each field checked
 * and packed into column chunks from its bytes (columnar.ts), chunks staged
 * as they fill. All or nothing as ever: any refusal discards the staged
 * chunks, and the version appears only in the final transaction.
 *
 * An upload of WORKER_BYTES or more (or of unknown size) is parsed in a
 * worker thread of its own, so parsing runs beside the network and the store
 * on the other core and never holds the event loop; a smaller one is parsed
 * here, a slice at a time, as starting a thread would cost more than it saves.
 */
export async function ingestCsvColumnar(
  db: Sql,
  spec: DatasetSpec,
  input: Readable,
  actor: AuditActor,
  limits: IngestLimits,
  expectedBytes: number | null,
): Promise<IngestResult> {
  // A stream that failed before reading began (over the upload limit, the client gone) emits no error again.
  if (input.errored) throw input.errored
  const uploadId = await startUpload(db, spec.id)
  try {
    const parsed =
      expectedBytes !== null && expectedBytes < WORKER_BYTES
        ? await parseHere(db, uploadId, spec, input, limits)
        : await parseInWorker(db, uploadId, spec, input, limits)
    return await publishVersion(db, spec.id, uploadId, { ...parsed, encryption: null, actor })
  } catch (err) {
    await discardUpload(db, uploadId)
    throw err
  }
}

/** Uploads from this size on are parsed in a worker thread. */
export const WORKER_BYTES = 4 * 1024 * 1024

/** Bytes scanned between two turns of the event loop (about a millisecond's work). */
const BYTES_PER_TURN = 256 * 1024

/** Bytes sent to the worker and not yet parsed, past which reading the upload waits. */
const MAX_BYTES_IN_FLIGHT = 8 * 1024 * 1024

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

interface Parsed {
  readonly rows: number
  readonly sha256: string
  readonly dictionaries: readonly { column: string; json: string }[]
}

async function parseHere(
  db: Sql,
  uploadId: number,
  spec: DatasetSpec,
  input: Readable,
  limits: IngestLimits,
): Promise<Parsed> {
  const sink = new ColumnarSink(spec, limits.maxFieldChars)
  const scanner = new CsvScanner(sink, limits.maxLineBytes)
  const utf8 = new Utf8Checker()
  let sinceTurn = 0
  for await (const chunk of input) {
    const bytes: Buffer = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : (chunk as Buffer)
    // Slices of at most BYTES_PER_TURN, with a turn of the event loop between them.
    for (let at = 0; at < bytes.length; at += BYTES_PER_TURN) {
      scanner.push(utf8.check(bytes.subarray(at, at + BYTES_PER_TURN), false))
      if (sink.ready.length > 0) await stage(db, uploadId, sink.ready.splice(0))
      sinceTurn += Math.min(BYTES_PER_TURN, bytes.length - at)
      if (sinceTurn >= BYTES_PER_TURN) {
        sinceTurn = 0
        await nextTurn()
      }
    }
  }
  const { sha256, dictionaries } = endOfCsv(scanner, utf8, sink)
  await stage(db, uploadId, sink.ready.splice(0))
  return { rows: sink.rows, sha256, dictionaries }
}

async function parseInWorker(
  db: Sql,
  uploadId: number,
  spec: DatasetSpec,
  input: Readable,
  limits: IngestLimits,
): Promise<Parsed> {
  const worker = startWorker(import.meta.url, 'csv-worker', {
    workerData: { spec, limits },
    // Its garbage is short-lived (a record's fields); V8's default young generation let the thread's heap grow by
    // about 30 MB during a large upload, with no gain in speed measured against 8 MB.
    resourceLimits: { maxYoungGenerationSizeMb: 8 },
  })
  // The keys of the columns the worker hands on as bytes, coded here in order of first appearance.
  const coders = new Map<string, ByteKeys>()
  let inFlight = 0
  let wake: (() => void) | null = null
  let failed: Error | null = null
  let staging: Promise<void> = Promise.resolve()
  let finished: ((p: Parsed) => void) | null = null
  const done = new Promise<Parsed>((resolve, reject) => {
    finished = resolve
    const fail = (err: Error) => {
      failed ??= err
      reject(failed)
      wake?.()
    }
    worker.on('error', fail)
    worker.on('exit', (code) => fail(new Error(`the ingest worker stopped (exit code ${code})`)))
    worker.on('message', (m: FromParser) => {
      switch (m.type) {
        case 'chunks':
          // Staged in order, one write at a time; a failed write fails the upload.
          staging = staging.then(() => stage(db, uploadId, m.chunks, coders)).catch((err: Error) => fail(err))
          return
        case 'consumed':
          // Counted once the chunks parsed before it are staged: memory stays bounded by the store's pace too.
          staging = staging.then(() => {
            inFlight -= m.bytes
            if (inFlight <= MAX_BYTES_IN_FLIGHT / 2) wake?.()
          })
          return
        case 'done':
          staging = staging
            .then(async () => {
              // The coded columns' dictionaries (a million ids: 12 MB) are written while the upload is staged, off
              // this thread where the store can (store/dictionaries.ts), not inside the version's commit.
              for (const [column, keys] of coders)
                await stageDictionary(db, uploadId, column, await dictionaryJsonInTurns(keys))
              finished?.({ rows: m.rows, sha256: m.sha256, dictionaries: m.dictionaries })
            })
            .catch((err: Error) => fail(err))
          return
        case 'refused':
          fail(
            m.error.code === null
              ? new Error(`the ingest worker failed: ${m.error.detail}`)
              : new VeilboxError(m.error.code, m.error.detail, m.error.extra),
          )
      }
    })
  })
  // Settled whichever way the upload goes: a rejection nobody awaits yet must not be an unhandled one.
  done.catch(() => {})
  try {
    for await (const chunk of input) {
      if (failed) break
      const bytes: Buffer = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : (chunk as Buffer)
      // Moved to the worker when the chunk is its memory's only view (a socket read's own buffer), else copied:
      // a pooled buffer shares memory with others.
      const whole = bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.length && !isShared(bytes.buffer)
      const owned = whole ? bytes : Uint8Array.prototype.slice.call(bytes)
      // Counted before the post: a transferred buffer reads as empty here once it is gone.
      const length = owned.length
      post(worker, { type: 'bytes', bytes: owned }, [owned.buffer as ArrayBuffer])
      inFlight += length
      while (inFlight > MAX_BYTES_IN_FLIGHT && !failed) await new Promise<void>((resolve) => (wake = resolve))
      wake = null
    }
    if (!failed) post(worker, { type: 'end' })
    const parsed = await done
    await staging
    return parsed
  } finally {
    worker.removeAllListeners('exit')
    await worker.terminate()
  }
}

function isShared(b: ArrayBufferLike): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && b instanceof SharedArrayBuffer
}

function post(worker: Worker, message: ToParser, transfer: ArrayBuffer[] = []): void {
  worker.postMessage(message, transfer)
}

async function stage(
  db: Sql,
  uploadId: number,
  chunks: readonly ChunkOut[],
  coders: Map<string, ByteKeys> | null = null,
): Promise<void> {
  if (chunks.length === 0) return
  const writes: ChunkWrite[] = []
  for (const c of chunks)
    writes.push({
      column: c.column,
      chunk: c.chunk,
      rows: c.rows,
      encoding: c.chunkData.encoding,
      // From the worker, a Uint8Array over memory now this thread's: the store takes Buffers.
      data: c.raw === undefined ? asBuffer(c.chunkData.data) : await codeKeys(c, coders!),
      nulls: c.chunkData.nulls === null ? null : asBuffer(c.chunkData.nulls),
    })
  // One column chunk per transaction: each holds the event loop for the copy of a few hundred kilobytes only.
  for (const w of writes) await stageChunks(db, uploadId, [w])
}

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)
}

/** Rows of a deferred column coded between two turns of the event loop (a few milliseconds). */
const CODE_ROWS_PER_TURN = 8192

/**
 * A deferred column's chunk coded here: each row's key numbered in order of
 * first appearance (a null row 0), a slice of rows per turn of the event
 * loop (a whole chunk of a million-id upload held it for 20-100 ms).
 */
async function codeKeys(c: ChunkOut, coders: Map<string, ByteKeys>): Promise<Buffer> {
  let keys = coders.get(c.column)
  if (keys === undefined) {
    keys = new ByteKeys()
    coders.set(c.column, keys)
  }
  const { bytes, ends } = c.raw!
  const nulls = c.chunkData.nulls
  const codes = new Uint32Array(c.rows)
  let s = 0
  for (let i = 0; i < c.rows; i++) {
    const e = ends[i]!
    if (nulls === null || ((nulls[i >> 3]! >> (i & 7)) & 1) === 0) codes[i] = keys.code(bytes, s, e)
    s = e
    if ((i + 1) % CODE_ROWS_PER_TURN === 0) await nextTurn()
  }
  return Buffer.from(codes.buffer, codes.byteOffset, codes.byteLength)
}

/** dictionaryJson's bytes, with a turn of the event loop between slices of keys: a million ids are 12 MB of JSON. */
async function dictionaryJsonInTurns(keys: ByteKeys): Promise<Buffer> {
  const parts: Buffer[] = []
  for (const part of dictionaryParts(keys)) {
    parts.push(part)
    await nextTurn()
  }
  return Buffer.concat(parts)
}
