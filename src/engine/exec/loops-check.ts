import { tsLoops, type CompareOp, type Loops, type NumericValues, type Store } from './loops.js'
import type { CodeArray } from './types.js'
import { mulberry32 } from '../mulberry32.js'

/**
 * The loader's self-check of a Loops implementation against the TypeScript
 * loops (loops.ts): every loop, on data chosen to hit each rule of the
 * contract, byte for byte, including the bytes a loop must leave alone. About
 * a millisecond; it runs once per process or worker, beside the kernel's.
 */

/** One call of a loop on fresh arrays; returns everything the call may have written. */
export interface LoopCase {
  readonly name: string
  run(loops: Loops): ArrayLike<number>
}

export const COMPARE_OPS: readonly CompareOp[] = ['=', '<>', '<', '<=', '>', '>=']

/** Where two loop results first differ, or null. */
export function loopResultDifference(a: ArrayLike<number>, b: ArrayLike<number>): string | null {
  if (a.length !== b.length) return `length ${a.length} vs ${b.length}`
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return `[${i}]: ${String(a[i])} vs ${String(b[i])}`
  return null
}

/** The first case where `loops` and the TypeScript loops differ, or null. */
export function loopsDifference(loops: Loops, cases: Iterable<LoopCase>): string | null {
  for (const c of cases) {
    const d = loopResultDifference(c.run(tsLoops), c.run(loops))
    if (d !== null) return `${c.name}: ${d}`
  }
  return null
}

export function selfCheckLoops(loops: Loops): string | null {
  try {
    return loopsDifference(loops, selfCheckLoopCases())
  } catch (e) {
    return `threw ${e instanceof Error ? e.message : String(e)}`
  }
}

/** Bytes before and after the part a loop writes, so that a write out of place shows. */
const GUARD = 0xa5

const STORES: readonly Store[] = ['set', 'and', 'or']

/**
 * A fresh output of n bytes plus 9 guard bytes, at an odd offset of its
 * buffer: guard bytes throughout for 'set', else bytes of every value for
 * the leaf's result to be folded into.
 */
function output(n: number, store: Store): Uint8Array {
  const buf = new Uint8Array(n + 10).fill(GUARD)
  const out = buf.subarray(1)
  if (store !== 'set') for (let i = 0; i < n; i++) out[i] = (i * 37 + (i >> 3)) & 0xff
  return out
}

/** What loopCases runs every loop on. */
export interface LoopInputs {
  readonly f64: Float64Array
  readonly i32: Int32Array
  /** Compared against with every operator. */
  readonly constants: readonly number[]
  /** BETWEEN bounds. */
  readonly ranges: readonly (readonly [number, number])[]
  /** IN lists, deduplicated and sorted here as the predicate compiler does. */
  readonly lists: readonly (readonly number[])[]
  /** Looked up in every table, scanned for their maximum, and added as digits. */
  readonly codes: readonly CodeArray[]
  readonly tables: readonly Uint8Array[]
  /** Masks that null bits are cleared from and marked into (rows from the null bitmap's length down). */
  readonly masks: readonly Uint8Array[]
  /** AND, OR and NOT operands, of one length each. */
  readonly pairs: readonly (readonly [Uint8Array, Uint8Array])[]
  readonly nulls: Uint8Array
}

