import type { FastifyInstance, FastifyReply, FastifyRequest, FastifySchemaValidationError } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { VeilboxError } from '../../errors/index.js'
import { identifierSchema, registrationSpecSchema, type DatasetSpec } from '../../schema.js'
import {
  createDataset,
  getDataset,
  listDatasets,
  listVersions,
  setListed,
  versionOpening,
  type DatasetRecord,
} from '../../store/datasets.js'
import { catalogEpoch, EpochMemo } from '../../store/epoch.js'
import { COMMITMENT_ALGORITHM } from '../../store/fingerprint.js'
import { canSee, heldDatasets, visibleDataset } from '../visibility.js'
import { findHeKeys } from '../../engine/he/material.js'
import { snapshotView } from '../../engine/pushdown/source.js'
import { uploadEncryption } from '../../store/he.js'
import { findOwnerPrincipal } from '../../store/market.js'
import { recordLevels, settingsOf } from '../../engine/market/dataset.js'
import { datasetLevel } from '../../engine/market/policy.js'
import { actorOf, principalOf } from '../plugins/auth.js'
import heRoutes, { columnAggregates } from './he.js'
import dummyRoutes from './dummy.js'
import { datasetViewSchema, problems } from '../schemas.js'

const catalogSchema = z.object({ datasets: z.array(datasetViewSchema) })

/** Sends JSON already serialized: a string with a JSON content type goes out as it is, without the serializer. */
function sendJson(reply: FastifyReply, json: string): FastifyReply {
  return reply.type('application/json; charset=utf-8').send(json)
}

/** What the catalog shows of a dataset: its declared metadata, never a row value. Content hashes and row counts are for operators. */
export async function datasetView(
  app: FastifyInstance,
  record: DatasetRecord,
  operator: boolean,
): Promise<z.infer<typeof datasetViewSchema>> {
  const s = record.spec
  const levels = recordLevels(record)
  const hasHe = s.columns.some((c) => c.protection === 'he')
  const keys = hasHe ? await findHeKeys(app.db, s.id) : null
  const versions = []
  for (const v of await listVersions(app.db, s.id)) {
    const enc = hasHe ? await uploadEncryption(app.db, v.uploadId) : null
    versions.push({
      version: v.version,
      commitment: v.commitment,
      ...(operator ? { sha256: v.sha256 } : {}),
      createdAt: v.createdAt,
      ...(operator ? { rows: v.rows } : {}),
      ...(enc === null ? {} : { encryptedBy: enc.encryptedBy }),
      ...(operator && v.source !== null ? { snapshot: snapshotView(s, v)! } : {}),
    })
  }
  return {
    id: s.id,
    title: s.title,
    ...(s.description === undefined ? {} : { description: s.description }),
    classification: s.classification,
    owner: record.owner,
    ...(s.owner === undefined ? {} : { ownerLabel: s.owner }),
    level: datasetLevel(s, levels),
    prices: { ...settingsOf(record).prices },
    privacyUnit: s.privacyUnit,
    maxRowsPerUnit: s.maxRowsPerUnit,
    ...(s.unitSpace === undefined ? {} : { unitSpace: s.unitSpace }),
    ...(s.maxGroupsContributed === undefined ? {} : { maxGroupsContributed: s.maxGroupsContributed }),
    ...(s.public === true ? { public: true, key: s.key! } : {}),
    ...(s.source === undefined ? {} : { source: operator ? s.source : { kind: s.source.kind } }),
    columns: s.columns.map((c) => ({
      name: c.name,
      type: c.type,
      protection: c.protection,
      nullable: c.nullable ?? false,
      ...(c.description === undefined ? {} : { description: c.description }),
      ...(c.lower === undefined ? {} : { lower: c.lower }),
      ...(c.upper === undefined ? {} : { upper: c.upper }),
      ...(c.categories === undefined ? {} : { categories: c.categories }),
      ...(c.maxKeys === undefined ? {} : { maxKeys: c.maxKeys }),
      ...(c.scale === undefined ? {} : { scale: c.scale }),
      ...(c.references === undefined ? {} : { references: c.references }),
      level: levels[c.name]!,
      aggregates: columnAggregates(c, keys?.profile ?? null),
    })),
    versions,
    createdAt: record.createdAt,
    listed: record.listed,
    ...(hasHe ? { he: { keys: keys !== null, ...(keys === null ? {} : { profileId: keys.profile.id }) } } : {}),
  }
}

/** zod issue paths as people write them: columns[2].lower */
function fieldPath(instancePath: string): string {
  return instancePath
    .split('/')
    .filter((p) => p !== '')
    .reduce((acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : acc === '' ? part : `${acc}.${part}`), '')
}

/**
 * The registration body, or the refusal naming every field that failed (the route attaches its validation error
 * instead of failing at once). `body` is the schema's output, typed by the route; it is only read once valid.
 */
