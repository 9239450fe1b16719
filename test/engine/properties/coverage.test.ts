/**
 * Issue 3, "Done when": SELECT district, COUNT(*), SUM(income), AVG(income)
 * ... GROUP BY district at epsilon 0.1 returns one row per declared district,
 * with intervals that contain the true value about 95% of the time, over many
 * runs on data whose truth the test knows. Also VAR, STDDEV, MEDIAN,
 * QUANTILE, COUNT(col) (a nullable column) and the Gaussian mechanism.
 *
 * The truth is computed from the generated rows in plain JS with exact
 * rationals, never by the kernel. The exact aggregates are computed once per
 * query through the real store (ingest, loadVersion, kernel); every repetition
 * then plans the query afresh (fresh mechanisms, fresh noise) and releases.
 *
 * Not flaky. Over N = groups x repetitions trials, the misses of one output
 * are a sum of independent Bernoulli variables (fresh, independent noise per
 * group and per run) whose probabilities p_i satisfy p_low <= p_i <= 5%:
 * - p_i <= 5% because the half-width h is the smallest with P(|Z| > h) <= 5%
 *   for the exact noise law (intervals.ts), and one more grid step covers the
 *   rounding of the exact value to the grid;
 * - p_i >= P(|Z| > H), H the interval's half-width in grid steps: a noise
 *   beyond H steps misses whatever the rounding (|rounding| <= 1/2 step). For
 *   discrete Laplace of scale b, P(|Z| > H) = 2 q^(H+1) / (1 + q), q = e^(-1/b),
 *   exactly; for the discrete Gaussian it is at least 2 Q((H+1)/sigma) / (1 + 1e-8)
 *   (the tail sum dominates the integral; the normaliser is sqrt(2 pi) sigma
 *   times at most 1 + 6e-9 when sigma >= 1).
 * So the misses are stochastically between Binomial(N, p_low) and
 * Binomial(N, 0.05). Each assertion compares them with a critical value of
 * that binomial computed exactly (pmf by recurrence in log space, tails
 * summed), at a level that splits 1e-6 over all assertions of this file: the
 * chance that a correct implementation fails any of them is below 1e-6.
 * Ratios (AVG, VAR, STDDEV) and quantiles have conservative intervals (union
 * bounds), so only coverage >= nominal is asserted for them.
 *
 * Runtime, measured on a 2-core machine: about 1 ms per repetition of the
 * Done-when query, 4 to 6 ms for the Gaussian ones (planning converts
 * epsilon to rho each time) and up to 40 ms for the quantile queries (three
 * 7 x 128 noisy histograms). With the sizes below the file takes about 25 s,
 * and under 40 s at a load average of 6.
 */
import t from 'tap'

import { AGE_BANDS, DEMO_CSV_HEADER, DEMO_SPEC, demoRows, toCsvLine, type DemoRow } from '../../../src/demo/binzhou.js'
import { normalUpperTail } from '../../../src/engine/dp/intervals.js'
import type { GaussianMechanism } from '../../../src/engine/dp/gaussian.js'
import type { LaplaceMechanism } from '../../../src/engine/dp/laplace.js'
import type { Mechanism } from '../../../src/engine/dp/mechanism.js'
import { Rational } from '../../../src/engine/dp/rational.js'
import type { AggregateResult } from '../../../src/engine/exec/types.js'
import { planQuery, type OutputPlan, type PlanOptions } from '../../../src/engine/plan/index.js'
import type { DatasetSpec } from '../../../src/schema.js'
import { loadVersion, type LoadedVersion } from '../../../src/engine/exec/column-cache.js'
import { CLAIMS_SPEC, claimRows, claimsCsv } from '../../../src/demo/claims.js'
import { joinedColumns } from '../../../src/engine/exec/join.js'
import type { TaskColumns } from '../../../src/engine/exec/task.js'
import { joinPart } from '../../../src/engine/plan/join.js'
import type { Plan } from '../../../src/engine/plan/index.js'
import { bindQuery, parseQuery, type BoundQuery } from '../../../src/engine/query/index.js'
import { bound, exactOf, ingestCsv, planOptions, releaseOf, spec, tempDb, type TestPlanOptions } from '../fixtures.js'

const ROWS = 20_000
const CONFIDENCE = 0.95
const ALPHA = 1 - CONFIDENCE
const DISTRICTS = DEMO_SPEC.columns.find((c) => c.name === 'district')!.categories!
/** BUCKET(age, 20, 100, 20): the lower edges. */
const AGE_BUCKETS = [20, 40, 60, 80]

