import { issueCertificate } from './certify.js'
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { snapshotRequestSchema } from '../../engine/pushdown/source.js'
import { registerSnapshot, verifySnapshot } from '../../ingest/snapshot.js'
import { identifierSchema } from '../../schema.js'
import { actorOf } from '../plugins/auth.js'
import { problems } from '../schemas.js'

/** Sourced datasets' versions: snapshots registered and verified by operators (docs/sources.md). */
export default async function sourceRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<ZodTypeProvider>()

  r.post(
    '/v1/datasets/:id/snapshots',
    {
      config: { roles: ['operator'] },
      schema: {
        summary: "Register a snapshot of a sourced dataset's rows as its next version",
        description:
          'The snapshot is a table or view of its own ("table"), a snapshot column\'s value ("column", "value"), or Parquet files ("path"); by default the source\'s own table or path. veilbox checks it as at registration, checks every row against the declaration (refused with VEILBOX_ERR_SOURCE_BREAKS_DECLARATION as ingest refuses a bad row), and takes its row count and checksum: queries on the version are refused if the source no longer matches them. No row is copied.',
        tags: ['datasets'],
        params: z.object({ id: identifierSchema }),
        body: snapshotRequestSchema,
        response: {
          201: z.object({
            version: z.number().int(),
            rows: z.number().int(),
            sha256: z.string().regex(/^[0-9a-f]{64}$/),
            commitment: z.string().regex(/^[0-9a-f]{64}$/),
            snapshot: z.record(z.string(), z.unknown()),
          }),
          ...problems(400, 401, 403, 404, 409, 422, 503),
        },
      },
    },
    async (request, reply) => {
      const result = await registerSnapshot(app.db, app.sources, request.params.id, request.body, actorOf(request))
      await issueCertificate(app, request.params.id, result.version, actorOf(request))
      return reply.code(201).send(result)
    },
  )

  r.post(
    '/v1/datasets/:id/versions/:version/verify',
    {
      config: { roles: ['operator'] },
      schema: {
        summary: "Read a sourced version's snapshot again whole and compare it with its registration",
        description:
          "Recomputes the row count and checksum (for Parquet, each file's SHA-256). A mismatch is recorded in the audit chain (dataset.snapshot.changed) and every later query on the version is refused with VEILBOX_ERR_SOURCE_SNAPSHOT_CHANGED.",
        tags: ['datasets'],
        params: z.object({ id: identifierSchema, version: z.coerce.number().int().min(1) }),
        response: {
          200: z.object({
            version: z.number().int(),
            matches: z.boolean(),
            rows: z.number().int(),
            registeredRows: z.number().int(),
          }),
          ...problems(400, 401, 403, 404, 409, 422, 503),
        },
      },
    },
    async (request) => verifySnapshot(app.db, app.sources, request.params.id, request.params.version, actorOf(request)),
  )
}
