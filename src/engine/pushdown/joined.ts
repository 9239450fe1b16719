import type { DatasetSpec } from '../../schema.js'
import type { VersionRecord } from '../../store/datasets.js'
import type { ExecTask } from '../exec/task.js'
import { bad, quote, type Builder } from './builder.js'
import type { Dialect } from './dialect.js'
import { fromItem, type SourceRelation } from './relation.js'

/**
 * A unit join of two datasets of one source (issue 21): each side's relation
 * and spec (own names). The statement numbers each side's rows per unit by its
 * rowOrder, keeps the first maxRowsPerUnit of each, pairs them on the unit,
 * and numbers the pairs per unit in (left row, right row) order: the embedded
 * engine's rule (exec/join.ts) when each side was uploaded in its rowOrder.
 * The task's join part says where each column comes from.
 */
export interface JoinSources {
  readonly left: { readonly spec: DatasetSpec; readonly relation: SourceRelation }
  readonly right: { readonly spec: DatasetSpec; readonly relation: SourceRelation }
}

/**
 * The joined rows of a unit join, each column under its joined name, and
 * vb_jn, the pair's place among its unit's pairs: the statement's rowOrder.
 * Each side's rows are numbered whether or not it is unitBounded: the pairs'
 * order needs the row order.
 */
export function joinedRows(b: Builder, task: ExecTask, join: JoinSources, dialect: Dialect): string {
  const part = task.join!
  const side = (which: 'left' | 'right', unit: string): string => {
    const { relation } = join[which]
    const own = part.columns.filter((c) => c.side === which).map((c) => c.column)
    const cols = [...new Set([unit, ...own])].map(quote)
    const order = relation.rowOrder.map(quote).join(', ')
    return `SELECT ${cols.join(', ')}, row_number() OVER (PARTITION BY ${quote(unit)} ORDER BY ${order}) AS vb_rn FROM ${fromItem(b, relation)}`
  }
  const select = [
    `vb_l.${quote(part.leftUnit)} AS ${quote(part.leftUnit)}`,
    ...part.columns
      .filter((c) => !(c.side === 'left' && c.column === part.leftUnit && c.name === part.leftUnit))
      .map((c) => `${c.side === 'left' ? 'vb_l' : 'vb_r'}.${quote(c.column)} AS ${quote(c.name)}`),
    `row_number() OVER (PARTITION BY vb_l.${quote(part.leftUnit)} ORDER BY vb_l.vb_rn, vb_r.vb_rn) AS vb_jn`,
  ]
  const m = (spec: DatasetSpec) => dialect.bigint(b.param(spec.maxRowsPerUnit))
  return (
    `SELECT ${select.join(', ')} FROM (${side('left', part.leftUnit)}) vb_l JOIN (${side('right', part.rightUnit)}) vb_r` +
    ` ON vb_l.${quote(part.leftUnit)} = vb_r.${quote(part.rightUnit)}` +
    ` WHERE vb_l.vb_rn <= ${m(join.left.spec)} AND vb_r.vb_rn <= ${m(join.right.spec)}`
  )
}

/**
 * A public table's rows for a lookup at the source (query/joins.ts
 * publicJoin): its key and each column the task reads of it, by own name,
 * row by row; null for an empty value. The table is public data, fixed by its
 * version, and sent as list parameters.
 */
export type PublicRows = ReadonlyMap<string, readonly (string | number | boolean | null)[]>

/**
 * The rows of a lookup: the snapshot's rows, numbered per unit by rowOrder
 * and bounded to maxRowsPerUnit first, then each with its key's row of the
 * public table; a row whose key the table lacks drops out. Bounding before
 * the lookup is the sandbox's rule (exec/join.ts lookupRows over the kept
 * rows). vb_jn keeps each row's place, so the bound applied again over the
 * joined rows keeps them all.
 */
export function lookupRows(
  b: Builder,
  task: ExecTask,
  spec: DatasetSpec,
  relation: SourceRelation,
  table: PublicRows,
  dialect: Dialect,
): string {
  const part = task.join!
  const unit = quote(spec.privacyUnit)
  const own = [
    ...new Set([
      spec.privacyUnit,
      part.leftUnit,
      ...part.columns.filter((c) => c.side === 'left').map((c) => c.column),
    ]),
  ]
  const order = relation.rowOrder.map(quote).join(', ')
  const left = `SELECT ${own.map(quote).join(', ')}, row_number() OVER (PARTITION BY ${unit} ORDER BY ${order}) AS vb_rn FROM ${fromItem(b, relation)}`
  // The table as parallel lists, unnested together; an empty value travels as a placeholder and a flag.
  const lists: string[] = []
  const values: string[] = []
  const right = [
    { name: 'vb_key', column: part.rightUnit },
    ...part.columns.filter((c) => c.side === 'right').map((c) => ({ name: c.name, column: c.column })),
  ]
  right.forEach((r, i) => {
    const cells = table.get(r.column)
    if (cells === undefined) throw bad(`the public table's column ${r.column} was not sent`)
    const kind = cells.find((v) => v !== null)
    const type = typeof kind === 'number' ? 'float8' : typeof kind === 'boolean' ? 'boolean' : 'text'
    const filler = type === 'float8' ? 0 : type === 'boolean' ? false : ''
    const listed = b.param({ list: cells.map((v) => v ?? filler), type })
    lists.push(
      `unnest(${dialect.name === 'postgres' ? `${listed}::${type}[]` : `${listed}::${type === 'float8' ? 'DOUBLE' : type === 'boolean' ? 'BOOLEAN' : 'VARCHAR'}[]`}) AS vb_v${i}`,
    )
    if (cells.some((v) => v === null)) {
      const nulls = b.param({ list: cells.map((v) => v === null), type: 'boolean' })
      lists.push(`unnest(${dialect.name === 'postgres' ? `${nulls}::boolean[]` : `${nulls}::BOOLEAN[]`}) AS vb_n${i}`)
      values.push(`CASE WHEN vb_n${i} THEN NULL ELSE vb_v${i} END AS ${quote(r.name)}`)
    } else values.push(`vb_v${i} AS ${quote(r.name)}`)
  })
  const rows = `SELECT ${values.join(', ')} FROM (SELECT ${lists.join(', ')}) vb_u`
  const select = [
    ...own.map((c) => `vb_s.${quote(c)}`),
    ...right.slice(1).map((r) => `vb_t.${quote(r.name)}`),
    'vb_s.vb_rn AS vb_jn',
  ]
  return (
    `SELECT ${select.join(', ')} FROM (${left}) vb_s JOIN (${rows}) vb_t ON vb_s.${quote(part.leftUnit)} = vb_t.${quote('vb_key')}` +
    ` WHERE vb_s.vb_rn <= ${dialect.bigint(b.param(spec.maxRowsPerUnit))}`
  )
}

/** The relation a join's statement reads: the joined rows, numbered by vb_jn, never unitBounded. */
export const JOINED: SourceRelation = {
  from: { kind: 'table', name: 'vb_join' },
  filter: null,
  rowOrder: ['vb_jn'],
  unitBounded: false,
}

/**
 * A unit join's other side: its spec and version, and the joined spec the
 * query was bound against (query/joins.ts), whose names the task uses.
 */
export interface JoinedSide {
  readonly spec: DatasetSpec
  readonly version: VersionRecord
  readonly bound: DatasetSpec
}

/** A public table a sourced dataset joins (a lookup): its rows, and the joined spec the query was bound against. */
export interface PublicSide {
  readonly table: PublicRows
  readonly bound: DatasetSpec
}
