import t from 'tap'
import { encodeGroups, groupLayout, type CodeColumn, type GroupKeySpec } from '../../../src/engine/exec/grouping.js'
import { loadKernel, requireNativeKernel } from '../../../src/engine/exec/loader.js'
import {
  COMPARE_OPS,
  loopCases,
  loopsDifference,
  selfCheckLoops,
  SPECIAL_F64,
  type LoopInputs,
} from '../../../src/engine/exec/loops-check.js'
import { tsLoops, type Loops } from '../../../src/engine/exec/loops.js'
import { createNativeLoops, type NativeBinding } from '../../../src/engine/exec/native.js'
import { andMask, compilePredicate, type ColumnPredicate, type Literal } from '../../../src/engine/exec/predicate.js'
import { buildAggregateRequest, type ExecTask, type TaskPredicate } from '../../../src/engine/exec/task.js'
import type { CodeArray, ColumnArray, NullBitmap } from '../../../src/engine/exec/types.js'
import { bitmap, codeColumn, int, pick, rng } from './fixtures.js'
import { entries } from '../../../src/engine/exec/dictionary.js'

/**
 * The native request-building loops (native/src/masks.h) against the
 * TypeScript loops (loops.ts), byte for byte, in every instruction-set
 * variant this machine runs: each loop on random and adversarial data, then
 * the predicate compiler, andMask, encodeGroups and buildAggregateRequest
 * driven by either. As native.test.ts, a missing addon fails here.
 */

const choice = requireNativeKernel()
const binding = (() => {
  const holder = { exports: {} as unknown }
  process.dlopen(holder, choice.binding!)
  return holder.exports as NativeBinding
})()
const variants: [string, Loops][] = Object.keys(binding.variants).map((isa) => [
  isa,
  createNativeLoops(binding, { isa }),
])

type Tap = Pick<typeof t, 'equal'>

function parity(t: Tap, inputs: LoopInputs, label: string): void {
  const cases = loopCases(inputs)
  for (const [isa, loops] of variants) t.equal(loopsDifference(loops, cases), null, `${label}: ${isa} = ts`)
}

type ViewCtor = typeof Float64Array | typeof Int32Array | typeof Uint8Array | typeof Uint16Array | typeof Uint32Array

/** A typed array of `n` elements at element offset `offset` of a SharedArrayBuffer. */
function sharedView<C extends ViewCtor>(Ctor: C, n: number, offset: number): InstanceType<C> {
  const buf = new SharedArrayBuffer((n + offset + 1) * Ctor.BYTES_PER_ELEMENT)
  const make = Ctor as unknown as new (b: SharedArrayBuffer, off: number, n: number) => InstanceType<C>
  return new make(buf, offset * Ctor.BYTES_PER_ELEMENT, n)
}

const I32_SPECIAL = [2 ** 31 - 1, -(2 ** 31), 2 ** 31 - 2, -(2 ** 31) + 1, 0, -1, 1]
const CONSTANTS = [
  0,
  -0,
  1,
  -1,
  0.5,
  2.5,
  -2.5,
  Infinity,
  -Infinity,
  Number.NaN,
  2 ** 31 - 1,
  2 ** 31 - 0.5,
  2 ** 31,
  -(2 ** 31),
  -(2 ** 31) - 0.5,
  Number.MIN_VALUE,
  -Number.MIN_VALUE,
  1e300,
  Number.MAX_VALUE,
]

