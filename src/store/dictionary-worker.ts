import { parentPort } from 'node:worker_threads'
import BetterSqlite3 from 'better-sqlite3'
import { packJsonStrings, type PackedStrings } from './packed-strings.js'
import type { DictionaryRequest, DictionaryReply } from './dictionaries.js'

/**
 * The dictionary thread (dictionaries.ts): writes an upload's dictionary
 * while it is staged, through a connection of its own, or reads one stored
 * dictionary through a read-only connection of its own to the database file
 * (what is committed; a version's dictionary never changes once it is), or
 * takes the bytes it is sent, and packs them (packed-strings.ts) into shared
 * memory. Nothing here touches the event loop's thread.
 */
function read(file: string, busyTimeoutMs: number, uploadId: number, column: string): Uint8Array | null {
  const db = new BetterSqlite3(file, { readonly: true, fileMustExist: true })
  try {
    db.pragma(`busy_timeout = ${busyTimeoutMs}`)
    const row = db
      .prepare('SELECT CAST(dictionary AS BLOB) AS d FROM column_dictionaries WHERE upload_id = ? AND column_name = ?')
      .get(uploadId, column) as { d: Buffer } | undefined
    return row === undefined ? null : row.d
  } finally {
    db.close()
  }
}

/** Inserts an upload's dictionary as text, in a transaction of this connection's (staged data: see dictionaries.ts). */
function write(file: string, busyTimeoutMs: number, uploadId: number, column: string, json: Uint8Array): void {
  const db = new BetterSqlite3(file, { fileMustExist: true })
  try {
    db.pragma(`busy_timeout = ${busyTimeoutMs}`)
    // Staged, as an upload's chunks are: the version's commit syncs the log these frames are in.
    db.pragma('synchronous = OFF')
    const text = Buffer.from(json.buffer, json.byteOffset, json.byteLength).toString('utf8')
    db.prepare('INSERT INTO column_dictionaries (upload_id, column_name, dictionary) VALUES (?, ?, ?)').run(
      uploadId,
      column,
      text,
    )
  } finally {
    db.close()
  }
}

parentPort!.on('message', (m: DictionaryRequest) => {
  let reply: DictionaryReply
  try {
    if (m.kind === 'write') {
      write(m.file, m.busyTimeoutMs, m.uploadId, m.column, m.json)
      parentPort!.postMessage({ id: m.id, ok: true, packed: null } satisfies DictionaryReply)
      return
    }
    const json = m.kind === 'read' ? read(m.file, m.busyTimeoutMs, m.uploadId, m.column) : m.json
    const packed: PackedStrings | null = json === null ? null : packJsonStrings(json)
    reply = { id: m.id, ok: true, packed }
  } catch (err) {
    reply = { id: m.id, ok: false, error: err instanceof Error ? err.message : String(err) }
  }
  parentPort!.postMessage(reply)
})
