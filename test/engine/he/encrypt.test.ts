import t from 'tap'
import { ColumnEncryptor } from '../../../src/engine/he/encrypt.js'
import { KeyHolder } from '../../../src/engine/he/key-holder.js'
import { columnPlan } from '../../../src/engine/he/profile.js'
import { mod, toUnits } from '../../../src/engine/he/units.js'
import { decryptSlots, keyStore, spec } from './fixtures.js'

/**
 * The owner's BFV encoding, exactly: a batch of small units takes the
 * double-precision path (no BigInt per value), one with a unit beyond 2^26
 * the BigInt path; both decrypt to round(x * 10^scale) (halves away from
 * zero, read off the decimal written) and to its square modulo each
 * context's t, negatives included.
 */

const ds = spec('ledger', [
  { name: 'amt', type: 'number', protection: 'he', lower: -1_000_000, upper: 1_000_000, scale: 2 },
])

t.test('values and squares decrypt to the exact units on both paths', async (t) => {
  const keystore = await keyStore(t)
  const profile = await new KeyHolder(keystore).createKeys('ledger', ds, { maxRows: 20, polyModulusDegree: 8192 })
  const plan = columnPlan(profile, 'amt')
  const small = [0, -1, 1.005, -1.005, 2.675, -2.675, 600.5, 0.125, -0.005, 12.34]
  const wide = [...small, 999_999.99, -999_999.99, 671_088.65, 123_456.785]
  const enc = await ColumnEncryptor.open(keystore, 'ledger')
  t.teardown(() => enc.close())
  for (const [name, values] of [
    ['small units (doubles)', small],
    ['units beyond 2^26 (BigInt)', wide],
  ] as const) {
    const batch = enc.encryptBatch('amt', values, 0)
    const units = values.map((x) => toUnits(x, 2))
    const pad = (xs: bigint[]) => [...xs, ...new Array<bigint>(8192 - xs.length).fill(0n)]
    t.same(
      await decryptSlots(keystore, 'ledger', plan.sumContexts[0]!, batch.values[0]!, true),
      pad(units),
      `${name}: values`,
    )
    for (const [i, c] of plan.squareContexts!.entries()) {
      const p = profile.contexts[c]!
      const tMod = p.scheme === 'bfv' ? p.plainModulus : 0n
      t.same(
        await decryptSlots(keystore, 'ledger', c, batch.squares![i]!, false),
        pad(units.map((u) => mod(u * u, tMod))),
        `${name}: squares mod t of context ${c}`,
      )
    }
  }
})