/** Cases of every loop over the given arrays. The inputs are not written; every output is fresh per run. */
export function loopCases(input: LoopInputs): LoopCase[] {
  const cases: LoopCase[] = []
  const numeric: [string, NumericValues][] = [
    ['f64', input.f64],
    ['i32', input.i32],
  ]
  for (const [kind, values] of numeric) {
    const n = values.length
    const sorted = input.lists.map((list) => Float64Array.from(new Set(list)).sort())
    for (const store of STORES) {
      // One case per operator, each constant storing into its own slice of one output.
      for (const op of COMPARE_OPS) {
        cases.push({
          name: `compare ${kind} ${op} (${input.constants.map(String).join(' ')}), ${store}`,
          run: (l) =>
            call(output(n * input.constants.length, store), (out) =>
              input.constants.forEach((c, k) => {
                l.compare(values, op, c, out.subarray(k * n), store)
              }),
            ),
        })
      }
      cases.push({
        name: `between ${kind} (${input.ranges.map(([a, b]) => `${a}..${b}`).join(' ')}), ${store}`,
        run: (l) =>
          call(output(n * input.ranges.length, store), (out) =>
            input.ranges.forEach(([low, high], k) => {
              l.between(values, low, high, out.subarray(k * n), store)
            }),
          ),
      })
      cases.push({
        name: `in ${kind} (lists of ${sorted.map((x) => x.length).join(' ')} values), ${store}`,
        run: (l) =>
          call(output(n * sorted.length, store), (out) =>
            sorted.forEach((list, k) => {
              l.in(values, list, out.subarray(k * n), store)
            }),
          ),
      })
    }
  }
  for (const codes of input.codes) {
    const kind = `${codes.constructor.name}(${codes.length})`
    const n = codes.length
    for (const store of STORES) {
      cases.push({
        name: `lookup ${kind} over tables of ${input.tables.map((x) => x.length).join(' ')} entries, ${store}`,
        run: (l) =>
          call(output(n * input.tables.length, store), (out) =>
            input.tables.forEach((table, k) => {
              l.lookup(codes, table, out.subarray(k * n), store)
            }),
          ),
      })
    }
    cases.push({ name: `maxCode ${kind}`, run: (l) => [l.maxCode(codes)] })
  }
  const most = input.nulls.length * 8
  for (const mask of input.masks) {
    const rows = [most, most - 1, most - 7, 1, 0].filter((r) => r >= 0 && r <= mask.length)
    cases.push({
      name: `clearNulls ${mask.length}-byte mask @${mask.byteOffset % 8}`,
      run: (l) => rows.flatMap((r) => [...call(copy(mask), (m) => l.clearNulls(m, input.nulls, r))]),
    })
    cases.push({
      name: `markNulls ${mask.length}-byte mask @${mask.byteOffset % 8}`,
      run: (l) => rows.flatMap((r) => [...call(copy(mask), (m) => l.markNulls(m, input.nulls, r))]),
    })
  }
  for (const [a, b] of input.pairs) {
    const at = `${a.length} bytes @${a.byteOffset % 8},${b.byteOffset % 8}`
    cases.push({ name: `and ${at}`, run: (l) => call(copy(a), (x) => l.and(x, b)) })
    cases.push({ name: `or ${at}`, run: (l) => call(copy(a), (x) => l.or(x, b)) })
    cases.push({ name: `not ${at}`, run: (l) => call(copy(a), (x) => l.not(x, b)) })
    cases.push({ name: `not in place ${at}`, run: (l) => call(copy(a), (x) => l.not(x, x)) })
  }
  // Digits: every code width of the result and of the column; with nulls, a null digit near 2^32.
  const widths = [Uint8Array, Uint16Array, Uint32Array] as const
  const steps = [
    [1, true, false],
    [7, false, true],
    [1_000_000, false, true],
  ] as const
  for (const values of input.codes) {
    const m = values.length
    if (m > most) continue
    const start = Array.from({ length: m }, (_, i) => (i * 2_654_435_761) >>> 0)
    for (const Ctor of widths) {
      cases.push({
        name: `addDigits ${Ctor.name} x ${values.constructor.name}(${m})`,
        run: (l) => {
          const codes = Ctor.from(start)
          const trace: number[] = []
          for (const [multiplier, assign, withNulls] of steps) {
            l.addDigits(codes, values, multiplier, assign, withNulls ? input.nulls : null, 4_294_967_295 - multiplier)
            trace.push(...codes)
          }
          return trace
        },
      })
    }
  }
  return cases
}

function call<T extends Uint8Array>(out: T, fn: (out: T) => void): Uint8Array {
  fn(out)
  // With the guard bytes around the view.
  return new Uint8Array(out.buffer, 0, out.buffer.byteLength)
}

/** A copy at the same offset modulo 8 in a fresh buffer, with guard bytes after it. */
function copy(m: Uint8Array): Uint8Array {
  const off = m.byteOffset % 8
  const buf = new Uint8Array(off + m.length + 9).fill(GUARD)
  const out = buf.subarray(off, off + m.length)
  out.set(m)
  return out
}

/** The special doubles every comparison must get right. */
export const SPECIAL_F64: readonly number[] = [
  Number.NaN,
  0,
  -0,
  Infinity,
  -Infinity,
  1,
  -1,
  2.5,
  1e300,
  -1e300,
  Number.MIN_VALUE,
  -Number.MIN_VALUE,
  2 ** 31 - 1,
  -(2 ** 31),
  2 ** 31,
  2 ** 31 - 0.5,
  -(2 ** 31) - 0.5,
  Number.MAX_VALUE,
]

