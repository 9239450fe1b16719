import t from 'tap'
import { Rational } from '../../src/engine/dp/rational.js'
import type { ExecTask } from '../../src/engine/exec/task.js'
import type { MeasureResult } from '../../src/engine/exec/types.js'
import { quantumFor } from '../../src/engine/exec/quantum.js'
import type { DecryptedAggregate, EncryptedAggregateResult, ScaledValue } from '../../src/engine/he/types.js'
import { toUnits } from '../../src/engine/he/units.js'
import {
  clinicCsv,
  clinicRows,
  clinicSpec,
  CLINIC_ID,
  heApp,
  REGIONS,
  uploadClinic,
  type ClinicRow,
} from '../helpers/he.js'

/**
 * Encrypted aggregates as the service computes them, before any noise: the
 * task runs through the sandbox pool (ciphertexts and Galois keys in shared
 * memory, keys loaded in the worker), the custodian decrypts, and the values
 * must equal the plaintext aggregates of the same rows: exactly for BFV
 * (COUNT, SUM, and AVG and VAR as exact fractions of them), within 1e-6
 * relative for CKKS. The plaintext side is the service's own kernel on a
 * twin dataset whose columns are dp instead of he, run with the same WHERE
 * and GROUP BY, plus exact BigInt sums of the rows.
 *
 * 9000 rows at n = 8192: two BFV batches (the second partial) and three CKKS
 * batches.
 */

const ROWS = 9000
const rows = clinicRows(ROWS, 5)

const WHERE: ExecTask['where'] = { kind: 'cmp', column: 'insured', op: '=', value: true }
const GROUP_BY: ExecTask['groupBy'] = [{ column: 'region', dictionary: [...REGIONS], nullable: false }]

function exactFraction(v: ScaledValue): Rational {
  const p = BigInt(v.base) ** BigInt(Math.abs(v.exponent))
  return v.exponent >= 0 ? Rational.of(v.units * p) : Rational.of(v.units, p)
}

