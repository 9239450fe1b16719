import { SCALE } from '../dp/budget.js'

/**
 * Money in exact integers: minor units (fen for CNY) as bigint, never a
 * float. An answer's price on a dataset is perAnswer plus perEpsilon times
 * the epsilon charged to the dataset (in ledger units), rounded up; the
 * platform's fee is a floor of basis points; the rest is split among the
 * datasets' owners by largest remainders, so every split sums exactly.
 */

/** Units of the ledger's epsilon in one epsilon (dp/budget.ts). */
const UNITS_PER_EPSILON: bigint = SCALE.epsilon

/** perAnswer + ceil(perEpsilon * epsilonMicro / 10^6), in minor units. */
export function priceOf(price: { perEpsilon: number; perAnswer: number }, epsilonMicro: bigint): bigint {
  const perEpsilon = BigInt(price.perEpsilon)
  const product = perEpsilon * epsilonMicro
  return BigInt(price.perAnswer) + (product + UNITS_PER_EPSILON - 1n) / UNITS_PER_EPSILON
}

/** The platform's fee on an amount: floor(amount * feeBps / 10,000). */
export function feeOf(amount: bigint, feeBps: number): bigint {
  return (amount * BigInt(feeBps)) / 10_000n
}

/**
 * `total` split in proportion to `weights` (all weights 0: equally), by
 * largest remainders; ties go to the earlier index. The parts sum to `total`
 * exactly, and each is within one minor unit of its exact share.
 */
export function splitByWeights(total: bigint, weights: readonly bigint[]): bigint[] {
  if (weights.length === 0) return []
  if (weights.some((w) => w < 0n)) throw new RangeError('a weight is negative')
  const w = weights.every((x) => x === 0n) ? weights.map(() => 1n) : weights
  const sum = w.reduce((a, b) => a + b, 0n)
  const parts = w.map((x) => (total * x) / sum)
  const remainders = w.map((x, i) => ({ i, r: (total * x) % sum }))
  let left = total - parts.reduce((a, b) => a + b, 0n)
  remainders.sort((a, b) => (a.r === b.r ? a.i - b.i : a.r > b.r ? -1 : 1))
  for (const { i } of remainders) {
    if (left === 0n) break
    parts[i]! += 1n
    left -= 1n
  }
  return parts
}

/** An amount for people: "12.34 CNY" (two decimals for a currency with 100 minor units). */
export function moneyText(amount: bigint, currency: string): string {
  const sign = amount < 0n ? '-' : ''
  const abs = amount < 0n ? -amount : amount
  return `${sign}${abs / 100n}.${(abs % 100n).toString().padStart(2, '0')} ${currency}`
}

/** A money figure in JSON: an integer of minor units when it is a safe integer, else refused (never rounded). */
export function moneyNumber(amount: bigint): number {
  if (amount > BigInt(Number.MAX_SAFE_INTEGER) || amount < -BigInt(Number.MAX_SAFE_INTEGER))
    throw new RangeError(`amount ${amount} is beyond what JSON numbers carry exactly`)
  return Number(amount)
}
