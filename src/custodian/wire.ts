import { z } from 'zod'
import { POLY_DEGREES } from '../engine/he/params.js'
import { MAX_AGGREGATES_PER_REQUEST } from '../engine/he/key-holder.js'
import { profileFromJson, profileToJson, type HeKeyOptions, type HeProfile } from '../engine/he/profile.js'
import type { DecryptRequest, DecryptResponse, PublicMaterial } from '../engine/he/types.js'
import { identifierSchema } from '../schema.js'

/**
 * What travels between the compute service and a separate `veilbox
 * custodian` process: plain JSON, binary data as base64, bigints as decimal
 * strings, every message validated with zod on arrival (both ways). Nothing
 * here can carry a secret key: the custodian's answers are public material
 * and exact aggregate values.
 */

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/
const b64 = z
  .string()
  .regex(BASE64, 'must be base64')
  .max(64 * 1024 * 1024)
const hex64 = z.string().regex(/^[0-9a-f]{64}$/)

export const toBase64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64')
export const fromBase64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'))

export const keyOptionsSchema = z.strictObject({
  maxRows: z
    .number()
    .int()
    .min(1)
    .max(1 << 24),
  // Any whole number: chooseProfile refuses the degrees that cannot reach 128-bit security (VEILBOX_ERR_HE_INSECURE_PARAMETERS), with the reason.
  polyModulusDegree: z
    .number()
    .int()
    .min(1)
    .max(1 << 20)
    .optional()
    .describe(`ring degree, one of ${POLY_DEGREES.join(', ')}; default 8192`),
  ckksColumns: z.array(identifierSchema).max(256).optional(),
  variance: z.boolean().optional(),
})

/** A profile as JSON (profileToJson's form); read back with profileFromJson, which re-checks its hash and security. */
const profileJsonSchema = z.record(z.string(), z.unknown())

export function profileOut(p: HeProfile): Record<string, unknown> {
  return JSON.parse(profileToJson(p)) as Record<string, unknown>
}

export function profileIn(raw: unknown): HeProfile {
  return profileFromJson(JSON.stringify(profileJsonSchema.parse(raw)))
}

export const createKeysResponseSchema = z.strictObject({ profile: profileJsonSchema })

export const publicMaterialSchema = z.strictObject({
  dataset: identifierSchema,
  profile: profileJsonSchema,
  contexts: z
    .array(z.strictObject({ publicKey: b64, galoisKeys: b64, galoisSteps: z.array(z.number().int().min(0)).max(64) }))
    .min(1)
    .max(8),
})

export function materialOut(m: PublicMaterial): z.infer<typeof publicMaterialSchema> {
  return {
    dataset: m.dataset,
    profile: profileOut(m.profile),
    contexts: m.contexts.map((c) => ({
      publicKey: toBase64(c.publicKey),
      galoisKeys: toBase64(c.galoisKeys),
      galoisSteps: [...c.galoisSteps],
    })),
  }
}

export function materialIn(raw: unknown): PublicMaterial {
  const m = publicMaterialSchema.parse(raw)
  return {
    dataset: m.dataset,
    profile: profileIn(m.profile),
    contexts: m.contexts.map((c) => ({
      publicKey: fromBase64(c.publicKey),
      galoisKeys: fromBase64(c.galoisKeys),
      galoisSteps: c.galoisSteps,
    })),
  }
}

const aggregateSchema = z.strictObject({
  column: identifierSchema,
  kind: z.enum(['sum', 'sumSquares']),
  group: z
    .number()
    .int()
    .min(0)
    .max(1 << 20),
  rows: z.number().int().min(0),
  ciphertexts: z.array(b64).min(1).max(8),
})

export const decryptRequestSchema = z.strictObject({
  dataset: identifierSchema,
  profileId: hex64,
  queryId: z.string().min(1).max(128),
  aggregates: z.array(aggregateSchema).min(1).max(MAX_AGGREGATES_PER_REQUEST),
})

export function decryptRequestOut(r: DecryptRequest): z.infer<typeof decryptRequestSchema> {
  return {
    dataset: r.dataset,
    profileId: r.profileId,
    queryId: r.queryId,
    aggregates: r.aggregates.map((a) => ({
      column: a.column,
      kind: a.kind,
      group: a.group,
      rows: a.rows,
      ciphertexts: a.ciphertexts.map(toBase64),
    })),
  }
}

export function decryptRequestIn(raw: z.infer<typeof decryptRequestSchema>): DecryptRequest {
  return { ...raw, aggregates: raw.aggregates.map((a) => ({ ...a, ciphertexts: a.ciphertexts.map(fromBase64) })) }
}

export const decryptResponseSchema = z.strictObject({
  queryId: z.string(),
  values: z.array(
    z.strictObject({
      column: z.string(),
      kind: z.enum(['sum', 'sumSquares']),
      group: z.number().int().min(0),
      rows: z.number().int().min(1),
      value: z.strictObject({
        units: z.string().regex(/^-?\d{1,400}$/),
        base: z.union([z.literal(2), z.literal(10)]),
        exponent: z.number().int().min(-4096).max(4096),
      }),
    }),
  ),
})

export function decryptResponseOut(r: DecryptResponse): z.infer<typeof decryptResponseSchema> {
  return {
    queryId: r.queryId,
    values: r.values.map((v) => ({ ...v, value: { ...v.value, units: v.value.units.toString() } })),
  }
}

export function decryptResponseIn(raw: unknown): DecryptResponse {
  const r = decryptResponseSchema.parse(raw)
  return {
    queryId: r.queryId,
    values: r.values.map((v) => ({ ...v, value: { ...v.value, units: BigInt(v.value.units) } })),
  }
}

export type WireKeyOptions = z.infer<typeof keyOptionsSchema>
export function keyOptionsIn(o: WireKeyOptions): HeKeyOptions {
  return o as HeKeyOptions
}
