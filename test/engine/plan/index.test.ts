/**
 * The planner's budget split and refusals (issue 3, sections 3 and 4): a
 * query's epsilon (Laplace, micro-units) or rho (Gaussian, pico-units) is
 * split across its aggregates, evenly or by weights, into whole units that
 * add up to the charge exactly; AVG halves its part between sum and count,
 * VAR and STDDEV third theirs; quantiles of one column share one histogram
 * that gets the sum of their parts. Every mechanism then spends exactly its
 * part (its privacy map at its sensitivity), and the plan's own check
 * (plan/check.ts) holds the composed privacy maps to the charge. Planning
 * reads no data.
 */
import t from 'tap'

import { isVeilboxError, type VeilboxError } from '../../../src/errors/index.js'
import { parse, SCALE, toRational, type Delta, type Epsilon, type Rho } from '../../../src/engine/dp/budget.js'
import { makeGaussian, type GaussianMechanism } from '../../../src/engine/dp/gaussian.js'
import { makeLaplace, type LaplaceMechanism } from '../../../src/engine/dp/laplace.js'
import type { Mechanism } from '../../../src/engine/dp/mechanism.js'
import { Rational } from '../../../src/engine/dp/rational.js'
import { rhoForEpsilonDelta, zcdpForEpsilonDelta, zcdpToEpsilon } from '../../../src/engine/dp/zcdp.js'
import { execTaskSchema } from '../../../src/engine/exec/task.js'
import { checkWithinCharge } from '../../../src/engine/plan/check.js'
import type { Spend } from '../../../src/engine/plan/context.js'
import { planQuery, type Plan, type PlanOptions } from '../../../src/engine/plan/index.js'
import { DEMO_SPEC } from '../../../src/demo/binzhou.js'
import { bound, choose, plan, planOptions, seeded, shuffle } from '../fixtures.js'

const DS = DEMO_SPEC.id
const MICRO = SCALE.epsilon
const PICO = SCALE.rho

/** Laplace mechanisms spend epsilon, Gaussian ones rho; both as exact rationals. */
function spend(m: Mechanism): Rational {
  return m.kind === 'laplace' ? (m as LaplaceMechanism).epsilon : (m as GaussianMechanism).rho
}

/** A mechanism spends exactly what it was given: its privacy map at its own sensitivity. */
function spendsExactly(m: Mechanism): boolean {
  const map =
    m.kind === 'laplace'
      ? (m as LaplaceMechanism).privacyMap(m.sensitivity)
      : (m as GaussianMechanism).privacyMap(m.sensitivity)
  return map.eq(spend(m))
}

/** The mechanisms of each output, in output order (quantiles: none; their histogram is shared). */
function mechanismsOf(p: Plan): Mechanism[][] {
  return p.outputs.map((o) => {
    switch (o.kind) {
      case 'group':
      case 'quantile':
        return []
      case 'count':
      case 'sum':
        return [o.mech]
      case 'avg':
        return [o.sum, o.count]
      case 'var':
      case 'stddev':
        return [o.count, o.sum, o.squares]
      default:
        throw new Error(`unknown output ${String((o as { kind: unknown }).kind)}`)
    }
  })
}

/** Each aggregate's part, in whole units (micro-epsilon or pico-rho), as the answer states it. */
function statedParts(p: Plan): bigint[] {
  return p.perAggregate.map((a) => {
    const gaussian = p.mechanism === 'gaussian'
    const x = gaussian ? a.rho : a.epsilon
    if (x === undefined) throw new Error(`${a.name} states no ${gaussian ? 'rho' : 'epsilon'}`)
    const units = Rational.fromDecimal(x).mul(Rational.of(gaussian ? PICO : MICRO))
    if (!units.isInteger()) throw new Error(`${a.name}: ${x} is not a whole number of units`)
    return units.num
  })
}

function unitsOf(p: Plan): { unit: bigint; total: bigint } {
  return p.mechanism === 'gaussian' ? { unit: PICO, total: p.rho } : { unit: MICRO, total: p.epsilon }
}

/**
 * Every use of a mechanism in the plan, at the sensitivity it was built for:
 * each component of each output, and each histogram once (its quantiles
 * share it). What the planner's own check (plan/check.ts) composes.
 */
function spendsOf(p: Plan): Spend[] {
  return [...mechanismsOf(p).flat(), ...p.histograms.map((h) => h.quantile.mechanism)].map((mechanism) => ({
    mechanism,
    sensitivity: mechanism.sensitivity,
  }))
}

