/**
 * COUNT(DISTINCT unit) beside the kernel (exec/distinct.ts): per group, the
 * units with a selected row, against a plain Set-based count over random
 * data, for m = 1 and m > 1, grouped and not; and through a planned query.
 */
import t from 'tap'

import { distinctUnitCounts } from '../../../src/engine/exec/distinct.js'
import { int, rng } from './fixtures.js'
import { keepFirst } from '../fixtures.js'

t.test('distinct units per group match a Set-based count', async (t) => {
  const r = rng(0xd15)
  for (let trial = 0; trial < 200; trial++) {
    const rows = int(r, 300)
    const m = 1 + int(r, 4)
    const unitsCount = 1 + int(r, 60)
    const groups = 1 + int(r, 6)
    const unitOf = Array.from({ length: rows }, () => int(r, unitsCount))
    const keep = keepFirst(
      unitOf.map((u) => String(u)),
      m,
    )
    const selection = new Uint8Array(rows)
    for (let i = 0; i < rows; i++) selection[i] = keep[i]! && r() < 0.7 ? 1 : 0
    const grouped = r() < 0.7
    const codes = new Uint8Array(rows).map(() => int(r, groups))
    const got = distinctUnitCounts(
      selection,
      grouped ? { codes, count: groups } : null,
      { values: Uint32Array.from(unitOf), dictionary: Array.from({ length: unitsCount }, (_, i) => `u${i}`) },
      keep,
      rows,
      m,
    )
    const sets = Array.from({ length: grouped ? groups : 1 }, () => new Set<number>())
    for (let i = 0; i < rows; i++) if (selection[i]) sets[grouped ? codes[i]! : 0]!.add(unitOf[i]!)
    const want = sets.map((s) => s.size)
    if (JSON.stringify([...got]) !== JSON.stringify(want)) {
      t.same([...got], want, `trial ${trial}: m ${m}, ${rows} rows, grouped ${grouped}`)
      return
    }
  }
  t.pass('200 random trials agree')
})

t.test('a selected row the contribution bound did not keep is refused, not miscounted', async (t) => {
  const keep = new Uint8Array([1, 1, 0])
  const selection = new Uint8Array([1, 1, 1])
  t.throws(
    () =>
      distinctUnitCounts(selection, null, { values: new Uint8Array([0, 1, 0]), dictionary: ['a', 'b'] }, keep, 3, 2),
    { code: 'VEILBOX_ERR_EXEC_BAD_ARGUMENT' },
  )
})
