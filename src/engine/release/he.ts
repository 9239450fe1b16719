import { VeilboxError } from '../../errors/index.js'
import { groupedL2Sensitivity, Rational, type ExactValue as GridValue } from '../dp/index.js'
import { floorDiv } from '../dp/rational.js'
import type { HeColumnPlan } from '../he/profile.js'
import type { ScaledValue } from '../he/types.js'

/**
 * Releasing encrypted aggregates through the DP layer.
 *
 * The custodian returns each decrypted aggregate as an exact value
 * units * base^exponent: decimal fixed point for BFV (base 10, exponent
 * -scale; -2 * scale for sums of squares) or a value already rounded to the
 * CKKS grid (base 2). A mechanism releases multiples of 2^k; base 10 is not
 * dyadic, so the value is rounded to that grid here, exactly (BigInt
 * rationals, half up like the mechanisms' own rounding), and the mechanism
 * is built knowing that its input is rounded (roundsInput: no declared input
 * exponent), which adds the rounding to its sensitivity in grid steps and to
 * its intervals, as for any rounded input (mechanism.ts).
 *
 * Sensitivities, under adding or removing one privacy unit who owns at most
 * m rows (the contribution bound, applied by the selection mask exactly as
 * for plaintext columns):
 *
 * - BFV SUM: the sum adds round(x * 10^s) units per row, and every x was
 *   checked within [lower, upper] when it was encrypted (not clamped: an
 *   out-of-bounds value is refused, so the bound holds for every stored row).
 *   One unit moves the sum by at most m * M units, M = max(|round(lower *
 *   10^s)|, |round(upper * 10^s)|): sensitivity m * M / 10^s.
 * - BFV sum of squares: m * M^2 / 10^(2s), the same way.
 * - CKKS: the custodian returns round(S + e) to its grid 2^g, with S the true
 *   sum and |e| <= 2^g / 16 (the grid is chosen 16 times above the worst-case
 *   CKKS error, profile.ts). For neighbouring data the released values differ
 *   by at most |S - S'| + |e| + |e'| + 2^g (each rounding moves a value by at
 *   most half a step) <= m * M + 2 * 2^g: twice the grid step covers the
 *   approximation error and the rounding. Every group's value is rounded
 *   with its own error, so a group the unit does not touch may still move
 *   by a step: the 2 * 2^g is added for every group (L1: G groups; L2:
 *   ceil(sqrt(G))).
 */

export interface HeSensitivity {
  readonly l1: Rational
  readonly l2: Rational
  /** The exact value is always an integer (BFV with scale 0). */
  readonly integer: boolean
  /** The exact value is always a multiple of 2^inputExp (CKKS: its grid). */
  readonly inputExp: number | undefined
}

function pow10(k: number): bigint {
  return 10n ** BigInt(k)
}

function ceilSqrt(n: number): bigint {
  let r = BigInt(Math.ceil(Math.sqrt(n)))
  while (r * r < BigInt(n)) r += 1n
  while (r > 1n && (r - 1n) * (r - 1n) >= BigInt(n)) r -= 1n
  return r
}

/** Sensitivity of an he column's SUM (`squares` false) or sum of squares (true) over `groups` released groups. */
export function heSensitivity(
  plan: HeColumnPlan,
  maxRowsPerUnit: number,
  groups: number,
  squares: boolean,
): HeSensitivity {
  const m = BigInt(maxRowsPerUnit)
  if (plan.scheme === 'bfv') {
    const M = plan.maxAbsUnits
    const perRow = squares ? Rational.of(M * M, pow10(2 * plan.scale)) : Rational.of(M, pow10(plan.scale))
    return {
      l1: perRow.mul(Rational.of(m)),
      l2: groupedL2Sensitivity({ maxRowsPerUnit, perRow }),
      integer: plan.scale === 0,
      inputExp: undefined,
    }
  }
  const gridExp = squares ? plan.squareGridExp : plan.sumGridExp
  if (gridExp === null)
    throw new VeilboxError(
      'VEILBOX_ERR_HE_BAD_ARGUMENT',
      `CKKS column ${plan.name} has no ${squares ? 'square' : 'sum'} grid`,
    )
  const a = Rational.fromNumber(Math.abs(plan.lower))
  const b = Rational.fromNumber(Math.abs(plan.upper))
  const M = a.gt(b) ? a : b
  const perRow = squares ? M.mul(M) : M
  const step = Rational.dyadic(2n, gridExp)
  return {
    l1: perRow.mul(Rational.of(m)).add(step.mul(Rational.of(BigInt(groups)))),
    l2: groupedL2Sensitivity({ maxRowsPerUnit, perRow }).add(step.mul(Rational.of(ceilSqrt(groups)))),
    integer: false,
    inputExp: gridExp,
  }
}

/**
 * round-half-up(units * base^exponent / 2^k), exactly: the value on the
 * mechanism's grid, given to it as units of 2^k (which it then does not round
 * again).
 */
export function heToGrid(value: ScaledValue, k: number): GridValue {
  let num = value.units
  let den = 1n
  const p = BigInt(value.base) ** BigInt(Math.abs(value.exponent))
  if (value.exponent >= 0) num *= p
  else den *= p
  // x / 2^k = num / (den * 2^k) or num * 2^-k / den
  if (k >= 0) den <<= BigInt(k)
  else num <<= BigInt(-k)
  return { units: floorDiv(2n * num + den, 2n * den), exp: k }
}
