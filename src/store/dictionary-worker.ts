import { parentPort } from 'node:worker_threads'
import BetterSqlite3 from 'better-sqlite3'
import { packJsonStrings, type PackedStrings } from './packed-strings.js'
import type { DictionaryRequest, DictionaryReply } from './dictionaries.js'

/**
 * The dictionary reader's thread (dictionaries.ts): reads one stored
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

parentPort!.on('message', (m: DictionaryRequest) => {
  let reply: DictionaryReply
  try {
    const json = m.kind === 'read' ? read(m.file, m.busyTimeoutMs, m.uploadId, m.column) : m.json
    const packed: PackedStrings | null = json === null ? null : packJsonStrings(json)
    reply = { id: m.id, ok: true, packed }
  } catch (err) {
    reply = { id: m.id, ok: false, error: err instanceof Error ? err.message : String(err) }
  }
  parentPort!.postMessage(reply)
})
