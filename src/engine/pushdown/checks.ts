import fs from 'node:fs'
import path from 'node:path'
import { VeilboxError } from '../../errors/index.js'
import type { DatasetSpec } from '../../schema.js'
import type { VersionRecord } from '../../store/datasets.js'
import type { SourceParam } from '../../sources/types.js'
import type { ExecTask } from '../exec/task.js'
import { compileTask, quoteRelation, type SourceAggregates, type SourceRelation, type Statement } from './compile.js'
import { snapshotOf } from './snapshot.js'
import type { Dialect } from './dialect.js'

/**
 * The statements a snapshot's registration sends besides queries, built
 * like them from declared names and bound values.
 */

/**
 * Every declared column read, nothing selected: the grand total counts the
 * snapshot's rows and those that break the declaration (compile.ts). The
 * same check a query makes over the columns it reads, over all of them.
 */
export function declarationCheck(spec: DatasetSpec, relation: SourceRelation, dialect: Dialect): Statement {
  const task: ExecTask = {
    dataset: spec.id,
    version: 1,
    where: null,
    groupBy: [],
    measures: spec.columns
      .filter((c) => c.name !== spec.privacyUnit)
      .map((c) => ({ kind: 'nonNull' as const, column: c.name })),
  }
  return compileTask(task, spec, relation, dialect)
}

function fromClause(relation: SourceRelation, params: SourceParam[]): string {
  if (relation.from.kind === 'table') return quoteRelation(relation.from.name)
  params.push({ list: relation.from.files, type: 'text' })
  return `read_parquet($${params.length}::VARCHAR[])`
}

function whereClause(relation: SourceRelation, params: SourceParam[]): string {
  if (relation.filter === null) return ''
  params.push(relation.filter.value)
  return ` WHERE "${relation.filter.column}" = $${params.length}`
}

/** How many units own more rows than maxRowsPerUnit: 0 is what a unitBounded source promises. */
export function unitBoundCheck(spec: DatasetSpec, relation: SourceRelation): { sql: string; params: SourceParam[] } {
  const params: SourceParam[] = []
  const from = fromClause(relation, params)
  const where = whereClause(relation, params)
  params.push(spec.maxRowsPerUnit)
  const unit = `"${spec.privacyUnit}"`
  return {
    sql: `SELECT count(*) FROM (SELECT ${unit} FROM ${from}${where} GROUP BY ${unit} HAVING count(*) > $${params.length}) vb_units`,
    params,
  }
}

/**
 * The rows' checksum, order-free: the sum over rows of 60 bits of the MD5 of
 * the row's text (every declared column and the rowOrder columns), with the
 * row count. PostgreSQL computes it for a table; Parquet files are hashed
 * whole instead (source.ts), so DuckDB never needs it.
 */
export function postgresChecksum(spec: DatasetSpec, relation: SourceRelation): { sql: string; params: SourceParam[] } {
  const params: SourceParam[] = []
  const from = fromClause(relation, params)
  const where = whereClause(relation, params)
  const columns = [...new Set([...spec.columns.map((c) => c.name), ...relation.rowOrder])].map((c) => `"${c}"`)
  return {
    sql: `SELECT count(*)::text, COALESCE(sum(('x' || substr(md5(ROW(${columns.join(', ')})::text), 1, 15))::bit(60)::bigint), 0)::text FROM ${from}${where}`,
    params,
  }
}

function snapshotChanged(spec: DatasetSpec, version: VersionRecord, detail: string): VeilboxError {
  return new VeilboxError('VEILBOX_ERR_SOURCE_SNAPSHOT_CHANGED', detail, { dataset: spec.id, version: version.version })
}

/** Refused when a verification found the snapshot changed, or a Parquet file is gone or rewritten. */
export async function checkUnchanged(spec: DatasetSpec, version: VersionRecord): Promise<void> {
  const stored = snapshotOf(version)
  if (version.source!.changedAt !== null)
    throw snapshotChanged(
      spec,
      version,
      `a verification on ${version.source!.changedAt} found the source changed since registration`,
    )
  for (const f of stored.files) {
    const now = await fs.promises.stat(f.path).catch(() => null)
    if (now === null || now.size !== f.size || now.mtimeMs !== f.mtimeMs)
      throw snapshotChanged(
        spec,
        version,
        `the Parquet file ${path.basename(f.path)} is gone or was rewritten since registration`,
      )
  }
}

/** The snapshot's row count must be the registered one, and no row may break the declaration in the columns read. */
export function checkSnapshot(spec: DatasetSpec, version: VersionRecord, got: SourceAggregates): void {
  if (got.rows !== version.rows || got.violations > 0)
    throw snapshotChanged(
      spec,
      version,
      `${spec.id}'s snapshot holds ${got.rows} rows (${version.rows} at registration), ${got.violations} of them breaking the declaration in the columns the query reads`,
    )
}

/**
 * A task that counts a join side's rows and its broken ones in the columns
 * the join reads of it. The unit is not among them: the statement checks it
 * itself (a null unit breaks a row), unless registration found the source
 * unitBounded.
 */
export function checkTask(
  version: number,
  spec: DatasetSpec,
  columns: readonly { readonly column: string }[],
): ExecTask {
  const names = [...new Set(columns.map((c) => c.column))].filter((n) => n !== spec.privacyUnit)
  return {
    dataset: spec.id,
    version,
    where: null,
    groupBy: [],
    measures: names.map((column) => ({ kind: 'nonNull' as const, column })),
  }
}