/** A row's group in a run, computed independently of the engine: 100 lands in the last bucket. */
function keyOf(run: Run, r: Row): string | number {
  if (run.group !== 'age_bucket') return r[run.group]
  return AGE_BUCKETS[Math.min(3, Math.floor((r.age - 20) / 20))]!
}

// ---------------------------------------------------------------------------
// The data, and a second dataset with a nullable column (COUNT(col), AVG over nulls).

interface Row extends DemoRow {
  readonly pension: number | null
  /** A joined row's claim (the unit join run): the household's row with one of its claims. */
  readonly claim_amount?: number
}

const PENSION_SPEC: DatasetSpec = spec({
  ...DEMO_SPEC,
  id: 'binzhou_pension',
  title: 'Binzhou households with pensions (test)',
  columns: [
    ...DEMO_SPEC.columns,
    { name: 'pension', type: 'number', protection: 'dp', lower: 0, upper: 50_000, nullable: true },
  ],
})

const rows: Row[] = [...demoRows(ROWS)].map((r) => ({
  ...r,
  pension: r.age >= 60 ? Math.min(50_000, Math.round(r.income * 0.3)) : null,
}))

function pensionCsv(): string {
  let out = `${DEMO_CSV_HEADER.trimEnd()},pension\n`
  for (const r of rows) out += `${toCsvLine(r).trimEnd()},${r.pension === null ? '' : String(r.pension)}\n`
  return out
}

// ---------------------------------------------------------------------------
// Truth, in plain JS with exact rationals.

type Col = 'income' | 'age' | 'household_size' | 'pension' | 'claim_amount'
type Agg =
  | { readonly kind: 'count' }
  | { readonly kind: 'distinct' }
  | { readonly kind: 'countCol' | 'sum' | 'avg' | 'var' | 'stddev'; readonly col: Col }
  | { readonly kind: 'quantile'; readonly col: Col; readonly p: number }

/** An exact value, or (STDDEV) the square of one; null where the aggregate is undefined (no rows). */
type Truth = { readonly value: Rational; readonly squared: boolean } | null

function truthOf(agg: Agg, group: readonly Row[]): Truth {
  const exact = (value: Rational): Truth => ({ value, squared: false })
  if (agg.kind === 'count') return exact(Rational.of(BigInt(group.length)))
  if (agg.kind === 'distinct') return exact(Rational.of(BigInt(new Set(group.map((r) => r.household_id)).size)))
  const values = group.map((r) => r[agg.col]).filter((v): v is number => v !== null && v !== undefined)
  const n = BigInt(values.length)
  if (values.some((v) => !Number.isInteger(v))) {
    // Claim amounts have decimals: their sum as exact rationals of the binary64 values (the kernels' input).
    const sum = values.reduce((a, v) => a.add(Rational.fromNumber(v)), Rational.ZERO)
    if (agg.kind === 'sum') return exact(sum)
    if (agg.kind === 'avg') return n === 0n ? null : exact(sum.div(Rational.of(n)))
    throw new Error(`${agg.kind} over a column with fractions is not in these runs`)
  }
  // Every value here is an integer, so these sums are exact in BigInt.
  const s = values.reduce((a, v) => a + BigInt(v), 0n)
  const s2 = values.reduce((a, v) => a + BigInt(v) * BigInt(v), 0n)
  switch (agg.kind) {
    case 'countCol':
      return exact(Rational.of(n))
    case 'sum':
      return exact(Rational.of(s))
    case 'avg':
      return n === 0n ? null : exact(Rational.of(s, n))
    case 'var':
    case 'stddev': {
      if (n === 0n) return null
      // Population variance: sum(x^2)/n - (sum(x)/n)^2.
      const variance = Rational.of(s2 * n - s * s, n * n)
      return { value: variance, squared: agg.kind === 'stddev' }
    }
    case 'quantile': {
      if (n === 0n) return null
      // The smallest value with at least p N values at or below it (the inverse
      // of the empirical CDF): the interval covers the bin that holds it.
      // p is read as its exact binary value, as the release step reads it.
      const sorted = [...values].sort((a, b) => a - b)
      const k = Number(Rational.fromNumber(agg.p).mul(Rational.of(n)).ceil())
      return exact(Rational.fromNumber(sorted[Math.max(1, k) - 1]!))
    }
  }
}

