import t from 'tap'
import { encodeGroups, groupLayout } from '../../../src/engine/exec/grouping.js'
import { aggregate } from '../../../src/engine/exec/kernel-ts.js'
import { quantumFor } from '../../../src/engine/exec/quantum.js'
import type { AggregateRequest, Measure } from '../../../src/engine/exec/types.js'
import { MAX_HISTOGRAM_CELLS, validateRequest } from '../../../src/engine/exec/validate.js'
import { codeColumn, f64, i32 } from './fixtures.js'

const code = 'VEILBOX_ERR_EXEC_BAD_ARGUMENT'
const x = f64([1, 2, 3])
const moments: Measure = { kind: 'moments', column: x, lower: 0, upper: 4, quantum: quantumFor(0, 4), squares: false }
const base: AggregateRequest = { rows: 3, selection: null, grouping: null, measures: [moments] }
const cast = <T>(v: unknown): T => v as T

t.test('bad requests throw VEILBOX_ERR_EXEC_BAD_ARGUMENT with exact messages', async (t) => {
  const cases: [string, AggregateRequest, string][] = [
    ['rows', { ...base, rows: -1 }, 'rows must be an integer in [0, 4294967295], got -1'],
    ['rows type', { ...base, rows: cast<number>('3') }, 'rows must be an integer in [0, 4294967295], got 3'],
    [
      'selection type',
      { ...base, selection: cast<Uint8Array>(new Int8Array(3)) },
      'selection must be a Uint8Array or null, got Int8Array',
    ],
    ['selection length', { ...base, selection: new Uint8Array(2) }, 'selection has 2 bytes, expected rows = 3'],
    [
      'codes type',
      { ...base, grouping: { codes: cast<Uint8Array>([0, 0, 0]), count: 1 } },
      'grouping.codes must be a Uint8Array, Uint16Array or Uint32Array, got an array',
    ],
    [
      'codes length',
      { ...base, grouping: { codes: new Uint8Array(4), count: 1 } },
      'grouping.codes has 4 elements, expected rows = 3',
    ],
    [
      'count zero',
      { ...base, grouping: { codes: new Uint8Array(3), count: 0 } },
      'grouping.count must be an integer in [1, 1000000], got 0',
    ],
    [
      'count too big',
      { ...base, grouping: { codes: new Uint32Array(3), count: 1_000_001 } },
      'grouping.count must be an integer in [1, 1000000], got 1000001',
    ],
    [
      'code out of range',
      { ...base, grouping: { codes: Uint16Array.of(0, 7, 2), count: 7 } },
      'grouping.codes holds code 7, not below grouping.count = 7',
    ],
    ['measures type', { ...base, measures: cast<Measure[]>({}) }, 'measures must be an array, got an object'],
    [
      'measure kind',
      { ...base, measures: [cast<Measure>({ kind: 'median', column: x })] },
      `measures[0].kind must be 'moments', 'nonNull' or 'histogram', got "median"`,
    ],
    [
      'f64 values',
      {
        ...base,
        measures: [{ ...moments, column: cast<typeof x>({ kind: 'f64', values: new Int32Array(3), nulls: null }) }],
      },
      'measures[0].column.values must be a Float64Array for an f64 column, got Int32Array',
    ],
    [
      'i32 values',
      {
        ...base,
        measures: [{ ...moments, column: cast<typeof x>({ kind: 'i32', values: new Float64Array(3), nulls: null }) }],
      },
      'measures[0].column.values must be an Int32Array for an i32 column, got Float64Array',
    ],
    [
      'values length',
      { ...base, measures: [{ ...moments, column: i32([1, 2]) }] },
      'measures[0].column.values has 2 elements, expected rows = 3',
    ],
    [
      'nulls type',
      { ...base, measures: [{ ...moments, column: f64([1, 2, 3], cast<Uint8Array>([0])) }] },
      'measures[0].column.nulls must be a Uint8Array or null, got an array',
    ],
    [
      'nulls short',
      {
        rows: 9,
        selection: null,
        grouping: null,
        measures: [{ kind: 'nonNull', column: f64(new Float64Array(9), new Uint8Array(1)) }],
      },
      'measures[0].column.nulls has 1 bytes, expected at least ceil(rows / 8) = 2',
    ],
    [
      'code column in moments',
      { ...base, measures: [{ ...moments, column: cast<typeof x>(codeColumn(new Uint8Array(3), ['a'])) }] },
      'measures[0].column must be an f64 or i32 column, got a code column',
    ],
    [
      'unknown column kind',
      {
        ...base,
        measures: [
          { kind: 'nonNull', column: cast<typeof x>({ kind: 'f32', values: new Float32Array(3), nulls: null }) },
        ],
      },
      `measures[0].column.kind must be 'f64', 'i32' or 'code', got "f32"`,
    ],
    [
      'bounds order',
      { ...base, measures: [{ ...moments, lower: 4, upper: 0 }] },
      'measures[0] needs lower < upper, got [4, 0]',
    ],
    [
      'bounds finite',
      { ...base, measures: [{ ...moments, upper: Infinity }] },
      'measures[0] needs finite numeric bounds, got [0, Infinity]',
    ],
    [
      'quantum too fine',
      { ...base, measures: [{ ...moments, quantum: { exp: -31 } }] },
      'measures[0].quantum.exp -31 is too fine for bounds [0, 4]: use quantumFor (exp -29) or coarser',
    ],
    [
      'quantum not integer',
      { ...base, measures: [{ ...moments, quantum: { exp: 1.5 } }] },
      'measures[0].quantum.exp must be an integer in [-1022, 1022], got 1.5',
    ],
    [
      'squares',
      { ...base, measures: [{ ...moments, squares: cast<boolean>(1) }] },
      'measures[0].squares must be a boolean, got number 1',
    ],
    [
      'bins zero',
      { ...base, measures: [{ kind: 'histogram', column: x, lower: 0, upper: 4, bins: 0 }] },
      'measures[0].bins must be a positive integer, got 0',
    ],
    [
      'bins fraction',
      { ...base, measures: [{ kind: 'histogram', column: x, lower: 0, upper: 4, bins: 2.5 }] },
      'measures[0].bins must be a positive integer, got 2.5',
    ],
    [
      'histogram width',
      {
        ...base,
        measures: [{ kind: 'histogram', column: x, lower: -Number.MAX_VALUE, upper: Number.MAX_VALUE, bins: 2 }],
      },
      `measures[0] needs upper - lower to be finite, got [${-Number.MAX_VALUE}, ${Number.MAX_VALUE}]`,
    ],
    [
      'histogram cells',
      {
        ...base,
        grouping: { codes: new Uint32Array(3), count: 1_000_000 },
        measures: [{ kind: 'histogram', column: x, lower: 0, upper: 4, bins: 17 }],
      },
      `measures[0] needs 1000000 groups x 17 bins = 17000000 cells, more than ${MAX_HISTOGRAM_CELLS}`,
    ],
  ]
  for (const [label, req, detail] of cases) {
    t.throws(() => aggregate(req), { code, status: 500, detail }, label)
  }
  t.throws(() => aggregate(cast<AggregateRequest>(null)), { code, detail: 'the request must be an object' })
})