/** The plan's charge in its own kind: epsilon (Laplace) or rho (Gaussian). */
function chargeOf(p: Plan): Epsilon | Rho {
  return p.mechanism === 'gaussian' ? p.rho : p.epsilon
}

const sum = (xs: readonly bigint[]): bigint => xs.reduce((a, b) => a + b, 0n)
const rationalSum = (xs: readonly Rational[]): Rational => xs.reduce((a, b) => a.add(b), Rational.ZERO)

/** Checks every accounting invariant of a plan; returns problems, empty when it is sound. */
function accountingProblems(p: Plan): string[] {
  const problems: string[] = []
  const { unit, total } = unitsOf(p)
  const parts = statedParts(p)
  const aggregates = p.outputs.filter((o) => o.kind !== 'group')
  if (parts.length !== aggregates.length)
    problems.push(`${parts.length} stated parts for ${aggregates.length} aggregates`)
  if (parts.some((x) => x < 1n)) problems.push(`a part below one unit: ${parts.join(', ')}`)
  if (sum(parts) !== total) problems.push(`parts ${parts.join(' + ')} = ${sum(parts)}, charge ${total}`)
  // Each aggregate's mechanisms spend exactly its part.
  const mechs = mechanismsOf(p).filter((_, i) => p.outputs[i]!.kind !== 'group')
  aggregates.forEach((o, i) => {
    if (o.kind === 'quantile') return
    const spent = rationalSum(mechs[i]!.map(spend))
    if (!spent.eq(Rational.of(parts[i]!, unit)))
      problems.push(`${o.name}: mechanisms spend ${spent}, its part is ${parts[i]} units`)
  })
  // Each histogram gets exactly the sum of its quantiles' parts.
  p.histograms.forEach((h, k) => {
    const mine = aggregates.map((o, i) => (o.kind === 'quantile' && o.histogram === k ? parts[i]! : 0n))
    if (!spend(h.quantile.mechanism).eq(Rational.of(sum(mine), unit))) {
      problems.push(
        `histogram of ${h.column}: spends ${spend(h.quantile.mechanism)}, its quantiles' parts add to ${sum(mine)}`,
      )
    }
  })
  // All mechanisms together spend exactly the charge, each exactly what it was given.
  const every = [...mechs.flat(), ...p.histograms.map((h) => h.quantile.mechanism)]
  if (!rationalSum(every.map(spend)).eq(Rational.of(total, unit)))
    problems.push(`mechanisms spend ${rationalSum(every.map(spend))} in all, charge ${total} units`)
  for (const m of every)
    if (!spendsExactly(m)) problems.push(`a ${m.kind} mechanism's privacy map differs from its budget`)
  return problems
}

/** Asserts a VeilboxError with this code (400) and a detail matching `detail`. */
function refuses(t: Tap, fn: () => unknown, code: string, detail: RegExp, what: string): VeilboxError | null {
  try {
    fn()
  } catch (e) {
    if (!isVeilboxError(e)) {
      t.fail(`${what}: threw ${String(e)}, not a VeilboxError`)
      return null
    }
    t.equal(e.code, code, `${what}: ${code}`)
    t.equal(e.status, 400, `${what}: status 400`)
    t.match(e.detail, detail, `${what}: "${e.detail}"`)
    return e
  }
  t.fail(`${what}: was not refused`)
  return null
}

type Tap = Pick<typeof t, 'equal' | 'match' | 'fail'>

const AGGREGATES = [
  'COUNT(*)',
  'COUNT(insured)',
  'COUNT(age)',
  'SUM(income)',
  'SUM(household_size)',
  'AVG(age)',
  'AVG(income)',
  'VAR(income)',
  'STDDEV(age)',
  'VARIANCE(medical_spending)',
  'MEDIAN(income)',
  'QUANTILE(income, 0.9)',
  'QUANTILE(age, 0.1)',
  'QUANTILE(age, 0.5)',
]

/** Large enough for 14 aggregates, VAR's thirds included (the refusals are tested on their own). */
const EPSILONS = [0.1, 1, 0.3, 0.1 + 0.2, 1 / 3, 7.777777, 0.000123, 0.000042, 2.5, 10, 0.123457]