function randomInputs(r: () => number, rows: number, shared: boolean): LoopInputs {
  const offset = shared ? 1 + int(r, 7) : 0
  const f64 = shared ? sharedView(Float64Array, rows, offset) : new Float64Array(rows)
  const i32 = shared ? sharedView(Int32Array, rows, offset) : new Int32Array(rows)
  const small = [-3, -2.5, -1, -0, 0, 0.5, 1, 2, 2.5, 3]
  for (let i = 0; i < rows; i++) {
    const u = r()
    f64[i] = u < 0.3 ? pick(r, SPECIAL_F64) : u < 0.8 ? pick(r, small) : (r() - 0.5) * 10 ** int(r, 12)
    const w = r()
    i32[i] = w < 0.2 ? pick(r, I32_SPECIAL) : w < 0.8 ? int(r, 7) - 3 : Math.floor(r() * 2 ** 32) - 2 ** 31
  }
  const codes = (
    Ctor: typeof Uint8Array | typeof Uint16Array | typeof Uint32Array,
    span: number,
    wild: number,
  ): CodeArray => {
    const c = shared ? sharedView(Ctor, rows, offset) : new Ctor(rows)
    for (let i = 0; i < rows; i++) c[i] = r() < 0.05 ? wild : int(r, span)
    return c
  }
  const codes8 = codes(Uint8Array, 6, 255)
  const codes16 = codes(Uint16Array, 300, 65_535)
  const codes32 = codes(Uint32Array, 5, pick(r, [4_294_967_295, 70_000, 5]))
  const table = (n: number) => Uint8Array.from({ length: n }, () => (r() < 0.5 ? 1 : 0))
  /** A background of 0 or 1 with `k` exceptions (any byte), as a comparison with a few dictionary entries gives. */
  const sparse = (n: number, background: number, k: number) => {
    const tb = new Uint8Array(n).fill(background)
    for (let j = 0; j < k; j++) tb[int(r, n)] = pick(r, [1 - background, 1 - background, 7, 255])
    return tb
  }
  const bytes = (n: number, off: number): Uint8Array => {
    const m = shared
      ? new Uint8Array(new SharedArrayBuffer(n + off + 3), off, n)
      : new Uint8Array(n + off).subarray(off)
    for (let i = 0; i < n; i++) m[i] = r() < 0.08 ? 2 + int(r, 254) : r() < 0.5 ? 1 : 0
    return m
  }
  const padded = Math.ceil(rows / 8) * 8
  const a = bytes(rows, offset)
  const b = bytes(rows, int(r, 8))
  const p = bytes(padded, 0)
  const nulls = Uint8Array.from({ length: Math.ceil(rows / 8) }, () => (r() < 0.3 ? 0 : r() < 0.2 ? 0xff : int(r, 256)))
  const sortedList = (n: number) =>
    Array.from({ length: n }, () => pick(r, [...small, ...SPECIAL_F64.filter((x) => !Number.isNaN(x)), int(r, 7) - 3]))
  return {
    f64,
    i32,
    constants: CONSTANTS,
    ranges: [
      [-1, 2],
      [2, -1],
      [0, 0],
      [-0, 0],
      [0, -0],
      [-Infinity, Infinity],
      [2.5, Infinity],
      [-Infinity, -Infinity],
      [-(2 ** 31), 2 ** 31 - 1],
      [-(2 ** 31) + 0.5, 2 ** 31 - 1.5],
    ],
    lists: [
      [],
      [0],
      [-0],
      [2, -3, 2],
      sortedList(8),
      sortedList(9),
      sortedList(16),
      sortedList(17),
      sortedList(40),
      sortedList(200),
      I32_SPECIAL,
    ],
    codes: [codes8, codes16, codes32],
    tables: [
      table(0),
      table(1),
      table(6),
      table(256),
      table(257),
      table(300),
      table(65_536),
      table(65_537),
      sparse(256, 0, 1),
      sparse(256, 1, 2),
      sparse(256, 0, 8),
      sparse(256, 1, 9),
      sparse(2, 0, 1),
      sparse(7, 1, 3),
      sparse(300, 0, 4),
      sparse(300, 1, 8),
      sparse(65_536, 0, 3),
      sparse(65_536, 1, 5),
      sparse(70_001, 0, 2),
    ],
    masks: [a, p],
    pairs: [
      [a, b],
      [b, a],
      [p, bytes(padded, 0)],
      [a, a],
    ],
    nulls,
  }
}

