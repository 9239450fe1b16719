import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'

const healthSchema = z.object({
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
})

export default async function healthRoutes(app: FastifyInstance) {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness and database state (no key needed)',
        tags: ['health'],
        security: [],
        response: { 200: healthSchema },
      },
    },
    // Typed by the response schema: the handler's return type is inferred, not contextually typed, so the literal
    // 'ok' would widen to string without this annotation.
    async (): Promise<z.output<typeof healthSchema>> => {
      const described = await app.db.describe()
      return {
        status: 'ok',
        version: app.appVersion,
        db: { ok: true, ...described, schemaVersion: await app.db.schemaVersion() },
        kernel: app.kernel,
      }
    },
  )
}
