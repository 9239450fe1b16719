import type { DatasetSpec } from '../../schema.js'
import type { HeKeyOptions, HeProfile } from './profile.js'

/**
 * The plain data that moves between the HE roles: data owner (encrypt.ts),
 * compute service (aggregate.ts, in sandbox workers) and custodian
 * (key-holder.ts). Everything here is safe to send over a wire or a worker
 * message: ciphertexts, public keys and counts, never a secret key.
 */

/** One `he` column of one dataset version, encrypted by the data owner. */
export interface EncryptedColumn {
  /** The HE profile (hence keys and parameters) the ciphertexts were made under. */
  readonly profileId: string
  readonly column: string
  readonly rows: number
  /** Rows per ciphertext: the slot count of the column's context. */
  readonly batchRows: number
  /**
   * values[i][b]: rows [b * batchRows, (b + 1) * batchRows) under the column's
   * i-th SUM context, as seeded, compressed SEAL serializations.
   */
  readonly values: readonly (readonly Uint8Array[])[]
  /** squares[i][b]: the same rows' x^2 (mod t_i for BFV) under the i-th square context; null without variance. */
  readonly squares: readonly (readonly Uint8Array[])[] | null
}

export type AggregateKind = 'sum' | 'sumSquares'

/** One aggregate of one group, reduced by rotate-and-sum so that every slot holds the total. */
export interface EncryptedAggregate {
  readonly column: string
  readonly kind: AggregateKind
  readonly group: number
  /**
   * Selected rows of the group (0 for an empty group, which is summed and
   * decrypted like any other). The custodian checks the value against it; it
   * never reaches an analyst.
   */
  readonly rows: number
  /** One ciphertext per context of the aggregate: CRT residues when there are several. */
  readonly ciphertexts: readonly Uint8Array[]
}

export interface EncryptedAggregateResult {
  readonly profileId: string
  readonly column: string
  /** Selected rows per group (COUNT(*) of the group), read off the plaintext mask. */
  readonly counts: readonly number[]
  /** Per group, every group (an empty one too: the work and what is decrypted never depend on the selection). */
  readonly sums: readonly EncryptedAggregate[]
  /** As `sums`, for x^2; null when squares were not asked for. */
  readonly sumSquares: readonly EncryptedAggregate[] | null
}

/**
 * The custodian role: the only one that holds a dataset's secret keys and the
 * only one that decrypts. The compute service reaches it through this
 * interface, whose one implementation is the key holder (key-holder.ts), in
 * process or behind a client of a separate `veilbox custodian` process
 * (src/custodian); plain data in and out.
 */
export interface Custodian {
  /** Chooses parameters for the dataset's `he` columns and creates their keys; returns the public profile. */
  createKeys(dataset: string, spec: DatasetSpec, options: HeKeyOptions): Promise<HeProfile>
  /** The profile, public keys and Galois keys: everything the service and the data owner may hold. */
  publicMaterial(dataset: string): Promise<PublicMaterial>
  /** Decrypts the aggregates of one admitted query. */
  decryptAggregates(request: DecryptRequest): Promise<DecryptResponse>
}

/** What the compute service sends the custodian to release one admitted query. */
export interface DecryptRequest {
  readonly dataset: string
  readonly profileId: string
  /** The admitted query the release belongs to; the service's audit record names it too. */
  readonly queryId: string
  readonly aggregates: readonly EncryptedAggregate[]
}

/**
 * A decrypted aggregate, exactly: units * base^exponent, with base 10 or 2.
 * BFV gives decimal fixed point (base 10, exponent -scale, or -2 * scale for
 * squares); CKKS gives a value already rounded to its power-of-two grid
 * (base 2). Never a raw CKKS decryption: the DP layer adds noise on top of
 * this. Not the DP layer's `ExactValue` (units * 2^exp, dp/mechanism.ts),
 * onto whose grid release/he.ts rounds it (`heToGrid`).
 */
export interface ScaledValue {
  readonly units: bigint
  readonly base: 2 | 10
  readonly exponent: number
}

export interface DecryptedAggregate {
  readonly column: string
  readonly kind: AggregateKind
  readonly group: number
  readonly rows: number
  readonly value: ScaledValue
}

export interface DecryptResponse {
  readonly queryId: string
  readonly values: readonly DecryptedAggregate[]
}

/** Keys for one context of a profile, as the service and the data owner receive them. */
export interface PublicContextKeys {
  /** Seeded, compressed SEAL serialization. */
  readonly publicKey: Uint8Array
  /** Galois keys for exactly `galoisSteps`: the rotations rotate-and-sum uses. */
  readonly galoisKeys: Uint8Array
  readonly galoisSteps: readonly number[]
}

/**
 * Everything that may leave the custodian for a dataset. No relinearization
 * keys: no aggregate multiplies two ciphertexts (squares are uploaded
 * encrypted by the data owner), so none are made.
 */
export interface PublicMaterial {
  readonly dataset: string
  readonly profile: HeProfile
  /** Per context, in the order of profile.contexts. */
  readonly contexts: readonly PublicContextKeys[]
}
