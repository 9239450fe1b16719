/**
 * The rows of a unit join (exec/join.ts): pairs of each unit's kept rows,
 * at most maxRows per unit, chosen by row order alone; and on neighbouring
 * datasets (a unit added to both sides, its rows anywhere) the joined rows
 * differ by exactly that unit's joined rows, at most maxRows of them: the
 * bound every planner sensitivity relies on.
 */
import t from 'tap'

import { joinedColumns, joinRows, lookupRows, type JoinSide } from '../../../src/engine/exec/join.js'
import type { ColumnArray } from '../../../src/engine/exec/types.js'
import { entryAt } from '../../../src/engine/exec/dictionary.js'
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
  return Array.from(
    { length: j.rows },
    (_, k) => `${entryAt(a.dictionary, a.values[k]!)}|${entryAt(b.dictionary, b.values[k]!)}`,
  )
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

/** A public table's side: rows of [key, value], every row kept. */
function table(rows: readonly (readonly [string | null, string])[]): JoinSide {
  const dict = (values: readonly (string | null)[]) => {
    const codes = new Map<string, number>()
    const nulls = new Uint8Array(Math.ceil(values.length / 8))
    const out = Uint32Array.from(values, (v, i) => {
      if (v === null) {
        nulls[i >> 3]! |= 1 << (i & 7)
        return 0
      }
      if (!codes.has(v)) codes.set(v, codes.size)
      return codes.get(v)!
    })
    return {
      kind: 'code' as const,
      values: out,
      dictionary: [...codes.keys()],
      nulls: values.includes(null) ? nulls : null,
    }
  }
  const columns = new Map<string, ColumnArray>([
    ['key', dict(rows.map((r) => r[0]))],
    ['val', dict(rows.map((r) => r[1]))],
  ])
  return { src: { rows: rows.length, columns, keep: new Uint8Array(rows.length).fill(1) }, unit: 'key' }
}

t.test("a lookup pairs each kept left row with its key's row; rows without one drop out", async (t) => {
  // The left: [key, row id], its keep from a unit bound the test sets directly.
  const left = table([
    ['north', 'a1'],
    ['south', 'a2'],
    [null, 'a3'],
    ['east', 'a4'],
    ['north', 'a5'],
  ])
  const keep = Uint8Array.from([1, 1, 1, 1, 0])
  const l: JoinSide = { src: { ...left.src, keep }, unit: 'key' }
  const r = table([
    ['south', 'S'],
    ['north', 'N'],
    ['west', 'W'],
  ])
  const joined = lookupRows(l, r)
  t.same([...joined.left], [0, 1], 'a3 (empty key), a4 (no such key) and a5 (not kept) drop out')
  t.same([...joined.right], [1, 0])
  const cols = joinedColumns(
    l,
    r,
    'lookup',
    new Map([
      ['lid', { side: 'left' as const, column: 'val' }],
      ['region', { side: 'right' as const, column: 'val' }],
    ]),
  )
  const a = cols.columns.get('lid')!
  const b = cols.columns.get('region')!
  if (a.kind !== 'code' || b.kind !== 'code') throw new Error('codes')
  t.same(
    Array.from(
      { length: cols.rows },
      (_, k) => `${entryAt(a.dictionary, a.values[k]!)!}|${entryAt(b.dictionary, b.values[k]!)!}`,
    ),
    ['a1|N', 'a2|S'],
  )
  // Integer keys meet by value.
  const ints = (values: number[]): JoinSide => ({
    src: {
      rows: values.length,
      columns: new Map<string, ColumnArray>([['k', { kind: 'i32', values: Int32Array.from(values), nulls: null }]]),
      keep: new Uint8Array(values.length).fill(1),
    },
    unit: 'k',
  })
  t.same([...lookupRows(ints([3, 7, 3, 9]), ints([9, 3])).right], [1, 1, 0])
  t.throws(() => lookupRows(ints([1]), r), /coded or two numeric keys/, 'keys of two kinds are refused')
})

t.test("a lookup keeps the left's unit bound: neighbours differ by the added unit's rows only", async (t) => {
  const r = rng(0x702)
  const keys = ['k0', 'k1', 'k2', 'k3', 'k4']
  let trials = 0
  for (const m of [1, 2, 4]) {
    for (let trial = 0; trial < 100; trial++) {
      const units = 1 + int(r, 8)
      const pub = table(keys.filter(() => int(r, 4) > 0).map((k) => [k, `v${k}`] as const))
      const mk = (n: number): [string, string, string][] =>
        Array.from({ length: n }, (_, i) => [`u${int(r, units)}`, keys[int(r, keys.length)]!, `a${i}`])
      const rows = mk(int(r, 30))
      const after = [...rows]
      for (let k = 0; k < 1 + int(r, 2 * m); k++)
        after.splice(int(r, after.length + 1), 0, ['newcomer', keys[int(r, keys.length)]!, `n${k}`])
      const leftSide = (rs: [string, string, string][]): JoinSide => {
        const t2 = table(rs.map((x) => [x[1], x[2]] as const))
        return {
          src: {
            ...t2.src,
            keep: keepFirst(
              rs.map((x) => x[0]),
              m,
            ),
          },
          unit: 'key',
        }
      }
      const ids = (rs: [string, string, string][]) => {
        const s = leftSide(rs)
        const v = s.src.columns.get('val')!
        if (v.kind !== 'code') throw new Error('codes')
        return [...lookupRows(s, pub).left].map((i) => entryAt(v.dictionary, v.values[i]!)!)
      }
      const b = ids(rows)
      const a = ids(after)
      const added = a.filter((x) => x.startsWith('n'))
      trials++
      if (JSON.stringify(a.filter((x) => !x.startsWith('n'))) !== JSON.stringify(b) || added.length > m) {
        t.fail(`m ${m}, trial ${trial}: ${added.length} rows added, others changed`)
        return
      }
    }
  }
  t.pass(`${trials} neighbouring pairs: only the added unit's rows change, at most m`)
})

