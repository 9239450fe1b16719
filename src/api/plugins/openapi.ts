import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { jsonSchemaTransform } from 'fastify-type-provider-zod'

/**
 * The OpenAPI description is generated from the same zod schemas that validate
 * requests, so the two cannot drift. Routes whose bodies are streams (uploads)
 * describe them in `schema.requestBodyDoc`, merged in here.
 */
declare module 'fastify' {
  interface FastifySchema {
    /** For routes that take a non-JSON stream: { content: { <media type>: { schema } } }. */
    requestBodyDoc?: unknown
    summary?: string
    description?: string
    tags?: readonly string[]
    security?: readonly Record<string, readonly string[]>[]
  }
}

export default fp(
  async function openapi(app: FastifyInstance, opts: { version: string }) {
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'veilbox',
          version: opts.version,
          description:
            'Privacy-preserving compute sandbox: aggregate queries over differentially private and homomorphically encrypted columns. Errors are application/problem+json with a stable `code` (see docs/errors.md).',
        },
        components: {
          securitySchemes: {
            apiKey: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <API key>' },
          },
        },
        security: [{ apiKey: [] }],
      },
      transform: (doc) => {
        const out = jsonSchemaTransform(doc)
        // FastifySchema declares requestBodyDoc (above). A route without a schema reaches here with none, whatever
        // the type says, hence the optional chain.
        const extra = doc.schema?.requestBodyDoc
        if (extra !== undefined) {
          // @fastify/swagger reads a body given as { content: { <type>: { schema } } } as-is.
          const { requestBodyDoc: _omit, ...schema } = out.schema
          return { ...out, schema: { ...schema, body: extra } }
        }
        return out
      },
    })
    await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true })
    app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
  },
  { name: 'openapi' },
)
