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
}

/** The tables of a query: its dataset's alone, or a unit join with `joinedSpecs[0]` (the JOIN's dataset). */
export function tablesOf(q: Query, dataset: DatasetSpec, joinedSpecs: readonly DatasetSpec[]): Tables {
  const joined = q.from.joins?.[0]
  if (joined === undefined) return singleTable(q, dataset)
  if (joinedSpecs[0]?.id !== joined.dataset) {
    throw queryError(
      'VEILBOX_ERR_QUERY_UNKNOWN_DATASET',
      `the query joins ${joined.dataset}, whose declaration was not given to bind it`,
      joined.pos,
      { dataset: joined.dataset },
    )
  }
  if (dataset.public === true) throw publicAlone(q, dataset)
  return joinedSpecs[0].public === true ? publicJoin(q, dataset, joinedSpecs[0]) : unitJoin(q, dataset, joinedSpecs[0])
}

export function singleTable(q: Query, spec: DatasetSpec): Tables {
  const table = q.from.alias ?? spec.id
  if (spec.public === true) throw publicAlone(q, spec)
  return {
    spec,
    datasets: [spec],
    publicTables: [],
    columnName: (ref) => {
      if (ref.table !== undefined && ref.table !== table) throw unknownTable(ref, [table])
      return ref.name
    },
    sourceOf: (name) => ({ dataset: spec.id, column: name }),
    join: null,
  }
}

function publicAlone(q: Query, spec: DatasetSpec): Error {
  return queryError(
    'VEILBOX_ERR_QUERY_PUBLIC_TABLE',
    `${spec.id} is a public table: join it to a dataset on its key (FROM d JOIN ${spec.id} ON d.column = ${spec.id}.${spec.key}); it has no privacy unit to answer for alone`,
    q.from.pos,
    { dataset: spec.id },
  )
}

function unknownTable(ref: ColumnRef, known: readonly string[]): Error {
  return queryError(
    'VEILBOX_ERR_QUERY_UNKNOWN_COLUMN',
    `${ref.table}.${ref.name}: ${ref.table} names nothing in FROM; qualify columns with ${known.join(' or ')}, or write ${ref.name} alone`,
    ref.pos,
    { column: ref.name, table: ref.table },
  )
}

function joinError(detail: string, j: Join, extra: Record<string, unknown> = {}): Error {
  return queryError('VEILBOX_ERR_QUERY_JOIN', detail, j.pos, { dataset: j.dataset, ...extra })
}

/** The tables of a query with one unit join; `right` is the spec of the joined dataset. */
export function unitJoin(q: Query, left: DatasetSpec, right: DatasetSpec): Tables {
  const joins = q.from.joins ?? []
  const j = joins[0]!
  if (joins.length > 1) throw joinError('a query joins two datasets at most, for now', joins[1]!)
  const leftName = q.from.alias ?? left.id
  const rightName = j.alias ?? right.id
  if (leftName === rightName)
    throw joinError(`both sides of the join are named ${leftName}; give one an alias (JOIN ${j.dataset} AS x)`, j)
  const named = new Map([
    [leftName, left],
    [rightName, right],
  ])
  // The unit space: both declare the same one, and the join is on both units.
  if (left.unitSpace === undefined || left.unitSpace !== right.unitSpace) {
    const spaces = `${left.id} is ${left.unitSpace === undefined ? 'of no declared unit space' : `of unit space ${left.unitSpace}`}, ${right.id} ${right.unitSpace === undefined ? 'of none' : `of ${right.unitSpace}`}`
    throw joinError(
      `a join on the privacy unit needs two datasets of one unit space: ${spaces}; the operator declares "unitSpace" on datasets whose units are the same people, households or firms`,
      j,
    )
  }
  const sideOf = (ref: ColumnRef): DatasetSpec => {
    if (ref.table === undefined) throw joinError(`ON names columns as table.column: write ${leftName}.${ref.name}`, j)
    const spec = named.get(ref.table)
    if (spec === undefined) throw unknownTable(ref, [...named.keys()])
    return spec
  }
  if (j.using !== undefined) {
    if (j.using !== left.privacyUnit || j.using !== right.privacyUnit)
      throw joinError(
        `USING (${j.using}) must name both privacy units: ${left.id}'s is ${left.privacyUnit}, ${right.id}'s ${right.privacyUnit}${left.privacyUnit === right.privacyUnit ? '' : `; write ON ${leftName}.${left.privacyUnit} = ${rightName}.${right.privacyUnit}`}`,
        j,
      )
  } else {
    const [a, b] = j.on!
    const sa = sideOf(a)
    const sb = sideOf(b)
    const units = sa !== sb && a.name === sa.privacyUnit && b.name === sb.privacyUnit
    if (!units)
      throw joinError(
        `ON must equate the two privacy units (${leftName}.${left.privacyUnit} = ${rightName}.${right.privacyUnit}); joins on other keys need a declared foreign key, which is not supported yet`,
        j,
      )
  }
  const merged = merge(
    { spec: left, name: leftName, key: left.privacyUnit },
    { spec: right, name: rightName, key: right.privacyUnit },
  )
  checkSources(left, right, merged.columns, j)
  const spec: DatasetSpec = {
    id: `${left.id}+${right.id}`,
    title: `${left.title} joined with ${right.title}`,
    classification: moreSensitive(left.classification, right.classification),
    privacyUnit: left.privacyUnit,
    ...(left.unitSpace === undefined ? {} : { unitSpace: left.unitSpace }),
    maxRowsPerUnit: Math.max(left.maxRowsPerUnit, right.maxRowsPerUnit),
    columns: merged.columns,
  }
  return {
    ...merged,
    spec,
    datasets: [left, right],
    publicTables: [],
    join: {
      left: { dataset: left.id, unit: left.privacyUnit },
      right: { dataset: right.id, unit: right.privacyUnit },
      maxRowsPerUnit: spec.maxRowsPerUnit,
    },
  }
}