t.test('a coarser quantum than needed is allowed', async (t) => {
  t.doesNotThrow(() => aggregate({ ...base, measures: [{ ...moments, quantum: { exp: 0 } }] }))
})

t.test('group codes: scanned unless the type cannot exceed count or grouping.ts vouched for them', async (t) => {
  // A Uint8Array cannot hold 256, so with 256 groups there is nothing to scan.
  t.doesNotThrow(() =>
    validateRequest({ rows: 2, selection: null, grouping: { codes: Uint8Array.of(255, 0), count: 256 }, measures: [] }),
  )
  const layout = groupLayout([{ dictionary: ['a', 'b'], nullable: false }])
  const g = encodeGroups(layout, [codeColumn(Uint8Array.of(0, 1, 1), ['a', 'b'])], 3)
  // Writing into a vouched grouping's codes breaks the contract; only a scan notices.
  g.codes[1] = 5
  t.doesNotThrow(
    () => validateRequest({ rows: 3, selection: null, grouping: g, measures: [] }),
    'the vouched grouping is trusted',
  )
  t.throws(
    () => validateRequest({ rows: 3, selection: null, grouping: g, measures: [] }, { scanVouchedGroupings: true }),
    {
      code,
      detail: 'grouping.codes holds code 5, not below grouping.count = 2',
    },
  )
  t.throws(
    () => validateRequest({ rows: 3, selection: null, grouping: { ...g }, measures: [] }),
    { code },
    'a copy is not vouched for',
  )
})
