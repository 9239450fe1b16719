import t from 'tap'
import { contextFor, loadSeal } from '../../../src/engine/he/context.js'
import {
  BFV_COEFF_BITS,
  maxPlainBits,
  validateContextParams,
  type BfvContextParams,
} from '../../../src/engine/he/params.js'
import { batchingPrimes, coefficientPrimes } from '../../../src/engine/he/primes.js'
import { chooseProfile, profileFromJson, profileToJson } from '../../../src/engine/he/profile.js'
import { crtCombine, toUnits } from '../../../src/engine/he/units.js'
import { spec } from './fixtures.js'

const bfv = (over: Partial<BfvContextParams> = {}): BfvContextParams => ({
  scheme: 'bfv',
  polyModulusDegree: 4096,
  coeffModulusBits: [36, 36, 37],
  plainModulus: batchingPrimes(4096, 20, 1)[0]!,
  security: 'tc128',
  ...over,
})

t.test('parameters weaker than 128-bit are refused before SEAL sees them', async (t) => {
  t.doesNotThrow(() => validateContextParams(bfv()))
  // 120 bits at n = 4096: the table allows 109.
  t.throws(() => validateContextParams(bfv({ coeffModulusBits: [40, 40, 40] })), {
    code: 'VEILBOX_ERR_HE_INSECURE_PARAMETERS',
    message: /120-bit coefficient modulus at n = 4096 is weaker than 128-bit security; .* at most 109 bits/,
  })
  t.throws(() => validateContextParams(bfv({ polyModulusDegree: 8192, coeffModulusBits: [60, 60, 60, 60] })), {
    code: 'VEILBOX_ERR_HE_INSECURE_PARAMETERS',
    message: /at most 218/,
  })
  t.throws(() => validateContextParams(bfv({ polyModulusDegree: 2048 as 4096, coeffModulusBits: [27, 27] })), {
    code: 'VEILBOX_ERR_HE_INSECURE_PARAMETERS',
    message: /degree/,
  })
  t.throws(() => validateContextParams({ ...bfv(), security: 'none' as 'tc128' }), {
    code: 'VEILBOX_ERR_HE_INSECURE_PARAMETERS',
    message: /tc128/,
  })
  // The table at its edges is accepted.
  for (const [n, bits] of [
    [4096, [36, 36, 37]],
    [8192, [43, 43, 44, 44, 44]],
    [16384, BFV_COEFF_BITS[16384]],
  ] as const) {
    t.doesNotThrow(
      () =>
        validateContextParams(
          bfv({ polyModulusDegree: n, coeffModulusBits: bits, plainModulus: batchingPrimes(n, 30, 1)[0]! }),
        ),
      `n = ${n}`,
    )
  }
  // ...and contextFor refuses without building anything.
  await t.rejects(contextFor(bfv({ coeffModulusBits: [40, 40, 40] })), { code: 'VEILBOX_ERR_HE_INSECURE_PARAMETERS' })
})

t.test('malformed plain moduli are refused', async (t) => {
  t.throws(() => validateContextParams(bfv({ plainModulus: 65537n * 3n })), {
    code: 'VEILBOX_ERR_HE_INVALID_PARAMETERS',
  })
  t.throws(
    () => validateContextParams(bfv({ plainModulus: 8193n })),
    { code: 'VEILBOX_ERR_HE_INVALID_PARAMETERS', message: /not prime/ },
    '8193 = 3 * 2731 is 1 mod 8192',
  )
  t.throws(() => validateContextParams(bfv({ plainModulus: 1n << 61n })), { code: 'VEILBOX_ERR_HE_INVALID_PARAMETERS' })
  // Prime but not 1 mod 2n: no batching.
  t.throws(() => validateContextParams(bfv({ plainModulus: 1000003n })), {
    code: 'VEILBOX_ERR_HE_INVALID_PARAMETERS',
    message: /batching/,
  })
})

t.test("SEAL's own verdict is checked: parameters it does not set are refused", async (t) => {
  // A plain modulus equal to a coefficient prime passes our table check but
  // not SEAL's validation; the context must not be used.
  const collide = coefficientPrimes(4096, [36, 36, 37])[0]!
  t.doesNotThrow(() => validateContextParams(bfv({ plainModulus: collide })), 'our table check passes it')
  await t.rejects(contextFor(bfv({ plainModulus: collide })), {
    code: 'VEILBOX_ERR_HE_INVALID_PARAMETERS',
    message: /SEAL did not accept the parameters/,
  })
  const ok = await contextFor(bfv())
  t.equal(ok.context.parametersSet(), true)
  t.equal(await contextFor(bfv()), ok, 'one context per parameter set per thread')
  t.equal(ok.slots, 4096)
})

t.test('batching primes are the ones SEAL picks', async (t) => {
  const seal = await loadSeal()
  for (const [n, bits] of [
    [4096, 20],
    [8192, 40],
    [8192, 60],
  ] as const) {
    const m = seal.PlainModulus.Batching(n, bits)
    t.equal(batchingPrimes(n, bits, 1)[0], m.value, `PlainModulus.Batching(${n}, ${bits})`)
    m.delete()
  }
  for (const n of [4096, 8192] as const) {
    const v = seal.CoeffModulus.Create(n, Int32Array.from(BFV_COEFF_BITS[n]))
    t.same([...(v.toArray() as BigUint64Array)], coefficientPrimes(n, BFV_COEFF_BITS[n]), `CoeffModulus.Create at ${n}`)
    v.delete()
  }
  const three = batchingPrimes(8192, 30, 3)
  t.equal(new Set(three).size, 3)
  for (const p of three) t.equal(p % 16384n, 1n)
})

