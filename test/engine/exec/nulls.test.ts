import t from 'tap'
import { buildMask, clearNulls, markNulls } from '../../../src/engine/exec/nulls.js'
import { bitmap, int, pick, rng } from './fixtures.js'

const isNull = (nulls: Uint8Array, i: number) => ((nulls[i >> 3]! >> (i & 7)) & 1) === 1

t.test('buildMask matches the row-by-row definition, aligned or not, with stray selection bytes', async (t) => {
  const r = rng(17)
  const wrong: string[] = []
  for (let k = 0; k < 200; k++) {
    const rows = pick(r, [0, 1, 7, 8, 9, 31, 64, 65, 1000, 70001])
    const nulls = bitmap(rows, () => r() < pick(r, [0, 0.1, 0.9, 1]))
    const offset = pick(r, [0, 0, 1, 2, 3, 4])
    const backing = Uint8Array.from({ length: rows + offset }, () => pick(r, [0, 1, 1, 2, 255]))
    const sel = r() < 0.2 ? null : backing.subarray(offset)
    const start = 8 * int(r, Math.floor(rows / 8) + 1)
    const end = start + int(r, rows - start + 1)
    const mask = new Uint8Array(end - start + 8).fill(9)
    buildMask(mask, sel, nulls, start, end)
    for (let i = start; i < end; i++) {
      const want = !isNull(nulls, i) && (sel === null || sel[i] !== 0) ? 1 : 0
      if (mask[i - start] !== want) {
        wrong.push(
          `case ${k}: rows ${rows} offset ${offset} [${start}, ${end}) row ${i}: ${mask[i - start]} vs ${want}`,
        )
        break
      }
    }
  }
  t.same(wrong, [])
})

t.test('clearNulls and markNulls touch exactly the null rows', async (t) => {
  const nulls = bitmap(11, (i) => i === 0 || i === 9)
  const m = new Uint8Array(11).fill(1)
  clearNulls(m, nulls, 11)
  t.strictSame([...m], [0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1])
  const z = new Uint8Array(11)
  markNulls(z, nulls, 11)
  t.strictSame([...z], [1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0])
})
