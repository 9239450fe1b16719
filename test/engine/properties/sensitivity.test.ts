/**
 * Issue 3, section 3: neighbouring datasets. For every aggregate the planner
 * releases (COUNT(*), COUNT(col), SUM, AVG's sum and count, VAR/STDDEV's
 * count, sum and sum of squares, the quantile histogram), grouped and
 * ungrouped, with and without WHERE, at maxRowsPerUnit m in {1, 3}: adding or
 * removing one privacy unit moves the exact measures, as the kernel computes
 * them over the column cache's keep mask, by no more than the planned
 * mechanism's `sensitivity`, in L1 (Laplace) and in L2 (Gaussian), compared
 * exactly in value units (sums are BigInt units times 2^exp). The same holds
 * after rounding to each mechanism's grid, against its `sensitivitySteps`,
 * which is what the noise is actually calibrated to.
 *
 * Deterministic: data come from a seeded generator and no noise is drawn.
 *
 * The last two subtests pin the rounding allowance of grouped histograms on
 * a coarse grid (see the comment above them). The join subtests (issue 21)
 * hold unit joins to the same claims with m = m_J: a unit added to (or
 * removed from) both datasets, random or at the bounds, anywhere in each.
 */
import t, { type Test } from 'tap'

import { Rational } from '../../../src/engine/dp/rational.js'
import { toGridSteps, type Mechanism } from '../../../src/engine/dp/mechanism.js'
import type { GaussianMechanism } from '../../../src/engine/dp/gaussian.js'
import type { LaplaceMechanism } from '../../../src/engine/dp/laplace.js'
import type { TaskColumns } from '../../../src/engine/exec/task.js'
import type { AggregateResult, ColumnArray, MeasureResult } from '../../../src/engine/exec/types.js'
import type { Plan } from '../../../src/engine/plan/index.js'
import type { DatasetSpec } from '../../../src/schema.js'
import { loadVersion } from '../../../src/engine/exec/column-cache.js'
import { joinedColumns } from '../../../src/engine/exec/join.js'
import { planQuery } from '../../../src/engine/plan/index.js'
import { joinPart } from '../../../src/engine/plan/join.js'
import { bindQuery, parseQuery } from '../../../src/engine/query/index.js'
import {
  below,
  choose,
  exactOf,
  ingestCsv,
  keepFirst,
  plan,
  planOptions,
  seeded,
  shuffle,
  spec,
  tempDb,
  type Rand,
} from '../fixtures.js'

// ---------------------------------------------------------------------------
// Data model: rows of a small dataset with every column kind the planner uses.

const CATS = ['a', 'b', 'c'] as const
const LABELS = ['p', 'q'] as const

interface Row {
  readonly uid: string
  readonly grp: string | null
  readonly flag: boolean
  readonly x: number | null
  readonly n: number
  readonly label: string | null
}

interface Bounds {
  readonly name: string
  readonly x: readonly [number, number]
  readonly n: readonly [number, number]
}

const BOUNDS: readonly Bounds[] = [
  { name: 'neg', x: [-50, 20], n: [0, 10] },
  { name: 'wide', x: [0, 1e6], n: [-7, 3] },
  { name: 'small', x: [-0.1, 0.3], n: [1, 8] },
  { name: 'quirk', x: [0.5 - 2 ** -54, 3], n: [-100, -5] },
  { name: 'odd', x: [-1234.5, 17], n: [0, 1] },
]

const MS = [1, 3] as const

function specFor(b: Bounds, m: number): DatasetSpec {
  return spec({
    id: `nb_${b.name}_m${m}`,
    title: `neighbours ${b.name} m=${m}`,
    classification: 'internal',
    privacyUnit: 'uid',
    maxRowsPerUnit: m,
    columns: [
      { name: 'uid', type: 'id', protection: 'public' },
      { name: 'grp', type: 'category', protection: 'public', categories: [...CATS], nullable: true },
      { name: 'flag', type: 'boolean', protection: 'public' },
      { name: 'x', type: 'number', protection: 'dp', lower: b.x[0], upper: b.x[1], nullable: true },
      { name: 'n', type: 'integer', protection: 'dp', lower: b.n[0], upper: b.n[1] },
      { name: 'label', type: 'category', protection: 'public', categories: [...LABELS], nullable: true },
    ],
  })
}

/**
 * A random row. `direct` rows feed hand-built columns and may hold what the
 * store never does but the kernel must survive: values beyond the bounds
 * (clamped), infinities, garbage under null bits. Rows that go through
 * ingest stay within the declared bounds, as ingest requires.
 */
function randomRow(r: Rand, uid: string, b: Bounds, direct: boolean): Row {
  const [xl, xu] = b.x
  const [nl, nu] = b.n
  const px = r()
  let x: number | null
  if (px < 0.12) x = null
  else if (px < 0.27) x = xl
  else if (px < 0.42) x = xu
  else if (px < 0.52 && direct)
    x = choose(r, [xl - 1 - r() * 1e3, xu + 1 + r() * 1e3, -1e300, 1e300, -Infinity, Infinity])
  else x = Math.min(xu, Math.max(xl, xl + (xu - xl) * r()))
  const pn = r()
  let n: number
  if (pn < 0.25) n = nl
  else if (pn < 0.5) n = nu
  else if (pn < 0.6 && direct) n = r() < 0.5 ? nl - 1 - below(r, 5) : nu + 1 + below(r, 5)
  else n = nl + below(r, nu - nl + 1)
  return {
    uid,
    grp: r() < 0.2 ? null : choose(r, CATS),
    flag: r() < 0.5,
    x,
    n,
    label: r() < 0.25 ? null : choose(r, LABELS),
  }
}

