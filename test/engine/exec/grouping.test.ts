import t from 'tap'
import {
  decodeGroup,
  decodeGroupCodes,
  encodeGroups,
  groupLayout,
  type CodeColumn,
} from '../../../src/engine/exec/grouping.js'
import { aggregate } from '../../../src/engine/exec/kernel-ts.js'
import { MAX_GROUPS } from '../../../src/engine/exec/types.js'
import { entryAt } from '../../../src/engine/exec/dictionary.js'
import { validateRequest } from '../../../src/engine/exec/validate.js'
import { bitmap, codeColumn, int, isNullAt, rng } from './fixtures.js'

const dictOf = (n: number, prefix: string) => Array.from({ length: n }, (_, k) => `${prefix}${k}`)

t.test('mixed radix: first column least significant, null gets the last digit', async (t) => {
  const layout = groupLayout([
    { dictionary: ['a', 'b', 'c'], nullable: false },
    { dictionary: ['x', 'y'], nullable: true },
  ])
  t.strictSame(layout.radices, [3, 3])
  t.equal(layout.count, 9)
  const cols: CodeColumn[] = [
    codeColumn(Uint8Array.of(0, 2, 1, 2), ['a', 'b', 'c']),
    codeColumn(
      Uint8Array.of(1, 0, 0, 1),
      ['x', 'y'],
      bitmap(4, (i) => i === 2),
    ),
  ]
  const g = encodeGroups(layout, cols, 4)
  t.strictSame([...g.codes], [0 + 3 * 1, 2 + 3 * 0, 1 + 3 * 2, 2 + 3 * 1])
  t.equal(g.count, 9)
  t.strictSame(decodeGroup(layout, 7), ['b', null])
  t.strictSame(decodeGroupCodes(layout, 7), [1, null])
  t.strictSame(decodeGroup(layout, 5), ['c', 'y'])
  t.ok(Object.isFrozen(g))
})

t.test('random round trip over up to 4 columns with nulls', async (t) => {
  const r = rng(21)
  for (let k = 0; k < 40; k++) {
    const ncols = 1 + int(r, 4)
    const rows = int(r, 300)
    const cols: CodeColumn[] = []
    const keys = []
    for (let c = 0; c < ncols; c++) {
      const size = 1 + int(r, ncols === 1 ? 70000 : 30)
      const nullable = r() < 0.5
      const values =
        size > 256
          ? Uint32Array.from({ length: rows }, () => int(r, size))
          : Uint8Array.from({ length: rows }, () => int(r, size))
      // Garbage under null bits must not matter.
      const nulls = nullable && r() < 0.8 ? bitmap(rows, () => r() < 0.3) : null
      if (nulls !== null)
        for (let i = 0; i < rows; i++)
          if (isNullAt({ kind: 'code', values, dictionary: [], nulls }, i)) values[i] = int(r, 255) + 3
      const dictionary = dictOf(size, `k${c}_`)
      cols.push(codeColumn(values, dictionary, nulls))
      keys.push({ dictionary, nullable })
    }
    const layout = groupLayout(keys)
    const g = encodeGroups(layout, cols, rows)
    validateRequest({ rows, selection: null, grouping: g, measures: [] }, { scanVouchedGroupings: true })
    let ok = true
    for (let i = 0; i < rows; i++) {
      const want = cols.map((col) => (isNullAt(col, i) ? null : entryAt(col.dictionary, col.values[i]!)!))
      if (JSON.stringify(decodeGroup(layout, g.codes[i]!)) !== JSON.stringify(want)) ok = false
    }
    t.ok(ok, `case ${k}: ${ncols} columns, ${rows} rows, ${layout.count} groups`)
  }
})

t.test('one column without nulls is used in place', async (t) => {
  const values = Uint8Array.of(0, 3, 1)
  const layout = groupLayout([{ dictionary: dictOf(4, 'c'), nullable: false }])
  const g = encodeGroups(layout, [codeColumn(values, dictOf(4, 'c'))], 3)
  t.equal(g.codes, values, 'no copy')
  const nullableLayout = groupLayout([{ dictionary: dictOf(4, 'c'), nullable: true }])
  const g2 = encodeGroups(nullableLayout, [codeColumn(values, dictOf(4, 'c'))], 3)
  t.equal(g2.count, 5, 'a nullable column keeps its null group in a version without nulls')
  t.strictSame(decodeGroup(nullableLayout, 4), [null])
})

