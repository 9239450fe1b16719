import t from 'tap'
import { testApp } from '../../helpers/app.js'

/** Reads fastify's route tree (printRoutes) back into full paths with their methods. */
function servedRoutes(tree: string): { path: string; methods: string[] }[] {
  const out: { path: string; methods: string[] }[] = []
  const stack: string[] = []
  for (const line of tree.split('\n')) {
    const m = /^([│ ├└─]*?)(?:├── |└── )(\S+) \(([A-Z, ]+)\)$/.exec(line)
    if (!m) continue
    const depth = m[1]!.length / 4
    stack.length = depth
    const parent = stack[depth - 1] ?? ''
    const full = parent + (parent.endsWith('/') || m[2]!.startsWith('/') ? m[2]! : `/${m[2]}`)
    stack[depth] = full
    out.push({ path: full, methods: m[3]!.split(', ') })
  }
  return out
}

t.test('GET /openapi.json describes every route from the zod schemas', async (t) => {
  const { call, app } = await testApp(t)
  const res = await call(null, { method: 'GET', url: '/openapi.json' })
  t.equal(res.statusCode, 200)
  const doc = res.json()
  t.equal(doc.openapi, '3.1.0')
  t.equal(doc.info.title, 'veilbox')
  // Every route the app serves under /v1, and /healthz, is in the document with its methods.
  const routes = servedRoutes(app.printRoutes({ commonPrefix: false })).filter(
    (r) => r.path.startsWith('/v1/') || r.path === '/healthz',
  )
  t.ok(routes.length >= 6)
  for (const r of routes) {
    const openapiPath = r.path.replace(/:(\w+)/g, '{$1}')
    t.ok(doc.paths[openapiPath], `${openapiPath} is described`)
    for (const m of r.methods.filter((m) => m !== 'HEAD'))
      t.ok(doc.paths[openapiPath]?.[m.toLowerCase()], `${m} ${openapiPath} is described`)
  }
  const create = doc.paths['/v1/datasets'].post
  const body = create.requestBody.content['application/json'].schema
  t.ok(body.properties.columns, 'the dataset body schema comes from zod')
  t.same(body.required.sort(), ['classification', 'columns', 'id', 'maxRowsPerUnit', 'privacyUnit', 'title'])
  t.equal(body.additionalProperties, false, 'unknown fields are refused, and the document says so')
  const upload = doc.paths['/v1/datasets/{id}/versions'].post
  t.same(Object.keys(upload.requestBody.content).sort(), [
    'application/vnd.veilbox.encrypted+ndjson',
    'application/x-ndjson',
    'text/csv',
  ])
  t.ok(upload.responses['201'])
  t.ok(doc.components.securitySchemes.apiKey)
  t.same(doc.paths['/healthz'].get.security, [], 'health needs no key')
  t.ok(doc.paths['/metrics']?.get, '/metrics is described')
  t.ok(doc.paths['/metrics'].get.responses['403'], 'with its refusal for roles other than operator')
})

t.test('the browsable UI is served at /docs', async (t) => {
  const { call } = await testApp(t)
  const res = await call(null, { method: 'GET', url: '/docs/' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /text\/html/)
  t.match(res.body, /swagger/i)
})