/** Up to 2m + 2 rows per unit, so that many units own more rows than the bound keeps. */
function randomUnit(r: Rand, uid: string, b: Bounds, m: number, direct: boolean): Row[] {
  const rows = 1 + below(r, 2 * m + 2)
  return Array.from({ length: rows }, () => randomRow(r, uid, b, direct))
}

function randomDataset(r: Rand, b: Bounds, m: number, direct: boolean, maxUnits: number): Row[] {
  const units = (direct ? 0 : 1) + below(r, maxUnits)
  const rows: Row[] = []
  for (let u = 0; u < units; u++) rows.push(...randomUnit(r, `u${u}`, b, m, direct))
  return shuffle(r, rows)
}

interface Adversary {
  readonly what: string
  readonly rows: Row[]
}

/**
 * Units built to reach the claims: every row at a bound (the larger |bound|
 * first, so that m of them attain the sum and sum-of-squares sensitivity),
 * all in one group or spread across groups (null group included), with 1, m,
 * m + 1 and 2m + 3 rows (the contribution bound must cut the last two), with
 * flags that pass or fail the WHERE clauses, and with null values.
 */
function adversaries(b: Bounds, m: number): Adversary[] {
  const [xl, xu] = b.x
  const [nl, nu] = b.n
  const xFar = Math.abs(xl) >= Math.abs(xu) ? xl : xu
  const xNear = xFar === xl ? xu : xl
  const nFar = Math.abs(nl) >= Math.abs(nu) ? nl : nu
  const nNear = nFar === nl ? nu : nl
  const groups: readonly (string | null)[] = [...CATS, null]
  const out: Adversary[] = []
  for (const count of [1, m, m + 1, 2 * m + 3]) {
    for (const values of ['far', 'near', 'alternate', 'nullX'] as const) {
      for (const spread of [false, true]) {
        for (const flag of [true, false]) {
          const rows = Array.from({ length: count }, (_, i): Row => {
            const far = values === 'far' || (values === 'alternate' && i % 2 === 0)
            return {
              uid: 'adversary',
              grp: spread ? groups[i % groups.length]! : 'b',
              flag: values === 'alternate' ? i % 2 === 0 : flag,
              x: values === 'nullX' ? null : far ? xFar : xNear,
              n: far ? nFar : nNear,
              label: values === 'nullX' && i % 2 === 1 ? null : 'q',
            }
          })
          out.push({ what: `${count} rows, ${values}, ${spread ? 'spread' : 'one group'}, flag ${flag}`, rows })
        }
      }
    }
  }
  return out
}

/** Inserts a unit's rows at random positions (interleaved) or at the end. */
function withUnit(r: Rand, base: readonly Row[], unit: readonly Row[], interleave: boolean): Row[] {
  const rows = [...base]
  for (const row of unit) {
    const at = interleave ? below(r, rows.length + 1) : rows.length
    rows.splice(at, 0, row)
  }
  return rows
}

function withoutUnit(base: readonly Row[], uid: string): Row[] {
  return base.filter((row) => row.uid !== uid)
}

// ---------------------------------------------------------------------------
// Columns as the column cache lays them out (see loadVersion), built by hand.

function bitmapOf(rows: number, isNull: (i: number) => boolean): Uint8Array | null {
  let any = false
  const b = new Uint8Array(Math.ceil(rows / 8))
  for (let i = 0; i < rows; i++) {
    if (isNull(i)) {
      b[i >> 3]! |= 1 << (i & 7)
      any = true
    }
  }
  return any ? b : null
}

function codesOf(
  rows: readonly Row[],
  dictionary: readonly string[],
  value: (row: Row) => string | null,
  r: Rand,
): ColumnArray {
  const values = new Uint8Array(rows.length)
  // Under a null bit the store writes 0; any code < the dictionary size is as good.
  rows.forEach((row, i) => {
    const v = value(row)
    values[i] = v === null ? below(r, dictionary.length) : dictionary.indexOf(v)
  })
  return { kind: 'code', values, dictionary, nulls: bitmapOf(rows.length, (i) => value(rows[i]!) === null) }
}

function columnsOf(rows: readonly Row[], m: number, r: Rand): TaskColumns {
  const units = rows.map((row) => row.uid)
  const dictionary = [...new Set(units)]
  const uid: ColumnArray = {
    kind: 'code',
    values: Uint16Array.from(units, (u) => dictionary.indexOf(u)),
    dictionary,
    nulls: null,
  }
  // Garbage under null bits: the kernel must ignore whatever sits there.
  const x: ColumnArray = {
    kind: 'f64',
    values: Float64Array.from(rows, (row) => (row.x === null ? choose(r, [0, Number.NaN, 1e308, -7]) : row.x)),
    nulls: bitmapOf(rows.length, (i) => rows[i]!.x === null),
  }
  const n: ColumnArray = { kind: 'i32', values: Int32Array.from(rows, (row) => row.n), nulls: null }
  const columns = new Map<string, ColumnArray>([
    ['uid', uid],
    ['grp', codesOf(rows, CATS, (row) => row.grp, r)],
    ['flag', codesOf(rows, ['false', 'true'], (row) => String(row.flag), r)],
    ['x', x],
    ['n', n],
    ['label', codesOf(rows, LABELS, (row) => row.label, r)],
  ])
  return { rows: rows.length, columns, keep: keepFirst(units, m) }
}

function csvOf(rows: readonly Row[]): string {
  const cell = (v: string | number | boolean | null): string => (v === null ? '' : String(v))
  return (
    'uid,grp,flag,x,n,label\n' +
    rows.map((row) => [row.uid, row.grp, row.flag, row.x, row.n, row.label].map(cell).join(',')).join('\n') +
    '\n'
  )
}

