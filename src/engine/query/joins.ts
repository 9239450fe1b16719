import type { DatasetSpec } from '../../schema.js'
import type { ColumnRef, Query } from './ast.js'
import { foreignKeyJoin } from './foreign-keys.js'
import { queryError } from './query-error.js'
import { checkSources, joinError, joinNames, merge, pairedTables, unknownTable, type Tables } from './join-parts.js'

export type { Tables, UnitJoin } from './join-parts.js'

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
  const joined = q.from.joins?.[0]?.dataset
  return queryError(
    'VEILBOX_ERR_QUERY_PUBLIC_TABLE',
    joined === undefined
      ? `${spec.id} is a public table: join it to a dataset on its key (FROM d JOIN ${spec.id} ON d.column = ${spec.id}.${spec.key}); it has no privacy unit to answer for alone`
      : `${spec.id} is a public table, and FROM names the dataset whose units the answer protects: write FROM ${joined} JOIN ${spec.id} ON ...`,
    q.from.pos,
    { dataset: spec.id },
  )
}

/** The tables of a query with one unit join; `right` is the spec of the joined dataset. */
export function unitJoin(q: Query, left: DatasetSpec, right: DatasetSpec): Tables {
  const { j, leftName, rightName } = joinNames(q, left, right)
  const named = new Map([
    [leftName, left],
    [rightName, right],
  ])
  // A declared foreign key from one side to the other's unit (query/foreign-keys.ts).
  const fk = foreignKeyJoin(q, left, right)
  if (fk !== null) return fk
  // The unit space: both declare the same one, and the join is on both units.
  if (left.unitSpace === undefined || left.unitSpace !== right.unitSpace) {
    const spaces = `${left.id} is ${left.unitSpace === undefined ? 'of no declared unit space' : `of unit space ${left.unitSpace}`}, ${right.id} ${right.unitSpace === undefined ? 'of none' : `of ${right.unitSpace}`}`
    throw joinError(
      `a join on the privacy unit needs two datasets of one unit space: ${spaces}; the operator declares "unitSpace" on datasets whose units are the same people, households or firms, or a foreign key ("references") on a column whose values are the other's units`,
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
        `ON must equate the two privacy units (${leftName}.${left.privacyUnit} = ${rightName}.${right.privacyUnit}); joins on other keys need a foreign key declared on one side ("references": that dataset and its unit)`,
        j,
      )
  }
  return pairedTables(
    j,
    { spec: left, name: leftName, key: left.privacyUnit },
    { spec: right, name: rightName, key: right.privacyUnit },
    { unitSpace: left.unitSpace, maxRowsPerUnit: Math.max(left.maxRowsPerUnit, right.maxRowsPerUnit) },
  )
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
  const { j, leftName, rightName } = joinNames(q, left, right)
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