t.test(
  'every loop, random and adversarial data, lengths around 8 and 32, plain and shared views at odd offsets',
  async (t) => {
    const r = rng(0x10095)
    const lengths = [0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 257, 1000, 4099]
    for (const rows of lengths) {
      for (const shared of [false, true])
        parity(t, randomInputs(r, rows, shared), `${rows} rows${shared ? ', shared' : ''}`)
    }
    for (let k = 0; k < 10; k++) {
      const rows = int(r, 20_000)
      parity(t, randomInputs(r, rows, r() < 0.5), `random ${rows} rows`)
    }
  },
)

t.test('the rules themselves, in both implementations', async (t) => {
  const all: [string, Loops][] = [['ts', tsLoops], ...variants]
  for (const [name, l] of all) {
    const v = Float64Array.of(Number.NaN, -0, 0, Infinity, -Infinity, 1)
    const run = (fn: (out: Uint8Array) => void, n = v.length) => {
      const out = new Uint8Array(n + 2).fill(7)
      fn(out)
      return [...out]
    }
    t.strictSame(
      run((o) => l.compare(v, '=', 0, o)),
      [0, 1, 1, 0, 0, 0, 7, 7],
      `${name}: NaN is not equal, -0 = 0, bytes past the rows untouched`,
    )
    t.strictSame(
      run((o) => l.compare(v, '<>', 0, o)),
      [1, 0, 0, 1, 1, 1, 7, 7],
      `${name}: NaN <> anything`,
    )
    t.strictSame(
      run((o) => l.compare(v, '<>', Number.NaN, o)),
      [1, 1, 1, 1, 1, 1, 7, 7],
      `${name}: everything <> NaN`,
    )
    for (const op of COMPARE_OPS.filter((o) => o !== '<>')) {
      t.equal(
        run((o) => l.compare(v, op, Number.NaN, o))
          .slice(0, 6)
          .join(''),
        '000000',
        `${name}: ${op} NaN is false`,
      )
    }
    t.strictSame(
      run((o) => l.compare(v, '>=', -0, o)),
      [0, 1, 1, 1, 0, 1, 7, 7],
      `${name}: >= -0`,
    )
    t.strictSame(
      run((o) => l.between(v, -0, Infinity, o)),
      [0, 1, 1, 1, 0, 1, 7, 7],
      `${name}: BETWEEN -0 AND Infinity`,
    )
    t.strictSame(
      run((o) => l.in(v, Float64Array.of(-Infinity, 0), o)),
      [0, 1, 1, 0, 1, 0, 7, 7],
      `${name}: IN`,
    )
    const i = Int32Array.of(2 ** 31 - 1, -(2 ** 31), 0)
    t.strictSame(
      run((o) => l.compare(i, '<', 2 ** 31 - 1.5, o), 3),
      [0, 1, 1, 7, 7],
      `${name}: i32 compared as doubles`,
    )
    t.strictSame(
      run((o) => l.lookup(Uint32Array.of(0, 2, 3, 4_294_967_295), Uint8Array.of(5, 1, 1), o), 4),
      [5, 1, 0, 0, 7, 7],
      `${name}: a code past the table reads 0`,
    )
    t.strictSame(
      run((o) => l.lookup(Uint8Array.of(1, 255), new Uint8Array(0), o), 2),
      [0, 0, 7, 7],
      `${name}: an empty table reads 0`,
    )
    const m = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
    l.clearNulls(m, Uint8Array.of(0b1000_0101, 0b11), 9)
    t.strictSame(
      [...m],
      [0, 2, 0, 4, 5, 6, 7, 0, 0, 10],
      `${name}: clearNulls zeroes null rows below rows, nothing else`,
    )
    const z = new Uint8Array(10).fill(9)
    l.markNulls(z, Uint8Array.of(0, 0b101), 10)
    t.strictSame(
      [...z],
      [9, 9, 9, 9, 9, 9, 9, 9, 1, 0],
      `${name}: markNulls writes the bits of non-zero null bytes only`,
    )
    const x = Uint8Array.of(1, 0, 2, 255, 1)
    l.not(x, x)
    t.strictSame([...x], [0, 1, 3, 254, 0], `${name}: NOT is XOR 1`)
    t.equal(l.maxCode(new Uint16Array(0)), 0, `${name}: max of nothing`)
    t.equal(l.maxCode(Uint32Array.of(3, 4_294_967_295, 2)), 4_294_967_295, `${name}: max of u32`)
    const codes = Uint8Array.of(250, 1, 2)
    l.addDigits(codes, Uint16Array.of(3, 300, 1), 2, false, Uint8Array.of(0b010), 4)
    t.strictSame(
      [...codes],
      [(250 + 6) % 256, 1 + 8, 4],
      `${name}: digits wrap modulo the code type, null rows take the null digit`,
    )
  }
})

