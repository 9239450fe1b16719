/**
 * The rows of a unit join (exec/join.ts): pairs of each unit's kept rows,
 * at most maxRows per unit, chosen by row order alone; and on neighbouring
 * datasets (a unit added to both sides, its rows anywhere) the joined rows
 * differ by exactly that unit's joined rows, at most maxRows of them: the
 * bound every planner sensitivity relies on.
 */
import t from 'tap'

import { joinedColumns, joinRows, type JoinSide } from '../../../src/engine/exec/join.js'
import type { ColumnArray } from '../../../src/engine/exec/types.js'
import { keepFirst } from '../fixtures.js'
import { int, rng } from './fixtures.js'

/** A side from rows of [unit, row id], kept as the column cache keeps them (first m per unit). */
function side(rows: readonly [string, string][], m: number): JoinSide {
  const dict = (values: readonly string[]) => {
    const codes = new Map<string, number>()
    const out = Uint32Array.from(values, (v) => {
      if (!codes.has(v)) codes.set(v, codes.size)
      return codes.get(v)!
    })
    return { kind: 'code' as const, values: out, dictionary: [...codes.keys()], nulls: null }
  }
  const units = rows.map((r) => r[0])
  const columns = new Map<string, ColumnArray>([
    ['uid', dict(units)],
    ['rid', dict(rows.map((r) => r[1]))],
  ])
  return { src: { rows: rows.length, columns, keep: keepFirst(units, m) }, unit: 'uid' }
}

/** The joined rows as "left id|right id" strings. */
function pairsOf(l: JoinSide, r: JoinSide, maxRows: number): string[] {
  const j = joinedColumns(
    l,
    r,
    maxRows,
    new Map([
      ['lid', { side: 'left' as const, column: 'rid' }],
      ['rid', { side: 'right' as const, column: 'rid' }],
    ]),
  )
  const a = j.columns.get('lid')!
  const b = j.columns.get('rid')!
  if (a.kind !== 'code' || b.kind !== 'code') throw new Error('ids')
  return Array.from({ length: j.rows }, (_, k) => `${a.dictionary[a.values[k]!]}|${b.dictionary[b.values[k]!]}`)
}

t.test('pairs of kept rows per unit, in row order, at most maxRows', async (t) => {
  const l = side(
    [
      ['u1', 'a1'],
      ['u2', 'a2'],
      ['u1', 'a3'],
      ['u3', 'a4'],
    ],
    2,
  )
  const r = side(
    [
      ['u1', 'b1'],
      ['u1', 'b2'],
      ['u2', 'b3'],
      ['u9', 'b4'],
    ],
    3,
  )
  t.same(pairsOf(l, r, 10), ['a1|b1', 'a1|b2', 'a2|b3', 'a3|b1', 'a3|b2'])
  t.same(pairsOf(l, r, 3), ['a1|b1', 'a1|b2', 'a2|b3', 'a3|b1'], 'u1 keeps its first three pairs')
  t.same(pairsOf(l, r, 1), ['a1|b1', 'a2|b3'])
  // Rows the contribution bound cut do not join.
  const cut = side(
    [
      ['u1', 'a1'],
      ['u1', 'a2'],
      ['u1', 'a3'],
    ],
    1,
  )
  t.same(pairsOf(cut, r, 10), ['a1|b1', 'a1|b2'])
  t.equal(joinRows(l, side([], 1), 5).rows, 0, 'an empty side joins nothing')
})

t.test("neighbouring datasets differ by the added unit's joined rows, at most maxRows", async (t) => {
  const r = rng(0x701)
  let trials = 0
  let attained = 0
  for (const maxRows of [1, 2, 5]) {
    for (const m of [1, 2, 3]) {
      for (let trial = 0; trial < 80; trial++) {
        const units = 1 + int(r, 10)
        const mk = (n: number, tag: string): [string, string][] =>
          Array.from({ length: n }, (_, i) => [`u${int(r, units)}`, `${tag}${i}`])
        const left = mk(int(r, 30), 'a')
        const right = mk(int(r, 30), 'b')
        const insert = (rows: [string, string][], tag: string): [string, string][] => {
          const out = [...rows]
          for (let k = 0; k < 1 + int(r, 2 * m); k++) out.splice(int(r, out.length + 1), 0, ['newcomer', `${tag}n${k}`])
          return out
        }
        const before = pairsOf(side(left, m), side(right, m), maxRows)
        const after = pairsOf(side(insert(left, 'a'), m), side(insert(right, 'b'), m), maxRows)
        const added = after.filter((p) => p.includes('n'))
        const kept = after.filter((p) => !p.includes('n'))
        trials++
        if (added.length === Math.min(maxRows, m * m)) attained++
        if (JSON.stringify([...kept].sort()) !== JSON.stringify([...before].sort()) || added.length > maxRows) {
          t.fail(
            `maxRows ${maxRows}, m ${m}, trial ${trial}: ${added.length} added, others changed: ${kept.length} vs ${before.length}`,
          )
          return
        }
      }
    }
  }
  t.pass(`${trials} neighbouring pairs: only the added unit's joined rows change, at most maxRows`)
  t.ok(attained > 0, `the bound is reached (${attained} times)`)
})
