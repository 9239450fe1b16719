import type { AuditActor } from './audit.js'
import { appendAudit } from './audit.js'
import type { Encoding } from './encoding.js'
import type { Sql } from './sql.js'

/**
 * An upload as the store keeps it: staged chunk by chunk (rows of plain
 * columns, ciphertexts of encrypted ones), invisible until one transaction
 * makes it a version with its audit record; a failed or interrupted upload is
 * deleted whole. What the bytes mean is the ingest's business (src/ingest/).
 */

export interface ChunkWrite {
  readonly column: string
  readonly chunk: number
  readonly rows: number
  readonly encoding: Encoding
  readonly data: Buffer
  readonly nulls: Buffer | null
}

export interface CiphertextWrite {
  readonly column: string
  readonly kind: 'values' | 'squares'
  readonly context: number
  readonly batch: number
  readonly data: Buffer
}

/** A new upload in staging; its id. */
export async function startUpload(db: Sql, dataset: string): Promise<number> {
  return db.transaction(async (tx) => {
    const id = await tx.value<number>(
      "INSERT INTO uploads (dataset_id, state, started_at) VALUES ($1, 'staging', $2) RETURNING id",
      [dataset, new Date().toISOString()],
    )
    return id!
  })
}

/**
 * Staged writes need not be durable when they commit: an upload cut short by
 * a crash is discarded at the next start, and the version's own commit makes
 * everything before it durable. (Waiting for the disk on every chunk held
 * the event loop for up to 130 ms each time on SQLite.)
 */
export async function stageChunks(db: Sql, uploadId: number, chunks: readonly ChunkWrite[]): Promise<void> {
  if (chunks.length === 0) return
  await db.transaction(
    async (tx) => {
      for (const c of chunks) {
        await tx.run(
          'INSERT INTO column_chunks (upload_id, column_name, chunk, rows, encoding, data, nulls) VALUES ($1, $2, $3, $4, $5, $6, $7)',
          [uploadId, c.column, c.chunk, c.rows, c.encoding, c.data, c.nulls],
        )
      }
    },
    { staging: true },
  )
}

export async function stageCiphertexts(db: Sql, uploadId: number, ciphers: readonly CiphertextWrite[]): Promise<void> {
  if (ciphers.length === 0) return
  await db.transaction(
    async (tx) => {
      for (const c of ciphers) {
        await tx.run(
          'INSERT INTO he_ciphertexts (upload_id, column_name, kind, context, batch, data) VALUES ($1, $2, $3, $4, $5, $6)',
          [uploadId, c.column, c.kind, c.context, c.batch, c.data],
        )
      }
    },
    { staging: true },
  )
}

export interface VersionCommit {
  readonly dataset: string
  readonly uploadId: number
  readonly rows: number
  readonly sha256: string
  readonly salt: Buffer
  readonly commitment: string
  readonly dictionaries: readonly { column: string; json: string }[]
  /** Under which HE profile its he columns were encrypted, and by whom; null without he columns. */
  readonly encryption: { profileId: string; encryptedBy: 'owner' | 'service' } | null
  readonly actor: AuditActor
  /** What the audit record's detail adds to rows, sha256 and commitment. */
  readonly detail: Readonly<Record<string, unknown>>
  /** A sourced dataset's snapshot (the upload then holds no chunk); absent for uploaded rows. */
  readonly source?: { readonly snapshot: string; readonly checksum: string }
}

/**
 * Makes a staged upload the dataset's next version, with its audit record,
 * in one transaction. The dataset's row is locked first, so two nodes
 * committing versions of one dataset number them one after the other.
 */
