import { Readable } from 'node:stream'
import type { MessagePort } from 'node:worker_threads'
import { errorToData } from '../errors/index.js'
import type { HeProfile } from '../engine/he/profile.js'
import { CiphertextChecker, type CiphertextKind } from '../engine/he/upload.js'
import type { DatasetSpec } from '../schema.js'
import { EncryptedReader, parseLine, type ReaderSink } from './encrypted-reader.js'
import { readLines, type IngestLimits } from './lines.js'
import type { CellValue, RowPosition } from './rows.js'

/**
 * The encrypted upload's reader thread (encrypted.ts), one upload per task
 * of a process-wide piscina pool: SEAL loaded once per thread and a checker
 * (contexts, scratch ciphertext) kept per HE profile, the four most recent,
 * so that only a thread's first upload pays for them. Over the task's
 * MessagePort: bytes in; lines split and checked as UTF-8 (lines.ts),
 * parsed, rows checked, ciphertexts decoded and checked with SEAL; out go
 * the checked rows, packed ROWS_PER_MESSAGE at a time, and each
 * ciphertext's bytes (moved, not copied), in file order. The event loop's
 * thread only stages them. At most MAX_UNACKED messages wait for it: past
 * that this thread stops reading, and its unread bytes stop the upload's
 * reading in turn. The task ends with `done` or `refused`.
 */

export interface EncryptedReadTask {
  readonly port: MessagePort
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

const checkers = new Map<string, Promise<CiphertextChecker>>()

/** The thread's checker for a profile: built once (SEAL and its contexts), the four most recently used kept. */
function checkerFor(profile: HeProfile): Promise<CiphertextChecker> {
  let entry = checkers.get(profile.id)
  if (entry === undefined) {
    entry = CiphertextChecker.open(profile)
    entry.catch(() => checkers.delete(profile.id))
    if (checkers.size >= 4) {
      const [oldest, evicted] = checkers.entries().next().value as [string, Promise<CiphertextChecker>]
      checkers.delete(oldest)
      void evicted.then((c) => c.close()).catch(() => {})
    }
  } else checkers.delete(profile.id)
  checkers.set(profile.id, entry)
  return entry
}

/** One upload, read over `port` (see the file comment). */
export default async function readEncrypted(task: EncryptedReadTask): Promise<void> {
  const { port, spec, profile, limits } = task
  const checkerReady = checkerFor(profile)
  checkerReady.catch(() => {})
  let checker: CiphertextChecker | null = null
  const inbox: (Uint8Array | null)[] = []
  let unacked = 0
  // Both the byte reader and the wait for acks may be waiting at once: every message wakes every waiter.
  let waiting: (() => void)[] = []
  const wake = (): void => {
    const ws = waiting
    waiting = []
    for (const w of ws) w()
  }
  const send = (message: FromEncryptedParser, transfer: ArrayBuffer[] = []): void => {
    if (message.type === 'rows' || message.type === 'cipher') unacked += 1
    port.postMessage(message, transfer)
  }
  // Closed from the other side: the upload failed there; stop reading.
  let stopped = false
  port.on('message', (m: ToEncryptedParser) => {
    if (m.type === 'bytes') inbox.push(m.bytes)
    else if (m.type === 'end') inbox.push(null)
    else unacked -= 1
    wake()
  })
  port.once('close', () => {
    stopped = true
    wake()
  })
  const waitForMessage = (): Promise<void> => new Promise<void>((resolve) => waiting.push(resolve))
  /** The upload's bytes as they arrive; each chunk is reported consumed once its lines are read. */
  async function* chunks(): AsyncGenerator<Buffer> {
    for (;;) {
      while (inbox.length === 0 && !stopped) await waitForMessage()
      if (stopped) throw new Error('the upload stopped')
      const next = inbox.shift()!
      if (next === null) return
      // Its length taken first: a line passed on whole may move its memory to another thread, and then reads as 0.
      const bytes = next.byteLength
      yield Buffer.from(next.buffer, next.byteOffset, bytes)
      send({ type: 'consumed', bytes })
    }
  }
  try {
    const outbox = new Outbox(spec.columns.length, send)
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
      while (unacked >= MAX_UNACKED && !stopped) await waitForMessage()
      if (stopped) throw new Error('the upload stopped')
    }
    reader.finish()
    outbox.flush()
    send({ type: 'done', rows: reader.rowCount })
  } catch (e) {
    if (!stopped) send({ type: 'refused', error: errorToData(e) })
  } finally {
    port.close()
  }
}

/** Rows packed into messages; a ciphertext sends the rows before it first. */
class Outbox implements ReaderSink {
  private values: CellValue[] = []
  private lines: number[] = []
  private first = 1

  constructor(
    private readonly width: number,
    private readonly send: (message: FromEncryptedParser, transfer?: ArrayBuffer[]) => void,
  ) {}

  pushRow(values: readonly CellValue[], pos: RowPosition): void {
    for (const v of values) this.values.push(v)
    this.lines.push(pos.line)
    if (this.lines.length >= ROWS_PER_MESSAGE) this.flush()
  }

  putCiphertext(column: string, kind: CiphertextKind, context: number, batch: number, bytes: Uint8Array): void {
    this.flush()
    // A buffer of its own (base64 decoding of a large text allocates one) moves; a pooled slice is copied.
    const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : new Uint8Array(bytes)
    this.send({ type: 'cipher', column, kind, context, batch, bytes: own }, [own.buffer as ArrayBuffer])
  }

  flush(): void {
    if (this.lines.length === 0) return
    this.send({
      type: 'rows',
      first: this.first,
      width: this.width,
      values: this.values,
      lines: Int32Array.from(this.lines),
    })
    this.first += this.lines.length
    this.values = []
    this.lines = []
  }
}
