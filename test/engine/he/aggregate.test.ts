import t from 'tap'
import { aggregateEncrypted, EvaluationKeys, planEncryptedAggregate } from '../../../src/engine/he/aggregate.js'
import { KeyHolder } from '../../../src/engine/he/key-holder.js'
import { ColumnEncryptor } from '../../../src/engine/he/encrypt.js'
import type { DecryptedAggregate, EncryptedAggregateResult, EncryptedColumn } from '../../../src/engine/he/types.js'
import { fraction, keyStore, plainAggregates, rng, spec, toNumber } from './fixtures.js'

/**
 * Encrypted aggregates equal the plaintext ones: exactly for BFV (SUM, COUNT,
 * AVG, VAR with a selection mask and GROUP BY codes), within 1e-6 relative
 * for CKKS. BFV at n = 8192 (balance needs a 32-bit t, beyond what n = 4096
 * allows), CKKS at 8192 (4096 real slots).
 */

const ROWS = 9000 // two BFV batches, the second partial; three CKKS batches
const GROUPS = 5 // group 4 gets no selected row

const r = rng(7)
const balance = Array.from({ length: ROWS }, () => Math.round((r() * 1100 - 100) * 100) / 100) // [-100, 1000], 2 decimals
const visits = Array.from({ length: ROWS }, () => Math.floor(r() * 21)) // [0, 20]
const temperature = Array.from({ length: ROWS }, () => r() * 40 - 5) // [-5, 35], full doubles
const codes = Uint8Array.from({ length: ROWS }, () => Math.floor(r() * 4))
const selection = Uint8Array.from({ length: ROWS }, () => (r() < 0.7 ? 1 : 0))
// The first BFV batch (rows 0..8191) wholly selected and in group 0: a batch
// that an earlier version added unmasked (a data-dependent fast path).
for (let i = 0; i < 8192; i++) {
  selection[i] = 1
  codes[i] = 0
}

const ds = spec('accounts', [
  { name: 'balance', type: 'number', protection: 'he', lower: -100, upper: 1000, scale: 2 },
  { name: 'visits', type: 'integer', protection: 'he', lower: 0, upper: 20 },
  { name: 'temperature', type: 'number', protection: 'he', lower: -5, upper: 35 },
])

t.test('encrypted aggregates equal the plaintext aggregates', async (t) => {
  const keystore = await keyStore(t)
  const custodian = new KeyHolder(keystore)
  const profile = await custodian.createKeys('accounts', ds, {
    maxRows: 10_000,
    polyModulusDegree: 8192,
    ckksColumns: ['temperature'],
  })
  const enc = await ColumnEncryptor.open(keystore, 'accounts')
  let columns: Record<string, EncryptedColumn>
  try {
    columns = {
      balance: enc.encryptColumn('balance', balance),
      visits: enc.encryptColumn('visits', visits),
      temperature: enc.encryptColumn('temperature', temperature),
    }
  } finally {
    enc.close()
  }
  const keys = await EvaluationKeys.open(await custodian.publicMaterial('accounts'))
  t.teardown(() => keys.delete())

  const release = async (res: EncryptedAggregateResult): Promise<Map<string, DecryptedAggregate>> => {
    const aggregates = [...res.sums, ...(res.sumSquares ?? [])]
    const out = await custodian.decryptAggregates({
      dataset: 'accounts',
      profileId: profile.id,
      queryId: 'q',
      aggregates,
    })
    t.equal(out.values.length, aggregates.length, 'one value per aggregate')
    return new Map(out.values.map((v) => [`${v.kind}:${v.group}`, v]))
  }

  for (const [name, scale] of [
    ['balance', 2],
    ['visits', 0],
  ] as const) {
    const values = name === 'balance' ? balance : visits
    const res = await aggregateEncrypted({
      keys,
      column: columns[name],
      selection,
      grouping: { codes, count: GROUPS },
      squares: true,
    })
    const got = await release(res)
    const want = plainAggregates(values, scale, selection, codes, GROUPS)
    for (let g = 0; g < GROUPS; g++) {
      const w = want[g]!
      t.equal(res.counts[g], w.count, `${name} COUNT group ${g}`)
      const sum = got.get(`sum:${g}`)!.value
      const sq = got.get(`sumSquares:${g}`)!.value
      if (w.count === 0) {
        // An empty group is summed, reduced and decrypted like the others (constant shape), to exactly 0.
        t.equal(res.sums[g]!.rows, 0, `${name} group ${g} is empty, and still has its aggregate`)
        t.equal(sum.units, 0n, `${name} group ${g} decrypts to 0`)
        t.equal(sq.units, 0n)
        continue
      }
      t.same(
        { units: sum.units, base: sum.base, exponent: sum.exponent },
        { units: w.sum, base: 10, exponent: -scale },
        `${name} SUM group ${g} exact`,
      )
      t.equal(sq.units, w.sumSquares, `${name} sum of squares group ${g} exact`)
      t.equal(sq.exponent, -2 * scale)
      // AVG = sum / count and VAR = (count * sumsq - sum^2) / count^2, compared as exact fractions.
      const n = BigInt(w.count)
      const s = fraction(sum)
      const q = fraction(sq)
      t.same([s.num, s.den * n], [w.sum, 10n ** BigInt(scale) * n], `${name} AVG group ${g} exact`)
      t.equal(q.den, s.den * s.den)
      t.equal(n * q.num - s.num * s.num, n * w.sumSquares - w.sum * w.sum, `${name} VAR group ${g} exact`)
    }
  }

  // No selection and no grouping at all (a fact of the plan): every batch added unmasked.
  const all = await aggregateEncrypted({
    keys,
    column: columns.balance!,
    selection: null,
    grouping: null,
    squares: false,
  })
  t.equal(all.sumSquares, null)
  t.same(all.counts, [ROWS])
  const total = (await release(all)).get('sum:0')!.value
  t.equal(total.units, plainAggregates(balance, 2, null, null, 1)[0]!.sum, 'ungrouped SUM exact')

  // CKKS: within 1e-6 relative, on a grid.
  const res = await aggregateEncrypted({
    keys,
    column: columns.temperature!,
    selection,
    grouping: { codes, count: GROUPS },
    squares: true,
  })
  const got = await release(res)
  const want = plainAggregates(temperature, 0, selection, codes, GROUPS)
  for (let g = 0; g < 4; g++) {
    const w = want[g]!
    const sum = got.get(`sum:${g}`)!.value
    const sq = got.get(`sumSquares:${g}`)!.value
    t.equal(sum.base, 2, 'CKKS values come rounded to a power-of-two grid')
    t.ok(sum.exponent <= -8 && sum.exponent >= -30, `grid 2^${sum.exponent} is coarse but fine enough`)
    const rel = (a: number, b: number): number => Math.abs(a - b) / Math.abs(b)
    t.ok(rel(toNumber(sum), w.sumF) < 1e-6, `CKKS SUM group ${g}: ${toNumber(sum)} vs ${w.sumF}`)
    t.ok(rel(toNumber(sum) / w.count, w.sumF / w.count) < 1e-6, `CKKS AVG group ${g}`)
    const v = (s: number, q: number): number => q / w.count - (s / w.count) ** 2
    t.ok(rel(v(toNumber(sum), toNumber(sq)), v(w.sumF, w.sumSquaresF)) < 1e-6, `CKKS VAR group ${g}`)
  }
})