function contains(lo: number, hi: number, truth: NonNullable<Truth>): boolean {
  const l = Rational.fromNumber(lo)
  const h = Rational.fromNumber(hi)
  if (!truth.squared) return l.lte(truth.value) && truth.value.lte(h)
  // STDDEV: sqrt(v) in [lo, hi] <=> lo <= 0 or lo^2 <= v, and v <= hi^2 (hi >= 0).
  return (l.num <= 0n || l.mul(l).lte(truth.value)) && h.num >= 0n && truth.value.lte(h.mul(h))
}

// ---------------------------------------------------------------------------
// Binomial critical values.

/** The Binomial(n, p) pmf, by recurrence in log space. */
function binomialPmf(n: number, p: number): Float64Array {
  const pmf = new Float64Array(n + 1)
  const step = Math.log(p) - Math.log1p(-p)
  let lp = n * Math.log1p(-p)
  for (let k = 0; k <= n; k++) {
    pmf[k] = Math.exp(lp)
    lp += Math.log((n - k) / (k + 1)) + step
  }
  return pmf
}

/** The smallest c with P(X > c) <= beta, X ~ Binomial(n, p). */
function upperCritical(n: number, p: number, beta: number): number {
  const pmf = binomialPmf(n, p)
  let tail = 0
  for (let c = n; c >= 0; c--) {
    if (tail + pmf[c]! > beta) return c
    tail += pmf[c]!
  }
  return 0
}

/** The largest c with P(X < c) <= beta, X ~ Binomial(n, p). */
function lowerCritical(n: number, p: number, beta: number): number {
  const pmf = binomialPmf(n, p)
  let tail = 0
  for (let c = 0; c <= n; c++) {
    if (tail + pmf[c]! > beta) return c
    tail += pmf[c]!
  }
  return n
}

// ---------------------------------------------------------------------------
// The runs.

interface Run {
  readonly name: string
  readonly ds: 'demo' | 'pension' | 'join'
  readonly sql: string
  /** A declared column, or the buckets of BUCKET(age, 20, 100, 20). */
  readonly group: 'district' | 'age_band' | 'age_bucket'
  readonly where: (r: Row) => boolean
  readonly aggs: readonly Agg[]
  readonly options: TestPlanOptions & Pick<PlanOptions, 'mechanism'> & { readonly epsilon: number }
  readonly reps: number
}

const all = (): boolean => true

