import t from 'tap'
import {
  andMask,
  compilePredicate,
  type ColumnPredicate,
  type CompareOp,
  type Literal,
} from '../../../src/engine/exec/predicate.js'
import type { ColumnArray } from '../../../src/engine/exec/types.js'
import { bitmap, codeColumn, f64, i32, int, isNullAt, pick, rng } from './fixtures.js'
import { entryAt, entries } from '../../../src/engine/exec/dictionary.js'

/** SQL's three truth values: true, false, and null for UNKNOWN. */
type Truth = boolean | null

/** The naive per-row evaluator the compiled masks must agree with. */
function evalRow(p: ColumnPredicate, row: number): Truth {
  switch (p.kind) {
    case 'not': {
      const v = evalRow(p.operand, row)
      return v === null ? null : !v
    }
    case 'and': {
      const vs = p.operands.map((o) => evalRow(o, row))
      return vs.includes(false) ? false : vs.includes(null) ? null : true
    }
    case 'or': {
      const vs = p.operands.map((o) => evalRow(o, row))
      return vs.includes(true) ? true : vs.includes(null) ? null : false
    }
    case 'isNull':
      return isNullAt(p.column, row) !== p.negated
    case 'cmp': {
      const x = valueAt(p.column, row)
      return x === null ? null : compare(x, p.op, lit(p.value))
    }
    case 'in': {
      const x = valueAt(p.column, row)
      return x === null ? null : p.values.map(lit).includes(x) !== p.negated
    }
    case 'between': {
      const x = valueAt(p.column, row)
      return x === null ? null : (lit(p.low) <= x && x <= lit(p.high)) !== p.negated
    }
  }
}

function valueAt(col: ColumnArray, row: number): number | string | null {
  if (isNullAt(col, row)) return null
  return col.kind === 'code' ? entryAt(col.dictionary, col.values[row]!)! : col.values[row]!
}

function lit(v: Literal): number | string {
  return typeof v === 'boolean' ? String(v) : v
}

function compare(x: number | string, op: CompareOp, y: number | string): boolean {
  switch (op) {
    case '=':
      return x === y
    case '<>':
      return x !== y
    case '<':
      return x < y
    case '<=':
      return x <= y
    case '>':
      return x > y
    case '>=':
      return x >= y
  }
}

function naive(p: ColumnPredicate, rows: number): number[] {
  return Array.from({ length: rows }, (_, i) => (evalRow(p, i) === true ? 1 : 0))
}

function agree(
  t: Pick<typeof import('tap').default, 'strictSame'>,
  p: ColumnPredicate,
  rows: number,
  label: string,
): number[] {
  const got = [...compilePredicate(p, rows)]
  t.strictSame(got, naive(p, rows), label)
  return got
}

