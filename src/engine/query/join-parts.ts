import type { ColumnSpec, DatasetSpec } from '../../schema.js'
import type { ColumnRef, Join, Query } from './ast.js'
import { queryError } from './query-error.js'

/**
 * The tables a query reads, and the one spec its columns bind against.
 *
 * One dataset: its own spec; a column may be qualified with the dataset's id
 * or its alias. A unit join of two datasets of one unit space (issue 21): a
 * joined spec whose columns are both datasets' (the unit once), whose privacy
 * unit is the shared one, and whose maxRowsPerUnit is the join's bound on
 * joined rows per unit, m_J = max(m_left, m_right). A column name both
 * datasets have (other than the unit) must be qualified; in the joined spec
 * it is `table.column`.
 */
export interface Tables {
  /** The spec the query binds against. */
  readonly spec: DatasetSpec
  /** The private datasets read, FROM's first: each is covered by the grant and charged. */
  readonly datasets: readonly DatasetSpec[]
  /** The public tables joined: read freely, never charged. */
  readonly publicTables: readonly DatasetSpec[]
  /** The joined spec's name for a column reference, or the refusal. */
  columnName(ref: ColumnRef): string
  /** Which dataset a joined spec's column comes from, and its own name there. */
  sourceOf(name: string): { readonly dataset: string; readonly column: string }
  /** A unit join's sides; null for one dataset. */
  readonly join: UnitJoin | null
}

/**
 * What executing a join needs besides the plan: the sides' units and the
 * bound on joined rows per unit. A lookup (a join with a public table) names
 * the two key columns where a unit join names the units, and pairs each left
 * row with the one row of its key, so its bound is 1 per left row.
 */
export interface UnitJoin {
  readonly left: { readonly dataset: string; readonly unit: string }
  readonly right: { readonly dataset: string; readonly unit: string }
  readonly maxRowsPerUnit: number
  readonly lookup?: true
  /**
   * A foreign-key join: the dataset whose units nest in the joined units
   * (each of its units belongs to one). Its data is protected by group
   * privacy over two joined units, so it is charged twice the epsilon (four
   * times the rho) of the answer (docs/dp.md).
   */
  readonly nested?: string
}

export function unknownTable(ref: ColumnRef, known: readonly string[]): Error {
  return queryError(
    'VEILBOX_ERR_QUERY_UNKNOWN_COLUMN',
    `${ref.table}.${ref.name}: ${ref.table} names nothing in FROM; qualify columns with ${known.join(' or ')}, or write ${ref.name} alone`,
    ref.pos,
    { column: ref.name, table: ref.table },
  )
}

export function joinError(detail: string, j: Join, extra: Record<string, unknown> = {}): Error {
  return queryError('VEILBOX_ERR_QUERY_JOIN', detail, j.pos, { dataset: j.dataset, ...extra })
}

export interface Side {
  readonly spec: DatasetSpec
  /** Its name in the query: the alias, else the id. */
  readonly name: string
  /** The column the join matches on; the right's is not a column of the joined spec (the left's stands for it). */
  readonly key: string
}

/**
 * The joined spec's columns: the left's, then the right's but its key. A name
 * both sides have is `table.column` in the joined spec and must be written
 * qualified; a reference to the right's key resolves to the left's.
 */
export function merge(left: Side, right: Side): Pick<Tables, 'columnName' | 'sourceOf'> & { columns: ColumnSpec[] } {
  const rightColumns = right.spec.columns.filter((c) => c.name !== right.key)
  const rightNames = new Set(rightColumns.map((c) => c.name))
  const leftNames = new Set(left.spec.columns.map((c) => c.name))
  if (rightNames.has(left.key))
    throw queryError(
      'VEILBOX_ERR_QUERY_JOIN',
      `${right.name} has a column ${left.key} besides its key, and ${left.name} joins on its own ${left.key}; ask the operator to rename one`,
      undefined,
      { dataset: right.spec.id },
    )
  const shared = (name: string) => leftNames.has(name) && rightNames.has(name)
  const columns: ColumnSpec[] = []
  const sources = new Map<string, { dataset: string; column: string }>()
  const add = (side: Side, c: ColumnSpec) => {
    const name = shared(c.name) ? `${side.name}.${c.name}` : c.name
    columns.push({ ...c, name })
    sources.set(name, { dataset: side.spec.id, column: c.name })
  }
  for (const c of left.spec.columns) add(left, c)
  for (const c of rightColumns) add(right, c)
  const named = new Map([
    [left.name, left],
    [right.name, right],
  ])
  return {
    columns,
    columnName: (ref) => {
      if (ref.table !== undefined) {
        const side = named.get(ref.table)
        if (side === undefined) throw unknownTable(ref, [...named.keys()])
        // The right's key is the left's column, whatever it is called there.
        if (side === right && ref.name === right.key) return left.key
        return shared(ref.name) ? `${ref.table}.${ref.name}` : ref.name
      }
      if (shared(ref.name)) {
        throw queryError(
          'VEILBOX_ERR_QUERY_UNKNOWN_COLUMN',
          `${ref.name} is a column of both ${left.spec.id} and ${right.spec.id}: write ${left.name}.${ref.name} or ${right.name}.${ref.name}`,
          ref.pos,
          { column: ref.name },
        )
      }
      return ref.name
    },
    sourceOf: (name) => {
      const s = sources.get(name)
      if (s === undefined) throw new Error(`no column ${name} in the joined spec`)
      return s
    },
  }
}