t.test('the native loops refuse bad calls and write nothing out of bounds', async (t) => {
  const l = variants[0]![1]
  const code = 'VEILBOX_ERR_NATIVE_BAD_CALL'
  const v = new Float64Array(9)
  t.throws(() => l.compare(v, '=', 1, new Uint8Array(8)), { code }, 'out too short')
  t.throws(() => l.compare(v, '!' as never, 1, new Uint8Array(9)), { code }, 'unknown operator')
  t.throws(() => l.compare(new Float32Array(9) as never, '=', 1, new Uint8Array(9)), { code }, 'a Float32Array')
  t.throws(() => l.compare(v, '=', 1, new Int8Array(9) as never), { code }, 'an Int8Array out')
  t.throws(() => l.between(v, 'a' as never, 1, new Uint8Array(9)), { code }, 'a bound that is not a number')
  t.throws(() => l.in(v, Float64Array.of(2, 1), new Uint8Array(9)), { code }, 'an unsorted list')
  t.throws(() => l.in(v, Float64Array.of(1, 1), new Uint8Array(9)), { code }, 'a repeated value')
  t.throws(() => l.in(v, Float64Array.of(-0, 0), new Uint8Array(9)), { code }, 'both zeros')
  t.throws(() => l.in(v, Float64Array.of(1, Number.NaN), new Uint8Array(9)), { code }, 'NaN in the list')
  t.throws(() => l.lookup(new Int32Array(3) as never, new Uint8Array(3), new Uint8Array(3)), { code }, 'signed codes')
  t.throws(() => l.lookup(new Uint8Array(3), new Uint8Array(3), new Uint8Array(2)), { code }, 'lookup out too short')
  t.throws(() => l.clearNulls(new Uint8Array(8), new Uint8Array(1), 9), { code }, 'rows past the mask')
  t.throws(() => l.markNulls(new Uint8Array(17), new Uint8Array(2), 17), { code }, 'rows past the null bitmap')
  t.throws(() => l.clearNulls(new Uint8Array(8), new Uint8Array(1), 1.5), { code }, 'fractional rows')
  t.throws(() => l.and(new Uint8Array(3), new Uint8Array(4)), { code }, 'masks of two lengths')
  t.throws(() => l.or(new Uint8Array(3), new Uint16Array(3) as never), { code }, 'a Uint16Array mask')
  t.throws(() => l.not(new Uint8Array(4), new Uint8Array(3)), { code }, 'NOT of another length')
  t.throws(() => l.maxCode(new Float64Array(3) as never), { code }, 'max of doubles')
  t.throws(
    () => l.addDigits(new Uint8Array(3), new Uint8Array(4), 1, true, null, 0),
    { code },
    'digits of another length',
  )
  t.throws(
    () => l.addDigits(new Uint8Array(3), new Uint8Array(3), 1_000_001, true, null, 0),
    { code },
    'a multiplier past MAX_GROUPS',
  )
  t.throws(
    () => l.addDigits(new Uint8Array(3), new Uint8Array(3), 1, true, null, 2 ** 32),
    { code },
    'a null digit past 2^32 - 1',
  )
  t.throws(
    () => l.addDigits(new Uint8Array(9), new Uint8Array(9), 1, true, new Uint8Array(1), 0),
    { code },
    'a short null bitmap',
  )
  t.throws(
    () => l.addDigits(new Uint8Array(3), new Uint8Array(3), 1, 1 as never, null, 0),
    { code },
    'assign not a boolean',
  )
  // A window of a larger buffer: nothing around it is written.
  const buf = new Uint8Array(32).fill(0xee)
  const out = buf.subarray(8, 17)
  l.compare(
    Float64Array.from({ length: 9 }, (_, i) => i),
    '>',
    3,
    out,
  )
  t.strictSame([...buf.subarray(0, 8), ...buf.subarray(17)], new Array(23).fill(0xee), 'only the view is written')
  t.strictSame([...out], [0, 0, 0, 0, 1, 1, 1, 1, 1])
})