t.test('laplace: whole micro-unit parts that add up to the charge exactly, each spent exactly', async (t) => {
  const r = seeded(0x91a)
  const problems: string[] = []
  let plans = 0
  for (let trial = 0; trial < 300; trial++) {
    const picked = shuffle(r, [...AGGREGATES]).slice(0, 1 + Math.floor(r() * AGGREGATES.length))
    const grouped = r() < 0.5
    const sql = `SELECT ${grouped ? 'district, ' : ''}${picked.join(', ')} FROM ${DS}${grouped ? ' GROUP BY district' : ''}`
    const epsilon = choose(r, EPSILONS)
    const p = plan(DEMO_SPEC, sql, { mechanism: 'laplace', epsilon })
    plans += 1
    // The charge is epsilon rounded up to micro-units, never down.
    if (p.epsilon !== parse('epsilon', epsilon, 'up'))
      problems.push(`${sql} @ ${epsilon}: charge ${p.epsilon}, parsed ${parse('epsilon', epsilon, 'up')}`)
    const charged = Rational.of(p.epsilon, MICRO)
    const asked = Rational.fromDecimal(epsilon)
    if (charged.lt(asked) || charged.sub(asked).gte(Rational.of(1n, MICRO)))
      problems.push(`${sql}: charge ${charged} for epsilon ${asked}`)
    if (p.rho !== 0n) problems.push(`${sql}: a laplace plan spends rho ${p.rho}`)
    // Without weights the split is even: parts differ by at most one micro-unit, the extra ones first.
    const parts = statedParts(p)
    for (let i = 1; i < parts.length; i++)
      if (parts[i]! > parts[i - 1]! || parts[0]! - parts[i]! > 1n)
        problems.push(`${sql} @ ${epsilon}: uneven parts ${parts.join(', ')}`)
    problems.push(...accountingProblems(p).map((x) => `${sql} @ ${epsilon}: ${x}`))
  }
  t.same(problems.slice(0, 10), [], `${plans} random plans`)
  // The classic: 0.1 is 100000 micro-units; 0.1 + 0.2 (0.30000000000000004) rounds up to 300001.
  t.equal(plan(DEMO_SPEC, `SELECT COUNT(*) FROM ${DS}`, { epsilon: 0.1 }).epsilon, 100_000n)
  t.equal(plan(DEMO_SPEC, `SELECT COUNT(*) FROM ${DS}`, { epsilon: 0.1 + 0.2 }).epsilon, 300_001n)
  t.equal(
    plan(DEMO_SPEC, `SELECT COUNT(*) FROM ${DS}`, { epsilon: 123_457n as Epsilon }).epsilon,
    123_457n,
    'the charge is the options epsilon, unit for unit',
  )
  t.same(statedParts(plan(DEMO_SPEC, `SELECT COUNT(*), SUM(income), AVG(age) FROM ${DS}`, { epsilon: 0.1 })), [
    33_334n,
    33_333n,
    33_333n,
  ])
})

t.test('gaussian: whole pico-unit parts of rho that add up to the query rho exactly', async (t) => {
  const r = seeded(0x6a55)
  const problems: string[] = []
  for (let trial = 0; trial < 60; trial++) {
    const picked = shuffle(r, [...AGGREGATES]).slice(0, 1 + Math.floor(r() * AGGREGATES.length))
    const sql = `SELECT district, ${picked.join(', ')} FROM ${DS} GROUP BY district`
    const epsilon = choose(r, [0.5, 1, 3, 0.1, 10])
    const delta = choose(r, [1e-5, 1e-6, 1e-9])
    const p = plan(DEMO_SPEC, sql, { mechanism: 'gaussian', epsilon, delta })
    if (p.epsilon !== 0n) problems.push(`${sql}: a gaussian plan charges pure epsilon ${p.epsilon}`)
    // rho is the largest whose CKS20 conversion stays within epsilon at delta, floored to pico-units.
    const rho = zcdpForEpsilonDelta(epsilon, delta)
    if (p.rho !== rhoForEpsilonDelta(parse('epsilon', epsilon, 'up'), parse('delta', delta, 'up')))
      problems.push(`${sql}: rho ${p.rho} pico is not rhoForEpsilonDelta of the options`)
    if (Rational.of(p.rho, PICO).gt(Rational.fromNumber(rho))) problems.push(`${sql}: rho ${p.rho} pico above ${rho}`)
    if (Rational.fromNumber(rho).sub(Rational.of(p.rho, PICO)).gte(Rational.of(1n, PICO)))
      problems.push(`${sql}: rho ${p.rho} pico, more than one pico below ${rho}`)
    if (!(zcdpToEpsilon(toRational('rho', p.rho).toNumber(), delta) <= epsilon))
      problems.push(`${sql}: rho converts back to more than epsilon ${epsilon}`)
    problems.push(...accountingProblems(p).map((x) => `${sql} @ (${epsilon}, ${delta}): ${x}`))
  }
  t.same(problems.slice(0, 10), [], '60 random gaussian plans')
})