/**
 * Where a unit join runs: in the sandbox when both datasets hold their rows
 * in veilbox; at the source, in one statement, when both are snapshots of
 * one source (the same PostgreSQL connection, or Parquet files, which one
 * DuckDB reads). Anything else would move one side's rows to the other's
 * side: refused.
 */
export function checkSources(left: DatasetSpec, right: DatasetSpec, columns: readonly ColumnSpec[], j: Join): void {
  const where = (d: DatasetSpec) =>
    d.source === undefined
      ? 'veilbox'
      : d.source.kind === 'postgres'
        ? `PostgreSQL connection ${d.source.connection}`
        : 'Parquet files'
  if (where(left) !== where(right))
    throw joinError(
      `${left.id}'s rows are in ${where(left)} and ${right.id}'s in ${where(right)}: a join runs where both sides' rows are, in veilbox or in one source, and never moves rows between them; ask the operator to register both in one place`,
      j,
    )
  const qualified = columns.find((c) => c.name.includes('.'))
  if (left.source !== undefined && qualified !== undefined)
    throw joinError(
      `both datasets have a column ${qualified.name.split('.')[1]}, and a join pushed down to their source needs distinct names; ask the operator to rename one, or query them one at a time`,
      j,
    )
}

const ORDER = ['public', 'internal', 'sensitive', 'core'] as const

export function moreSensitive(a: DatasetSpec['classification'], b: DatasetSpec['classification']) {
  return ORDER.indexOf(a) >= ORDER.indexOf(b) ? a : b
}

/** A join's one JOIN and the names its two sides go by (alias, else id); refused when there are more joins or the names clash. */
export function joinNames(
  q: Query,
  left: DatasetSpec,
  right: DatasetSpec,
): { j: Join; leftName: string; rightName: string } {
  const joins = q.from.joins ?? []
  const j = joins[0]!
  if (joins.length > 1) throw joinError('a query joins two datasets at most, for now', joins[1]!)
  const leftName = q.from.alias ?? left.id
  const rightName = j.alias ?? right.id
  if (leftName === rightName)
    throw joinError(`both sides of the join are named ${leftName}; give one an alias (JOIN ${j.dataset} AS x)`, j)
  return { j, leftName, rightName }
}

/**
 * The tables of a join of two private datasets met on `leftKey` and
 * `rightKey` (a unit join: both units; a foreign-key join: the key and the
 * referenced unit). The joined unit is the left key, bounded to
 * `maxRowsPerUnit` pairs; both datasets are read and charged.
 */
export function pairedTables(
  j: Join,
  left: Side,
  right: Side,
  joined: { readonly unitSpace: string | undefined; readonly maxRowsPerUnit: number; readonly nested?: string },
): Tables {
  const merged = merge(left, right)
  checkSources(left.spec, right.spec, merged.columns, j)
  const spec: DatasetSpec = {
    id: `${left.spec.id}+${right.spec.id}`,
    title: `${left.spec.title} joined with ${right.spec.title}`,
    classification: moreSensitive(left.spec.classification, right.spec.classification),
    privacyUnit: left.key,
    ...(joined.unitSpace === undefined ? {} : { unitSpace: joined.unitSpace }),
    maxRowsPerUnit: joined.maxRowsPerUnit,
    // A foreign key that became the joined unit is the unit here, not a key.
    columns: merged.columns.map((c) => {
      if (c.name !== left.key || c.references === undefined) return c
      const { references: _key, ...unit } = c
      return unit
    }),
  }
  return {
    ...merged,
    spec,
    datasets: [left.spec, right.spec],
    publicTables: [],
    join: {
      left: { dataset: left.spec.id, unit: left.key },
      right: { dataset: right.spec.id, unit: right.key },
      maxRowsPerUnit: spec.maxRowsPerUnit,
      ...(joined.nested === undefined ? {} : { nested: joined.nested }),
    },
  }
}
