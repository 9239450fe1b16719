import type { Sql } from './sql.js'
import type { Encoding } from './encoding.js'

/**
 * Reading a stored version back, a piece at a time: column chunks, column
 * dictionaries and ciphertexts, as bytes. Each function is one statement that
 * finishes before it returns, so a reader may give the event loop a turn
 * between calls (a running statement would hold the connection).
 */

export interface StoredChunk {
  readonly rows: number
  readonly encoding: Encoding
  readonly data: Buffer
  readonly nulls: Buffer | null
}

/** One coded column's dictionary as JSON text (an array of strings); undefined when the upload has none for it. */
export async function columnDictionary(db: Sql, uploadId: number, column: string): Promise<string | undefined> {
  return db.value<string>('SELECT dictionary FROM column_dictionaries WHERE upload_id = $1 AND column_name = $2', [
    uploadId,
    column,
  ])
}

/** Column name -> the dictionary's JSON text (an array of strings), for the upload's coded columns. */
export async function columnDictionaries(db: Sql, uploadId: number): Promise<{ column: string; json: string }[]> {
  return (
    await db.all<{ column_name: string; dictionary: string }>(
      'SELECT column_name, dictionary FROM column_dictionaries WHERE upload_id = $1',
      [uploadId],
    )
  ).map((r) => ({
    column: r.column_name,
    json: r.dictionary,
  }))
}

/** A column's chunks in order, without their data. */
export async function chunkList(
  db: Sql,
  uploadId: number,
  column: string,
): Promise<{ chunk: number; encoding: Encoding }[]> {
  return db.all<{ chunk: number; encoding: Encoding }>(
    'SELECT chunk, encoding FROM column_chunks WHERE upload_id = $1 AND column_name = $2 ORDER BY chunk',
    [uploadId, column],
  )
}

export async function readChunk(db: Sql, uploadId: number, column: string, chunk: number): Promise<StoredChunk> {
  return (await db.get<StoredChunk>(
    'SELECT rows, encoding, data, nulls FROM column_chunks WHERE upload_id = $1 AND column_name = $2 AND chunk = $3',
    [uploadId, column, chunk],
  ))!
}

export interface CiphertextRef {
  readonly column_name: string
  readonly kind: 'values' | 'squares'
  readonly context: number
  readonly batch: number
}

/** Bytes of every ciphertext of the upload. */
export async function ciphertextBytes(db: Sql, uploadId: number): Promise<number> {
  return (
    (await db.value<number>('SELECT COALESCE(SUM(length(data)), 0) FROM he_ciphertexts WHERE upload_id = $1', [
      uploadId,
    ])) ?? 0
  )
}

/** The upload's ciphertexts in order (column, kind, context, batch), without their data. */
export async function ciphertextList(db: Sql, uploadId: number): Promise<CiphertextRef[]> {
  return db.all<CiphertextRef>(
    'SELECT column_name, kind, context, batch FROM he_ciphertexts WHERE upload_id = $1 ORDER BY column_name, kind, context, batch',
    [uploadId],
  )
}

export async function readCiphertext(db: Sql, uploadId: number, c: CiphertextRef): Promise<Buffer> {
  return (await db.value<Buffer>(
    'SELECT data FROM he_ciphertexts WHERE upload_id = $1 AND column_name = $2 AND kind = $3 AND context = $4 AND batch = $5',
    [uploadId, c.column_name, c.kind, c.context, c.batch],
  ))!
}
