import { heError } from './he-error.js'

/**
 * Encryption parameters of one SEAL context, as plain data that can be
 * validated, hashed, stored beside the keys and sent to workers.
 *
 * Security. Every context is built at SEAL's `tc128` level, and before SEAL
 * ever sees a parameter object we check it against the
 * HomomorphicEncryption.org 128-bit table ourselves (PRIVACY-NOTES §3): a
 * larger total coefficient modulus at the same degree is weaker. SEAL checks
 * the same table again when it builds the context (context.ts verifies that it
 * did and that the parameters were accepted), so a bug on either side is
 * caught by the other.
 */

export const POLY_DEGREES = [4096, 8192, 16384, 32768] as const
export type PolyDegree = (typeof POLY_DEGREES)[number]

/** HomomorphicEncryption.org standard, classical 128-bit security, ternary secret. */
export const MAX_COEFF_BITS_128: Readonly<Record<PolyDegree, number>> = {
  4096: 109,
  8192: 218,
  16384: 438,
  32768: 881,
}

/**
 * SEAL's `CoeffModulus.BFVDefault(n, tc128)` bit sizes, written out so the
 * parameters are data we can validate and hash. The last prime is the
 * "special" prime that only key switching (rotations) uses; the others carry
 * the ciphertext and set the noise budget.
 */
export const BFV_COEFF_BITS: Readonly<Record<PolyDegree, readonly number[]>> = {
  4096: [36, 36, 37],
  8192: [43, 43, 44, 44, 44],
  16384: [48, 48, 48, 49, 49, 49, 49, 49, 49],
  32768: [55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 56],
}

/**
 * CKKS chain: a 60-bit first prime holds the integer part of the result, two
 * 40-bit primes match the 2^40 scale (one is dropped by the single rescale
 * after the mask multiplication), and a 60-bit special prime serves key
 * switching. 200 bits fit the 218 allowed at n = 8192; smaller n cannot hold a
 * useful CKKS chain at 128-bit security, so CKKS starts at 8192.
 */
export const CKKS_COEFF_BITS: readonly number[] = [60, 40, 40, 60]
export const CKKS_SCALE_BITS = 40
export const CKKS_DEGREES: readonly PolyDegree[] = [8192, 16384, 32768]

export interface BfvContextParams {
  readonly scheme: 'bfv'
  readonly polyModulusDegree: PolyDegree
  readonly coeffModulusBits: readonly number[]
  /** A batching prime: prime, = 1 mod 2n, at most 60 bits. */
  readonly plainModulus: bigint
  readonly security: 'tc128'
}

export interface CkksContextParams {
  readonly scheme: 'ckks'
  readonly polyModulusDegree: PolyDegree
  readonly coeffModulusBits: readonly number[]
  readonly scaleBits: number
  readonly security: 'tc128'
}

export type ContextParams = BfvContextParams | CkksContextParams

/** Slots (rows) one ciphertext holds: n for BFV (a 2 x n/2 matrix), n/2 for CKKS. */
export function slotCount(p: ContextParams): number {
  return p.scheme === 'bfv' ? p.polyModulusDegree : p.polyModulusDegree / 2
}

/** A stable text form: the cache key of the per-thread context and part of the profile hash. */
export function contextKey(p: ContextParams): string {
  const base = `${p.scheme}:n=${p.polyModulusDegree}:q=${p.coeffModulusBits.join(',')}:${p.security}`
  return p.scheme === 'bfv' ? `${base}:t=${p.plainModulus}` : `${base}:scale=2^${p.scaleBits}`
}

/**
 * Bits of the modulus that carries data (everything but the special prime).
 * The noise budget of a fresh ciphertext is about this minus log2(t).
 */
export function dataModulusBits(p: Pick<ContextParams, 'coeffModulusBits'>): number {
  const bits = p.coeffModulusBits
  return bits.slice(0, -1).reduce((a, b) => a + b, 0)
}

function insecure(detail: string): never {
  throw heError('VEILBOX_ERR_HE_INSECURE_PARAMETERS', detail)
}

function invalidParams(detail: string): never {
  throw heError('VEILBOX_ERR_HE_INVALID_PARAMETERS', detail)
}

/**
 * Refuses parameters weaker than 128-bit or malformed, before SEAL sees them.
 * Messages say which rule broke, because a refusal here is a configuration
 * error someone has to fix.
 */
