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
  /** The datasets read, FROM's first. */
  readonly datasets: readonly DatasetSpec[]
  /** The joined spec's name for a column reference, or the refusal. */
  columnName(ref: ColumnRef): string
  /** Which dataset a joined spec's column comes from, and its own name there. */
  sourceOf(name: string): { readonly dataset: string; readonly column: string }
  /** A unit join's sides; null for one dataset. */
  readonly join: UnitJoin | null
}

/** What executing a unit join needs besides the plan: the sides' units and the bound on joined rows per unit. */
export interface UnitJoin {
  readonly left: { readonly dataset: string; readonly unit: string }
  readonly right: { readonly dataset: string; readonly unit: string }
  readonly maxRowsPerUnit: number
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
  return unitJoin(q, dataset, joinedSpecs[0])
}

export function singleTable(q: Query, spec: DatasetSpec): Tables {
  const table = q.from.alias ?? spec.id
  return {
    spec,
    datasets: [spec],
    columnName: (ref) => {
      if (ref.table !== undefined && ref.table !== table) throw unknownTable(ref, [table])
      return ref.name
    },
    sourceOf: (name) => ({ dataset: spec.id, column: name }),
    join: null,
  }
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
  if (left.source !== undefined || right.source !== undefined)
    throw joinError('joins of sourced datasets are not supported yet: both datasets must hold their rows in veilbox', j)

  const leftNames = new Set(left.columns.map((c) => c.name))
  const rightNames = new Set(right.columns.map((c) => c.name))
  const shared = (name: string) => leftNames.has(name) && rightNames.has(name) && name !== left.privacyUnit
  const columns: ColumnSpec[] = []
  const sources = new Map<string, { dataset: string; column: string }>()
  const add = (spec: DatasetSpec, table: string, c: ColumnSpec) => {
    const name = shared(c.name) ? `${table}.${c.name}` : c.name
    columns.push({ ...c, name })
    sources.set(name, { dataset: spec.id, column: c.name })
  }
  for (const c of left.columns) add(left, leftName, c)
  for (const c of right.columns) if (c.name !== right.privacyUnit) add(right, rightName, c)
  const spec: DatasetSpec = {
    id: `${left.id}+${right.id}`,
    title: `${left.title} joined with ${right.title}`,
    classification: moreSensitive(left.classification, right.classification),
    privacyUnit: left.privacyUnit,
    unitSpace: left.unitSpace,
    maxRowsPerUnit: Math.max(left.maxRowsPerUnit, right.maxRowsPerUnit),
    columns,
  }
  return {
    spec,
    datasets: [left, right],
    columnName: (ref) => {
      if (ref.table !== undefined) {
        const owner = named.get(ref.table)
        if (owner === undefined) throw unknownTable(ref, [...named.keys()])
        // The joined dataset's unit is the shared one, whatever it is called there.
        if (owner === right && ref.name === right.privacyUnit) return left.privacyUnit
        return shared(ref.name) ? `${ref.table}.${ref.name}` : ref.name
      }
      if (shared(ref.name)) {
        throw queryError(
          'VEILBOX_ERR_QUERY_UNKNOWN_COLUMN',
          `${ref.name} is a column of both ${left.id} and ${right.id}: write ${leftName}.${ref.name} or ${rightName}.${ref.name}`,
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
    join: {
      left: { dataset: left.id, unit: left.privacyUnit },
      right: { dataset: right.id, unit: right.privacyUnit },
      maxRowsPerUnit: spec.maxRowsPerUnit,
    },
  }
}

const ORDER = ['public', 'internal', 'sensitive', 'core'] as const

function moreSensitive(a: DatasetSpec['classification'], b: DatasetSpec['classification']) {
  return ORDER.indexOf(a) >= ORDER.indexOf(b) ? a : b
}
