import { Readable } from 'node:stream'
import { parentPort, workerData } from 'node:worker_threads'
import { errorToData } from '../errors/index.js'
import type { HeProfile } from '../engine/he/profile.js'
import { CiphertextChecker, type CiphertextKind } from '../engine/he/upload.js'
import type { DatasetSpec } from '../schema.js'
import { EncryptedReader, parseLine, type ReaderSink } from './encrypted-reader.js'
import { readLines, type IngestLimits } from './lines.js'
import type { CellValue, RowPosition } from './rows.js'

/**
 * The encrypted upload's parser thread (encrypted.ts): bytes in; lines
 * split and checked as UTF-8 (lines.ts), parsed, rows checked, ciphertexts
 * decoded and checked with SEAL (loaded as the thread starts, while the first
 * rows are read); out go the checked rows, packed ROWS_PER_MESSAGE at a
 * time, and each ciphertext's bytes (moved, not copied), in file order. The
 * event loop's thread only stages them. At most MAX_UNACKED messages wait
 * for it: past that this thread stops reading, and its unread bytes stop the
 * upload's reading in turn.
 */

export interface EncryptedWorkerData {
  readonly spec: DatasetSpec
  readonly profile: HeProfile
  readonly limits: IngestLimits
}

export type ToEncryptedParser =
  | { readonly type: 'bytes'; readonly bytes: Uint8Array }
  | { readonly type: 'end' }
  | { readonly type: 'ack' }

export type FromEncryptedParser =
  /** Rows first .. first + lines.length - 1: `width` values each, in schema order (he cells null). */
  | {
      readonly type: 'rows'
      readonly first: number
      readonly width: number
      readonly values: CellValue[]
      readonly lines: Int32Array
    }
  | {
      readonly type: 'cipher'
      readonly column: string
      readonly kind: CiphertextKind
      readonly context: number
      readonly batch: number
      readonly bytes: Uint8Array
    }
  | { readonly type: 'consumed'; readonly bytes: number }
  | { readonly type: 'done'; readonly rows: number }
  | { readonly type: 'refused'; readonly error: ReturnType<typeof errorToData> }

const ROWS_PER_MESSAGE = 4096
const MAX_UNACKED = 8

const { spec, profile, limits } = workerData as EncryptedWorkerData
const port = parentPort!
const checkerReady = CiphertextChecker.open(profile)
checkerReady.catch(() => {})
let checker: CiphertextChecker | null = null

const inbox: (Uint8Array | null)[] = []
let unacked = 0
let wake: (() => void) | null = null

function send(message: FromEncryptedParser, transfer: ArrayBuffer[] = []): void {
  if (message.type === 'rows' || message.type === 'cipher') unacked += 1
  port.postMessage(message, transfer)
}

port.on('message', (m: ToEncryptedParser) => {
  if (m.type === 'bytes') inbox.push(m.bytes)
  else if (m.type === 'end') inbox.push(null)
  else unacked -= 1
  wake?.()
})

const waitForMessage = (): Promise<void> =>
  new Promise<void>((resolve) => {
    wake = resolve
  })

/** The upload's bytes as they arrive; each chunk is reported consumed once its lines are read. */
async function* chunks(): AsyncGenerator<Buffer> {
  for (;;) {
    while (inbox.length === 0) await waitForMessage()
    const next = inbox.shift()!
    if (next === null) return
    yield Buffer.from(next.buffer, next.byteOffset, next.byteLength)
    send({ type: 'consumed', bytes: next.byteLength })
  }
}

/** Rows packed into messages; a ciphertext sends the rows before it first. */
class Outbox implements ReaderSink {
  private values: CellValue[] = []
  private lines: number[] = []
  private first = 1

  pushRow(values: readonly CellValue[], pos: RowPosition): void {
    for (const v of values) this.values.push(v)
    this.lines.push(pos.line)
    if (this.lines.length >= ROWS_PER_MESSAGE) this.flush()
  }

  putCiphertext(column: string, kind: CiphertextKind, context: number, batch: number, bytes: Uint8Array): void {
    this.flush()
    // A buffer of its own (base64 decoding of a large text allocates one) moves; a pooled slice is copied.
    const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : new Uint8Array(bytes)
    send({ type: 'cipher', column, kind, context, batch, bytes: own }, [own.buffer as ArrayBuffer])
  }

  flush(): void {
    if (this.lines.length === 0) return
    send({
      type: 'rows',
      first: this.first,
      width: spec.columns.length,
      values: this.values,
      lines: Int32Array.from(this.lines),
    })
    this.first += this.lines.length
    this.values = []
    this.lines = []
  }
}

async function run(): Promise<void> {
  const outbox = new Outbox()
  const reader = new EncryptedReader(spec, profile, () => checker!, limits.maxFieldChars)
  for await (const { text, line } of readLines(Readable.from(chunks(), { highWaterMark: 1 }), limits.maxLineBytes)) {
    if (text.trim() === '') continue
    const raw = parseLine(text, line)
    if (!reader.hasHeader) {
      reader.header(raw, line)
      continue
    }
    if (checker === null && raw !== null && typeof raw === 'object' && !Array.isArray(raw) && 'column' in raw)
      checker = await checkerReady
    reader.line(raw, line, outbox)
    while (unacked >= MAX_UNACKED) await waitForMessage()
  }
  reader.finish()
  outbox.flush()
  send({ type: 'done', rows: reader.rowCount })
}

run().catch((e: unknown) => send({ type: 'refused', error: errorToData(e) }))