const RUNS: readonly Run[] = [
  {
    name: 'Done-when, laplace, epsilon 0.1',
    ds: 'demo',
    sql: 'SELECT district, COUNT(*), SUM(income), AVG(income) FROM binzhou_households GROUP BY district',
    group: 'district',
    where: all,
    aggs: [{ kind: 'count' }, { kind: 'sum', col: 'income' }, { kind: 'avg', col: 'income' }],
    options: { mechanism: 'laplace', epsilon: 0.1 },
    reps: 3000,
  },
  {
    name: 'Done-when, gaussian, epsilon 1, delta 1e-6',
    ds: 'demo',
    sql: 'SELECT district, COUNT(*), SUM(income), AVG(income) FROM binzhou_households GROUP BY district',
    group: 'district',
    where: all,
    aggs: [{ kind: 'count' }, { kind: 'sum', col: 'income' }, { kind: 'avg', col: 'income' }],
    options: { mechanism: 'gaussian', epsilon: 1, delta: 1e-6 },
    reps: 1200,
  },
  {
    // The 18-29 band is empty under this WHERE: a noisy zero is reported for it.
    name: 'gaussian under WHERE, integer sums, epsilon 0.5, delta 1e-9',
    ds: 'demo',
    sql: 'SELECT age_band, COUNT(*), SUM(age), SUM(household_size), SUM(income) FROM binzhou_households WHERE insured = TRUE AND age >= 30 GROUP BY age_band',
    group: 'age_band',
    where: (r) => r.insured && r.age >= 30,
    aggs: [
      { kind: 'count' },
      { kind: 'sum', col: 'age' },
      { kind: 'sum', col: 'household_size' },
      { kind: 'sum', col: 'income' },
    ],
    options: { mechanism: 'gaussian', epsilon: 0.5, delta: 1e-9 },
    reps: 800,
  },
  {
    // Binning (issue 21): the buckets are the query's own; ages 18 and 19 fall in none.
    name: 'BUCKET(age) keys, laplace, epsilon 0.2',
    ds: 'demo',
    sql: 'SELECT BUCKET(age, 20, 100, 20) AS decade, COUNT(*), SUM(income), AVG(income), COUNT(DISTINCT household_id) FROM binzhou_households GROUP BY BUCKET(age, 20, 100, 20)',
    group: 'age_bucket',
    where: (r) => r.age >= 20,
    aggs: [{ kind: 'count' }, { kind: 'sum', col: 'income' }, { kind: 'avg', col: 'income' }, { kind: 'distinct' }],
    options: { mechanism: 'laplace', epsilon: 0.2 },
    reps: 1500,
  },
  {
    name: 'moments, quantiles and COUNT(col), laplace, epsilon 10',
    ds: 'pension',
    sql:
      'SELECT district, VAR(age), STDDEV(household_size), MEDIAN(income), QUANTILE(age, 0.9), COUNT(pension), AVG(pension), QUANTILE(pension, 0.25) ' +
      'FROM binzhou_pension GROUP BY district',
    group: 'district',
    where: all,
    aggs: [
      { kind: 'var', col: 'age' },
      { kind: 'stddev', col: 'household_size' },
      { kind: 'quantile', col: 'income', p: 0.5 },
      { kind: 'quantile', col: 'age', p: 0.9 },
      { kind: 'countCol', col: 'pension' },
      { kind: 'avg', col: 'pension' },
      { kind: 'quantile', col: 'pension', p: 0.25 },
    ],
    options: { mechanism: 'laplace', epsilon: 10 },
    reps: 250,
  },
  {
    name: 'moments, quantiles and COUNT(col), gaussian, epsilon 10, delta 1e-6, under WHERE',
    ds: 'pension',
    sql:
      'SELECT district, VAR(income), STDDEV(age), QUANTILE(household_size, 0.75), COUNT(pension), AVG(pension) ' +
      'FROM binzhou_pension WHERE insured = TRUE GROUP BY district',
    group: 'district',
    where: (r) => r.insured,
    aggs: [
      { kind: 'var', col: 'income' },
      { kind: 'stddev', col: 'age' },
      { kind: 'quantile', col: 'household_size', p: 0.75 },
      { kind: 'countCol', col: 'pension' },
      { kind: 'avg', col: 'pension' },
    ],
    options: { mechanism: 'gaussian', epsilon: 10, delta: 1e-6 },
    reps: 250,
  },
  {
    // A unit join (issue 21): each household's rows paired with its claims, at most m_J = 5 pairs per household.
    name: 'unit join of households and claims, laplace, epsilon 0.5',
    ds: 'join',
    sql: 'SELECT h.district, COUNT(*), SUM(c.claim_amount), AVG(c.claim_amount), COUNT(DISTINCT household_id) FROM binzhou_households h JOIN binzhou_claims c USING (household_id) GROUP BY h.district',
    group: 'district',
    where: all,
    aggs: [
      { kind: 'count' },
      { kind: 'sum', col: 'claim_amount' },
      { kind: 'avg', col: 'claim_amount' },
      { kind: 'distinct' },
    ],
    options: { mechanism: 'laplace', epsilon: 0.5 },
    reps: 1200,
  },
]

/**
 * The joined rows, in plain JS: each household's first row (m = 1) with its
 * claims in the claims' row order, the first m_claims = 5 kept, and of the
 * pairs the first m_J = max(1, 5) = 5.
 */
const joinedRows: Row[] = (() => {
  const byHousehold = new Map(rows.map((r) => [r.household_id, r]))
  const taken = new Map<string, number>()
  const out: Row[] = []
  for (const c of claimRows(ROWS)) {
    const n = taken.get(c.household_id) ?? 0
    if (n >= Math.min(CLAIMS_SPEC.maxRowsPerUnit, Math.max(DEMO_SPEC.maxRowsPerUnit, CLAIMS_SPEC.maxRowsPerUnit)))
      continue
    taken.set(c.household_id, n + 1)
    out.push({ ...byHousehold.get(c.household_id)!, claim_amount: c.claim_amount })
  }
  return out
})()

/** Outputs with an exactly known miss probability get a lower bound too. */
const twoSided = (agg: Agg): boolean =>
  agg.kind === 'count' || agg.kind === 'distinct' || agg.kind === 'countCol' || agg.kind === 'sum'