t.test('weights are respected: each part is its exact share, floored or raised by one', async (t) => {
  const sql = `SELECT COUNT(*), SUM(income), AVG(age) FROM ${DS}`
  t.same(statedParts(plan(DEMO_SPEC, sql, { epsilon: 1, weights: [1, 2, 1] })), [250_000n, 500_000n, 250_000n])
  t.same(statedParts(plan(DEMO_SPEC, sql, { epsilon: 0.1, weights: [3, 1, 1] })), [60_000n, 20_000n, 20_000n])
  t.same(
    statedParts(plan(DEMO_SPEC, sql, { epsilon: 1, weights: [0.7, 0.2, 0.1] })),
    [700_000n, 200_000n, 100_000n],
    'decimal weights are read as decimals',
  )
  t.same(statedParts(plan(DEMO_SPEC, sql, { epsilon: 0.1, weights: [1, 1, 1] })), [33_334n, 33_333n, 33_333n])
  // Largest remainder: 0.000010 by [1, 1, 2] is 2.5, 2.5, 5: the tie goes to the earlier one.
  t.same(statedParts(plan(DEMO_SPEC, sql, { epsilon: 0.00001, weights: [1, 1, 2] })), [3n, 2n, 5n])

  const r = seeded(0x3e1)
  const problems: string[] = []
  for (let trial = 0; trial < 200; trial++) {
    const k = 1 + Math.floor(r() * 6)
    const picked = shuffle(r, [...AGGREGATES]).slice(0, k)
    const weights = picked.map(() => choose(r, [1, 2, 3, 0.5, 0.25, 7, 0.1, 1.5, 100]))
    const epsilon = choose(
      r,
      EPSILONS.filter((e) => e >= 0.001),
    )
    const mechanism = r() < 0.3 ? 'gaussian' : 'laplace'
    const p = plan(DEMO_SPEC, `SELECT ${picked.join(', ')} FROM ${DS}`, { mechanism, epsilon, weights })
    const { total } = unitsOf(p)
    const parts = statedParts(p)
    const weightSum = rationalSum(weights.map((w) => Rational.fromDecimal(w)))
    parts.forEach((part, i) => {
      const share = Rational.fromDecimal(weights[i]!).div(weightSum).mul(Rational.of(total))
      if (part !== share.floor() && part !== share.floor() + 1n)
        problems.push(`weights ${weights.join(',')}: part ${i} is ${part}, its share ${share}`)
    })
    problems.push(...accountingProblems(p).map((x) => `weights ${weights.join(',')}: ${x}`))
  }
  t.same(problems.slice(0, 10), [], '200 random weightings')
})

t.test('AVG halves its part, VAR and STDDEV third theirs', async (t) => {
  const halves = (part: bigint): bigint[] => [part - part / 2n, part / 2n]
  const thirds = (part: bigint): bigint[] => {
    const q = part / 3n
    const extra = part - 3n * q
    return [0n, 1n, 2n].map((i) => q + (BigInt(i) < extra ? 1n : 0n))
  }
  for (const mechanism of ['laplace', 'gaussian'] as const) {
    for (const epsilon of [0.1, 1, 0.000009, 0.000011, 2.000001]) {
      if (mechanism === 'gaussian' && epsilon < 0.01) continue
      const p = plan(DEMO_SPEC, `SELECT AVG(income), VAR(age), STDDEV(household_size) FROM ${DS}`, {
        mechanism,
        epsilon,
        delta: 1e-6,
      })
      const { unit } = unitsOf(p)
      const parts = statedParts(p)
      const [avg, variance, stddev] = p.outputs
      if (avg?.kind !== 'avg' || variance?.kind !== 'var' || stddev?.kind !== 'stddev')
        throw new Error('unexpected outputs')
      const units = (m: Mechanism): bigint => spend(m).mul(Rational.of(unit)).num
      t.same(
        [units(avg.sum), units(avg.count)],
        halves(parts[0]!),
        `${mechanism} @ ${epsilon}: AVG = sum + count, halves of ${parts[0]}`,
      )
      t.same(
        [units(variance.count), units(variance.sum), units(variance.squares)],
        thirds(parts[1]!),
        `${mechanism} @ ${epsilon}: VAR thirds of ${parts[1]}`,
      )
      t.same(
        [units(stddev.count), units(stddev.sum), units(stddev.squares)],
        thirds(parts[2]!),
        `${mechanism} @ ${epsilon}: STDDEV thirds of ${parts[2]}`,
      )
      t.same(accountingProblems(p), [], `${mechanism} @ ${epsilon}: the parts add up`)
    }
  }
})

