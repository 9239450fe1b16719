import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { isVeilboxError, VeilboxError } from '../../errors/index.js'
import { bitLength } from '../../engine/he/params.js'
import type { HeProfile } from '../../engine/he/profile.js'
import { identifierSchema, type ColumnSpec } from '../../schema.js'
import { keyOptionsIn, keyOptionsSchema } from '../../custodian/wire.js'
import { datasetNotFound, getDataset } from '../../store/datasets.js'
import { findHeKeys, storeHeKeys, type HeKeysRecord } from '../../engine/he/material.js'
import { actorOf, principalOf } from '../plugins/auth.js'
import { visibleDataset } from '../visibility.js'
import { problems } from '../schemas.js'

/** Aggregates an encrypted column supports: sums of ciphertexts and their derivations, never an order statistic. */
export const HE_COLUMN_AGGREGATES = ['count', 'sum', 'avg', 'var', 'stddev'] as const

/**
 * The aggregates a query may apply to a column, as the binder decides them:
 * none for ids; COUNT for everything else; the moments and quantiles for
 * bounded numbers; for he columns the moments only (VAR and STDDEV only when
 * the keys were made with variance).
 */
export function columnAggregates(col: ColumnSpec, profile: HeProfile | null): string[] {
  if (col.type === 'id') return []
  if (col.type !== 'integer' && col.type !== 'number') return ['count']
  if (col.lower === undefined || col.upper === undefined) return ['count']
  if (col.protection === 'he') {
    const plan = profile?.columns.find((c) => c.name === col.name)
    return plan !== undefined && plan.squareContexts === null ? ['count', 'sum', 'avg'] : [...HE_COLUMN_AGGREGATES]
  }
  return ['count', 'sum', 'avg', 'var', 'stddev', 'median', 'quantile']
}

const contextView = z.object({
  scheme: z.enum(['bfv', 'ckks']),
  polyModulusDegree: z.number().int(),
  coeffModulusBits: z
    .number()
    .int()
    .describe('total bits of the coefficient modulus (at most 109/218/438/881 for 128-bit security)'),
  plainModulusBits: z.number().int().optional(),
  scaleBits: z.number().int().optional(),
  security: z.literal('tc128'),
})

const heViewSchema = z
  .object({
    dataset: z.string(),
    keys: z.boolean(),
    profileId: z.string().optional(),
    maxRows: z.number().int().optional(),
    createdAt: z.string().optional(),
    createdBy: z.string().optional(),
    publicKeyBytes: z.number().int().optional(),
    imported: z.boolean().optional(),
    contexts: z.array(contextView).optional(),
    columns: z.array(
      z.object({
        name: z.string(),
        type: z.enum(['integer', 'number']),
        scheme: z.enum(['bfv', 'ckks']).optional(),
        scale: z.number().int().optional(),
        lower: z.number().optional(),
        upper: z.number().optional(),
        variance: z.boolean().optional(),
        aggregates: z.array(z.string()),
      }),
    ),
  })
  .meta({ id: 'HeProfile', description: 'The public HE parameters of a dataset: no key material' })

/**
 * The type of an he column as the profile shows it. Registration lets only integer and number columns be he, except
 * that it does not refuse an he privacy-unit column of type id; such a column fails here, as it failed the response
 * schema before (an internal error either way), rather than be shown as a type the schema does not allow.
 */
function heColumnType(c: ColumnSpec): 'integer' | 'number' {
  if (c.type === 'integer' || c.type === 'number') return c.type
  throw new Error(`he column ${c.name} is of type ${c.type}; only integer and number columns can be encrypted`)
}