const ASSERTIONS = RUNS.reduce((n, run) => n + run.aggs.reduce((k, a) => k + (twoSided(a) ? 2 : 1), 0), 0)
/** Each binomial assertion's false-failure probability: 1e-6 split over all of them. */
const BETA = 1e-6 / ASSERTIONS

/** The mechanism that releases an output whose miss probability is known exactly. */
function directMechanism(o: OutputPlan): Mechanism | null {
  return o.kind === 'count' || o.kind === 'sum' ? o.mech : null
}

/** A lower bound on P(|Z| > H) for the mechanism's noise, H its half-width in steps. */
function missLowerBound(mech: Mechanism): number {
  const h = Number(mech.halfWidthSteps(CONFIDENCE))
  if (mech.kind === 'laplace') {
    const b = (mech as LaplaceMechanism).scaleSteps.toNumber()
    const q = Math.exp(-1 / b)
    return ((2 * Math.exp(-(h + 1) / b)) / (1 + q)) * (1 - 1e-9)
  }
  const sigma = Math.sqrt((mech as GaussianMechanism).sigma2Steps.toNumber())
  if (!(sigma >= 1)) throw new Error(`sigma ${sigma} steps is below 1: the normaliser bound does not apply`)
  return ((2 * normalUpperTail((h + 1) / sigma)) / (1 + 1e-8)) * (1 - 1e-9)
}

const onGrid = (x: number, k: number): boolean => Rational.fromNumber(x).shift(-k).isInteger()

// ---------------------------------------------------------------------------

const db = await tempDb(t)
const loaded = new Map<Run['ds'], LoadedVersion>()
const specs: Record<Run['ds'], DatasetSpec> = { demo: DEMO_SPEC, pension: PENSION_SPEC, join: DEMO_SPEC }
let claimsLoaded: LoadedVersion | null = null

t.before(async () => {
  const demoCsv = DEMO_CSV_HEADER + rows.map(toCsvLine).join('')
  loaded.set('demo', await loadVersion(db, DEMO_SPEC.id, await ingestCsv(db, DEMO_SPEC, demoCsv)))
  loaded.set('pension', await loadVersion(db, PENSION_SPEC.id, await ingestCsv(db, PENSION_SPEC, pensionCsv())))
  claimsLoaded = await loadVersion(db, CLAIMS_SPEC.id, await ingestCsv(db, CLAIMS_SPEC, claimsCsv(ROWS)))
})

/** The joined rows as the sandbox builds them (exec/join.ts), from the two loaded versions. */
function joinedSource(b: BoundQuery, p: Plan): TaskColumns {
  const part = joinPart(b, p.exec, 1)!
  return joinedColumns(
    { src: loaded.get('demo')!, unit: part.leftUnit },
    { src: claimsLoaded!, unit: part.rightUnit },
    part.maxRowsPerUnit,
    new Map(part.columns.map((c) => [c.name, { side: c.side, column: c.column }])),
  )
}

interface Tally {
  trials: number
  misses: number
  /** Trials whose truth is not 0: there, clipping to >= 0 cannot turn a miss into a hit. */
  lowerTrials: number
  lowerMisses: number
}