// ---------------------------------------------------------------------------
// What each planned mechanism is fed, read off a kernel result.

type Coordinates = Float64Array | readonly bigint[]

interface Component {
  /** Output name and role, e.g. "ax:sum". */
  readonly label: string
  readonly role: 'count' | 'distinct' | 'sum' | 'squares' | 'histogram'
  /** Exact values are units of 2^exp. */
  readonly exp: number
  readonly laplace: LaplaceMechanism
  readonly gaussian: GaussianMechanism
  read(r: AggregateResult): Coordinates
}

function moments(m: MeasureResult | undefined): Extract<MeasureResult, { kind: 'moments' }> {
  if (m?.kind !== 'moments') throw new Error(`expected a moments measure, got ${m?.kind}`)
  return m
}

function nonNull(m: MeasureResult | undefined): Float64Array {
  if (m === undefined || m.kind === 'histogram') throw new Error('expected a non-null count')
  return m.nonNull
}

function histogramCounts(m: MeasureResult | undefined): Float64Array {
  if (m?.kind !== 'histogram') throw new Error(`expected a histogram, got ${m?.kind}`)
  return m.counts
}

function asLaplace(m: Mechanism): LaplaceMechanism {
  if (m.kind !== 'laplace') throw new Error(`expected a laplace mechanism, got ${m.kind}`)
  return m as LaplaceMechanism
}

function asGaussian(m: Mechanism): GaussianMechanism {
  if (m.kind !== 'gaussian') throw new Error(`expected a gaussian mechanism, got ${m.kind}`)
  return m as GaussianMechanism
}

/**
 * Every released quantity of a query, paired across its Laplace and its
 * Gaussian plan (same query, so the same exact measures in the same order).
 */
function componentsOf(lap: Plan, gau: Plan): Component[] {
  const out: Component[] = []
  const add = (
    label: string,
    role: Component['role'],
    exp: number,
    l: Mechanism,
    g: Mechanism,
    read: (r: AggregateResult) => Coordinates,
  ) => out.push({ label, role, exp, laplace: asLaplace(l), gaussian: asGaussian(g), read })
  const seenHistograms = new Set<number>()
  lap.outputs.forEach((o, i) => {
    const q = gau.outputs[i]!
    if (o.kind !== q.kind) throw new Error('the two plans disagree on their outputs')
    switch (o.kind) {
      case 'group':
        return
      case 'count': {
        const g = q as typeof o
        const source = o.source
        add(`${o.name}:count`, o.label === 'count_distinct' ? 'distinct' : 'count', 0, o.mech, g.mech, (r) =>
          source === 'rows' ? r.count : nonNull(r.measures[source]),
        )
        return
      }
      case 'sum': {
        const g = q as typeof o
        add(`${o.name}:sum`, 'sum', o.exp, o.mech, g.mech, (r) => moments(r.measures[o.measure]).sum)
        return
      }
      case 'avg': {
        const g = q as typeof o
        add(`${o.name}:sum`, 'sum', o.exp, o.sum, g.sum, (r) => moments(r.measures[o.measure]).sum)
        add(`${o.name}:count`, 'count', 0, o.count, g.count, (r) => moments(r.measures[o.measure]).nonNull)
        return
      }
      case 'var':
      case 'stddev': {
        const g = q as typeof o
        add(`${o.name}:count`, 'count', 0, o.count, g.count, (r) => moments(r.measures[o.measure]).nonNull)
        add(`${o.name}:sum`, 'sum', o.exp, o.sum, g.sum, (r) => moments(r.measures[o.measure]).sum)
        add(
          `${o.name}:squares`,
          'squares',
          2 * o.exp + 31,
          o.squares,
          g.squares,
          (r) => moments(r.measures[o.measure]).sumSquares!,
        )
        return
      }
      case 'quantile': {
        if (seenHistograms.has(o.histogram)) return
        seenHistograms.add(o.histogram)
        const h = lap.histograms[o.histogram]!
        const hg = gau.histograms[(q as typeof o).histogram]!
        add(`histogram(${h.column})`, 'histogram', 0, h.quantile.mechanism, hg.quantile.mechanism, (r) =>
          histogramCounts(r.measures[h.measure]),
        )
        return
      }
    }
  })
  return out
}

// ---------------------------------------------------------------------------
// Distances, exactly.

const abs = (v: bigint): bigint => (v < 0n ? -v : v)

function coordinate(c: Coordinates, i: number): bigint {
  return c instanceof Float64Array ? BigInt(c[i]!) : c[i]!
}

/** L1 and squared L2 distance of two coordinate vectors, in units. */
function unitDistance(a: Coordinates, b: Coordinates): { l1: bigint; l2sq: bigint } {
  if (a.length !== b.length) throw new Error(`coordinate counts differ: ${a.length} vs ${b.length}`)
  if (a instanceof Float64Array && b instanceof Float64Array) {
    // Counts: integers far below 2^53, so plain doubles are exact.
    let l1 = 0
    let l2 = 0
    for (let i = 0; i < a.length; i++) {
      const d = a[i]! - b[i]!
      l1 += Math.abs(d)
      l2 += d * d
    }
    return { l1: BigInt(l1), l2sq: BigInt(l2) }
  }
  let l1 = 0n
  let l2sq = 0n
  for (let i = 0; i < a.length; i++) {
    const d = coordinate(a, i) - coordinate(b, i)
    l1 += abs(d)
    l2sq += d * d
  }
  return { l1, l2sq }
}