/**
 * The tables of a query joining a public table on its key (issue 21): each
 * row of the left keeps its unit and gains its key's row of the table; a row
 * whose key the table lacks (or that is empty) drops out, as a WHERE would
 * drop it. A row pairs with one row at most, so a unit's rows, and so every
 * sensitivity, stay the left's. The key is a public category or integer
 * column of the left: the join reads its values as a GROUP BY or WHERE would.
 */
export function publicJoin(q: Query, left: DatasetSpec, right: DatasetSpec): Tables {
  const joins = q.from.joins ?? []
  const j = joins[0]!
  if (joins.length > 1) throw joinError('a query joins two datasets at most, for now', joins[1]!)
  const leftName = q.from.alias ?? left.id
  const rightName = j.alias ?? right.id
  if (leftName === rightName)
    throw joinError(`both sides of the join are named ${leftName}; give one an alias (JOIN ${j.dataset} AS x)`, j)
  const key = right.key!
  const how = `a public table is joined on its key: ON ${leftName}.column = ${rightName}.${key}`
  let leftKey: ColumnRef
  if (j.using !== undefined) {
    if (j.using !== key) throw joinError(`USING (${j.using}) must name ${right.id}'s key, ${key}; ${how}`, j)
    leftKey = { kind: 'column', name: j.using, ...(j.pos === undefined ? {} : { pos: j.pos }) }
  } else {
    const [a, b] = j.on!
    const isKey = (r: ColumnRef) => r.table === rightName && r.name === key
    const other = isKey(a) ? b : isKey(b) ? a : null
    if (other === null || (other.table !== undefined && other.table !== leftName))
      throw joinError(`ON must equate a column of ${leftName} with ${rightName}.${key}; ${how}`, j)
    leftKey = other
  }
  const lc = left.columns.find((c) => c.name === leftKey.name)
  if (lc === undefined)
    throw queryError(
      'VEILBOX_ERR_QUERY_UNKNOWN_COLUMN',
      `${leftName} has no column ${leftKey.name} to join ${rightName}.${key} on`,
      leftKey.pos ?? j.pos,
      { column: leftKey.name },
    )
  const rc = right.columns.find((c) => c.name === key)!
  if (lc.protection !== 'public' || (lc.type !== 'category' && lc.type !== 'integer'))
    throw joinError(
      `${leftName}.${lc.name} is a ${lc.protection} ${lc.type} column; a public table is joined on a public category or integer column, whose values a query may read`,
      j,
    )
  if ((lc.type === 'integer') !== (rc.type === 'integer'))
    throw joinError(
      `${leftName}.${lc.name} is ${lc.type === 'integer' ? 'an integer' : 'a category'} column and ${rightName}.${key} ${rc.type === 'integer' ? 'an integer' : 'text'}; a join matches keys of one kind`,
      j,
    )
  const merged = merge({ spec: left, name: leftName, key: lc.name }, { spec: right, name: rightName, key })
  // A sourced dataset meets the table at its source, the table's rows sent with the statement (pushdown/joined.ts).
  checkSources(left, left, merged.columns, j)
  const spec: DatasetSpec = {
    ...left,
    id: `${left.id}+${right.id}`,
    title: `${left.title} joined with ${right.title}`,
    columns: merged.columns,
  }
  return {
    ...merged,
    spec,
    datasets: [left],
    publicTables: [right],
    join: {
      left: { dataset: left.id, unit: lc.name },
      right: { dataset: right.id, unit: key },
      maxRowsPerUnit: 1,
      lookup: true,
    },
  }
}

interface Side {
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
function merge(left: Side, right: Side): Pick<Tables, 'columnName' | 'sourceOf'> & { columns: ColumnSpec[] } {
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
function checkSources(left: DatasetSpec, right: DatasetSpec, columns: readonly ColumnSpec[], j: Join): void {
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

function moreSensitive(a: DatasetSpec['classification'], b: DatasetSpec['classification']) {
  return ORDER.indexOf(a) >= ORDER.indexOf(b) ? a : b
}
