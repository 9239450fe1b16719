import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { schemaVersion } from '../../store/db.js'
import { stmt } from '../../store/statements.js'

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
            db: z.object({ ok: z.boolean(), schemaVersion: z.number().int(), journalMode: z.string() }),
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
      const journalMode = String(stmt(app.db, 'PRAGMA journal_mode', 'pluck').get())
      return {
        status: 'ok' as const,
        version: app.appVersion,
        db: { ok: true, schemaVersion: schemaVersion(app.db), journalMode },
        kernel: app.kernel,
      }
    },
  )
}