/** The same after each coordinate is rounded onto a mechanism's grid, as release() rounds it. */
function stepDistance(a: Coordinates, b: Coordinates, exp: number, gridExp: number): { l1: bigint; l2sq: bigint } {
  if (a instanceof Float64Array && b instanceof Float64Array && gridExp === exp) return unitDistance(a, b)
  let l1 = 0n
  let l2sq = 0n
  for (let i = 0; i < a.length; i++) {
    const x = coordinate(a, i)
    const y = coordinate(b, i)
    if (x === y) continue
    const d = toGridSteps({ units: x, exp }, gridExp) - toGridSteps({ units: y, exp }, gridExp)
    l1 += abs(d)
    l2sq += d * d
  }
  return { l1, l2sq }
}

// ---------------------------------------------------------------------------
// The harness: queries, plans, and the comparison of one neighbouring pair.

const SELECT_ALL =
  'COUNT(*) AS c, COUNT(x) AS cx, COUNT(label) AS cl, SUM(x) AS sx, AVG(x) AS ax, VAR(x) AS vx, STDDEV(n) AS dn, ' +
  'SUM(n) AS sn, AVG(n) AS an, MEDIAN(x) AS mx, QUANTILE(x, 0.9) AS qx, QUANTILE(n, 0.5) AS qn, COUNT(DISTINCT uid) AS du'
/** Moments without squares: the planner then asks the kernel for a different measure. */
const SELECT_PLAIN = 'SUM(x) AS sx, AVG(x) AS ax, COUNT(x) AS cx, STDDEV(x) AS dx'
const GROUPINGS = [
  { name: 'ungrouped', select: '', group: '' },
  { name: 'by grp', select: 'grp, ', group: ' GROUP BY grp' },
  { name: 'by grp, flag', select: 'grp, flag, ', group: ' GROUP BY grp, flag' },
] as const
const WHERES = [
  { name: 'no WHERE', sql: '' },
  { name: 'WHERE flag', sql: ' WHERE flag = TRUE' },
  { name: 'WHERE mixed', sql: ' WHERE x BETWEEN -10 AND 0.2 OR n >= 3 OR label IS NULL' },
] as const

interface Variant {
  readonly name: string
  readonly hasWhere: boolean
  readonly lap: Plan
  readonly gau: Plan
  readonly components: readonly Component[]
}

function variantsFor(ds: DatasetSpec): Variant[] {
  const out: Variant[] = []
  // Binning (issue 21): the buckets of x (nullable: a null is in no bucket) and of n, over their bounds.
  const x = ds.columns.find((c) => c.name === 'x')!
  const n = ds.columns.find((c) => c.name === 'n')!
  const bx = `WIDTH_BUCKET(x, ${x.lower}, ${x.upper}, 4)`
  const bn = `WIDTH_BUCKET(n, ${n.lower}, ${n.upper}, 3)`
  const groupings = [
    ...GROUPINGS,
    { name: 'by BUCKET(x), grp', select: `${bx} AS bx, grp, `, group: ` GROUP BY ${bx}, grp` },
    { name: 'by BUCKET(n)', select: `${bn} AS bn, `, group: ` GROUP BY ${bn}` },
  ]
  for (const select of [SELECT_ALL, SELECT_PLAIN]) {
    for (const g of groupings) {
      for (const w of WHERES) {
        const sql = `SELECT ${g.select}${select} FROM ${ds.id}${w.sql}${g.group}`
        const lap = plan(ds, sql, { mechanism: 'laplace', epsilon: 1 })
        const gau = plan(ds, sql, { mechanism: 'gaussian', epsilon: 1, delta: 1e-6 })
        out.push({
          name: `${select === SELECT_ALL ? 'all' : 'plain'}, ${g.name}, ${w.name}`,
          hasWhere: w.sql !== '',
          lap,
          gau,
          components: componentsOf(lap, gau),
        })
      }
    }
  }
  // Coarse grids: one aggregate at 1 micro-epsilon, so even a count is rounded
  // to a grid coarser than 1 and the rounding allowance (coordinates) matters.
  for (const sql of [
    `SELECT COUNT(*) AS c FROM ${ds.id}`,
    `SELECT grp, COUNT(*) AS c FROM ${ds.id} GROUP BY grp`,
    `SELECT grp, flag, COUNT(label) AS cl FROM ${ds.id} GROUP BY grp, flag`,
    `SELECT grp, MEDIAN(x) AS mx FROM ${ds.id} GROUP BY grp`,
    `SELECT grp, SUM(n) AS sn FROM ${ds.id} WHERE flag = TRUE GROUP BY grp`,
  ]) {
    const lap = plan(ds, sql, { mechanism: 'laplace', epsilon: 0.000001 })
    const gau = plan(ds, sql, { mechanism: 'gaussian', epsilon: 0.01, delta: 1e-9 })
    out.push({ name: `coarse: ${sql}`, hasWhere: sql.includes('WHERE'), lap, gau, components: componentsOf(lap, gau) })
  }
  return out
}

interface Tally {
  checks: number
  pairs: number
  readonly failures: string[]
  /** Components whose L1 claim some pair reached exactly, by "variant|label". */
  readonly attained: Set<string>
}

function newTally(): Tally {
  return { checks: 0, pairs: 0, failures: [], attained: new Set() }
}

function fail(tally: Tally, message: string): void {
  if (tally.failures.length < 20) tally.failures.push(message)
  else if (tally.failures.length === 20) tally.failures.push('... (more failures not shown)')
}

