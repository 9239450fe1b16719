import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { getGrant } from '../../store/grants.js'
import { principalOf } from '../plugins/auth.js'
import { REPORT_CSP, reportAnswerSchema, reportHtml } from '../report/html.js'
import { REPORT_LANGS } from '../report/words.js'
import { problems } from '../schemas.js'

/**
 * GET /v1/queries/{id}/report: a released answer as a plain-language report
 * (src/api/report/). Read as GET /v1/queries/{id} reads it: an analyst their
 * own answers, an operator any, audited as a re-read; the numbers are the
 * stored answer's as first released.
 */
export default async function reportRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<ZodTypeProvider>()
  r.get(
    '/v1/queries/:queryId/report',
    {
      config: { roles: ['analyst', 'operator'] },
      schema: {
        summary: 'A released answer as a plain-language report: printable HTML, English or Chinese',
        description:
          "The purpose and grant, the question in words, the numbers with their intervals, what the noise means, the privacy spent and the receipt hash. One self-contained HTML page (no script, no external asset) with a print stylesheet: print it from the browser to save a PDF. Every number in it is the stored answer's.",
        tags: ['queries'],
        params: z.object({
          queryId: z.string().regex(/^q_[0-9a-f]{24}$/, 'a query id looks like q_ followed by 24 hex digits'),
        }),
        querystring: z.strictObject({
          lang: z.enum(REPORT_LANGS).default('en').describe('en or zh'),
          format: z.enum(['html']).default('html').describe('html (print it to PDF from the browser)'),
        }),
        response: { 200: z.string().describe('text/html'), ...problems(400, 401, 403, 404) },
      },
    },
    async (req, reply) => {
      // The same access rule and audit record as reading the answer again.
      await app.queries.get(principalOf(req), req.params.queryId)
      const answer = reportAnswerSchema.parse(JSON.parse(await app.queries.storedJson(req.params.queryId)))
      const grant = await getGrant(app.db, answer.grant)
      return reply
        .type('text/html; charset=utf-8')
        .header('content-security-policy', REPORT_CSP)
        .send(reportHtml(answer, grant, req.query.lang))
    },
  )
}