t.test('three-valued logic on a nullable column', async (t) => {
  // x: 1, null, 7, null, 5
  const x = f64(
    [1, 0, 7, 0, 5],
    bitmap(5, (i) => i === 1 || i === 3),
  )
  const gt5: ColumnPredicate = { kind: 'cmp', column: x, op: '>', value: 5 }
  t.strictSame(agree(t, gt5, 5, 'x > 5'), [0, 0, 1, 0, 0])
  t.strictSame(
    agree(t, { kind: 'not', operand: gt5 }, 5, 'NOT x > 5'),
    [1, 0, 0, 0, 1],
    'nulls are not NOT-ed into TRUE',
  )
  t.strictSame(agree(t, { kind: 'not', operand: { kind: 'not', operand: gt5 } }, 5, 'NOT NOT'), [0, 0, 1, 0, 0])
  const isNull: ColumnPredicate = { kind: 'isNull', column: x, negated: false }
  t.strictSame(agree(t, isNull, 5, 'IS NULL'), [0, 1, 0, 1, 0])
  t.strictSame(agree(t, { kind: 'isNull', column: x, negated: true }, 5, 'IS NOT NULL'), [1, 0, 1, 0, 1])
  t.strictSame(agree(t, { kind: 'not', operand: isNull }, 5, 'NOT IS NULL'), [1, 0, 1, 0, 1])
  t.strictSame(agree(t, { kind: 'or', operands: [gt5, isNull] }, 5, 'x > 5 OR x IS NULL'), [0, 1, 1, 1, 0])
  t.strictSame(
    agree(t, { kind: 'not', operand: { kind: 'or', operands: [gt5, isNull] } }, 5, 'NOT (x > 5 OR x IS NULL)'),
    [1, 0, 0, 0, 1],
  )
  // UNKNOWN AND FALSE is FALSE, so NOT of it is TRUE even for a null x.
  const lt0: ColumnPredicate = { kind: 'cmp', column: f64([1, 1, 1, 1, 1]), op: '<', value: 0 }
  t.strictSame(
    agree(t, { kind: 'not', operand: { kind: 'and', operands: [gt5, lt0] } }, 5, 'NOT (UNKNOWN AND FALSE)'),
    [1, 1, 1, 1, 1],
  )
  t.strictSame(
    agree(
      t,
      { kind: 'not', operand: { kind: 'in', column: x, values: [1, 7], negated: true } },
      5,
      'NOT (x NOT IN (1, 7))',
    ),
    [1, 0, 1, 0, 0],
  )
  t.strictSame(
    agree(t, { kind: 'between', column: x, low: 2, high: 7, negated: true }, 5, 'NOT BETWEEN'),
    [1, 0, 0, 0, 0],
  )
})

t.test('category columns compare on dictionary codes', async (t) => {
  const dict = ['north', 'south', 'east', 'west']
  const c = codeColumn(
    Uint8Array.of(0, 1, 2, 3, 0, 2),
    dict,
    bitmap(6, (i) => i === 4),
  )
  t.strictSame(agree(t, { kind: 'cmp', column: c, op: '=', value: 'east' }, 6, '= east'), [0, 0, 1, 0, 0, 1])
  t.strictSame(
    agree(t, { kind: 'cmp', column: c, op: '=', value: 'mars' }, 6, '= a literal not in the dictionary'),
    [0, 0, 0, 0, 0, 0],
  )
  t.strictSame(
    agree(t, { kind: 'cmp', column: c, op: '<>', value: 'mars' }, 6, '<> a literal not in the dictionary'),
    [1, 1, 1, 1, 0, 1],
  )
  t.strictSame(
    agree(t, { kind: 'in', column: c, values: ['west', 'mars', 'north'], negated: false }, 6, 'IN'),
    [1, 0, 0, 1, 0, 0],
  )
  t.strictSame(
    agree(t, { kind: 'in', column: c, values: ['west', 'mars'], negated: true }, 6, 'NOT IN'),
    [1, 1, 1, 0, 0, 1],
  )
  t.strictSame(
    agree(t, { kind: 'cmp', column: c, op: '<', value: 'p' }, 6, 'ordering is by string, not code'),
    [1, 0, 1, 0, 0, 1],
  )
  t.strictSame(
    agree(t, { kind: 'between', column: c, low: 'east', high: 'south', negated: false }, 6, 'BETWEEN strings'),
    [1, 1, 1, 0, 0, 1],
  )
  const flag = codeColumn(Uint8Array.of(1, 0, 1), ['false', 'true'])
  t.strictSame(agree(t, { kind: 'cmp', column: flag, op: '=', value: true }, 3, 'a boolean literal'), [1, 0, 1])
  const wide = codeColumn(
    Uint16Array.of(300, 2, 300),
    Array.from({ length: 301 }, (_, k) => `c${k}`),
  )
  t.strictSame(agree(t, { kind: 'cmp', column: wide, op: '=', value: 'c300' }, 3, '16-bit codes'), [1, 0, 1])
  const big = codeColumn(Uint32Array.of(0, 1, 1), ['a', 'b'])
  t.strictSame(agree(t, { kind: 'cmp', column: big, op: '<>', value: 'a' }, 3, '32-bit codes'), [0, 1, 1])
})