/** Compares every component of every variant between the exact results of D and D'. */
function compare(
  tally: Tally,
  variants: readonly Variant[],
  resultsD: readonly AggregateResult[],
  resultsD2: readonly AggregateResult[],
  what: string,
): void {
  tally.pairs += 1
  variants.forEach((v, i) => {
    const a = resultsD[i]!
    const b = resultsD2[i]!
    for (const c of v.components) {
      const x = c.read(a)
      const y = c.read(b)
      const units = unitDistance(x, y)
      const l1 = Rational.dyadic(units.l1, c.exp)
      const l2sq = Rational.dyadic(units.l2sq, 2 * c.exp)
      const lapClaim = c.laplace.sensitivity
      const gauClaim = c.gaussian.sensitivity
      tally.checks += 4
      if (l1.gt(lapClaim))
        fail(tally, `${what} | ${v.name} | ${c.label}: L1 moved ${l1} > laplace sensitivity ${lapClaim}`)
      if (l1.eq(lapClaim)) tally.attained.add(`${v.name}|${c.label}`)
      if (l2sq.gt(gauClaim.mul(gauClaim)))
        fail(
          tally,
          `${what} | ${v.name} | ${c.label}: L2^2 moved ${l2sq} > gaussian sensitivity^2 ${gauClaim.mul(gauClaim)}`,
        )
      const ls = stepDistance(x, y, c.exp, c.laplace.gridExp)
      if (ls.l1 > c.laplace.sensitivitySteps) {
        fail(
          tally,
          `${what} | ${v.name} | ${c.label}: L1 on the laplace grid 2^${c.laplace.gridExp} moved ${ls.l1} steps > sensitivitySteps ${c.laplace.sensitivitySteps}`,
        )
      }
      const gs = stepDistance(x, y, c.exp, c.gaussian.gridExp)
      const gSteps = c.gaussian.sensitivitySteps
      if (gs.l2sq > gSteps * gSteps) {
        fail(
          tally,
          `${what} | ${v.name} | ${c.label}: L2^2 on the gaussian grid 2^${c.gaussian.gridExp} moved ${gs.l2sq} steps^2 > sensitivitySteps^2 ${gSteps * gSteps}`,
        )
      }
    }
  })
}

function exactAll(variants: readonly Variant[], src: TaskColumns): AggregateResult[] {
  return variants.map((v) => exactOf(v.lap, src))
}

function report(t: Test, tally: Tally, label: string): void {
  for (const f of tally.failures) t.fail(f)
  t.equal(
    tally.failures.length,
    0,
    `${label}: ${tally.pairs} neighbouring pairs, ${tally.checks} exact comparisons, none above its claim`,
  )
}

// ---------------------------------------------------------------------------

t.test('the planned measures and their claims', async (t) => {
  // Sanity of the harness: both plans compute the same exact measures, and the
  // claims are the documented ones (docs/dp.md, Sensitivities).
  for (const m of MS) {
    const ds = specFor(BOUNDS[0]!, m)
    for (const v of variantsFor(ds)) {
      t.same(v.gau.exec, v.lap.exec, `${v.name}: one exact task for both mechanisms`)
      for (const c of v.components) {
        if (c.role === 'distinct') {
          // COUNT(DISTINCT unit): a unit counts once in each of at most min(m, groups) groups.
          const k = Math.min(m, v.lap.groups)
          t.ok(
            c.laplace.sensitivity.eq(Rational.of(BigInt(k))),
            `${v.name} ${c.label}: laplace claims min(m, groups) = ${k}`,
          )
          const l2 = c.gaussian.sensitivity.toNumber()
          t.ok(
            l2 >= Math.sqrt(k) && l2 <= Math.sqrt(k) * (1 + 1e-9),
            `${v.name} ${c.label}: gaussian claims sqrt(${k})`,
          )
        } else if (c.role === 'count' || c.role === 'histogram') {
          t.ok(c.laplace.sensitivity.eq(Rational.of(BigInt(m))), `${v.name} ${c.label}: laplace claims m = ${m}`)
          t.ok(
            c.gaussian.sensitivity.eq(Rational.of(BigInt(m))),
            `${v.name} ${c.label}: gaussian claims m = ${m} (all rows may share a group)`,
          )
        }
      }
    }
  }
  // [-50, 20]: SUM(x) claims 50 m; the sum of squares 2500 m; SUM(n) over [0, 10] 10 m.
  const ds = specFor(BOUNDS[0]!, 3)
  const v = variantsFor(ds)[0]!
  const claim = (label: string): string => v.components.find((c) => c.label === label)!.laplace.sensitivity.toString()
  t.equal(claim('sx:sum'), '150')
  t.equal(claim('vx:squares'), '7500')
  t.equal(claim('sn:sum'), '30')
  t.equal(claim('dn:squares'), '300')
})