t.test('encrypted COUNT, SUM, AVG and VAR through the pool equal the plaintext aggregates', async (t) => {
  const ha = await heApp(t, { degree: 8192, maxRows: 10_000, ckks: true })
  const up = await uploadClinic(ha, rows, 'owner', true)

  // The plaintext twin: the same columns as dp, the same rows.
  const twin = clinicSpec({ ckks: true })
  twin.id = 'clinic_plain'
  twin.columns = twin.columns.map((c) =>
    c.protection === 'he' ? { ...c, protection: 'dp', scale: undefined } : c,
  ) as typeof twin.columns
  t.equal(
    (await ha.call('operator', { method: 'POST', url: '/v1/datasets', payload: JSON.parse(JSON.stringify(twin)) }))
      .statusCode,
    201,
  )
  const plainUp = await ha.call('operator', {
    method: 'POST',
    url: '/v1/datasets/clinic_plain/versions',
    headers: { 'content-type': 'text/csv' },
    payload: clinicCsv(rows, true),
  })
  t.equal(plainUp.statusCode, 201)

  const columns = [
    { name: 'visits', lower: 0, upper: 40, scale: 0 },
    { name: 'cost', lower: 0, upper: 90, scale: 1 },
    { name: 'temperature', lower: 35, upper: 42, scale: null },
  ] as const
  const task: ExecTask = {
    dataset: CLINIC_ID,
    version: up.version,
    where: WHERE,
    groupBy: GROUP_BY,
    measures: [],
    encrypted: columns.map((c) => ({ column: c.name, squares: true })),
  }
  const enc = await ha.app.executor.execute(task)
  const plain = await ha.app.executor.execute({
    ...task,
    dataset: 'clinic_plain',
    version: 1,
    encrypted: undefined,
    measures: columns.map((c) => ({
      kind: 'moments' as const,
      column: c.name,
      lower: c.lower,
      upper: c.upper,
      exp: quantumFor(c.lower, c.upper).exp,
      squares: true,
    })),
  })
  t.same([...enc.count], [...plain.count], 'COUNT(*) per group: the same rows selected on both sides')
  const results = enc.encrypted!
  t.equal(results.length, 3)

  const aggregates = results.flatMap((r: EncryptedAggregateResult) =>
    [...r.sums, ...(r.sumSquares ?? [])].filter((a) => a !== null),
  )
  const profileId = results[0]!.profileId
  const decrypted = await ha.app.custodian.decryptAggregates({
    dataset: CLINIC_ID,
    profileId,
    queryId: 'q_test',
    aggregates,
  })
  const aggregateOf = (column: string, kind: 'sum' | 'sumSquares', group: number): DecryptedAggregate =>
    decrypted.values.find((v) => v.column === column && v.kind === kind && v.group === group)!

  columns.forEach((c, m) => {
    const r = results[m]!
    const kernel = plain.measures[m] as Extract<MeasureResult, { kind: 'moments' }>
    REGIONS.forEach((region, g) => {
      const sel = rows.filter((x: ClinicRow) => x.insured && x.region === region)
      const n = sel.length
      t.equal(r.counts[g], n, `${c.name} COUNT ${region}`)
      t.equal(kernel.nonNull[g], n, `the plaintext kernel counts the same`)
      const sum = aggregateOf(c.name, 'sum', g).value
      const squares = aggregateOf(c.name, 'sumSquares', g).value
      if (c.scale !== null) {
        // BFV: exact, as fixed-point units.
        const units = sel.map((x) => toUnits(x[c.name], c.scale))
        const want = units.reduce((a, b) => a + b, 0n)
        const wantSq = units.reduce((a, b) => a + b * b, 0n)
        t.same(sum, { units: want, base: 10, exponent: -c.scale }, `${c.name} SUM ${region} exact`)
        t.same(squares, { units: wantSq, base: 10, exponent: -2 * c.scale }, `${c.name} sum of squares ${region} exact`)
        const s = exactFraction(sum)
        const q = exactFraction(squares)
        const N = Rational.of(BigInt(n))
        const avg = s.div(N)
        const variance = q.div(N).sub(avg.mul(avg))
        const scaleR = Rational.of(10n ** BigInt(c.scale))
        t.ok(avg.eq(Rational.of(want).div(scaleR).div(N)), `${c.name} AVG ${region} exact`)
        t.ok(
          variance.eq(
            Rational.of(wantSq * BigInt(n) - want * want)
              .div(scaleR.mul(scaleR))
              .div(N.mul(N)),
          ),
          `${c.name} VAR ${region} exact`,
        )
        // The plaintext kernel adds values quantized to 2^exp: integers exactly, decimals within half a unit per row.
        const kernelSum = Rational.dyadic(kernel.sum[g]!, quantumFor(c.lower, c.upper).exp)
        const slack = Rational.dyadic(BigInt(n), quantumFor(c.lower, c.upper).exp - 1)
        t.ok(kernelSum.sub(s).abs().lte(slack), `${c.name} SUM ${region} agrees with the plaintext kernel`)
        if (c.scale === 0) t.ok(kernelSum.eq(s), `${c.name} SUM ${region} equals the plaintext kernel's exactly`)
      } else {
        // CKKS: within 1e-6 relative, already rounded to its public grid by the custodian.
        const want = sel.reduce((a, x) => a + x.temperature, 0)
        const wantSq = sel.reduce((a, x) => a + x.temperature * x.temperature, 0)
        t.equal(sum.base, 2)
        const got = exactFraction(sum).toNumber()
        const gotSq = exactFraction(squares).toNumber()
        t.ok(Math.abs(got - want) <= 1e-6 * Math.abs(want), `temperature SUM ${region}: ${got} vs ${want}`)
        t.ok(
          Math.abs(gotSq - wantSq) <= 1e-6 * Math.abs(wantSq),
          `temperature sum of squares ${region}: ${gotSq} vs ${wantSq}`,
        )
        const avg = got / n
        const variance = gotSq / n - avg * avg
        const wantAvg = want / n
        const wantVar = sel.reduce((a, x) => a + (x.temperature - wantAvg) ** 2, 0) / n
        t.ok(Math.abs(avg - wantAvg) <= 1e-6 * wantAvg, `temperature AVG ${region}`)
        // VAR is a difference of two large numbers: its error is relative to E[x^2], not to VAR itself.
        t.ok(Math.abs(variance - wantVar) <= 1e-6 * (gotSq / n), `temperature VAR ${region}: ${variance} vs ${wantVar}`)
        const kernelSum = Rational.dyadic(kernel.sum[g]!, quantumFor(c.lower, c.upper).exp).toNumber()
        t.ok(Math.abs(got - kernelSum) <= 1e-6 * Math.abs(kernelSum), 'agrees with the plaintext kernel')
      }
    })
  })
})
