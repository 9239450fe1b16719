import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { parse, toNumber } from '../../engine/dp/budget.js'
import { bindQuery } from '../../engine/query/index.js'
import { bindTemplate, checkTemplate, templateParamSchema, type TemplateParam } from '../../engine/templates.js'
import { identifierSchema } from '../../schema.js'
import { datasetNotFound, getDataset, listDatasets } from '../../store/datasets.js'
import { listGrants } from '../../store/grants.js'
import type { Principal } from '../../store/keys.js'
import {
  createTemplate,
  getTemplate,
  listTemplates,
  templateNotFound,
  type TemplateRecord,
} from '../../store/templates.js'
import { AnswerCache } from '../answers.js'
import { actorOf, principalOf } from '../plugins/auth.js'
import { problems } from '../schemas.js'

/**
 * Query templates (issue 24, point 6; docs/queries.md "Templates"): an owner
 * (of the dataset) or an operator approves a parameterized query with a fixed
 * epsilon per run; analysts list those their grants cover and run them with
 * values, through the normal pipeline (planning, charge, audit, receipt).
 */

const templateId = z.string().regex(/^t_[0-9a-f]{16}$/, 'a template id looks like t_ followed by 16 hex digits')

const paramsSchema = z.array(templateParamSchema).max(32)

const templateSchema = z
  .object({
    id: z.string(),
    dataset: z.string(),
    name: z.string(),
    sql: z.string().describe('the approved SQL; :name marks a parameter'),
    params: paramsSchema,
    epsilon: z.number().describe('what every run asks for (and is charged as any answer is)'),
    mechanism: z.enum(['laplace', 'gaussian']),
    createdAt: z.string(),
    createdBy: z.string(),
  })
  .meta({ id: 'Template' })

function view(t: TemplateRecord): z.infer<typeof templateSchema> {
  return {
    id: t.id,
    dataset: t.dataset,
    name: t.name,
    sql: t.sql,
    params: paramsSchema.parse(t.params),
    epsilon: toNumber('epsilon', t.epsilon),
    mechanism: t.mechanism === 'gaussian' ? 'gaussian' : 'laplace',
    createdAt: t.createdAt,
    createdBy: t.createdBy,
  }
}

/** The datasets whose templates the principal sees: an operator's all (null), an owner's own, an analyst's granted. */
async function visibleDatasets(app: FastifyInstance, p: Principal): Promise<Set<string> | null> {
  if (p.role === 'operator') return null
  if (p.role === 'owner')
    return new Set((await listDatasets(app.db)).filter((d) => d.owner?.id === p.id).map((d) => d.spec.id))
  const now = app.clock().getTime()
  const grants = (await listGrants(app.db, { analystId: p.id })).filter(
    (g) => g.revokedAt === null && Date.parse(g.expiresAt) > now,
  )
  return new Set(grants.flatMap((g) => g.datasets))
}

export default async function templateRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<ZodTypeProvider>()
  const answers = new AnswerCache()
  const load = (queryId: string) => app.queries.storedJson(queryId)

  r.post(
    '/v1/templates',
    {
      config: { roles: ['owner', 'operator'] },
      schema: {
        summary:
          "Approve a parameterized query on a dataset (its owner's or an operator's), with a fixed epsilon per run",
        tags: ['templates'],
        body: z.strictObject({
          dataset: identifierSchema,
          name: z.string().trim().min(3).max(200),
          sql: z.string().min(1).max(10_000).describe('SQL with named parameters, :name, where literals go'),
          params: paramsSchema,
          epsilon: z.number().finite().gt(0).max(1_000_000),
          mechanism: z.enum(['laplace', 'gaussian']).default('laplace'),
        }),
        response: { 201: templateSchema, ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const b = request.body
      const p = principalOf(request)
      const record = await getDataset(app.db, b.dataset)
      // An owner approves templates on their own datasets only; another's answers as an unknown one does.
      if (p.role === 'owner' && record.owner?.id !== p.id) throw datasetNotFound(b.dataset)
      checkTemplate(b.sql, b.params, record.spec)
      // Bound once with sample values (each range's low end, each column's first category): it must bind as any run will.
      bindQuery(bindTemplate(b.sql, b.params, sampleValues(b.params, record.spec), record.spec), record.spec, [])
      const created = await createTemplate(
        app.db,
        {
          dataset: b.dataset,
          name: b.name,
          sql: b.sql,
          params: b.params,
          epsilon: parse('epsilon', b.epsilon, 'up'),
          mechanism: b.mechanism,
        },
        actorOf(request),
      )
      return reply.code(201).send(view(created))
    },
  )

  r.get(
    '/v1/templates',
    {
      config: { roles: ['analyst', 'owner', 'operator'] },
      schema: {
        summary: "Templates: an analyst's are those of datasets their live grants cover; an owner's, their datasets'",
        tags: ['templates'],
        response: { 200: z.object({ templates: z.array(templateSchema) }), ...problems(401, 403) },
      },
    },
    async (request) => ({
      templates: (await listTemplates(app.db, await visibleDatasets(app, principalOf(request)))).map(view),
    }),
  )

  r.post(
    '/v1/templates/:id/run',
    {
      config: { roles: ['analyst'] },
      schema: {
        summary: 'Run an approved template with values, inside a grant: an answer as POST /v1/queries gives',
        description:
          'Each value is checked against its declaration (the refusal names the parameter) and bound as a literal into the parsed query, never into its text. The answer, its receipt and its audit record name the template and its values.',
        tags: ['templates'],
        params: z.object({ id: templateId }),
        body: z.strictObject({
          grant: z.string(),
          params: z.record(z.string(), z.union([z.number(), z.string()])).default({}),
          confidence: z.number().gt(0).lt(1).optional(),
        }),
        // The answer's JSON as POST /v1/queries sends it (its schema: Answer), with `template`.
        response: { 200: z.unknown(), ...problems(400, 401, 403, 404, 409, 503, 504) },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request)
      const t = await getTemplate(app.db, request.params.id)
      const visible = await visibleDatasets(app, principal)
      if (visible !== null && !visible.has(t.dataset)) throw templateNotFound(t.id)
      const spec = (await getDataset(app.db, t.dataset)).spec
      const params = paramsSchema.parse(t.params)
      const ast = bindTemplate(t.sql, params, request.body.params, spec)
      const values = Object.fromEntries(params.map((p) => [p.name, request.body.params[p.name]!]))
      const answer = await app.queries.run(principal, {
        grant: request.body.grant,
        epsilon: toNumber('epsilon', t.epsilon),
        mechanism: t.mechanism === 'gaussian' ? 'gaussian' : 'laplace',
        ...(request.body.confidence === undefined ? {} : { confidence: request.body.confidence }),
        ast,
        template: { id: t.id, params: values },
      })
      return reply.type('application/json; charset=utf-8').send(await answers.json(answer, load))
    },
  )
}

function sampleValues(
  params: readonly TemplateParam[],
  spec: { columns: readonly { name: string; categories?: readonly string[] | undefined }[] },
): Record<string, string | number> {
  return Object.fromEntries(
    params.map((p) => [
      p.name,
      p.type === 'category' ? (spec.columns.find((c) => c.name === p.column)?.categories?.[0] ?? '') : p.min,
    ]),
  )
}