for (const m of MS) {
  t.test(`random neighbours, hand-built columns, m = ${m}`, async (t) => {
    for (const b of BOUNDS) {
      const ds = specFor(b, m)
      const variants = variantsFor(ds)
      const tally = newTally()
      const r = seeded(0x5e5 + m * 101 + b.name.length * 7919)
      for (let trial = 0; trial < 40; trial++) {
        const d = randomDataset(r, b, m, true, 8)
        const resultsD = exactAll(variants, columnsOf(d, m, r))
        // D' = D plus a random unit (interleaved or appended), and D minus one of its units.
        const added = withUnit(r, d, randomUnit(r, 'newcomer', b, m, true), r() < 0.5)
        compare(tally, variants, resultsD, exactAll(variants, columnsOf(added, m, r)), `${b.name} trial ${trial} +unit`)
        const uids = [...new Set(d.map((row) => row.uid))]
        if (uids.length > 0) {
          const gone = withoutUnit(d, choose(r, uids))
          compare(
            tally,
            variants,
            resultsD,
            exactAll(variants, columnsOf(gone, m, r)),
            `${b.name} trial ${trial} -unit`,
          )
        }
      }
      report(t, tally, `bounds ${b.name} [${b.x.join(', ')}] / [${b.n.join(', ')}]`)
    }
  })

  t.test(`adversarial units at the bounds, m = ${m}`, async (t) => {
    for (const b of BOUNDS) {
      const ds = specFor(b, m)
      const variants = variantsFor(ds)
      const tally = newTally()
      const r = seeded(0xad5 + m * 31 + b.name.length)
      // The empty dataset, a small random one, and one whose units all sit at the bounds.
      const bases: Row[][] = [[], randomDataset(r, b, m, true, 5)]
      bases.push(
        adversaries(b, m)
          .slice(0, 6)
          .flatMap((a, k) => a.rows.map((row) => ({ ...row, uid: `base${k}` }))),
      )
      for (const [k, base] of bases.entries()) {
        const resultsBase = exactAll(variants, columnsOf(base, m, r))
        for (const a of adversaries(b, m)) {
          // Where the unit's rows sit must not matter; into the empty base they can only be appended.
          for (const interleave of k === 0 ? [false] : [r() < 0.5]) {
            const d2 = withUnit(r, base, a.rows, interleave)
            const results2 = exactAll(variants, columnsOf(d2, m, r))
            compare(
              tally,
              variants,
              resultsBase,
              results2,
              `${b.name} base ${k} + ${a.what}${interleave ? ' (interleaved)' : ''}`,
            )
            // And back: D' minus the adversary is D again, seen from the other side.
            compare(
              tally,
              variants,
              results2,
              exactAll(variants, columnsOf(withoutUnit(d2, 'adversary'), m, r)),
              `${b.name} base ${k} - ${a.what}`,
            )
          }
        }
      }
      report(t, tally, `bounds ${b.name}`)
      // The claims are tight: without a WHERE clause, m rows at the larger
      // |bound| in one group move every component by exactly its claim.
      const missed: string[] = []
      for (const v of variants) {
        if (v.hasWhere) continue
        for (const c of v.components) {
          // The adversaries' rows sit at the bounds, so over BUCKET(n) a unit reaches the first and last
          // buckets only: two of the three groups its distinct count claims. The random units reach them all.
          if (c.role === 'distinct' && v.name.includes('BUCKET(n)')) continue
          if (!tally.attained.has(`${v.name}|${c.label}`)) missed.push(`${v.name} ${c.label}`)
        }
      }
      t.same(missed, [], `bounds ${b.name}: every claim without WHERE is attained by some unit`)
    }
  })
}

t.test("through ingest and loadVersion: D and D' as two versions of a stored dataset", async (t) => {
  const db = await tempDb(t)
  for (const m of MS) {
    for (const b of [BOUNDS[0]!, BOUNDS[3]!]) {
      const ds = specFor(b, m)
      const variants = variantsFor(ds)
      const tally = newTally()
      const r = seeded(0x1a9e + m + b.name.length)
      const pairs: { what: string; d: Row[]; d2: Row[] }[] = []
      for (let trial = 0; trial < 4; trial++) {
        const d = randomDataset(r, b, m, false, 8)
        pairs.push({
          what: `trial ${trial} +unit`,
          d,
          d2: withUnit(r, d, randomUnit(r, 'newcomer', b, m, false), true),
        })
        const uids = [...new Set(d.map((row) => row.uid))]
        if (uids.length > 1) pairs.push({ what: `trial ${trial} -unit`, d, d2: withoutUnit(d, choose(r, uids)) })
      }
      const d0 = randomDataset(r, b, m, false, 4)
      for (const a of [adversaries(b, m)[16]!, adversaries(b, m)[31]!, adversaries(b, m)[50]!]) {
        pairs.push({ what: `+ ${a.what}`, d: d0, d2: withUnit(r, d0, a.rows, true) })
      }
      for (const { what, d, d2 } of pairs) {
        const v1 = await loadVersion(db, ds.id, await ingestCsv(db, ds, csvOf(d)))
        const v2 = await loadVersion(db, ds.id, await ingestCsv(db, ds, csvOf(d2)))
        for (const [loaded, rows] of [
          [v1, d],
          [v2, d2],
        ] as const) {
          // The store's keep mask is the rule the hand-built columns assume.
          t.same(
            [...loaded.keep],
            [
              ...keepFirst(
                rows.map((row) => row.uid),
                m,
              ),
            ],
            `${ds.id} ${what}: keep mask is the first ${m} rows of each unit`,
          )
        }
        const resultsD = exactAll(variants, v1)
        const resultsD2 = exactAll(variants, v2)
        // The same rows through hand-built columns give the same exact answers.
        const direct = exactAll(variants, columnsOf(d2, m, r))
        const same = resultsD2.every((res, i) => JSON.stringify(res, big) === JSON.stringify(direct[i], big))
        t.ok(same, `${ds.id} ${what}: stored and hand-built columns agree`)
        compare(tally, variants, resultsD, resultsD2, `${ds.id} ${what}`)
      }
      report(t, tally, `${ds.id} through the store`)
    }
  }
})

function big(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString()
  if (value instanceof Float64Array) return [...value]
  return value
}

/**
 * The rounding allowance of a grouped histogram. A grouped histogram has
 * groups x bins cells and one unit can change min(m, groups x bins) of them;
 * on a grid coarser than 1 (a tiny epsilon or rho for a large m) each changed
 * cell can gain a rounding step. The histogram mechanism's `coordinates` must
 * therefore be min(m, bins x groups) (quantile.ts, with the planner passing
 * the number of groups), making `sensitivitySteps` L1 ceil(m / 2^k) + c - 1
 * for Laplace and L2 m / 2^k + sqrt(c) for Gaussian. Each test below builds
 * a unit that touches more cells than min(m, bins) (the allowance without
 * the groups, with the default 128 bins), checks that it really moves the
 * histogram by more steps than that allowance would cover, and that the
 * planned `sensitivitySteps` still covers it.
 */
