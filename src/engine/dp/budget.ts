/**
 * Privacy amounts, exactly. Every epsilon, delta and rho in veilbox is one of
 * three branded bigints, counted in fixed units:
 *
 * | type      | unit          | 1.0 is        |
 * | --------- | ------------- | ------------- |
 * | `Epsilon` | micro (1e-6)  | 1,000,000     |
 * | `Delta`   | femto (1e-15) | 10^15         |
 * | `Rho`     | pico (1e-12)  | 10^12         |
 *
 * The ledgers (grants, dataset budgets), the pricing and the planner use
 * these and nothing else; the store keeps the same integers in its columns
 * without knowing what they mean. Amounts arrive as the request's numbers
 * and are read as the decimals they print as (0.1 is 1/10, never the double
 * nearest it; rational.ts says why), with no float multiplication: 1e-9 of
 * delta is exactly 1,000,000 femto-units. A charge rounds up and a total
 * rounds down, so rounding can only ever overstate what was spent and
 * understate what may be. Amounts computed in floating point (zCDP
 * conversions) enter through `fromDouble`, which takes the double's exact
 * binary value and rounds it in the stated direction.
 *
 * Numbers for people (responses, errors, audit text) come from `toNumber`,
 * the one conversion back: the double nearest the exact decimal.
 */
import { ceilDiv, floorDiv, Rational } from './rational.js'
import { invalid, positive, type Amount } from './validate.js'

declare const unit: unique symbol
type Units<K extends string> = bigint & { readonly [unit]: K }

/** Epsilon in micro-units (1e-6). */
export type Epsilon = Units<'epsilon'>
/** Delta in femto-units (1e-15). */
export type Delta = Units<'delta'>
/** zCDP rho in pico-units (1e-12). */
export type Rho = Units<'rho'>

export type BudgetKind = 'epsilon' | 'delta' | 'rho'
export type AmountOf<K extends BudgetKind> = K extends 'epsilon' ? Epsilon : K extends 'delta' ? Delta : Rho

/** Units per 1.0 of each kind: the one set of scale constants. */
export const SCALE: Readonly<Record<BudgetKind, bigint>> = Object.freeze({
  epsilon: 1_000_000n,
  delta: 1_000_000_000_000_000n,
  rho: 1_000_000_000_000n,
})

/** The smallest amount of each kind, as a decimal (for error messages). */
export const STEP: Readonly<Record<BudgetKind, string>> = Object.freeze({
  epsilon: '1e-6',
  delta: '1e-15',
  rho: '1e-12',
})

export type Round = 'up' | 'down'

function round(kind: BudgetKind, r: Rational, direction: Round): bigint {
  const n = r.num * SCALE[kind]
  return direction === 'up' ? ceilDiv(n, r.den) : floorDiv(n, r.den)
}

/**
 * An amount from a request or a setting, read as its decimal: rounded up for
 * a charge, down for a total. Must be positive unless `zero` allows 0.
 * `name` goes into the error message.
 */
export function parse<K extends BudgetKind>(
  kind: K,
  amount: Amount,
  direction: Round,
  options: { name?: string; zero?: boolean } = {},
): AmountOf<K> {
  const name = options.name ?? kind
  if (options.zero && (amount === 0 || (amount instanceof Rational && amount.isZero()))) return 0n as AmountOf<K>
  return round(kind, positive(name, amount, 'decimal'), direction) as AmountOf<K>
}

/** An amount computed in floating point (a zCDP conversion): the double's exact value, rounded in `direction`. */
export function fromDouble<K extends BudgetKind>(kind: K, x: number, direction: Round): AmountOf<K> {
  if (!Number.isFinite(x) || x < 0) throw invalid(kind, 'a finite number at least 0', x)
  return round(kind, Rational.fromNumber(x), direction) as AmountOf<K>
}