t.test('quantiles of one column share one histogram, which gets the sum of their parts', async (t) => {
  for (const mechanism of ['laplace', 'gaussian'] as const) {
    const sql = `SELECT district, MEDIAN(income), COUNT(*), QUANTILE(income, 0.9), QUANTILE(age, 0.5), QUANTILE(income, 0.1), SUM(income) FROM ${DS} GROUP BY district`
    const p = plan(DEMO_SPEC, sql, { mechanism, epsilon: 0.6, delta: 1e-6 })
    const parts = statedParts(p)
    t.equal(p.histograms.length, 2, `${mechanism}: one histogram per column (income, age)`)
    t.same(
      p.histograms.map((h) => h.column),
      ['income', 'age'],
    )
    const histogramMeasures = p.exec.measures.filter((m) => m.kind === 'histogram')
    t.same(
      histogramMeasures.map((m) => m.column),
      ['income', 'age'],
      'the sandbox computes each histogram once',
    )
    const quantiles = p.outputs.flatMap((o) => (o.kind === 'quantile' ? [o.histogram] : []))
    t.same(quantiles, [0, 0, 1, 0], 'three income quantiles read histogram 0, the age one histogram 1')
    const { unit } = unitsOf(p)
    // Aggregates in select order: MEDIAN(income), COUNT(*), Q(income,.9), Q(age,.5), Q(income,.1), SUM(income).
    t.ok(
      spend(p.histograms[0]!.quantile.mechanism).eq(Rational.of(parts[0]! + parts[2]! + parts[4]!, unit)),
      `${mechanism}: the income histogram spends the three income parts`,
    )
    t.ok(
      spend(p.histograms[1]!.quantile.mechanism).eq(Rational.of(parts[3]!, unit)),
      `${mechanism}: the age histogram spends its one part`,
    )
    t.same(accountingProblems(p), [], `${mechanism}: the parts add up to the charge`)
    // And a query of one quantile spends the whole charge on its histogram.
    const one = plan(DEMO_SPEC, `SELECT MEDIAN(age) FROM ${DS}`, { mechanism, epsilon: 0.6, delta: 1e-6 })
    t.ok(
      spend(one.histograms[0]!.quantile.mechanism).eq(Rational.of(unitsOf(one).total, unitsOf(one).unit)),
      `${mechanism}: one quantile, the whole charge`,
    )
  }
  // Moments of one column are one measure too, with squares when VAR or STDDEV needs them.
  const p = plan(DEMO_SPEC, `SELECT SUM(income), AVG(income), VAR(income), AVG(age) FROM ${DS}`)
  t.same(
    p.exec.measures.map((m) => (m.kind === 'moments' ? `${m.column}:${m.squares}` : m.kind)),
    ['income:true', 'age:false'],
  )
})