function manyRowsSpec(m: number, categories: readonly string[]): DatasetSpec {
  return spec({
    id: `many_rows_${m}`,
    title: 'units with many rows',
    classification: 'internal',
    privacyUnit: 'uid',
    maxRowsPerUnit: m,
    columns: [
      { name: 'uid', type: 'id', protection: 'public' },
      { name: 'grp', type: 'category', protection: 'public', categories: [...categories] },
      { name: 'x', type: 'number', protection: 'dp', lower: 0, upper: 128 },
    ],
  })
}

/** Columns for rows given as (unit, group code, x); every row kept (no unit exceeds m here). */
function cellColumns(
  rows: readonly { unit: number; grp: number; x: number }[],
  categories: readonly string[],
  units: number,
): TaskColumns {
  return {
    rows: rows.length,
    columns: new Map<string, ColumnArray>([
      [
        'uid',
        {
          kind: 'code',
          values: Uint16Array.from(rows, (row) => row.unit),
          dictionary: Array.from({ length: units }, (_, u) => `u${u}`),
          nulls: null,
        },
      ],
      ['grp', { kind: 'code', values: Uint8Array.from(rows, (row) => row.grp), dictionary: categories, nulls: null }],
      ['x', { kind: 'f64', values: Float64Array.from(rows, (row) => row.x), nulls: null }],
    ]),
    keep: new Uint8Array(rows.length).fill(1),
  }
}

t.test(
  'a grouped histogram on a coarse grid, laplace: every (group, bin) cell a unit can touch is allowed for',
  async (t) => {
    const m = 300
    const ds = manyRowsSpec(m, CATS)
    const p = plan(ds, `SELECT grp, MEDIAN(x) FROM ${ds.id} GROUP BY grp`, { mechanism: 'laplace', epsilon: 0.0001 })
    const h = p.histograms[0]!
    const mech = asLaplace(h.quantile.mechanism)
    t.ok(mech.roundsInput && mech.gridExp === 1, `counts are rounded to the grid 2^${mech.gridExp}`)
    // D is empty; D' is one unit of 300 rows, each in its own (group, bin) cell (bins of width 1).
    const unit = Array.from({ length: m }, (_, i) => ({ unit: 0, grp: i % 3, x: Math.floor(i / 3) + 0.5 }))
    const before = histogramCounts(exactOf(p, cellColumns([], CATS, 1)).measures[h.measure])
    const after = histogramCounts(exactOf(p, cellColumns(unit, CATS, 1)).measures[h.measure])
    t.equal(
      unitDistance(after, before).l1,
      BigInt(m),
      'in counts the unit moves the histogram by exactly m = 300 (within the value-unit claim)',
    )
    const steps = stepDistance(after, before, 0, mech.gridExp)
    // Each of the 300 cells gains a rounding step: more than an allowance of
    // min(m, bins) = 128 cells covers (ceil(300 / 2) + 128 - 1 = 277 steps).
    t.equal(steps.l1, 300n, 'on the grid the unit moves one step in each of its 300 cells, more than 277')
    t.ok(
      steps.l1 <= mech.sensitivitySteps,
      `on the grid 2^${mech.gridExp} the unit moves ${steps.l1} steps in L1; the noise is calibrated to ${mech.sensitivitySteps}`,
    )
  },
)

t.test(
  'a grouped histogram on a coarse grid, gaussian: every (group, bin) cell a unit can touch is allowed for',
  async (t) => {
    const m = 1000
    const cats = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']
    const ds = manyRowsSpec(m, cats)
    const p = plan(ds, `SELECT grp, MEDIAN(x) FROM ${ds.id} GROUP BY grp`, {
      mechanism: 'gaussian',
      epsilon: 0.00001,
      delta: 1e-6,
    })
    const h = p.histograms[0]!
    const mech = asGaussian(h.quantile.mechanism)
    const k = mech.gridExp
    t.ok(mech.roundsInput && k === 6, `counts are rounded to the grid 2^${k}`)
    // 1000 of the 8 x 128 cells, each holding 2^(k-1) - 1 rows of other units
    // (one row per cell per unit), so that one more row rounds up a step.
    const cells = Array.from({ length: m }, (_, i) => ({ grp: i % 8, x: Math.floor(i / 8) + 0.5 }))
    const filler = 2 ** (k - 1) - 1
    const d = Array.from({ length: filler }, (_, u) => cells.map((c) => ({ unit: u, ...c }))).flat()
    const d2 = [...d, ...cells.map((c) => ({ unit: filler, ...c }))]
    const before = histogramCounts(exactOf(p, cellColumns(d, cats, filler + 1)).measures[h.measure])
    const after = histogramCounts(exactOf(p, cellColumns(d2, cats, filler + 1)).measures[h.measure])
    const units = unitDistance(after, before)
    t.ok(
      units.l2sq <= BigInt(m * m),
      'in counts the unit moves the histogram by sqrt(1000) in L2, within the value-unit claim m = 1000',
    )
    const steps = stepDistance(after, before, 0, k)
    const claim = mech.sensitivitySteps
    // Each of the 1000 cells gains a rounding step: L2^2 = 1000 steps^2, more than an
    // allowance of min(m, bins) = 128 cells covers (ceil(1000 / 64 + ceil(sqrt(128))) = 28, 28^2 = 784).
    t.equal(
      steps.l2sq,
      1000n,
      'on the grid the unit moves one step in each of its 1000 cells: L2^2 1000, more than 784',
    )
    t.ok(
      steps.l2sq <= claim * claim,
      `on the grid 2^${k} the unit moves sqrt(${steps.l2sq}) steps in L2; the noise is calibrated to ${claim}`,
    )
  },
)

