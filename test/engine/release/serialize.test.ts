import t from 'tap'
import { resultHash } from '../../../src/engine/receipts.js'
import { INTERVALS_SLOT, ROWS_SLOT, serializeRelease, spliceRelease } from '../../../src/engine/release/serialize.js'
import { mulberry32 } from '../../../src/engine/mulberry32.js'

t.test(
  'the serialized release is JSON.stringify of its parts and resultHash of the whole, byte for byte',
  async (t) => {
    const r = mulberry32(11)
    const keys = ['滨城区', 'a"b', 'c\\d', '\u2028', 'plain', '😀']
    for (const size of [0, 1, 7, 2000, 4001]) {
      const rows = Array.from({ length: size }, (_, i) => [
        keys[i % keys.length]!,
        i % 3 === 0 ? null : (r() - 0.5) * 1e6,
        i % 5 === 0,
        -0,
        2 ** -30 * i,
      ])
      const intervals = rows.map((row) =>
        row.map((c, j) =>
          j === 0 || c === null || typeof c === 'boolean'
            ? null
            : ([(c as number) - 1, (c as number) + 1] as [number, number]),
        ),
      )
      const released = { columns: ['k', 'v', 'b', 'z', 'g'], rows, intervals }
      const s = await serializeRelease(released, 0.95)
      t.equal(s.rows, JSON.stringify(rows), `${size} rows: rows`)
      t.equal(s.intervals, JSON.stringify(intervals), `${size} rows: intervals`)
      t.equal(s.resultHash, resultHash({ ...released, confidence: 0.95 }), `${size} rows: the receipt's result hash`)
      t.ok(s.finite)
      const body = {
        queryId: 'q',
        sql: `"rows":${JSON.stringify(ROWS_SLOT)}`,
        columns: released.columns,
        rows,
        intervals,
        n: 1,
      }
      t.equal(
        spliceRelease(JSON.stringify({ ...body, rows: ROWS_SLOT, intervals: INTERVALS_SLOT }), s),
        JSON.stringify(body),
        `${size} rows: the spliced answer, even with analyst text that mimics a slot`,
      )
    }
    const bad = await serializeRelease({ columns: ['x'], rows: [[Infinity]], intervals: [[[0, 1]]] }, 0.9)
    t.notOk(bad.finite, 'Infinity is caught')
    t.notOk(
      (await serializeRelease({ columns: ['x'], rows: [[1]], intervals: [[[Number.NaN, 1]]] }, 0.9)).finite,
      'a NaN bound too',
    )
  },
)