// ---------------------------------------------------------------------------
// The callers, driven by either implementation.

function randomColumns(r: () => number, rows: number): ColumnArray[] {
  const nulls = (rate: number): NullBitmap | null => (r() < 0.6 ? bitmap(rows, () => r() < rate) : null)
  const f = new Float64Array(rows)
  const n1 = nulls(0.2)
  for (let i = 0; i < rows; i++) f[i] = r() < 0.1 ? pick(r, SPECIAL_F64) : pick(r, [-2, -0, 0, 1, 1.5, 3, 9])
  const i = Int32Array.from({ length: rows }, () => (r() < 0.1 ? pick(r, I32_SPECIAL) : pick(r, [-2, 0, 1, 3])))
  const dict = ['red', 'green', 'blue', 'true', 'false']
  const wide = Array.from({ length: 300 }, (_, k) => `w${k}`)
  return [
    { kind: 'f64', values: f, nulls: n1 },
    { kind: 'i32', values: i, nulls: nulls(0.3) },
    codeColumn(
      Uint8Array.from({ length: rows }, () => int(r, dict.length)),
      dict,
      nulls(0.3),
    ),
    codeColumn(
      Uint16Array.from({ length: rows }, () => int(r, wide.length)),
      wide,
      nulls(0.1),
    ),
    codeColumn(
      Uint32Array.from({ length: rows }, () => int(r, 3)),
      ['a', 'b', 'c'],
      null,
    ),
  ]
}

function randomLeaf(r: () => number, cols: readonly ColumnArray[]): ColumnPredicate {
  const column = pick(r, cols)
  const literal = (): Literal =>
    column.kind === 'code'
      ? pick(r, [...entries(column.dictionary).slice(0, 8), 'zzz', '', true, false])
      : pick(r, [-2, -0, 0, 1, 1.5, 3, Infinity, -Infinity, 2 ** 31 - 1, -(2 ** 31)])
  switch (int(r, 4)) {
    case 0:
      return { kind: 'cmp', column, op: pick(r, COMPARE_OPS), value: literal() }
    case 1:
      return {
        kind: 'in',
        column,
        values: Array.from({ length: pick(r, [0, 1, 3, 8, 9, 17, 30]) }, literal),
        negated: r() < 0.5,
      }
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
    operands: Array.from({ length: int(r, 4) }, () => randomPredicate(r, cols, depth - 1)),
  }
}

t.test('compilePredicate and andMask: the same selection with either loops', async (t) => {
  const r = rng(0x5e1ec7)
  let same = 0
  let total = 0
  for (let k = 0; k < 400; k++) {
    const rows = pick(r, [0, 1, 7, 8, 9, 31, 33, 100, 1000, 4101])
    const cols = randomColumns(r, rows)
    const p = randomPredicate(r, cols, 4)
    const want = compilePredicate(p, rows)
    const keep = Uint8Array.from({ length: rows }, () => (r() < 0.8 ? 1 : 0))
    const folded = andMask(Uint8Array.from(want), keep)
    for (const [isa, loops] of variants) {
      total++
      const got = compilePredicate(p, rows, loops)
      const gotFolded = andMask(Uint8Array.from(got), keep, loops)
      if (
        got.length === want.length &&
        got.every((x, i) => x === want[i]) &&
        gotFolded.every((x, i) => x === folded[i])
      )
        same++
      else
        t.fail(
          `tree ${k} (${rows} rows), ${isa}: ${JSON.stringify(p, (key, v) => (key === 'column' ? cols.indexOf(v) : v))}`,
        )
    }
  }
  t.equal(same, total, `${total} trees x variants agree`)
})