t.test('refusals, with their codes', async (t) => {
  const three = `SELECT COUNT(*), SUM(income), AVG(age) FROM ${DS}`
  const code = 'VEILBOX_ERR_DP_INVALID_PARAMETER'
  refuses(
    t,
    () => plan(DEMO_SPEC, three, { epsilon: 0.000002 }),
    code,
    /too small to give every aggregate a part.*3 aggregates/,
    'epsilon 2e-6 over 3 aggregates',
  )
  refuses(
    t,
    () => plan(DEMO_SPEC, `SELECT AVG(age) FROM ${DS}`, { epsilon: 0.000001 }),
    code,
    /too small/,
    'AVG cannot halve one micro-unit',
  )
  refuses(
    t,
    () => plan(DEMO_SPEC, `SELECT VAR(age) FROM ${DS}`, { epsilon: 0.000002 }),
    code,
    /too small/,
    'VAR cannot third two micro-units',
  )
  t.ok(plan(DEMO_SPEC, `SELECT AVG(age) FROM ${DS}`, { epsilon: 0.000002 }), 'AVG with two micro-units is planned')
  t.ok(
    plan(DEMO_SPEC, `SELECT STDDEV(age) FROM ${DS}`, { epsilon: 0.000003 }),
    'STDDEV with three micro-units is planned',
  )
  refuses(
    t,
    () => plan(DEMO_SPEC, `SELECT COUNT(*) FROM ${DS}`, { mechanism: 'gaussian', epsilon: 0.0000001, delta: 1e-12 }),
    code,
    /no zCDP budget/,
    'gaussian rho below one pico-unit',
  )

  const e = refuses(
    t,
    () => plan(DEMO_SPEC, three, { weights: [1, 2] }),
    code,
    /^weights must give one positive number per aggregate \(3\), got 2$/,
    'two weights for three aggregates',
  )
  t.same(e?.extra.weights, [1, 2], 'the weights are named in the error')
  refuses(
    t,
    () => plan(DEMO_SPEC, three, { weights: [1, 1, 1, 1] }),
    code,
    /\(3\), got 4/,
    'four weights for three aggregates',
  )
  refuses(
    t,
    () => plan(DEMO_SPEC, `SELECT district, COUNT(*) FROM ${DS} GROUP BY district`, { weights: [1, 1] }),
    code,
    /\(1\), got 2/,
    'group columns take no weight',
  )
  refuses(t, () => plan(DEMO_SPEC, three, { weights: [1, 0, 1] }), code, /weights\[1\]/, 'a zero weight')
  refuses(t, () => plan(DEMO_SPEC, three, { weights: [1, -1, 1] }), code, /weights\[1\]/, 'a negative weight')
  refuses(t, () => plan(DEMO_SPEC, three, { weights: [1, Number.NaN, 1] }), code, /weights\[1\]/, 'a NaN weight')

  // The planner's own checks, on amounts in units.
  for (const delta of [0n, SCALE.delta, 2n * SCALE.delta, -1n] as Delta[]) {
    refuses(
      t,
      () => plan(DEMO_SPEC, three, { mechanism: 'gaussian', delta }),
      code,
      /the gaussian mechanism needs a delta strictly between 0 and 1/,
      `gaussian with delta ${delta} units`,
    )
  }
  refuses(
    t,
    () => plan(DEMO_SPEC, three, { mechanism: 'gaussian', delta: 1 }),
    code,
    /the gaussian mechanism needs a delta strictly between 0 and 1, got 1$/,
    'gaussian with delta 1',
  )
  t.ok(plan(DEMO_SPEC, three, { mechanism: 'laplace', delta: 0 }), 'laplace needs no delta')
  t.ok(plan(DEMO_SPEC, three, { mechanism: 'laplace', delta: 0n as Delta }), 'laplace needs no delta (units)')
  for (const epsilon of [0n, -1n] as Epsilon[]) {
    refuses(
      t,
      () => plan(DEMO_SPEC, three, { epsilon }),
      code,
      new RegExp(`^epsilon must be greater than 0, got ${epsilon} units$`),
      `epsilon ${epsilon} units`,
    )
  }
  for (const mechanism of ['laplace', 'gaussian'] as const) {
    refuses(
      t,
      () => planQuery(bound(DEMO_SPEC, three), { ...planOptions({ mechanism }), epsilon: 0.5 as unknown as Epsilon }),
      code,
      /^epsilon must be greater than 0, got 0.5 units$/,
      `${mechanism}: epsilon as a number, not units`,
    )
  }
  // A request's numbers are refused as they are read (budget.parse), before any plan.
  for (const epsilon of [0, -1, Number.NaN, Infinity]) {
    refuses(
      t,
      () => plan(DEMO_SPEC, three, { epsilon }),
      code,
      /^epsilon must be a finite number greater than 0/,
      `epsilon ${epsilon}`,
    )
  }
  for (const delta of [-1e-6, Number.NaN]) {
    refuses(
      t,
      () => plan(DEMO_SPEC, three, { mechanism: 'gaussian', delta }),
      code,
      /^delta must be a finite number greater than 0/,
      `delta ${delta}`,
    )
  }
  for (const confidence of [0, 1, 1.5, Number.NaN]) {
    refuses(
      t,
      () => plan(DEMO_SPEC, three, { confidence }),
      code,
      /^confidence must lie strictly between 0 and 1/,
      `confidence ${confidence}`,
    )
  }
  refuses(
    t,
    () => plan(DEMO_SPEC, three, { mechanism: 'exponential' as PlanOptions['mechanism'] }),
    code,
    /^mechanism must be "laplace" or "gaussian"/,
    'an unknown mechanism',
  )
})

