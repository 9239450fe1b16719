import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { VeilboxError } from '../../errors/index.js'
import { datasetSpecSchema, identifierSchema, type DatasetSpec } from '../../engine/schema.js'
import { createDataset, getDataset, listDatasets, listVersions, type DatasetRecord } from '../../store/datasets.js'
import { findHeKeys, uploadEncryption } from '../../store/he.js'
import { actorOf, principalOf } from '../plugins/auth.js'
import heRoutes, { columnAggregates } from './he.js'
import { datasetViewSchema, problems } from '../schemas.js'

/** What the catalog shows of a dataset: its declared metadata, never a row value. */
export function datasetView(app: FastifyInstance, record: DatasetRecord, withRows: boolean): z.infer<typeof datasetViewSchema> {
  const s = record.spec
  const hasHe = s.columns.some((c) => c.protection === 'he')
  const keys = hasHe ? findHeKeys(app.db, s.id) : null
  return {
    id: s.id,
    title: s.title,
    ...(s.description === undefined ? {} : { description: s.description }),
    classification: s.classification,
    ...(s.owner === undefined ? {} : { owner: s.owner }),
    privacyUnit: s.privacyUnit,
    maxRowsPerUnit: s.maxRowsPerUnit,
    columns: s.columns.map((c) => ({
      name: c.name,
      type: c.type,
      protection: c.protection,
      nullable: c.nullable ?? false,
      ...(c.description === undefined ? {} : { description: c.description }),
      ...(c.lower === undefined ? {} : { lower: c.lower }),
      ...(c.upper === undefined ? {} : { upper: c.upper }),
      ...(c.categories === undefined ? {} : { categories: c.categories }),
      ...(c.scale === undefined ? {} : { scale: c.scale }),
      aggregates: columnAggregates(c, keys?.profile ?? null),
    })),
    versions: listVersions(app.db, s.id).map((v) => {
      const enc = hasHe ? uploadEncryption(app.db, v.uploadId) : null
      return {
        version: v.version,
        sha256: v.sha256,
        createdAt: v.createdAt,
        ...(withRows ? { rows: v.rows } : {}),
        ...(enc === null ? {} : { encryptedBy: enc.encryptedBy }),
      }
    }),
    createdAt: record.createdAt,
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

function specFrom(request: FastifyRequest): DatasetSpec {
  const invalid = request.validationError
  if (invalid) {
    const validation = (invalid as { validation?: { instancePath: string; message?: string }[] }).validation ?? []
    const errors = validation.map((v) => ({ path: fieldPath(v.instancePath) || '(body)', message: v.message ?? 'invalid' }))
    throw new VeilboxError(
      'VEILBOX_ERR_DATASET_INVALID_SCHEMA',
      errors.map((e) => `${e.path}: ${e.message}`).join('; ') || invalid.message,
      { errors },
    )
  }
  return request.body as DatasetSpec
}

export default async function datasetRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<ZodTypeProvider>()
  await app.register(heRoutes)

  r.post(
    '/v1/datasets',
    {
      config: { roles: ['operator'] },
      attachValidation: true,
      schema: {
        summary: 'Register a dataset and its column policies',
        tags: ['datasets'],
        body: datasetSpecSchema,
        response: { 201: datasetViewSchema, ...problems(400, 401, 403, 409) },
      },
    },
    async (request, reply) => {
      const record = createDataset(app.db, specFrom(request), actorOf(request))
      return reply.code(201).send(datasetView(app, record, true))
    },
  )

  r.get(
    '/v1/datasets',
    {
      config: { roles: 'any' },
      schema: {
        summary: 'The catalog: every dataset with its columns, protections and versions',
        tags: ['datasets'],
        response: { 200: z.object({ datasets: z.array(datasetViewSchema) }), ...problems(401) },
      },
    },
    async (request) => {
      const operator = principalOf(request).role === 'operator'
      return { datasets: listDatasets(app.db).map((d) => datasetView(app, d, operator)) }
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
    async (request) => datasetView(app, getDataset(app.db, request.params.id), principalOf(request).role === 'operator'),
  )
}
