/**
 * Money in exact integers (src/engine/market/money.ts, charge.ts): prices
 * round up, fees round down, and every split sums exactly to what it splits,
 * each part within one minor unit of its exact share; the ledger lines of an
 * answer reconcile (price = fee + shares) over many random cases.
 */
import t from 'tap'
import { answerLines } from '../../../src/engine/market/charge.js'
import { MAX_PRICE } from '../../../src/engine/market/dataset.js'
import { csvField } from '../../../src/engine/market/documents.js'
import { feeOf, moneyText, priceOf, splitByWeights } from '../../../src/engine/market/money.js'
import type { GrantRecord } from '../../../src/store/grants.js'

/** A deterministic generator: the cases are the same on every run. */
function lcg(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s
  }
}

t.test('prices round up to the minor unit; fees round down', async (t) => {
  t.equal(priceOf({ perEpsilon: 100_000, perAnswer: 500 }, 500_000n), 50_500n)
  t.equal(priceOf({ perEpsilon: 3, perAnswer: 0 }, 1n), 1n, 'any epsilon at a nonzero price costs at least one fen')
  t.equal(priceOf({ perEpsilon: 0, perAnswer: 0 }, 123_456n), 0n)
  t.equal(priceOf({ perEpsilon: 1_000_000, perAnswer: 0 }, 1n), 1n)
  t.equal(priceOf({ perEpsilon: 1_000_001, perAnswer: 0 }, 1n), 2n)
  t.equal(feeOf(50_500n, 1000), 5050n)
  t.equal(feeOf(9n, 1000), 0n, 'the fee never rounds up')
  t.equal(feeOf(12_345n, 10_000), 12_345n)
  t.equal(moneyText(50_500n, 'CNY'), '505.00 CNY')
  t.equal(moneyText(7n, 'CNY'), '0.07 CNY')
  const largest = priceOf({ perEpsilon: MAX_PRICE, perAnswer: MAX_PRICE }, 1_000_000n * 1_000_000n)
  t.ok(largest <= BigInt(Number.MAX_SAFE_INTEGER), 'the dearest answer a ledger can pay is an exact JSON number')
})

t.test('splits sum exactly and stay within one unit of the exact share', async (t) => {
  const next = lcg(20261203)
  let cases = 0
  for (let i = 0; i < 2000; i++) {
    const n = 1 + (next() % 6)
    const weights = Array.from({ length: n }, () => BigInt(next() % 5 === 0 ? 0 : next() % 1_000_000))
    const total = BigInt(next() % 10_000_000)
    const parts = splitByWeights(total, weights)
    const sum = parts.reduce((a, b) => a + b, 0n)
    if (sum !== total) t.fail(`case ${i}: parts sum to ${sum}, not ${total}`)
    const w = weights.every((x) => x === 0n) ? weights.map(() => 1n) : weights
    const W = w.reduce((a, b) => a + b, 0n)
    parts.forEach((p, k) => {
      const exactTimesW = total * w[k]!
      // |p - total*w/W| < 1  <=>  |p*W - total*w| < W
      const diff = p * W - exactTimesW
      if (diff >= W || -diff >= W) t.fail(`case ${i}: part ${k} is ${p}, more than one unit from its share`)
      if (p < 0n) t.fail(`case ${i}: a negative part`)
    })
    cases++
  }
  t.equal(cases, 2000)
  t.same(splitByWeights(10n, [1n, 1n, 1n]), [4n, 3n, 3n], 'ties go to the earlier index')
  t.same(splitByWeights(10n, [0n, 0n]), [5n, 5n], 'all weights zero: equal shares')
  t.throws(() => splitByWeights(1n, [-1n]))
})

t.test("an answer's lines reconcile: its price is the fee plus the owners' shares", async (t) => {
  const next = lcg(7)
  const grant = {
    id: 'g_1',
    organization: 'Org',
    scenario: 'industry',
  } as Pick<GrantRecord, 'id' | 'organization' | 'scenario'> as GrantRecord
  for (let i = 0; i < 500; i++) {
    const datasets = Array.from({ length: 1 + (next() % 3) }, (_, k) => ({
      dataset: `d${k}`,
      ownerId: k === 2 ? null : `p_${k}`,
      epsilonMicro: BigInt(next() % 3_000_000),
      amount: BigInt(next() % 1_000_000),
    }))
    const lines = answerLines({
      queryId: `q_${i}`,
      time: 't',
      grant,
      analyst: { id: 'p_a', name: 'alice' },
      currency: 'CNY',
      feeBps: next() % 10_001,
      shareRule: next() % 2 === 0 ? 'epsilon' : 'equal',
      datasets,
    })
    const sum = (kind: string) => lines.filter((l) => l.kind === kind).reduce((s, l) => s + l.amount, 0n)
    if (sum('price') !== sum('fee') + sum('share')) t.fail(`case ${i}: price ${sum('price')} != fee + shares`)
    if (lines.filter((l) => l.kind === 'price').length !== datasets.length) t.fail(`case ${i}: a price line missing`)
    if (new Set(lines.map((l) => l.line)).size !== lines.length) t.fail(`case ${i}: line numbers repeat`)
  }
  t.pass('500 random answers reconcile')
})

t.test('CSV fields: quoted when needed, and never read as a formula', async (t) => {
  t.equal(csvField('plain'), 'plain')
  t.equal(csvField('a,b'), '"a,b"')
  t.equal(csvField('say "hi"'), '"say ""hi"""')
  t.equal(csvField('=HYPERLINK("x")'), `"'=HYPERLINK(""x"")"`)
  t.equal(csvField('-1+1'), `"'-1+1"`)
  t.equal(csvField(-5), '-5', 'a number stays a number')
  t.equal(csvField(null), '')
})