t.test('the plan reads no data: it is a function of the bound query and the options', async (t) => {
  // No store is opened in this file: the bound query (schema) is all there is.
  const sql = `SELECT district, insured, COUNT(*), AVG(income), MEDIAN(age), STDDEV(household_size) FROM ${DS} WHERE age >= 30 GROUP BY district, insured`
  const b = bound(DEMO_SPEC, sql)
  const options: PlanOptions = {
    mechanism: 'laplace',
    epsilon: parse('epsilon', 1, 'up'),
    delta: 0n as Delta,
    confidence: 0.9,
  }
  const p1 = planQuery(b, options)
  const p2 = planQuery(b, options)
  t.same(p1.exec, p2.exec, 'the same exact task')
  t.same(p1.perAggregate, p2.perAggregate, 'the same parts, noise scales and expected half-widths')
  t.equal(p1.groups, 7 * 2, 'the groups come from the declared domains')
  t.same(p1.groupKeys(0), ['滨城区', false])
  t.same(p1.groupKeys(13), ['邹平市', true])
  // The sandbox's task names columns and bounds, nothing else: no budget, no key.
  t.same(Object.keys(p1.exec).sort(), ['groupBy', 'measures', 'where'])
  t.ok(
    execTaskSchema.safeParse({ dataset: DS, version: 1, ...p1.exec }).success,
    'a valid task once dataset and version are added',
  )
  const read = new Set(p1.exec.measures.map((m) => m.column))
  t.same([...read].sort(), ['age', 'household_size', 'income'], 'the measures read only the aggregated columns')
  // What a preview shows is there before any data: exact half-widths for COUNT, null for ratios and quantiles.
  const count = p1.outputs.find((o) => o.kind === 'count')
  if (count?.kind !== 'count') throw new Error('no count output')
  t.equal(p1.perAggregate[0]!.halfWidth, count.mech.halfWidth(0.9))
  t.same(
    p1.perAggregate.slice(1).map((a) => a.halfWidth),
    [null, null, null],
  )
  // Noise is drawn ahead of the answer, from nothing but the plan: one reservation per mechanism use and histogram, one value per group.
  const noise = await p1.reserveNoise()
  try {
    p1.outputs.forEach((o, i) => {
      const components =
        o.kind === 'count'
          ? ['mech']
          : o.kind === 'avg'
            ? ['sum', 'count']
            : o.kind === 'stddev'
              ? ['count', 'sum', 'squares']
              : []
      for (const c of components) t.equal(noise.of(i, c).size, p1.groups, `output ${i} ${c}: one value per group`)
    })
    t.equal(noise.ofHistogram(0).size, p1.groups * p1.histograms[0]!.quantile.bins, 'the histogram: bins per group')
    t.throws(() => noise.of(0, 'mech'), 'a group column has no noise')
    t.throws(() => noise.ofHistogram(1), 'there is one histogram')
  } finally {
    noise.end()
  }
  t.pass('reserveNoise draws the noise without data')
})

t.test('the plan check: the composed privacy maps of every sampled plan are within its charge, exactly', async (t) => {
  const r = seeded(0xc4ec)
  const problems: string[] = []
  let plans = 0
  for (let trial = 0; trial < 120; trial++) {
    const picked = shuffle(r, [...AGGREGATES]).slice(0, 1 + Math.floor(r() * AGGREGATES.length))
    const grouped = r() < 0.5
    const sql = `SELECT ${grouped ? 'district, ' : ''}${picked.join(', ')} FROM ${DS}${grouped ? ' GROUP BY district' : ''}`
    const mechanism = trial % 2 === 0 ? 'laplace' : 'gaussian'
    const epsilon = mechanism === 'laplace' ? choose(r, EPSILONS) : choose(r, [0.5, 1, 3, 0.1, 10])
    const p = plan(DEMO_SPEC, sql, { mechanism, epsilon, delta: choose(r, [1e-5, 1e-6, 1e-9]) })
    plans += 1
    const spends = spendsOf(p)
    const charge = chargeOf(p)
    try {
      checkWithinCharge(spends, p.mechanism, charge)
    } catch (e) {
      problems.push(`${mechanism} ${sql}: ${String(e)}`)
    }
    // The parts add up to the whole charge, so one unit less must fail: the check is exact.
    try {
      checkWithinCharge(spends, p.mechanism, (charge - 1n) as Epsilon | Rho)
      problems.push(`${mechanism} ${sql}: passed against one unit less than its charge`)
    } catch (e) {
      if (!isVeilboxError(e) || e.code !== 'VEILBOX_ERR_INTERNAL') problems.push(`${sql}: ${String(e)}`)
    }
  }
  t.equal(plans, 120)
  t.same(problems.slice(0, 10), [], `${plans} random plans, both mechanisms`)
})

