import type { DatasetSpec } from '../../schema.js'
import type { ColumnRef, Join, Query } from './ast.js'
import { joinError, joinNames, pairedTables, unknownTable, type Tables } from './join-parts.js'

/**
 * A join on a declared foreign key (issue 21): one dataset's id column
 * `references` the other's privacy unit, and each of its units belongs to
 * one referenced unit (ingest checks it: a person's rows all name one
 * household). The joined rows are the unit join's, with the referencing
 * side's rows met on the key instead of their own unit: the joined unit is
 * the referenced one (the household), and each keeps at most
 * m_J = maxRows x m_referenced pairs in row order (exec/join.ts), maxRows
 * being the key's declared bound on referencing rows per referenced unit.
 *
 * Removing a household removes its rows on both sides (its persons are its
 * own), so every sensitivity holds with m = m_J for the household. A person
 * changes one household's rows: two household steps, so the referencing
 * dataset is charged by group privacy, twice the epsilon (four times the
 * rho) of the answer; the referenced dataset the answer's own.
 *
 * Null when the join is not on a foreign key (a unit join is then tried).
 */
export function foreignKeyJoin(q: Query, left: DatasetSpec, right: DatasetSpec): Tables | null {
  const { j, leftName, rightName } = joinNames(q, left, right)
  const named = new Map([
    [leftName, left],
    [rightName, right],
  ])
  // The key column of `from` that references `to`'s unit, if it is `name`.
  const references = (from: DatasetSpec, to: DatasetSpec, name: string): boolean => {
    const c = from.columns.find((x) => x.name === name)
    return c?.references?.dataset === to.id && c.references.column === to.privacyUnit
  }
  let keys: { leftKey: string; rightKey: string; nested: DatasetSpec } | null = null
  if (j.using !== undefined) {
    if (references(left, right, j.using) && j.using === right.privacyUnit)
      keys = { leftKey: j.using, rightKey: j.using, nested: left }
    else if (references(right, left, j.using) && j.using === left.privacyUnit)
      keys = { leftKey: j.using, rightKey: j.using, nested: right }
  } else {
    const [a, b] = j.on!
    const side = (ref: ColumnRef) => (ref.table === undefined ? undefined : named.get(ref.table))
    const sa = side(a)
    const sb = side(b)
    if (sa !== undefined && sb !== undefined && sa !== sb) {
      const [l, r] = sa === left ? [a, b] : [b, a]
      if (references(left, right, l.name) && r.name === right.privacyUnit)
        keys = { leftKey: l.name, rightKey: r.name, nested: left }
      else if (references(right, left, r.name) && l.name === left.privacyUnit)
        keys = { leftKey: l.name, rightKey: r.name, nested: right }
    } else if (sa === undefined && a.table !== undefined) throw unknownTable(a, [...named.keys()])
    else if (sb === undefined && b.table !== undefined) throw unknownTable(b, [...named.keys()])
  }
  if (keys === null) return null
  return fkTables(j, left, right, leftName, rightName, keys)
}

function fkTables(
  j: Join,
  left: DatasetSpec,
  right: DatasetSpec,
  leftName: string,
  rightName: string,
  keys: { leftKey: string; rightKey: string; nested: DatasetSpec },
): Tables {
  if (left.source !== undefined || right.source !== undefined)
    throw joinError(
      "a join on a foreign key runs in veilbox's sandbox, for now: both datasets must hold their rows in veilbox",
      j,
    )
  const referenced = keys.nested === left ? right : left
  // The referencing rows one referenced unit keeps (the key's maxRows), each paired with its rows there.
  const key = keys.nested.columns.find((c) => c.name === (keys.nested === left ? keys.leftKey : keys.rightKey))!
  const referencingRows = key.references!.maxRows ?? keys.nested.maxRowsPerUnit
  return pairedTables(
    j,
    { spec: left, name: leftName, key: keys.leftKey },
    { spec: right, name: rightName, key: keys.rightKey },
    {
      unitSpace: referenced.unitSpace,
      maxRowsPerUnit: Math.min(1000, referencingRows * referenced.maxRowsPerUnit),
      nested: keys.nested.id,
    },
  )
}