/** The referencing side of a foreign-key join: rows of [person, household, row id], kept per person, met on the household. */
function persons(rows: readonly [string, string, string][], m: number): JoinSide {
  const dict = (values: readonly string[]) => {
    const codes = new Map<string, number>()
    const out = Uint32Array.from(values, (v) => {
      if (!codes.has(v)) codes.set(v, codes.size)
      return codes.get(v)!
    })
    return { kind: 'code' as const, values: out, dictionary: [...codes.keys()], nulls: null }
  }
  const columns = new Map<string, ColumnArray>([
    ['hid', dict(rows.map((r) => r[1]))],
    ['rid', dict(rows.map((r) => r[2]))],
  ])
  return {
    src: {
      rows: rows.length,
      columns,
      keep: keepFirst(
        rows.map((r) => r[0]),
        m,
      ),
    },
    unit: 'hid',
  }
}

t.test(
  "a foreign-key join: a household's removal changes its own pairs only; a person's, one household's",
  async (t) => {
    const r = rng(0x703)
    let trials = 0
    let persons2 = 0
    for (const [mA, mB] of [
      [1, 1],
      [2, 1],
      [1, 3],
      [3, 2],
    ] as const) {
      const mJ = Math.max(mA, mB)
      for (let trial = 0; trial < 60; trial++) {
        const households = 1 + int(r, 6)
        // Each person belongs to one household (ingest's nesting rule), and has 1-4 rows.
        const people = Array.from({ length: 1 + int(r, 10) }, (_, p) => ({ p: `p${p}`, h: `h${int(r, households)}` }))
        const aRows: [string, string, string][] = []
        for (const { p, h } of people) for (let k = 0; k < 1 + int(r, 4); k++) aRows.push([p, h, `${p}r${k}`])
        // Shuffle the rows' order: a person's rows are anywhere.
        for (let i = aRows.length - 1; i > 0; i--) {
          const k = int(r, i + 1)
          ;[aRows[i], aRows[k]] = [aRows[k]!, aRows[i]!]
        }
        const bRows: [string, string][] = Array.from({ length: int(r, 15) }, (_, i) => [
          `h${int(r, households)}`,
          `b${i}`,
        ])
        const pairsBy = (a: [string, string, string][], b: [string, string][]) => {
          const j = joinedColumns(
            persons(a, mA),
            side(b, mB),
            mJ,
            new Map([
              ['hid', { side: 'left' as const, column: 'hid' }],
              ['lid', { side: 'left' as const, column: 'rid' }],
              ['bid', { side: 'right' as const, column: 'rid' }],
            ]),
          )
          const at = (name: string, k: number) => {
            const c = j.columns.get(name)!
            if (c.kind !== 'code') throw new Error('codes')
            return entryAt(c.dictionary, c.values[k]!)!
          }
          return Array.from({ length: j.rows }, (_, k) => `${at('hid', k)}|${at('lid', k)}|${at('bid', k)}`)
        }
        const before = pairsBy(aRows, bRows)
        const byHousehold = (pairs: string[]) => {
          const m = new Map<string, string[]>()
          for (const p of pairs) m.set(p.split('|')[0]!, [...(m.get(p.split('|')[0]!) ?? []), p])
          return m
        }
        for (const [h, ps] of byHousehold(before))
          if (ps.length > mJ) return void t.fail(`household ${h} has ${ps.length} pairs, more than m_J ${mJ}`)
        // A household removed from both sides: only its pairs go.
        const gone = `h${int(r, households)}`
        const after = pairsBy(
          aRows.filter((x) => x[1] !== gone),
          bRows.filter((x) => x[0] !== gone),
        )
        if (JSON.stringify(after) !== JSON.stringify(before.filter((p) => !p.startsWith(`${gone}|`))))
          return void t.fail(`mA ${mA} mB ${mB} trial ${trial}: removing ${gone} changed other households' pairs`)
        // A person removed: the pairs of one household change, by at most 2 m_J in symmetric difference.
        const who = people[int(r, people.length)]!
        const without = pairsBy(
          aRows.filter((x) => x[0] !== who.p),
          bRows,
        )
        const changed = new Set([...before, ...without].filter((p) => before.includes(p) !== without.includes(p)))
        const households2 = new Set([...changed].map((p) => p.split('|')[0]))
        if (households2.size > 1 || [...households2].some((h) => h !== who.h) || changed.size > 2 * mJ)
          return void t.fail(
            `mA ${mA} mB ${mB} trial ${trial}: removing ${who.p} changed ${changed.size} pairs in ${[...households2]}`,
          )
        if (changed.size > mJ) persons2++
        trials++
      }
    }
    t.pass(
      `${trials} pairs of neighbours each way: a household's pairs alone; a person's household alone, within 2 m_J`,
    )
    t.ok(persons2 > 0, `${persons2} person removals moved more than m_J pairs: the factor 2 of group privacy is needed`)
  },
)
