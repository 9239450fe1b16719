import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'

export default async function healthRoutes(app: FastifyInstance) {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness and database state (no key needed)',
        tags: ['health'],
        security: [],
        response: {
          200: z.object({
            status: z.literal('ok'),
            version: z.string(),
            db: z.object({
              ok: z.boolean(),
              backend: z.enum(['sqlite', 'postgres']),
              schemaVersion: z.number().int(),
              journalMode: z.string().optional(),
            }),
            kernel: z.object({
              kernel: z.enum(['native', 'ts']),
              reason: z.string().nullable(),
              binding: z.string().nullable(),
              isa: z.string().nullable(),
              compiler: z.string().nullable(),
            }),
          }),
        },
      },
    },
    async () => {
      const described = await app.db.describe()
      return {
        status: 'ok' as const,
        version: app.appVersion,
        db: { ok: true, ...described, schemaVersion: await app.db.schemaVersion() },
        kernel: app.kernel,
      }
    },
  )
}