t.test('encodeGroups: the same codes, code type and errors with either loops', async (t) => {
  const r = rng(0x6e0)
  for (let k = 0; k < 120; k++) {
    const ncols = 1 + int(r, 4)
    const rows = pick(r, [0, 1, 9, 33, 300, 2000])
    const cols: CodeColumn[] = []
    const keys: GroupKeySpec[] = []
    for (let c = 0; c < ncols; c++) {
      const size = 1 + int(r, ncols === 1 ? 70_000 : pick(r, [3, 30, 300]))
      const nullable = r() < 0.5
      const Ctor = size > 65_536 || r() < 0.2 ? Uint32Array : size > 256 || r() < 0.3 ? Uint16Array : Uint8Array
      const values = Ctor.from(Array.from({ length: rows }, () => int(r, size)))
      const nulls = nullable && r() < 0.8 ? bitmap(rows, () => r() < 0.3) : null
      // Garbage under null bits must not matter.
      if (nulls !== null)
        for (let i = 0; i < rows; i++) if ((nulls[i >> 3]! >> (i & 7)) & 1) values[i] = int(r, 255) + size
      const dictionary = Array.from({ length: size }, (_, j) => `k${j}`)
      cols.push(codeColumn(values, dictionary, nulls) as CodeColumn)
      keys.push({ dictionary, nullable })
    }
    // Now and then a bad code in a non-null row, which both must refuse alike.
    if (rows > 0 && r() < 0.15) {
      const col = cols[int(r, ncols)]!
      const row = int(r, rows)
      if (col.nulls !== null) col.nulls[row >> 3]! &= ~(1 << (row & 7))
      col.values[row] = col.dictionary.length
    }
    let layout: ReturnType<typeof groupLayout>
    try {
      layout = groupLayout(keys)
    } catch {
      continue // too many groups for MAX_GROUPS
    }
    const outcome = (loops: Loops) => {
      try {
        const g = encodeGroups(layout, cols, rows, loops)
        return `${g.codes.constructor.name} ${g.count} ${g.codes.join(',')}`
      } catch (e) {
        return `error ${(e as { detail?: string }).detail}`
      }
    }
    const want = outcome(tsLoops)
    for (const [isa, loops] of variants)
      t.equal(outcome(loops), want, `case ${k}: ${ncols} columns, ${rows} rows, ${isa}`)
  }
})

t.test('buildAggregateRequest: the same request with either loops', async (t) => {
  const r = rng(0xb01d)
  const rows = 10_007
  const cols = randomColumns(r, rows)
  const names = ['f', 'i', 'c', 'w', 'u']
  const columns = new Map(cols.map((c, k) => [names[k]!, c]))
  const keep = Uint8Array.from({ length: rows }, () => (r() < 0.9 ? 1 : 0))
  const where: TaskPredicate = {
    kind: 'and',
    operands: [
      { kind: 'cmp', column: 'c', op: '=', value: 'red' },
      { kind: 'cmp', column: 'f', op: '>', value: 0 },
      { kind: 'not', operand: { kind: 'in', column: 'i', values: [0, 3], negated: false } },
      {
        kind: 'or',
        operands: [
          { kind: 'between', column: 'f', low: -1, high: 2, negated: true },
          { kind: 'isNull', column: 'w', negated: false },
        ],
      },
    ],
  }
  const groupBy = [
    { column: 'c', dictionary: (cols[2] as CodeColumn).dictionary as string[], nullable: true },
    { column: 'u', dictionary: ['a', 'b', 'c'], nullable: false },
  ]
  const tasks: ExecTask[] = [
    { dataset: 'd', version: 1, where, groupBy, measures: [] },
    { dataset: 'd', version: 1, where, groupBy: [groupBy[1]!], measures: [] },
    { dataset: 'd', version: 1, where: null, groupBy, measures: [] },
  ]
  for (const [k, task] of tasks.entries()) {
    for (const keepAll of [false, true]) {
      const src = { rows, columns, keep: keepAll ? new Uint8Array(rows).fill(1) : keep }
      const want = buildAggregateRequest(task, src)
      t.not(want.selection, null, `task ${k}: the contribution bound is always a mask, even when it cuts nothing`)
      for (const [isa, loops] of variants) {
        const got = buildAggregateRequest(task, src, loops)
        t.strictSame(
          got.selection === null ? null : [...got.selection],
          want.selection === null ? null : [...want.selection],
          `task ${k}, keepAll ${keepAll}, ${isa}: selection`,
        )
        t.strictSame(
          got.grouping === null
            ? null
            : [got.grouping.count, got.grouping.codes.constructor.name, [...got.grouping.codes]],
          want.grouping === null
            ? null
            : [want.grouping.count, want.grouping.codes.constructor.name, [...want.grouping.codes]],
          `task ${k}, keepAll ${keepAll}, ${isa}: grouping`,
        )
      }
    }
  }
})