for (const run of RUNS) {
  t.test(run.name, async (t) => {
    const ds = specs[run.ds]
    const b = run.ds === 'join' ? bindQuery(parseQuery(run.sql), DEMO_SPEC, [CLAIMS_SPEC]) : bound(ds, run.sql)
    const options: PlanOptions = planOptions({ delta: 0, confidence: CONFIDENCE, ...run.options })
    const first = planQuery(b, options)
    const exact: AggregateResult = exactOf(first, run.ds === 'join' ? joinedSource(b, first) : loaded.get(run.ds)!)
    const domain: readonly (string | number)[] =
      run.group === 'district' ? DISTRICTS : run.group === 'age_band' ? AGE_BANDS : AGE_BUCKETS
    const integerColumns = new Set(ds.columns.filter((c) => c.type === 'integer').map((c) => c.name))
    t.equal(first.groups, domain.length, `one group per declared ${run.group}`)

    // The truth per group, from the rows.
    const byGroup = new Map<string | number, Row[]>(domain.map((k) => [k, []]))
    for (const r of run.ds === 'join' ? joinedRows : rows) if (run.where(r)) byGroup.get(keyOf(run, r))!.push(r)
    const truths = domain.map((k) => run.aggs.map((a) => truthOf(a, byGroup.get(k)!)))

    const outputs = first.outputs.slice(1)
    t.equal(outputs.length, run.aggs.length, 'one output per aggregate after the group column')
    const tallies: Tally[] = run.aggs.map(() => ({ trials: 0, misses: 0, lowerTrials: 0, lowerMisses: 0 }))
    const problems: string[] = []
    const problem = (s: string) => {
      if (problems.length < 10) problems.push(s)
    }
    const started = performance.now()

    for (let rep = 0; rep < run.reps; rep++) {
      // A fresh plan: fresh mechanisms, fresh noise; the exact answer is reused.
      const plan = planQuery(b, options)
      const answer = await releaseOf(plan, exact)
      const keys = answer.rows.map((row) => row[0])
      if (JSON.stringify(keys) !== JSON.stringify(domain))
        problem(`rep ${rep}: rows ${JSON.stringify(keys)}, not the declared ${run.group}s in order`)
      answer.rows.forEach((row, g) => {
        plan.outputs.slice(1).forEach((o, j) => {
          const value = row[j + 1] as number
          const [lo, hi] = answer.intervals[g]![j + 1]!
          if (!(lo <= value && value <= hi))
            problem(`rep ${rep} ${domain[g]} ${o.name}: value ${value} outside its interval [${lo}, ${hi}]`)
          const mech = directMechanism(o)
          if (mech !== null) {
            // Counts and integer sums are released as integers; other sums on their grid.
            const k = mech.gridExp
            if (!onGrid(value, k) || !onGrid(lo, k) || !onGrid(hi, k))
              problem(`${o.name}: ${value} [${lo}, ${hi}] is off the grid 2^${k}`)
            const agg = run.aggs[j]!
            const integer =
              agg.kind === 'count' ||
              agg.kind === 'distinct' ||
              agg.kind === 'countCol' ||
              (agg.kind === 'sum' && integerColumns.has(agg.col))
            if (integer && !Number.isInteger(value)) problem(`${o.name}: ${value} is not an integer`)
          }
          const truth = truths[g]![j]!
          if (truth === null) return
          const tally = tallies[j]!
          const miss = !contains(lo, hi, truth)
          tally.trials += 1
          if (miss) tally.misses += 1
          if (!truth.value.isZero()) {
            tally.lowerTrials += 1
            if (miss) tally.lowerMisses += 1
          }
        })
      })
    }
    const ms = performance.now() - started

    t.same(
      problems,
      [],
      `${run.reps} releases: declared groups in order, every value inside its interval, counts and sums on their grids`,
    )
    run.aggs.forEach((agg, j) => {
      const o = outputs[j]!
      const tally = tallies[j]!
      const rate = 1 - tally.misses / tally.trials
      const hi = upperCritical(tally.trials, ALPHA, BETA)
      t.ok(
        tally.misses <= hi,
        `${o.name}: coverage ${(100 * rate).toFixed(2)}% (${tally.misses} misses in ${tally.trials}); at most ${hi} misses allowed at nominal ${(100 * ALPHA).toFixed(0)}%`,
      )
      if (!twoSided(agg)) return
      const mech = directMechanism(o)!
      const pLow = missLowerBound(mech)
      const lo = lowerCritical(tally.lowerTrials, pLow, BETA)
      t.ok(
        tally.lowerMisses >= lo,
        `${o.name}: ${tally.lowerMisses} misses in ${tally.lowerTrials} trials with a non-zero truth; at least ${lo} expected (miss probability >= ${pLow.toFixed(5)})`,
      )
    })
    t.comment(
      `${run.name}: ${run.reps} repetitions in ${(ms / 1000).toFixed(1)} s; coverage ` +
        run.aggs
          .map((_, j) => `${outputs[j]!.name} ${(100 * (1 - tallies[j]!.misses / tallies[j]!.trials)).toFixed(2)}%`)
          .join(', '),
    )
  })
}

t.test('the binomial critical values', async (t) => {
  // Against values computed independently, as exact rational sums of the pmf:
  // Binomial(1000, 0.05) has P(X > 86) = 6.46e-7 and P(X > 85) = 1.19e-6,
  t.equal(upperCritical(1000, 0.05, 1e-6), 86)
  // and P(X < 21) = 7.66e-7, P(X < 22) = 1.94e-6.
  t.equal(lowerCritical(1000, 0.05, 1e-6), 21)
  // Symmetry: Binomial(n, 1/2).
  t.equal(upperCritical(101, 0.5, 1e-3) + lowerCritical(101, 0.5, 1e-3), 101)
})