t.test('numeric leaves: every operator, IN lists short and long, BETWEEN, i32 and f64', async (t) => {
  const r = rng(5)
  const rows = 77
  const values = Array.from({ length: rows }, () => pick(r, [-3, -1, 0, 1, 2, 2.5, 4, 1e9]))
  const nulls = bitmap(rows, () => r() < 0.2)
  for (const column of [f64(values, nulls), i32(values.map(Math.trunc), nulls), f64(values)]) {
    for (const op of ['=', '<>', '<', '<=', '>', '>='] as const) {
      for (const value of [-1, 2, 2.5, Infinity])
        agree(t, { kind: 'cmp', column, op, value }, rows, `${column.kind} ${op} ${value}`)
    }
    agree(t, { kind: 'in', column, values: [2, -3, 2], negated: false }, rows, 'short IN')
    const long = [-3, -1, 0, 1, 4, 1e9, 7, 8, 9, 10, 11]
    agree(t, { kind: 'in', column, values: long, negated: false }, rows, 'long IN')
    agree(t, { kind: 'in', column, values: long, negated: true }, rows, 'long NOT IN')
    agree(t, { kind: 'in', column, values: [], negated: false }, rows, 'empty IN')
    agree(t, { kind: 'between', column, low: -1, high: 2.5, negated: false }, rows, 'BETWEEN')
    agree(t, { kind: 'between', column, low: 3, high: -3, negated: false }, rows, 'BETWEEN an empty range')
  }
})

t.test('empty AND is TRUE, empty OR is FALSE', async (t) => {
  t.strictSame([...compilePredicate({ kind: 'and', operands: [] }, 3)], [1, 1, 1])
  t.strictSame([...compilePredicate({ kind: 'or', operands: [] }, 3)], [0, 0, 0])
  t.strictSame([...compilePredicate({ kind: 'not', operand: { kind: 'or', operands: [] } }, 3)], [1, 1, 1])
  t.strictSame([...compilePredicate({ kind: 'and', operands: [] }, 0)], [])
})

function randomLeaf(r: () => number, cols: readonly ColumnArray[]): ColumnPredicate {
  const column = pick(r, cols)
  const literal = (): Literal =>
    column.kind === 'code' ? pick(r, [...entries(column.dictionary), 'zzz', '']) : pick(r, [-2, 0, 1, 1.5, 3])
  switch (int(r, 4)) {
    case 0:
      return { kind: 'cmp', column, op: pick(r, ['=', '<>', '<', '<=', '>', '>='] as const), value: literal() }
    case 1:
      return { kind: 'in', column, values: Array.from({ length: int(r, 12) }, literal), negated: r() < 0.5 }
    case 2:
      return { kind: 'between', column, low: literal(), high: literal(), negated: r() < 0.5 }
    default:
      return { kind: 'isNull', column, negated: r() < 0.5 }
  }
}

function randomPredicate(r: () => number, cols: readonly ColumnArray[], depth: number): ColumnPredicate {
  if (depth === 0 || r() < 0.3) return randomLeaf(r, cols)
  const k = int(r, 3)
  if (k === 0) return { kind: 'not', operand: randomPredicate(r, cols, depth - 1) }
  return {
    kind: k === 1 ? 'and' : 'or',
    operands: Array.from({ length: 1 + int(r, 3) }, () => randomPredicate(r, cols, depth - 1)),
  }
}