t.test('the loader hands out the native loops with the native kernel, and checks them', async (t) => {
  const native = loadKernel({ native: true, env: {} })
  t.equal(native.kernel.name, 'native')
  t.equal(native.loops.name, 'native')
  t.equal(choice.loops.name, 'native')
  const off = loadKernel({ native: true, env: { VEILBOX_NATIVE: '0' } })
  t.equal(off.loops, tsLoops, 'the TypeScript kernel comes with the TypeScript loops')
  t.equal(loadKernel({ native: false }).loops, tsLoops)
  for (const [isa, loops] of variants) t.equal(selfCheckLoops(loops), null, `${isa} passes the self-check`)
  t.equal(selfCheckLoops(tsLoops), null)
  const broken = (patch: Partial<Loops>): Loops => ({ ...tsLoops, name: 'native', ...patch })
  t.match(
    selfCheckLoops(
      broken({
        compare: (v, op, c, out) => {
          tsLoops.compare(v, op, c, out)
          if (v.length > 100) out[100]! ^= 1
        },
      }),
    ),
    /^compare f64 = .*: \[\d+\]: /,
    'one flipped byte',
  )
  t.match(
    selfCheckLoops(
      broken({
        not: (dst, src) => {
          for (let i = 0; i < dst.length; i++) dst[i] = src[i] ? 0 : 1
        },
      }),
    ),
    /^not /,
    'NOT as a boolean NOT rather than XOR 1',
  )
  t.match(
    selfCheckLoops(
      broken({
        lookup: (codes, table, out) => {
          for (let i = 0; i < codes.length; i++) out[i] = table[Math.min(codes[i]!, table.length - 1)] ?? 0
        },
      }),
    ),
    /^lookup /,
    'out-of-range codes not read as 0',
  )
  t.match(
    selfCheckLoops(broken({ compare: (v, op, c, out) => tsLoops.compare(v, op, Object.is(c, -0) ? 1 : c, out) })),
    /^compare /,
    '-0 mishandled',
  )
  t.match(
    selfCheckLoops(broken({ clearNulls: (m, n) => tsLoops.clearNulls(m, n, m.length) })),
    /^clearNulls /,
    'rows past the count touched',
  )
  t.match(
    selfCheckLoops(broken({ in: (v, sorted, out) => tsLoops.in(v, sorted.subarray(0, 16), out) })),
    /^in /,
    'long lists cut short',
  )
  t.match(
    selfCheckLoops(
      broken({
        addDigits: (codes, values, m, assign, _nulls, d) => tsLoops.addDigits(codes, values, m, assign, null, d),
      }),
    ),
    /^addDigits /,
    'nulls ignored in digits',
  )
  t.match(selfCheckLoops(broken({ maxCode: () => 0 })), /^maxCode /, 'a max that is always 0')
  t.match(
    selfCheckLoops(
      broken({
        and: () => {
          throw new Error('boom')
        },
      }),
    ),
    /^threw boom/,
  )
})