// ---------------------------------------------------------------------------
// Unit joins (issue 21): the same claims over the joined rows, m = m_J.

/** The second side of a join: the same columns under r-prefixed names, its own bound. */
function rightSpecFor(b: Bounds, m: number): DatasetSpec {
  const left = specFor(b, m)
  return spec({
    ...left,
    id: `${left.id}_r`,
    unitSpace: 'nb',
    columns: left.columns.map((c) => (c.name === 'uid' ? c : { ...c, name: `r${c.name}` })),
  })
}

function rightColumnsOf(rows: readonly Row[], m: number, r: Rand): TaskColumns {
  const c = columnsOf(rows, m, r)
  return { ...c, columns: new Map([...c.columns].map(([k, v]) => [k === 'uid' ? k : `r${k}`, v])) }
}

const JOIN_SELECTS = [
  'COUNT(*) AS c, SUM(x) AS sx, SUM(rx) AS srx, AVG(rn) AS arn, VAR(rx) AS vrx, COUNT(rlabel) AS crl, MEDIAN(x) AS mx, QUANTILE(rn, 0.5) AS qrn, COUNT(DISTINCT uid) AS du',
]
const JOIN_SHAPES = [
  { select: '', where: '', group: '' },
  { select: 'grp, ', where: '', group: ' GROUP BY grp' },
  { select: 'rgrp, flag, ', where: ' WHERE rflag = TRUE', group: ' GROUP BY rgrp, flag' },
  { select: 'grp, ', where: ' WHERE rx > 0 OR n >= 3', group: ' GROUP BY grp' },
]

interface JoinVariant extends Variant {
  readonly part: NonNullable<ReturnType<typeof joinPart>>
}

function joinVariantsFor(left: DatasetSpec, right: DatasetSpec): JoinVariant[] {
  const out: JoinVariant[] = []
  for (const select of JOIN_SELECTS) {
    for (const s of JOIN_SHAPES) {
      const sql = `SELECT ${s.select}${select} FROM ${left.id} JOIN ${right.id} USING (uid)${s.where}${s.group}`
      const b = bindQuery(parseQuery(sql), spec({ ...left, unitSpace: 'nb' }), [right])
      const lap = planQuery(b, planOptions({ mechanism: 'laplace', epsilon: 1 }))
      const gau = planQuery(b, planOptions({ mechanism: 'gaussian', epsilon: 1, delta: 1e-6 }))
      out.push({
        name: `join ${s.select || 'ungrouped '}${s.where}`,
        hasWhere: s.where !== '',
        lap,
        gau,
        components: componentsOf(lap, gau),
        part: joinPart(b, lap.exec, 1)!,
      })
    }
  }
  return out
}

function joinedAll(variants: readonly JoinVariant[], l: TaskColumns, rr: TaskColumns): AggregateResult[] {
  return variants.map((v) =>
    exactOf(
      v.lap,
      joinedColumns(
        { src: l, unit: v.part.leftUnit },
        { src: rr, unit: v.part.rightUnit },
        v.part.maxRowsPerUnit,
        new Map(v.part.columns.map((c) => [c.name, { side: c.side, column: c.column }])),
      ),
    ),
  )
}

for (const [ml, mr] of [
  [1, 3],
  [3, 1],
  [2, 2],
] as const) {
  t.test(`unit joins: a unit with rows in both tables, at the bounds, m_left ${ml}, m_right ${mr}`, async (t) => {
    for (const b of BOUNDS.slice(0, 3)) {
      const left = specFor(b, ml)
      const right = rightSpecFor(b, mr)
      const variants = joinVariantsFor(left, right)
      const mJ = Math.max(ml, mr)
      t.ok(
        variants.every((v) => v.part.maxRowsPerUnit === mJ),
        `m_J = max(${ml}, ${mr}) = ${mJ}`,
      )
      const tally = newTally()
      const r = seeded(0x701 + ml * 17 + mr * 5 + b.name.length)
      for (let trial = 0; trial < 25; trial++) {
        const dl = randomDataset(r, b, ml, true, 6)
        const dr = randomDataset(r, b, mr, true, 6)
        const base = joinedAll(variants, columnsOf(dl, ml, r), rightColumnsOf(dr, mr, r))
        // The newcomer: random rows, or an adversary at the bounds, on both sides, anywhere in each.
        const pick = r() < 0.5
        const unitL = pick ? choose(r, adversaries(b, ml)).rows : randomUnit(r, 'adversary', b, ml, true)
        const unitR = pick ? choose(r, adversaries(b, mr)).rows : randomUnit(r, 'adversary', b, mr, true)
        const dl2 = withUnit(r, dl, unitL, r() < 0.5)
        const dr2 = withUnit(r, dr, unitR, r() < 0.5)
        const added = joinedAll(variants, columnsOf(dl2, ml, r), rightColumnsOf(dr2, mr, r))
        compare(tally, variants, base, added, `${b.name} trial ${trial} +unit in both`)
        // A unit of the data removed from both sides.
        const uids = [...new Set([...dl, ...dr].map((row) => row.uid))]
        if (uids.length > 0) {
          const u = choose(r, uids)
          const gone = joinedAll(
            variants,
            columnsOf(withoutUnit(dl, u), ml, r),
            rightColumnsOf(withoutUnit(dr, u), mr, r),
          )
          compare(tally, variants, base, gone, `${b.name} trial ${trial} -${u} from both`)
        }
      }
      report(t, tally, `joins, bounds ${b.name}`)
      t.ok(tally.attained.size > 0, `some claim is attained exactly (${tally.attained.size} components)`)
    }
  })
}
