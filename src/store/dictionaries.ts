import type { Worker } from 'node:worker_threads'
import { startWorker } from '../worker-thread.js'
import type { PackedStrings } from './packed-strings.js'
import type { Sql } from './sql.js'

export type { PackedStrings } from './packed-strings.js'

/** What the dictionary thread (dictionary-worker.ts) is asked. */
export type DictionaryRequest =
  | {
      readonly id: number
      readonly kind: 'read'
      readonly file: string
      readonly busyTimeoutMs: number
      readonly uploadId: number
      readonly column: string
    }
  | { readonly id: number; readonly kind: 'pack'; readonly json: Uint8Array }
  | {
      readonly id: number
      readonly kind: 'write'
      readonly file: string
      readonly busyTimeoutMs: number
      readonly uploadId: number
      readonly column: string
      readonly json: Uint8Array
    }

export type DictionaryReply =
  | { readonly id: number; readonly ok: true; readonly packed: PackedStrings | null }
  | { readonly id: number; readonly ok: false; readonly error: string }

/**
 * One thread per process reads, packs and writes large dictionaries, one at a time,
 * in the order asked. It is started on first use, stops after IDLE_MS
 * without work (its heap is tens of megabytes a process at rest need not
 * hold), and does not keep the process alive; a thread that dies fails what
 * it was doing, and the next request starts another.
 */
const IDLE_MS = 10_000

class DictionaryThread {
  private worker: Worker | null = null
  private next = 1
  private idle: NodeJS.Timeout | null = null
  private readonly pending = new Map<
    number,
    { resolve: (p: PackedStrings | null) => void; reject: (e: Error) => void }
  >()

  ask(request: (id: number) => DictionaryRequest, transfer: ArrayBuffer[] = []): Promise<PackedStrings | null> {
    const id = this.next++
    if (this.idle !== null) clearTimeout(this.idle)
    this.idle = null
    this.worker ??= this.start()
    const w = this.worker
    // Held while it owes an answer: a request waiting on it keeps the process alive.
    w.ref()
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      w.postMessage(request(id), transfer)
    })
  }

  private start(): Worker {
    const w = startWorker(import.meta.url, 'dictionary-worker')
    w.unref()
    w.on('message', (r: DictionaryReply) => {
      const p = this.pending.get(r.id)
      if (p === undefined) return
      this.pending.delete(r.id)
      if (this.pending.size === 0) {
        w.unref()
        this.idle = setTimeout(() => {
          this.idle = null
          if (this.worker === w) this.worker = null
          void w.terminate()
        }, IDLE_MS)
        this.idle.unref()
      }
      if (r.ok) p.resolve(r.packed)
      else p.reject(new Error(`reading a stored dictionary: ${r.error}`))
    })
    const fail = (err: Error) => {
      if (this.worker === w) this.worker = null
      for (const p of this.pending.values()) p.reject(err)
      this.pending.clear()
    }
    w.on('error', fail)
    w.on('exit', (code) => fail(new Error(`the dictionary thread stopped (exit code ${code})`)))
    return w
  }
}

const thread = new DictionaryThread()

/**
 * Stores a coded column's dictionary (JSON text, as UTF-8 bytes) for an
 * upload still in staging, before its version is committed: a million ids
 * are 12 MB of text, and the statement that writes them held the event
 * loop for tens of milliseconds inside the version's commit. SQLite on disk
 * writes it from the dictionary thread, through a connection of its own:
 * the event loop runs no part of it, though a write transaction the event
 * loop's connection begins meanwhile waits for SQLite's write lock (as long
 * as the insert, tens of milliseconds for a million ids; SQLite has one
 * writer). The version's durable commit, later and on the same log,
 * makes it durable too. Otherwise (PostgreSQL, or SQLite in memory) it is
 * an ordinary statement here, asynchronous on PostgreSQL. discardUpload
 * removes it with the rest of a failed upload.
 */
export async function stageDictionary(db: Sql, uploadId: number, column: string, json: Uint8Array): Promise<void> {
  if (db.dialect === 'sqlite' && db.file !== undefined && db.file !== ':memory:') {
    const file = db.file
    const owned = json.byteOffset === 0 && json.byteLength === json.buffer.byteLength ? json : Uint8Array.from(json)
    await thread.ask(
      (id) => ({ id, kind: 'write', file, busyTimeoutMs: 10_000, uploadId, column, json: owned }),
      [owned.buffer as ArrayBuffer],
    )
    return
  }
  await db.run('INSERT INTO column_dictionaries (upload_id, column_name, dictionary) VALUES ($1, $2, $3)', [
    uploadId,
    column,
    Buffer.from(json.buffer, json.byteOffset, json.byteLength).toString('utf8'),
  ])
}

/**
 * A coded column's stored dictionary, packed (packed-strings.ts), or null
 * when the upload has none for it. The event loop's thread neither reads nor
 * parses it: SQLite on disk reads it on a thread with a connection of its
 * own; otherwise (PostgreSQL, or SQLite in memory) the statement runs here,
 * which is asynchronous on PostgreSQL, and the bytes are packed on that
 * thread.
 */
export async function packedDictionary(db: Sql, uploadId: number, column: string): Promise<PackedStrings | null> {
  if (db.dialect === 'sqlite' && db.file !== undefined && db.file !== ':memory:') {
    const file = db.file
    return thread.ask((id) => ({ id, kind: 'read', file, busyTimeoutMs: 10_000, uploadId, column }))
  }
  const text = await db.value<string>(
    'SELECT dictionary FROM column_dictionaries WHERE upload_id = $1 AND column_name = $2',
    [uploadId, column],
  )
  if (text === undefined) return null
  const json = Buffer.from(text, 'utf8')
  // A Buffer this size has an ArrayBuffer of its own (the pool is for small ones); moved, not copied.
  const owned = json.byteOffset === 0 && json.byteLength === json.buffer.byteLength
  const bytes = owned ? json : Uint8Array.from(json)
  return thread.ask((id) => ({ id, kind: 'pack', json: bytes }), [bytes.buffer as ArrayBuffer])
}
