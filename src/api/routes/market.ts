import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { VeilboxError } from '../../errors/index.js'
import { certificate } from '../../engine/market/certificates.js'
import { priceSchema, setLevels, setPrices } from '../../engine/market/dataset.js'
import { policySchema, readPolicy, scenarioSchema, writePolicy } from '../../engine/market/policy.js'
import { identifierSchema, LEVELS } from '../../schema.js'
import { findDataset, getDataset, getVersion } from '../../store/datasets.js'
import { findOwnerPrincipal, setDatasetOwner } from '../../store/market.js'
import { actorOf, principalOf } from '../plugins/auth.js'
import { datasetViewSchema, principalNameSchema, problems } from '../schemas.js'
import { canSee, visibleDataset } from '../visibility.js'
import { datasetView } from './datasets.js'

const policyView = policySchema.meta({ id: 'MarketPolicy' })

const certificateSchema = z
  .object({
    kind: z.literal('veilbox.certificate'),
    dataset: z.string(),
    title: z.string(),
    version: z.number().int(),
    owner: z.object({ id: z.string(), name: z.string() }).nullable(),
    level: z.enum(LEVELS),
    levels: z.record(z.string(), z.enum(LEVELS)),
    commitment: z.string(),
    rows: z.number().int(),
    registeredAt: z.string(),
    issuedAt: z.string(),
    keyId: z.string(),
    signature: z.string(),
  })
  .meta({
    id: 'Certificate',
    description:
      'Ed25519 over the canonical JSON of the other fields, with the receipt key (GET /v1/receipts/keys); veilbox certificate verify checks it offline',
  })

/** The market's settings (docs/market.md): the policy, and each dataset's owner, levels and prices. */
export default async function marketRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<ZodTypeProvider>()
  const params = z.object({ id: identifierSchema })

  r.get(
    '/v1/market/policy',
    {
      config: { roles: 'any' },
      schema: {
        summary: 'The market policy: scenario categories, level rules, the negative list, the fee',
        description:
          'Operators see the whole negative list; others its rules on the datasets they may see, so that the list names no dataset the catalog hides from them.',
        tags: ['market'],
        response: { 200: policyView, ...problems(401) },
      },
    },
    async (request) => {
      const p = principalOf(request)
      const policy = await readPolicy(app.db)
      if (p.role === 'operator') return policy
      const negativeList = []
      for (const rule of policy.negativeList) {
        const record = await findDataset(app.db, rule.dataset)
        if (record !== null && (await canSee(app, p, record))) negativeList.push(rule)
      }
      return { ...policy, negativeList }
    },
  )

  r.put(
    '/v1/market/policy',
    {
      config: { roles: ['operator'] },
      schema: {
        summary: 'Replace the market policy whole',
        description:
          'Checked whole: level scenarios and negative-list scenarios must be among the scenario categories, rule ids unique. Applications already approved keep their grants; pending ones are checked again at their last approval.',
        tags: ['market'],
        body: policySchema,
        response: { 200: policyView, ...problems(400, 401, 403) },
      },
    },
    async (request) => writePolicy(app.db, request.body, actorOf(request)),
  )

  r.put(
    '/v1/datasets/:id/owner',
    {
      config: { roles: ['operator'] },
      schema: {
        summary: "Set the dataset's owner principal (a name holding an active owner key), or null for the platform",
        tags: ['market'],
        params,
        body: z.strictObject({ owner: principalNameSchema.nullable() }),
        response: { 200: datasetViewSchema, ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { id } = request.params
      await getDataset(app.db, id)
      const name = request.body.owner
      const owner = name === null ? null : await findOwnerPrincipal(app.db, name)
      if (name !== null && owner === null)
        throw new VeilboxError(
          'VEILBOX_ERR_MARKET_NO_OWNER',
          `no owner named "${name}" holds an active key; create one first (POST /v1/keys with role owner)`,
          { owner: name },
        )
      await setDatasetOwner(app.db, id, owner, actorOf(request))
      return datasetView(app, await getDataset(app.db, id), true)
    },
  )

  r.put(
    '/v1/datasets/:id/levels',
    {
      config: { roles: ['operator'] },
      schema: {
        summary: "Set columns' levels (L1-L4); the columns not named keep theirs",
        tags: ['market'],
        params,
        body: z.strictObject({ levels: z.record(identifierSchema, z.enum(LEVELS)) }),
        response: { 200: datasetViewSchema, ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => {
      await setLevels(app.db, request.params.id, request.body.levels, actorOf(request))
      return datasetView(app, await getDataset(app.db, request.params.id), true)
    },
  )

  r.put(
    '/v1/datasets/:id/prices',
    {
      config: { roles: ['operator'] },
      schema: {
        summary: "Replace the dataset's price list per scenario category (minor units: fen for CNY)",
        tags: ['market'],
        params,
        body: z.strictObject({ prices: z.record(scenarioSchema, priceSchema) }),
        response: { 200: datasetViewSchema, ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const policy = await readPolicy(app.db)
      await setPrices(app.db, request.params.id, request.body.prices, policy, actorOf(request))
      return datasetView(app, await getDataset(app.db, request.params.id), true)
    },
  )

  r.get(
    '/v1/datasets/:id/versions/:version/certificate',
    {
      config: { roles: 'any' },
      schema: {
        summary: "A version's registration certificate, signed: verify offline with veilbox certificate verify",
        tags: ['market'],
        params: z.object({ id: identifierSchema, version: z.coerce.number().int().min(1) }),
        response: { 200: certificateSchema, ...problems(400, 401, 404) },
      },
    },
    async (request) => {
      const p = principalOf(request)
      const { id, version } = request.params
      await visibleDataset(app, p, id)
      await getVersion(app.db, id, version)
      return certificate(app.db, app.signingKey, id, version, actorOf(request))
    },
  )
}