t.test('random predicate trees agree with the naive evaluator row by row', async (t) => {
  const r = rng(9)
  let agreed = 0
  for (let k = 0; k < 300; k++) {
    const rows = pick(r, [0, 1, 5, 8, 13, 64, 100])
    const nulls = (rate: number) => bitmap(rows, () => r() < rate)
    const cols: ColumnArray[] = [
      f64(
        Array.from({ length: rows }, () => pick(r, [-2, 0, 1, 1.5, 3, 9])),
        nulls(0.3),
      ),
      i32(
        Array.from({ length: rows }, () => pick(r, [-2, 0, 1, 3])),
        r() < 0.5 ? nulls(0.3) : null,
      ),
      codeColumn(
        Uint8Array.from({ length: rows }, () => int(r, 3)),
        ['red', 'green', 'blue'],
        nulls(0.3),
      ),
    ]
    const p = randomPredicate(r, cols, 4)
    const got = [...compilePredicate(p, rows)]
    const want = naive(p, rows)
    if (JSON.stringify(got) === JSON.stringify(want)) agreed++
    else
      t.strictSame(got, want, `tree ${k}: ${JSON.stringify(p, (key, v) => (key === 'column' ? cols.indexOf(v) : v))}`)
  }
  t.equal(agreed, 300)
})

t.test('andMask folds the keep mask in place', async (t) => {
  const sel = Uint8Array.of(1, 1, 0, 1, 1, 0, 1)
  const keep = Uint8Array.of(1, 0, 1, 1, 0, 0, 1)
  t.equal(andMask(sel, keep), sel)
  t.strictSame([...sel], [1, 0, 0, 1, 0, 0, 1])
  const buf = new Uint8Array(11).fill(1)
  const odd = buf.subarray(1)
  const keep2 = Uint8Array.of(1, 0, 1, 0, 1, 0, 1, 0, 1, 0)
  t.strictSame([...andMask(odd, keep2)], [...keep2], 'unaligned views take the byte path')
  t.strictSame(
    [...andMask(Uint8Array.of(1, 1), Uint8Array.of(2, 1))],
    [0, 1],
    'a stray byte drops the row, the safe way',
  )
  t.throws(() => andMask(new Uint8Array(2), new Uint8Array(3)), {
    code: 'VEILBOX_ERR_EXEC_BAD_ARGUMENT',
    detail: 'andMask needs masks of one length, got 2 and 3',
  })
})

t.test('bad predicates throw typed errors with exact messages', async (t) => {
  const x = f64([1, 2])
  const c = codeColumn(Uint8Array.of(0, 1), ['a', 'b'])
  const cases: [ColumnPredicate, number, string][] = [
    [{ kind: 'cmp', column: x, op: '=', value: 'a' }, 2, 'predicate.value must be a number for an f64 column, got "a"'],
    [{ kind: 'cmp', column: x, op: '=', value: Number.NaN }, 2, 'predicate.value must not be NaN'],
    [
      { kind: 'cmp', column: c, op: '=', value: 3 },
      2,
      'predicate.value must be a string or boolean for a code column, got number 3',
    ],
    [
      { kind: 'cmp', column: x, op: '!=' as CompareOp, value: 1 },
      2,
      'predicate.op must be one of = <> < <= > >=, got "!="',
    ],
    [{ kind: 'cmp', column: x, op: '=', value: 1 }, 3, 'predicate.column.values has 2 elements, expected rows = 3'],
    [
      { kind: 'and', operands: [{ kind: 'in', column: x, values: [1, 'b'], negated: false }] },
      2,
      'predicate.operands[0].values[1] must be a number for an f64 column, got "b"',
    ],
    [
      { kind: 'not', operand: { kind: 'between', column: x, low: 1, high: 2, negated: 'no' as unknown as boolean } },
      2,
      'predicate.operand.negated must be a boolean, got "no"',
    ],
    [
      { kind: 'xor' } as unknown as ColumnPredicate,
      2,
      'predicate.kind must be one of cmp in between isNull and or not, got "xor"',
    ],
  ]
  for (const [p, rows, detail] of cases)
    t.throws(() => compilePredicate(p, rows), { code: 'VEILBOX_ERR_EXEC_BAD_ARGUMENT', detail }, detail)
  let deep: ColumnPredicate = { kind: 'isNull', column: x, negated: false }
  for (let k = 0; k < 300; k++) deep = { kind: 'not', operand: deep }
  t.throws(() => compilePredicate(deep, 2), { code: 'VEILBOX_ERR_EXEC_BAD_ARGUMENT' }, 'too deep')
})