t.test('the group count is bounded', async (t) => {
  const big = { dictionary: dictOf(1000, 'g'), nullable: false }
  t.equal(groupLayout([big, big]).count, MAX_GROUPS, 'exactly MAX_GROUPS is allowed')
  t.throws(() => groupLayout([big, { dictionary: dictOf(1000, 'h'), nullable: true }]), {
    code: 'VEILBOX_ERR_EXEC_TOO_MANY_GROUPS',
    status: 400,
    detail: 'GROUP BY allows 1001000 groups (1000 x 1001), more than 1000000',
  })
  const huge = { dictionary: dictOf(65535, 'z'), nullable: true }
  t.throws(() => groupLayout([huge, huge, huge, huge]), {
    code: 'VEILBOX_ERR_EXEC_TOO_MANY_GROUPS',
    detail: `GROUP BY allows ${65536n ** 4n} groups (65536 x 65536 x 65536 x 65536), more than 1000000`,
  })
  const two = { dictionary: ['a', 'b'], nullable: false }
  t.throws(() => groupLayout([two, two, two, two, two]), {
    code: 'VEILBOX_ERR_EXEC_TOO_MANY_GROUPS',
    detail: 'GROUP BY takes at most 4 columns, got 5',
  })
})

t.test('the largest group code encodes, decodes and aggregates', async (t) => {
  const big = { dictionary: dictOf(1000, 'g'), nullable: false }
  const layout = groupLayout([big, big])
  const a = codeColumn(Uint16Array.of(999, 0, 999), big.dictionary)
  const b = codeColumn(Uint16Array.of(999, 0, 998), big.dictionary)
  const g = encodeGroups(layout, [a, b], 3)
  t.ok(g.codes instanceof Uint32Array)
  t.equal(g.codes[0], MAX_GROUPS - 1)
  t.strictSame(decodeGroup(layout, MAX_GROUPS - 1), ['g999', 'g999'])
  const res = aggregate({ rows: 3, selection: null, grouping: g, measures: [] })
  t.equal(res.count[MAX_GROUPS - 1], 1)
  t.equal(res.count[0], 1)
})

t.test('bad group inputs throw typed errors with exact messages', async (t) => {
  const code = 'VEILBOX_ERR_EXEC_BAD_ARGUMENT'
  const layout = groupLayout([{ dictionary: ['a', 'b'], nullable: false }])
  t.throws(() => groupLayout([]), {
    code,
    detail: 'groupLayout needs 1 to 4 key columns, got 0; an ungrouped aggregate has grouping null',
  })
  t.throws(() => groupLayout([{ dictionary: [], nullable: false }]), {
    code,
    detail: 'keys[0] has an empty dictionary and no null code: no row could belong to a group',
  })
  t.throws(() => encodeGroups(layout, [codeColumn(Uint8Array.of(0, 2), ['a', 'b'])], 2), {
    code,
    detail: 'columns[0] holds code 2 at row 1, past its 2 dictionary entries',
  })
  t.throws(
    () =>
      encodeGroups(
        layout,
        [
          codeColumn(
            Uint8Array.of(0, 1),
            ['a', 'b'],
            bitmap(2, () => false),
          ),
        ],
        2,
      ),
    {
      code,
      detail: 'columns[0] has a null bitmap but the layout declares it non-nullable',
    },
  )
  t.throws(() => encodeGroups(layout, [codeColumn(Uint8Array.of(0, 1), ['a', 'b', 'c'])], 2), {
    code,
    detail: 'columns[0] has 3 dictionary entries, the layout declares 2',
  })
  t.throws(() => encodeGroups(layout, [], 2), { code, detail: 'encodeGroups needs 1 columns for this layout, got 0' })
  t.throws(() => encodeGroups(layout, [codeColumn(Uint8Array.of(0, 1), ['a', 'b'])], 3), {
    code,
    detail: 'columns[0].values has 2 elements, expected rows = 3',
  })
  t.throws(() => decodeGroup(layout, 2), { code, detail: 'group code must be an integer in [0, 2), got 2' })
  const nullable = groupLayout([
    { dictionary: ['a', 'b'], nullable: true },
    { dictionary: ['x'], nullable: false },
  ])
  const values = Uint8Array.of(0, 9, 7)
  const g = encodeGroups(
    nullable,
    [
      codeColumn(
        values,
        ['a', 'b'],
        bitmap(3, (i) => i > 0),
      ),
      codeColumn(Uint8Array.of(0, 0, 0), ['x']),
    ],
    3,
  )
  t.strictSame([...g.codes], [0, 2, 2], 'garbage under null bits is ignored')
})