function selfCheckLoopCases(): LoopCase[] {
  const r = mulberry32(0x100b5)
  // Not a multiple of 8 or 32; past one 32-row step, with a tail.
  const rows = 203
  const small = [-2, -1, -0, 0, 1, 2, 3, 2.5]
  const f64 = Float64Array.from({ length: rows }, (_, i) =>
    i < SPECIAL_F64.length
      ? SPECIAL_F64[i]!
      : r() < 0.3
        ? SPECIAL_F64[Math.floor(r() * SPECIAL_F64.length)]!
        : small[Math.floor(r() * small.length)]!,
  )
  const i32Special = [2 ** 31 - 1, -(2 ** 31), 0, -1, 1, 2, 3]
  const i32 = Int32Array.from({ length: rows }, (_, i) =>
    i < i32Special.length
      ? i32Special[i]!
      : r() < 0.2
        ? i32Special[Math.floor(r() * i32Special.length)]!
        : Math.floor(r() * 7) - 3,
  )
  const codes8 = Uint8Array.from({ length: rows }, (_, i) => (i % 17 === 0 ? 255 : Math.floor(r() * 6)))
  const codes16 = Uint16Array.from({ length: rows }, (_, i) => (i % 13 === 0 ? 65535 : Math.floor(r() * 300)))
  const codes32 = Uint32Array.from({ length: rows }, (_, i) =>
    i % 11 === 0 ? 4294967295 : i % 7 === 0 ? 70_000 : Math.floor(r() * 5),
  )
  const table = (n: number) => Uint8Array.from({ length: n }, () => (r() < 0.5 ? 1 : 0))
  // Masks with bytes other than 0 and 1, at offsets 0, 5 and 3 (in a SharedArrayBuffer); one padded to a multiple of 8.
  const bytes = Uint8Array.from({ length: rows + 5 }, () => (r() < 0.1 ? 2 + Math.floor(r() * 254) : r() < 0.5 ? 1 : 0))
  const shared = new Uint8Array(new SharedArrayBuffer(rows + 16))
  shared.set(bytes, 3)
  const a = bytes.subarray(0, rows)
  const b = bytes.subarray(5, rows + 5)
  const c = shared.subarray(3, rows + 3)
  const padded = bytes.subarray(0, 208)
  const nulls = Uint8Array.from({ length: 26 }, (_, i) => (i === 0 ? 0xff : i === 1 ? 0 : Math.floor(r() * 256)))
  const big = new Uint8Array(65_536)
  for (let k = 0; k < big.length; k += 7) big[k] = 1
  // A background of 0 or 1 with a few exceptions: what comparing a category with a few entries gives.
  const few = (n: number, background: number, at: readonly number[]) => {
    const tb = new Uint8Array(n).fill(background)
    for (const k of at) tb[k] = k % 3 === 0 ? 5 : 1 - background
    return tb
  }
  return loopCases({
    f64,
    i32,
    constants: [
      0,
      -0,
      1,
      -1,
      2.5,
      Infinity,
      -Infinity,
      Number.NaN,
      2 ** 31 - 1,
      -(2 ** 31),
      2 ** 31 - 0.5,
      Number.MIN_VALUE,
    ],
    ranges: [
      [-1, 2],
      [2, -1],
      [0, 0],
      [-0, 0],
      [-Infinity, Infinity],
      [2.5, Infinity],
      [-(2 ** 31), 2 ** 31 - 1],
    ],
    lists: [
      [],
      [2],
      [-0, 0, 3],
      [-2, -1, 0, 1, 2, 3, Infinity, 1e300],
      [-2, -1, 0, 1, 2, 3, Infinity, 1e300, 2.5],
      Array.from({ length: 40 }, (_, k) => (k - 20) / 2).concat([Infinity, -Infinity, 2 ** 31 - 1, -(2 ** 31)]),
    ],
    codes: [codes8, codes16, codes32, codes8.subarray(1, 8), new Uint8Array(0)],
    tables: [
      table(0),
      table(3),
      table(256),
      table(301),
      big,
      few(256, 0, [1]),
      few(256, 1, [0, 2, 255]),
      few(5, 0, [1, 3]),
      few(300, 1, [0, 4, 8, 12, 16, 20, 24, 299]),
      few(65_536, 0, [5, 300, 65_535]),
    ],
    masks: [a, c, padded],
    pairs: [
      [a, b],
      [b, c],
      [padded, Uint8Array.from(padded).reverse()],
    ],
    nulls,
  })
}
