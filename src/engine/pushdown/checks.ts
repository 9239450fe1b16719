import type { DatasetSpec } from '../../schema.js'
import type { SourceParam } from '../../sources/types.js'
import type { ExecTask } from '../exec/task.js'
import { compileTask, quoteRelation, type SourceRelation, type Statement } from './compile.js'
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