t.test('the plan check fails loudly on a mechanism built at more than its part, or of the wrong kind', async (t) => {
  const internal = (fn: () => unknown, detail: RegExp, what: string): void => {
    try {
      fn()
    } catch (e) {
      if (!isVeilboxError(e)) {
        t.fail(`${what}: threw ${String(e)}`)
        return
      }
      t.equal(e.code, 'VEILBOX_ERR_INTERNAL', `${what}: VEILBOX_ERR_INTERNAL`)
      t.equal(e.status, 500, `${what}: 500`)
      t.match(e.detail, /failed its privacy check/, what)
      t.match(e.detail, detail, `${what}: "${e.detail}"`)
      return
    }
    t.fail(`${what}: passed`)
  }
  const half = parse('epsilon', 0.5, 'up')
  const over = makeLaplace({ sensitivity: 1, epsilon: 0.6 })
  const at = makeLaplace({ sensitivity: 1, epsilon: 0.5 })
  const one = Rational.ONE
  internal(
    () => checkWithinCharge([{ mechanism: over, sensitivity: one }], 'laplace', half),
    /spend 0\.6\d* of epsilon but the query is charged 0\.5\)/,
    'laplace at 0.6 against a charge of 0.5',
  )
  checkWithinCharge([{ mechanism: at, sensitivity: one }], 'laplace', half)
  t.pass('laplace at 0.5 against 0.5 passes')
  internal(
    () => checkWithinCharge([{ mechanism: at, sensitivity: Rational.of(2n) }], 'laplace', half),
    /spend 1 of epsilon/,
    'a spend at twice the sensitivity the mechanism was built for',
  )
  const quarter = makeLaplace({ sensitivity: 1, epsilon: 0.25 })
  checkWithinCharge(
    [
      { mechanism: quarter, sensitivity: one },
      { mechanism: quarter, sensitivity: one },
    ],
    'laplace',
    half,
  )
  t.pass('two uses of one mechanism at 0.25 fit 0.5')
  internal(
    () =>
      checkWithinCharge(
        [
          { mechanism: quarter, sensitivity: one },
          { mechanism: quarter, sensitivity: one },
          { mechanism: quarter, sensitivity: one },
        ],
        'laplace',
        half,
      ),
    /spend 0\.75 of epsilon/,
    'a part counted once too often',
  )
  const rhoCharge = parse('rho', 0.01, 'up')
  internal(
    () =>
      checkWithinCharge(
        [{ mechanism: makeGaussian({ sensitivity: 1, rho: 0.02 }), sensitivity: one }],
        'gaussian',
        rhoCharge,
      ),
    /spend 0\.02 of rho but the query is charged 0\.01/,
    'gaussian at rho 0.02 against 0.01',
  )
  checkWithinCharge(
    [{ mechanism: makeGaussian({ sensitivity: 1, rho: 0.01 }), sensitivity: one }],
    'gaussian',
    rhoCharge,
  )
  t.pass('gaussian at its part passes')
  internal(
    () =>
      checkWithinCharge(
        [{ mechanism: makeGaussian({ sensitivity: 1, rho: 0.001 }), sensitivity: one }],
        'laplace',
        half,
      ),
    /a gaussian mechanism in a laplace plan/,
    'a gaussian mechanism in a laplace plan',
  )
  internal(
    () =>
      checkWithinCharge(
        [{ mechanism: makeLaplace({ sensitivity: 1, epsilon: 0.001 }), sensitivity: one }],
        'gaussian',
        rhoCharge,
      ),
    /a laplace mechanism in a gaussian plan/,
    'a laplace mechanism in a gaussian plan',
  )
  checkWithinCharge([], 'laplace', half)
  t.pass('no mechanisms spend nothing')
  // A real plan's spends with one mechanism swapped for one built at more than its part.
  const p = plan(DEMO_SPEC, `SELECT COUNT(*), SUM(income) FROM ${DS}`, { epsilon: 0.5 })
  const spends = spendsOf(p)
  t.equal(spends.length, 2)
  checkWithinCharge(spends, 'laplace', p.epsilon)
  const count = spends[0]!.mechanism as LaplaceMechanism
  const inflated = makeLaplace({
    sensitivity: count.sensitivity,
    epsilon: count.epsilon.add(Rational.of(1n, MICRO)),
    integer: true,
  })
  internal(
    () =>
      checkWithinCharge([{ mechanism: inflated, sensitivity: count.sensitivity }, spends[1]!], 'laplace', p.epsilon),
    /spend 0\.500001 of epsilon but the query is charged 0\.5/,
    'one micro-unit over',
  )
})