export function validateContextParams(p: ContextParams): void {
  if ((p.security as string) !== 'tc128') {
    insecure(`security level must be tc128 (128-bit), got ${JSON.stringify(p.security)}`)
  }
  const n = p.polyModulusDegree
  if (!(POLY_DEGREES as readonly number[]).includes(n)) {
    insecure(
      `poly modulus degree must be one of ${POLY_DEGREES.join(', ')} (smaller degrees cannot reach 128-bit security), got ${String(n)}`,
    )
  }
  const bits = p.coeffModulusBits
  if (!Array.isArray(bits) || bits.length < 2) {
    invalidParams('the coefficient modulus needs at least two primes (data and key switching)')
  }
  for (const b of bits) {
    if (!Number.isInteger(b) || b < 20 || b > 60)
      invalidParams(`coefficient modulus primes must be 20 to 60 bits, got ${String(b)}`)
  }
  const total = bits.reduce((a, b) => a + b, 0)
  const max = MAX_COEFF_BITS_128[n]
  if (total > max) {
    insecure(
      `a ${total}-bit coefficient modulus at n = ${n} is weaker than 128-bit security; the HomomorphicEncryption.org table allows at most ${max} bits at this degree`,
    )
  }
  if (p.scheme === 'bfv') {
    const t = p.plainModulus
    if (typeof t !== 'bigint' || t < 2n || t >= 1n << 60n)
      invalidParams(`the plain modulus must be an integer from 2 to 2^60 - 1, got ${String(t)}`)
    if (t % BigInt(2 * n) !== 1n) {
      invalidParams(`the plain modulus ${t} does not allow batching at n = ${n}: it must be 1 modulo 2n = ${2 * n}`)
    }
    if (!isPrime(t)) invalidParams(`the plain modulus ${t} is not prime; batching needs a prime`)
  } else if (p.scheme === 'ckks') {
    if (!CKKS_DEGREES.includes(n))
      invalidParams(`CKKS needs n >= 8192 to hold its modulus chain at 128-bit security, got ${n}`)
    const s = p.scaleBits
    const inner = bits.slice(1, -1)
    if (!Number.isInteger(s) || inner.length === 0 || inner.some((b) => b !== s)) {
      invalidParams(
        `the CKKS scale (2^${String(s)}) must match every middle prime of the chain (${inner.join(', ')} bits) so that a rescale restores it`,
      )
    }
  } else {
    invalidParams(`unknown scheme ${JSON.stringify((p as { scheme: unknown }).scheme)}`)
  }
}

export function bitLength(x: bigint): number {
  if (x < 0n) x = -x
  return x === 0n ? 0 : x.toString(2).length
}

function modPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let r = 1n
  base %= mod
  while (exp > 0n) {
    if (exp & 1n) r = (r * base) % mod
    base = (base * base) % mod
    exp >>= 1n
  }
  return r
}

/** Deterministic Miller-Rabin: these twelve bases decide every n < 3.3 * 10^24. */
export function isPrime(n: bigint): boolean {
  if (n < 2n) return false
  const bases = [2n, 3n, 5n, 7n, 11n, 13n, 17n, 19n, 23n, 29n, 31n, 37n]
  for (const p of bases) {
    if (n === p) return true
    if (n % p === 0n) return false
  }
  let d = n - 1n
  let s = 0
  while ((d & 1n) === 0n) {
    d >>= 1n
    s++
  }
  outer: for (const a of bases) {
    let x = modPow(a, d, n)
    if (x === 1n || x === n - 1n) continue
    for (let i = 1; i < s; i++) {
      x = (x * x) % n
      if (x === n - 1n) continue outer
    }
    return false
  }
  return true
}

/**
 * The largest plain modulus (in bits) whose worst-case pipeline still decrypts
 * correctly: fresh symmetric encryption, one plain multiplication by a 0/1
 * mask (BFV noise grows by about t * n there), the sum of `batches`
 * ciphertexts, and log2(n/2) + 1 rotations. The budget of a fresh ciphertext
 * is about D - log2 t - 5 (D = data modulus bits); the mask multiplication
 * takes about log2 t + 5 more; adding `batches` ciphertexts up to
 * log2(batches); rotations and key switching about 10. Measured at n = 4096
 * with t of 20 bits and 1000 batches: 13 bits left; at n = 8192 with t of 60
 * bits: 24 bits left; the formula below keeps 2 bits in hand beyond that and
 * the custodian checks the real budget before it decrypts.
 */
export function maxPlainBits(n: PolyDegree, batches: number): number {
  const d = dataModulusBits({ coeffModulusBits: BFV_COEFF_BITS[n] })
  const log2b = Math.ceil(Math.log2(batches + 1))
  return Math.min(60, Math.floor((d - 20 - log2b - 2) / 2))
}

/** The smallest prime size SEAL can find a batching prime for at n (= 1 mod 2n needs more bits than 2n). */
export function minPlainBits(n: PolyDegree): number {
  return Math.log2(n) + 5
}