function heView(
  dataset: string,
  columns: readonly ColumnSpec[],
  record: HeKeysRecord | null,
): z.infer<typeof heViewSchema> {
  const he = columns.filter((c) => c.protection === 'he')
  if (record === null) {
    return {
      dataset,
      keys: false,
      columns: he.map((c) => ({
        name: c.name,
        type: heColumnType(c),
        aggregates: columnAggregates(c, null),
      })),
    }
  }
  const p = record.profile
  return {
    dataset,
    keys: true,
    profileId: p.id,
    maxRows: p.maxRows,
    createdAt: record.createdAt,
    createdBy: record.createdBy,
    publicKeyBytes: record.publicBytes,
    contexts: p.contexts.map((c) => ({
      scheme: c.scheme,
      polyModulusDegree: c.polyModulusDegree,
      coeffModulusBits: c.coeffModulusBits.reduce((a, b) => a + b, 0),
      ...(c.scheme === 'bfv' ? { plainModulusBits: bitLength(c.plainModulus) } : { scaleBits: c.scaleBits }),
      security: c.security,
    })),
    columns: p.columns.map((plan) => {
      const col = he.find((c) => c.name === plan.name)!
      return {
        name: plan.name,
        type: plan.type,
        scheme: plan.scheme,
        scale: plan.scale,
        lower: plan.lower,
        upper: plan.upper,
        variance: plan.squareContexts !== null,
        aggregates: columnAggregates(col, p),
      }
    }),
  }
}

/** HE keys of a dataset: created by its custodian, public part held by the service. */
export default async function heRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<ZodTypeProvider>()
  const params = z.object({ id: identifierSchema })

  r.post(
    '/v1/datasets/:id/he/keys',
    {
      config: { roles: ['custodian', 'owner'] },
      schema: {
        summary:
          "Have the key custodian create the dataset's HE keys (its custodian, or its owner); the service keeps only the public part",
        description:
          'The custodian (in process, or `veilbox custodian` at VEILBOX_CUSTODIAN_URL) chooses 128-bit parameters from the declared he columns and maxRows, creates the keys in its own key directory and publishes the profile, public key and Galois keys, which the service stores. Keys are never replaced. If the custodian already holds keys for the dataset (made earlier) and they fit its declared columns, they are taken over instead (`imported`).',
        tags: ['he'],
        params,
        body: keyOptionsSchema,
        response: { 201: heViewSchema, ...problems(400, 401, 403, 404, 409, 503) },
      },
    },
    async (request, reply) => {
      const dataset = await getDataset(app.db, request.params.id)
      const p = principalOf(request)
      // An owner has its own datasets' keys made (docs/market.md); another dataset is refused as an unknown one.
      if (p.role === 'owner' && dataset.owner?.id !== p.id) throw datasetNotFound(request.params.id)
      const { spec } = dataset
      if (!spec.columns.some((c) => c.protection === 'he')) {
        throw new VeilboxError(
          'VEILBOX_ERR_HE_UNSUPPORTED_COLUMN',
          `dataset ${spec.id} has no encrypted (he) column; there is nothing to make HE keys for`,
          { dataset: spec.id },
        )
      }
      if ((await findHeKeys(app.db, spec.id)) !== null) {
        throw new VeilboxError(
          'VEILBOX_ERR_CUSTODIAN_KEYS_EXIST',
          `dataset ${spec.id} has HE keys already; they are never replaced, because its ciphertexts depend on them`,
          { dataset: spec.id },
        )
      }
      let imported = false
      try {
        await app.custodian.createKeys(spec.id, spec, keyOptionsIn(request.body))
      } catch (err) {
        if (!(isVeilboxError(err) && err.code === 'VEILBOX_ERR_CUSTODIAN_KEYS_EXIST')) throw err
        imported = true
      }
      const material = await app.custodian.publicMaterial(spec.id)
      const record = await storeHeKeys(
        app.db,
        spec,
        material,
        actorOf(request),
        imported ? 'he.keys.import' : 'he.keys.create',
      )
      return reply.code(201).send({ ...heView(spec.id, spec.columns, record), ...(imported ? { imported } : {}) })
    },
  )

  r.get(
    '/v1/datasets/:id/he',
    {
      config: { roles: 'any' },
      schema: {
        summary:
          "The dataset's HE parameters: schemes, ring degree, moduli sizes, row capacity, per column what it supports",
        tags: ['he'],
        params,
        response: { 200: heViewSchema, ...problems(401, 404) },
      },
    },
    async (request) => {
      const { spec } = await visibleDataset(app, principalOf(request), request.params.id)
      return heView(spec.id, spec.columns, await findHeKeys(app.db, spec.id))
    },
  )
}