t.test('a plan that could wrap is refused before any SEAL work, with the reason', async (t) => {
  const keystore = await keyStore(t)
  const custodian = new KeyHolder(keystore)
  const small = spec('small', [{ name: 'v', type: 'integer', protection: 'he', lower: -1000, upper: 1000 }])
  const profile = await custodian.createKeys('small', small, {
    maxRows: 4096,
    polyModulusDegree: 4096,
    variance: false,
  })
  const t0 = profile.contexts[0]!
  t.equal(t0.scheme, 'bfv')
  // A column that claims more rows than the keys were sized for: a forged or
  // mis-sized upload whose sums could pass t/2.
  const rows = 40_000
  const forged: EncryptedColumn = {
    profileId: profile.id,
    column: 'v',
    rows,
    batchRows: 4096,
    values: [Array.from({ length: 10 }, () => new Uint8Array(1))],
    squares: null,
  }
  t.throws(() => planEncryptedAggregate(profile, forged, null, null, false), {
    code: 'VEILBOX_ERR_HE_CAPACITY_EXCEEDED',
    message: /at most 4096/,
  })
  // Fewer selected rows would fit, but the refusal never depends on the selection.
  const sel = new Uint8Array(rows)
  sel.fill(1, 0, 100)
  t.throws(() => planEncryptedAggregate(profile, forged, sel, null, false), {
    code: 'VEILBOX_ERR_HE_CAPACITY_EXCEEDED',
    message: /at most 4096/,
  })
  // Keys whose plain modulus cannot hold maxRows values: refused on the keys' maxRows, whatever the selection.
  const inflated = { ...profile, maxRows: rows }
  for (const s of [null, sel]) {
    t.throws(() => planEncryptedAggregate(inflated, forged, s, null, false), {
      code: 'VEILBOX_ERR_HE_CAPACITY_EXCEEDED',
      message:
        /over 40000 rows \(the keys' maxRows\) of values up to 1000 units could reach 40000000, which is >= t\/2/,
    })
  }
  t.throws(() => planEncryptedAggregate(profile, forged, null, null, true), {
    code: 'VEILBOX_ERR_HE_UNSUPPORTED_COLUMN',
    message: /without variance/,
  })
  t.throws(() => planEncryptedAggregate(profile, { ...forged, profileId: 'f'.repeat(64) }, null, null, false), {
    code: 'VEILBOX_ERR_HE_BAD_CIPHERTEXT',
  })
  t.throws(
    () =>
      planEncryptedAggregate(
        profile,
        { ...forged, rows: 100, values: [[new Uint8Array(1)]] },
        new Uint8Array(99),
        null,
        false,
      ),
    {
      code: 'VEILBOX_ERR_HE_BAD_ARGUMENT',
    },
  )
  t.throws(
    () =>
      planEncryptedAggregate(
        profile,
        { ...forged, rows: 100, values: [[new Uint8Array(1)]] },
        null,
        { codes: new Uint8Array(100).fill(3), count: 3 },
        false,
      ),
    {
      code: 'VEILBOX_ERR_HE_BAD_ARGUMENT',
      message: /group code 3/,
    },
  )
  // The ciphertext bytes are never looked at: the refusal comes first.
  const keys = await EvaluationKeys.open(await custodian.publicMaterial('small'))
  t.teardown(() => keys.delete())
  await t.rejects(aggregateEncrypted({ keys, column: forged, selection: null, grouping: null, squares: false }), {
    code: 'VEILBOX_ERR_HE_CAPACITY_EXCEEDED',
  })
  // Bytes that are not a ciphertext of the context are refused as such.
  const junk: EncryptedColumn = { ...forged, rows: 10, values: [[new Uint8Array(64).fill(7)]] }
  await t.rejects(aggregateEncrypted({ keys, column: junk, selection: null, grouping: null, squares: false }), {
    code: 'VEILBOX_ERR_HE_BAD_CIPHERTEXT',
  })
})
