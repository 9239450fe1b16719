/**
 * Argument checks shared by the mechanism constructors and the budget types.
 * Messages are part of the contract (tests assert them word for word), so
 * they are built in one place: "<name> must be <rule>, got <value>".
 */
import { VeilboxError } from '../../errors/index.js'
import { Rational } from './rational.js'

export type Amount = number | Rational

export function invalid(name: string, rule: string, value: unknown): VeilboxError {
  return new VeilboxError('VEILBOX_ERR_DP_INVALID_PARAMETER', `${name} must be ${rule}, got ${show(value)}`, {
    parameter: name,
  })
}

function show(value: unknown): string {
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : String(value)
  if (typeof value === 'bigint') return `${value}n`
  if (value instanceof Rational) return value.toString()
  if (typeof value === 'string') return JSON.stringify(value)
  if (value === undefined || value === null) return String(value)
  return typeof value
}

const POSITIVE = 'a finite number greater than 0'

/**
 * A positive amount as an exact rational. Numbers are read by `read`:
 * budget amounts (epsilon, rho) as decimals, data-derived ones (sensitivity,
 * sigma^2) as their exact binary value; see rational.ts.
 */
export function positive(name: string, value: unknown, read: 'decimal' | 'exact'): Rational {
  if (value instanceof Rational) {
    if (!value.isPositive()) throw invalid(name, POSITIVE, value)
    return value
  }
  if (typeof value !== 'number' || !Number.isFinite(value) || !(value > 0)) throw invalid(name, POSITIVE, value)
  return read === 'decimal' ? Rational.fromDecimal(value) : Rational.fromNumber(value)
}

/** A number strictly between 0 and 1 (a confidence level, a delta). */
export function openUnit(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || !(value > 0 && value < 1)) {
    throw invalid(name, 'a finite number strictly between 0 and 1', value)
  }
  return value
}

/** A number in [0, 1] (a quantile). */
export function closedUnit(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || !(value >= 0 && value <= 1)) {
    throw invalid(name, 'a finite number between 0 and 1', value)
  }
  return value
}

export function positiveInteger(name: string, value: unknown, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > max) {
    throw invalid(name, max === Number.MAX_SAFE_INTEGER ? 'a positive integer' : `an integer from 1 to ${max}`, value)
  }
  return value
}

export function integerIn(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalid(name, `an integer from ${min} to ${max}`, value)
  }
  return value
}

export function finite(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw invalid(name, 'a finite number', value)
  return value
}