/** An integer count of units kept elsewhere (a ledger column), branded; never negative. */
export function units<K extends BudgetKind>(kind: K, n: bigint | number): AmountOf<K> {
  const v = typeof n === 'bigint' ? n : Number.isSafeInteger(n) ? BigInt(n) : null
  if (v === null || v < 0n) throw invalid(`${kind} units`, 'a whole number at least 0', n)
  return v as AmountOf<K>
}

/** The exact value as a rational (mechanisms are calibrated with it). */
export function toRational(kind: BudgetKind, amount: bigint): Rational {
  return Rational.of(amount, SCALE[kind])
}

/**
 * For people: the double nearest the exact decimal. The only conversion from
 * an amount to a number; nothing computes with its result.
 */
export function toNumber(kind: BudgetKind, amount: bigint): number {
  // Both operands are exact doubles below 2^53 and IEEE division rounds to nearest.
  return Number(amount) / Number(SCALE[kind])
}

/** The same as decimal text (audit records keep amounts as strings). */
export function toText(kind: BudgetKind, amount: bigint): string {
  return String(toNumber(kind, amount))
}

export const ZERO_EPSILON = 0n as Epsilon
export const ZERO_DELTA = 0n as Delta
export const ZERO_RHO = 0n as Rho

export function add<T extends bigint>(a: T, b: T): T {
  return (a + b) as T
}

/** a - b, never below zero. */
export function minus<T extends bigint>(a: T, b: T): T {
  return (a > b ? a - b : 0n) as T
}

export function total<T extends bigint>(parts: readonly T[]): T {
  return parts.reduce<bigint>((x, y) => x + y, 0n) as T
}

/**
 * Splits an amount across k parts, evenly or in proportion to positive
 * weights, into whole units that add up to exactly the amount
 * (largest-remainder rounding: each part is the floor of its exact share, and
 * the units left over go one each to the largest fractional remainders, ties
 * to the earlier part). Each aggregate's mechanism then runs at exactly its
 * part, so the parts can never add up to more than what was charged. A part
 * of 0 would be an aggregate without budget, so that is refused.
 */
export function split<T extends Epsilon | Rho>(
  kind: 'epsilon' | 'rho',
  amount: T,
  shares: number | readonly number[],
): T[] {
  if (amount <= 0n) throw invalid(kind, 'greater than 0 to split', toNumber(kind, amount))
  let weights: Rational[]
  if (typeof shares === 'number') {
    if (!Number.isSafeInteger(shares) || shares < 1) throw invalid('aggregates', 'a positive integer', shares)
    weights = Array.from({ length: shares }, () => Rational.ONE)
  } else {
    if (shares.length === 0) throw invalid('weights', 'a non-empty list', 'an empty list')
    weights = shares.map((w, i) => positive(`weights[${i}]`, w, 'decimal'))
  }
  const k = weights.length
  if (amount < BigInt(k)) {
    throw invalid(
      kind,
      `at least ${k} units (${STEP[kind]} each) to give each of the ${k} parts one`,
      toNumber(kind, amount),
    )
  }
  const sum = weights.reduce((a, w) => a.add(w), Rational.ZERO)
  const exact = weights.map((w) => w.div(sum).mul(Rational.of(amount)))
  const parts = exact.map((x) => x.floor())
  let left = amount - parts.reduce((a, p) => a + p, 0n)
  const order = exact
    .map((x, i) => ({ i, frac: x.sub(Rational.of(parts[i]!)) }))
    .sort((p, q) => q.frac.cmp(p.frac) || p.i - q.i)
  for (const { i } of order) {
    if (left === 0n) break
    parts[i] = parts[i]! + 1n
    left -= 1n
  }
  const zero = parts.indexOf(0n)
  if (zero >= 0) {
    throw invalid(
      `weights[${zero}]`,
      'large enough for a share of at least one unit',
      (shares as readonly number[])[zero],
    )
  }
  return parts as T[]
}