export async function commitVersion(db: Sql, v: VersionCommit): Promise<number> {
  return db.transaction(
    async (tx) => {
      await tx.run('SELECT id FROM datasets WHERE id = $1 FOR UPDATE', [v.dataset])
      const next =
        ((await tx.value<number | null>('SELECT MAX(version) AS v FROM dataset_versions WHERE dataset_id = $1', [
          v.dataset,
        ])) ?? 0) + 1
      for (const d of v.dictionaries)
        await tx.run('INSERT INTO column_dictionaries (upload_id, column_name, dictionary) VALUES ($1, $2, $3)', [
          v.uploadId,
          d.column,
          d.json,
        ])
      if (v.encryption !== null)
        await tx.run('INSERT INTO he_uploads (upload_id, profile_id, encrypted_by) VALUES ($1, $2, $3)', [
          v.uploadId,
          v.encryption.profileId,
          v.encryption.encryptedBy,
        ])
      if (v.source !== undefined)
        await tx.run('INSERT INTO source_snapshots (upload_id, snapshot, checksum) VALUES ($1, $2, $3)', [
          v.uploadId,
          v.source.snapshot,
          v.source.checksum,
        ])
      await tx.run("UPDATE uploads SET state = 'committed' WHERE id = $1", [v.uploadId])
      await tx.run(
        'INSERT INTO dataset_versions (dataset_id, version, upload_id, rows, sha256, salt, commitment, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)',
        [
          v.dataset,
          next,
          v.uploadId,
          v.rows,
          v.sha256,
          v.salt,
          v.commitment,
          new Date().toISOString(),
          v.actor.principal,
        ],
      )
      await appendAudit(tx, {
        actor: v.actor,
        action: v.source === undefined ? 'dataset.version.create' : 'dataset.snapshot.create',
        outcome: 'ok',
        dataset: v.dataset,
        version: next,
        detail: { rows: v.rows, sha256: v.sha256, commitment: v.commitment, ...v.detail },
      })
      return next
    },
    { syncOffThread: true },
  )
}

/** Deletes every trace of an upload still in staging. */
export async function discardUpload(db: Sql, uploadId: number): Promise<void> {
  await db.transaction(async (tx) => {
    // Only an upload still staging: a committed one is a version, and never deleted here.
    const staging = await tx.value("SELECT 1 FROM uploads WHERE id = $1 AND state = 'staging' FOR UPDATE", [uploadId])
    if (staging === undefined) return
    await tx.run('DELETE FROM column_chunks WHERE upload_id = $1', [uploadId])
    await tx.run('DELETE FROM he_ciphertexts WHERE upload_id = $1', [uploadId])
    await tx.run('DELETE FROM he_uploads WHERE upload_id = $1', [uploadId])
    await tx.run('DELETE FROM column_dictionaries WHERE upload_id = $1', [uploadId])
    await tx.run("DELETE FROM uploads WHERE id = $1 AND state = 'staging'", [uploadId])
  })
}

/** Uploads in staging that started before `before` (ISO time). */
export async function stagingUploads(db: Sql, before: string): Promise<number[]> {
  return (
    await db.all<{ id: number }>("SELECT id FROM uploads WHERE state = 'staging' AND started_at < $1 ORDER BY id", [
      before,
    ])
  ).map((r) => r.id)
}

/** Every ciphertext of an upload with its bytes, a page at a time. */
export async function* ciphertextsWithData(
  db: Sql,
  uploadId: number,
): AsyncGenerator<{ column_name: string; kind: 'values' | 'squares'; context: number; batch: number; data: Buffer }> {
  let after: [string, string, number, number] = ['', '', -1, -1]
  for (;;) {
    const page = await db.all<{
      column_name: string
      kind: 'values' | 'squares'
      context: number
      batch: number
      data: Buffer
    }>(
      `SELECT column_name, kind, context, batch, data FROM he_ciphertexts
       WHERE upload_id = $1 AND (column_name > $2 OR (column_name = $2 AND (kind > $3 OR (kind = $3 AND (context > $4 OR (context = $4 AND batch > $5))))))
       ORDER BY column_name, kind, context, batch LIMIT 64`,
      [uploadId, ...after],
    )
    for (const r of page) yield r
    if (page.length < 64) return
    const l = page[page.length - 1]!
    after = [l.column_name, l.kind, l.context, l.batch]
  }
}