t.test('the noise-budget bound on t', async (t) => {
  t.equal(maxPlainBits(8192, 2048), 60)
  t.ok(maxPlainBits(4096, 3) >= 20 && maxPlainBits(4096, 3) <= 24)
  t.ok(maxPlainBits(4096, 1000) < maxPlainBits(4096, 3), 'more batches to add, smaller t')
})

t.test('fixed point: round(x * 10^scale) on the decimal the owner wrote', async (t) => {
  t.equal(toUnits(1.005, 2), 101n, 'the double below 1.005 is read as 1.005')
  t.equal(toUnits(-1.005, 2), -101n, 'halves away from zero')
  t.equal(toUnits(2.5, 0), 3n)
  t.equal(toUnits(-2.5, 0), -3n)
  t.equal(toUnits(0.1 + 0.2, 1), 3n)
  t.equal(toUnits(1e21, 2), 100000000000000000000000n)
  t.equal(toUnits(1.5e-7, 6), 0n)
  t.equal(toUnits(-0, 3), 0n)
  t.equal(toUnits(123.456789, 3), 123457n)
  t.equal(toUnits(999999.999, 2), 100000000n)
  t.throws(() => toUnits(Number.NaN, 2))
})

t.test('CRT recombination is exact and centred', async (t) => {
  const m = batchingPrimes(4096, 20, 3)
  const P = m[0]! * m[1]! * m[2]!
  for (const x of [0n, 1n, -1n, P / 2n, -(P / 2n), 123456789012345n, -98765432109876n]) {
    t.equal(
      crtCombine(
        m.map((p) => ((x % p) + p) % p),
        m,
      ),
      x,
    )
  }
})

t.test('profiles: capacity, columns, CRT for squares, integrity', async (t) => {
  const ds = spec('p', [{ name: 'v', type: 'integer', protection: 'he', lower: -50, upper: 1000 }])
  const p = chooseProfile(ds, { maxRows: 100_000 })
  t.equal(p.contexts.length, 1, 'SUM and squares fit one prime: one context, one key set')
  const c0 = p.contexts[0]!
  t.ok(c0.scheme === 'bfv' && 2n * 100_000n * 1000n * 1000n < c0.plainModulus, 'rows * max|x|^2 < t/2')

  // At n = 4096 the squares need several CRT primes, the SUM one.
  const q = chooseProfile(ds, { maxRows: 4000, polyModulusDegree: 4096 })
  const col = q.columns[0]!
  t.same(col.sumContexts, [0])
  t.ok(col.squareContexts!.length >= 2)
  const P = col.squareContexts!.reduce((a, i) => a * (q.contexts[i] as BfvContextParams).plainModulus, 1n)
  t.ok(2n * 4000n * 1000n * 1000n < P)

  // A SUM no batching prime at n can hold is refused, saying why and what to do.
  t.throws(() => chooseProfile(ds, { maxRows: 1_000_000, polyModulusDegree: 4096 }), {
    code: 'VEILBOX_ERR_HE_CAPACITY_EXCEEDED',
    message:
      /rows \* max\|x\| = 1000000000, which is >= t\/2 .* Lower maxRows, narrow the bounds, use a smaller scale or a larger poly modulus degree/,
  })
  const huge = spec('h', [{ name: 'v', type: 'number', protection: 'he', lower: 0, upper: 1e12, scale: 6 }])
  t.throws(() => chooseProfile(huge, { maxRows: 1_000_000 }), {
    code: 'VEILBOX_ERR_HE_CAPACITY_EXCEEDED',
    message: /rows \* max\|x\|/,
  })
  // Whenever the SUM fits, two CRT primes hold the squares.
  const wide = spec('w', [{ name: 'v', type: 'number', protection: 'he', lower: 0, upper: 1e9, scale: 2 }])
  const w = chooseProfile(wide, { maxRows: 1_000_000 })
  t.same(w.columns[0]!.squareContexts, [0, 1])
  t.equal(
    chooseProfile(wide, { maxRows: 1_000_000, variance: false }).contexts.length,
    1,
    'without variance, one context',
  )

  t.throws(
    () =>
      chooseProfile(spec('n', [{ name: 'v', type: 'integer', protection: 'he', lower: 0, upper: 9, nullable: true }]), {
        maxRows: 10,
      }),
    {
      code: 'VEILBOX_ERR_HE_UNSUPPORTED_COLUMN',
      message: /cannot be nullable/,
    },
  )
  t.throws(
    () =>
      chooseProfile(spec('c', [{ name: 'v', type: 'number', protection: 'he', lower: 0, upper: 9, scale: 2 }]), {
        maxRows: 10,
        ckksColumns: ['v'],
      }),
    {
      code: 'VEILBOX_ERR_HE_UNSUPPORTED_COLUMN',
      message: /CKKS/,
    },
  )
  t.throws(
    () =>
      chooseProfile(spec('d', [{ name: 'v', type: 'integer', protection: 'dp', lower: 0, upper: 9 }]), { maxRows: 10 }),
    { code: 'VEILBOX_ERR_HE_UNSUPPORTED_COLUMN' },
  )
  t.throws(() => chooseProfile(ds, { maxRows: 0 }), { code: 'VEILBOX_ERR_HE_INVALID_PARAMETERS' })

  const back = profileFromJson(profileToJson(q))
  t.same(back, q, 'JSON round trip')
  t.throws(() => profileFromJson(profileToJson(q).replace('"maxRows": 4000', '"maxRows": 4001')), {
    message: /does not match its id/,
  })
  const weak = JSON.parse(profileToJson(q)) as { contexts: { coeffModulusBits: number[] }[] }
  weak.contexts[0]!.coeffModulusBits = [40, 40, 40]
  t.throws(() => profileFromJson(JSON.stringify(weak)), { code: 'VEILBOX_ERR_HE_INSECURE_PARAMETERS' })
})
