import { createHash } from 'node:crypto'
import fs from 'node:fs'
import { z } from 'zod'
import { VeilboxError } from '../../errors/index.js'
import type { ColumnSpec, DatasetSpec, SourceSpec } from '../../schema.js'
import type { VersionRecord } from '../../store/datasets.js'
import type { SourceRelation } from './compile.js'

/**
 * A sourced dataset's snapshots: what an operator registers, what the store
 * keeps of one (JSON it does not read), and the relation a statement reads.
 */

/** What an operator registers as a snapshot: one of a table or view, a snapshot column's value, or files. */
export const snapshotRequestSchema = z
  .strictObject({
    /** PostgreSQL: this snapshot's own table or view (default: the source's table). */
    table: z
      .string()
      .regex(/^([a-z_][a-z0-9_]{0,62}\.)?[a-z_][a-z0-9_]{0,62}$/, 'must be "schema.table" or "table"')
      .optional(),
    /** A column that tells snapshots apart, and this snapshot's value of it. */
    column: z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,62}$/)
      .optional(),
    value: z
      .union([
        z.string().min(1).max(200),
        z
          .number()
          .int()
          .min(-(2 ** 53) + 1)
          .max(2 ** 53 - 1),
      ])
      .optional(),
    /** Parquet: this snapshot's file or glob under the Parquet root (default: the source's path). */
    path: z
      .string()
      .min(1)
      .max(1024)
      .refine((p) => !p.split('/').includes('..'), 'must not contain ".."')
      .optional(),
  })
  .refine((r) => (r.column === undefined) === (r.value === undefined), {
    message: '"column" and "value" go together: the snapshot column and this snapshot\'s value of it',
    path: ['value'],
  })

export type SnapshotRequest = z.infer<typeof snapshotRequestSchema>

/** A registered snapshot as the store keeps it (JSON). */
export const storedSnapshotSchema = z.strictObject({
  from: z.discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('table'), name: z.string() }),
    z.strictObject({ kind: z.literal('parquet'), files: z.array(z.string()) }),
  ]),
  filter: z.strictObject({ column: z.string(), value: z.union([z.string(), z.number()]) }).nullable(),
  /** Parquet: each file's size and modification time, checked before every query, and its SHA-256. */
  files: z.array(z.strictObject({ path: z.string(), size: z.number(), mtimeMs: z.number(), sha256: z.string() })),
})

export type StoredSnapshot = z.infer<typeof storedSnapshotSchema>

export function snapshotOf(version: VersionRecord): StoredSnapshot {
  if (version.source === null)
    throw new VeilboxError('VEILBOX_ERR_INTERNAL', `version ${version.version} of ${version.dataset} is not a snapshot`)
  return storedSnapshotSchema.parse(JSON.parse(version.source.snapshot))
}

export function relationOf(spec: DatasetSpec, stored: StoredSnapshot): SourceRelation {
  const source = spec.source!
  return {
    from: stored.from,
    filter: stored.filter,
    rowOrder: source.rowOrder ?? spec.columns.filter((c) => c.name !== spec.privacyUnit).map((c: ColumnSpec) => c.name),
    unitBounded: source.unitBounded === true,
    ...(source.kind === 'postgres' && source.shardKey !== undefined ? { shardKey: source.shardKey } : {}),
  }
}

export function describeSnapshot(source: SourceSpec, stored: StoredSnapshot): Record<string, unknown> {
  return {
    kind: source.kind,
    ...(source.kind === 'postgres' ? { connection: source.connection } : {}),
    ...(stored.from.kind === 'table' ? { table: stored.from.name } : { files: stored.files.map((f) => f.path) }),
    ...(stored.filter === null ? {} : { column: stored.filter.column, value: stored.filter.value }),
  }
}

export async function fileFacts(file: string): Promise<StoredSnapshot['files'][number]> {
  const stat = await fs.promises.stat(file)
  const hash = createHash('sha256')
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer)
  return { path: file, size: stat.size, mtimeMs: stat.mtimeMs, sha256: hash.digest('hex') }
}

/** What an operator sees of a version's snapshot (no credentials: a connection is named, never its URL). */
export function snapshotView(spec: DatasetSpec, version: VersionRecord): Record<string, unknown> | null {
  if (version.source === null || spec.source === undefined) return null
  return { ...describeSnapshot(spec.source, snapshotOf(version)), changedAt: version.source.changedAt }
}
