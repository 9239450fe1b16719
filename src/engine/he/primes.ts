import { isPrime } from './params.js'

/**
 * Batching primes (p = 1 mod 2n), the way SEAL's `CoeffModulus::Create` and
 * `PlainModulus::Batching` pick them: the largest primes of the requested bit
 * size, found by stepping down from 2^bits by 2n. We pick them ourselves so
 * that parameter choice is a pure function of the column declarations (no
 * wasm needed), and so that a plain modulus can be kept off the coefficient
 * primes, which SEAL picks by the same rule and would otherwise collide with
 * at equal bit sizes.
 */
export function batchingPrimes(
  n: number,
  bits: number,
  count: number,
  exclude: ReadonlySet<bigint> = new Set(),
): bigint[] {
  const step = BigInt(2 * n)
  const low = 1n << BigInt(bits - 1)
  const out: bigint[] = []
  for (let p = (1n << BigInt(bits)) - step + 1n; p > low && out.length < count; p -= step) {
    if (!exclude.has(p) && isPrime(p)) out.push(p)
  }
  if (out.length < count) throw new RangeError(`fewer than ${count} batching primes of ${bits} bits exist for n = ${n}`)
  return out
}

/**
 * The coefficient primes SEAL's `CoeffModulus::Create` builds for these bit
 * sizes at degree n, in its order (of each size it hands out the smallest of
 * the primes it found first).
 */
export function coefficientPrimes(n: number, bitSizes: readonly number[]): bigint[] {
  const counts = new Map<number, number>()
  for (const b of bitSizes) counts.set(b, (counts.get(b) ?? 0) + 1)
  const bySize = new Map<number, bigint[]>()
  for (const [b, c] of counts) bySize.set(b, batchingPrimes(n, b, c))
  return bitSizes.map((b) => bySize.get(b)!.pop()!)
}