function specFrom(invalid: FastifyRequest['validationError'], body: DatasetSpec): DatasetSpec {
  if (invalid) {
    // Fastify types `validation` as any; the zod validator compiler fills it with Fastify's validation errors.
    const validation: readonly FastifySchemaValidationError[] = invalid.validation ?? []
    const errors = validation.map((v) => ({
      path: fieldPath(v.instancePath) || '(body)',
      message: v.message ?? 'invalid',
    }))
    throw new VeilboxError(
      'VEILBOX_ERR_DATASET_INVALID_SCHEMA',
      errors.map((e) => `${e.path}: ${e.message}`).join('; ') || invalid.message,
      { errors },
    )
  }
  return body
}

export default async function datasetRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<ZodTypeProvider>()
  /** Each principal's catalog listing as sent, while the catalog epoch stays. */
  const listings = new EpochMemo<string>(1_000)
  await app.register(heRoutes)
  await app.register(dummyRoutes)

  r.post(
    '/v1/datasets',
    {
      config: { roles: ['operator'] },
      attachValidation: true,
      schema: {
        summary: 'Register a dataset and its column policies',
        tags: ['datasets'],
        body: registrationSpecSchema,
        response: { 201: datasetViewSchema, ...problems(400, 401, 403, 409, 422) },
      },
    },
    async (request, reply) => {
      const spec = specFrom(request.validationError, request.body)
      // A sourced dataset's table or files are checked first: its columns, their types, a read-only role.
      await app.sources.checkDataset(spec)
      // The spec's owner binds the dataset to that owner principal when one holds an active key (docs/market.md).
      const owner = spec.owner === undefined ? null : await findOwnerPrincipal(app.db, spec.owner)
      const record = await createDataset(app.db, spec, actorOf(request), false, { owner, settings: null })
      return reply.code(201).send(await datasetView(app, record, true))
    },
  )

  r.get(
    '/v1/datasets',
    {
      config: { roles: 'any' },
      schema: {
        summary: 'The catalog: every dataset with its columns, protections and versions',
        tags: ['datasets'],
        response: { 200: catalogSchema, ...problems(401) },
      },
    },
    async (request, reply) => {
      const p = principalOf(request)
      // Kept per principal while the catalog epoch stays (store/epoch.ts): every change to what a listing
      // shows (datasets, versions, keys, settings, principals, grants' terms) moves it, on any node.
      const epoch = await catalogEpoch(app.db)
      const json = await listings.get(epoch, `${p.role}\u0000${p.id}`, async () => {
        const held = p.role === 'analyst' ? await heldDatasets(app, p) : undefined
        const datasets = []
        for (const d of await listDatasets(app.db))
          if (await canSee(app, p, d, held)) datasets.push(await datasetView(app, d, p.role === 'operator'))
        // What the route's serializer would send (fastify-type-provider-zod: encode, then stringify).
        return JSON.stringify(z.encode(catalogSchema, { datasets }))
      })
      return sendJson(reply, json)
    },
  )

  r.get(
    '/v1/datasets/:id',
    {
      config: { roles: 'any' },
      schema: {
        summary: 'One dataset of the catalog',
        tags: ['datasets'],
        params: z.object({ id: identifierSchema }),
        response: { 200: datasetViewSchema, ...problems(401, 404) },
      },
    },
    async (request) => {
      const p = principalOf(request)
      return datasetView(app, await visibleDataset(app, p, request.params.id), p.role === 'operator')
    },
  )

  r.put(
    '/v1/datasets/:id/listing',
    {
      config: { roles: ['operator'] },
      schema: {
        summary: "List a dataset in every analyst's catalog, or show it only to analysts holding a grant on it",
        tags: ['datasets'],
        params: z.object({ id: identifierSchema }),
        body: z.strictObject({ listed: z.boolean() }),
        response: { 200: datasetViewSchema, ...problems(400, 401, 403, 404) },
      },
    },
    async (request) =>
      datasetView(app, await setListed(app.db, request.params.id, request.body.listed, actorOf(request)), true),
  )

  r.get(
    '/v1/datasets/:id/versions/:version/commitment',
    {
      config: { roles: ['operator'] },
      schema: {
        summary: "Open a version's commitment for an auditor: its salt and content hash",
        description: `The commitment analysts, answers and receipts carry is ${COMMITMENT_ALGORITHM}. An auditor given the salt and the content hash recomputes it; the salt is secret otherwise, so the commitment reveals nothing of the rows.`,
        tags: ['datasets'],
        params: z.object({ id: identifierSchema, version: z.coerce.number().int().min(1) }),
        response: {
          200: z.object({
            dataset: z.string(),
            version: z.number().int(),
            algorithm: z.string(),
            sha256: z.string(),
            salt: z.string(),
            commitment: z.string(),
          }),
          ...problems(400, 401, 403, 404),
        },
      },
    },
    async (request) => {
      const { id, version } = request.params
      await getDataset(app.db, id)
      return { dataset: id, version, algorithm: COMMITMENT_ALGORITHM, ...(await versionOpening(app.db, id, version)) }
    },
  )
}
