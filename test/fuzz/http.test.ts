/**
 * The HTTP fuzzer: seeded, bounded inputs against every route of the
 * OpenAPI description, plus the routes that are not in it (console, docs,
 * health, unknown paths). Bodies (valid ones mutated, random JSON, deep
 * nesting, huge strings, wrong types, forbidden keys, bytes that are not
 * JSON or not UTF-8), headers (every role's key, broken keys, content types)
 * and paths (parameters fuzzed, percent-encodings, traversal).
 *
 * Asserts: no 5xx, every error is problem+json with a VEILBOX_ERR_ code, and
 * the service answers /healthz after each batch. Most inputs go through
 * inject; raw paths (which inject would normalize) go over a real socket.
 *
 *   VEILBOX_FUZZ_INPUTS=20000 npx tap test/fuzz/http.test.ts    (default 2,000, seed VEILBOX_FUZZ_SEED)
 */
import net from 'node:net'
import t, { type Test } from 'tap'
import { mulberry32 } from '../../src/engine/mulberry32.js'
import { queryApp } from '../helpers/app.js'

const INPUTS = Number(process.env.VEILBOX_FUZZ_INPUTS ?? 2000)
const SEED = Number(process.env.VEILBOX_FUZZ_SEED ?? 20261202)
const BATCH = 100

type Rand = () => number
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!

const STRINGS = [
  '',
  'a',
  ' ',
  '滨城区',
  '😀',
  '\u0000',
  '\u202e',
  "'; DROP TABLE grants; --",
  '../../etc/passwd',
  '%00',
  '__proto__',
  'constructor',
  'x'.repeat(70_000),
  '1e400',
  'NaN',
  '-0',
  'true',
  'null',
]
const NUMBERS = [
  0,
  -0,
  1,
  -1,
  0.1,
  1e-300,
  1e300,
  Number.MAX_SAFE_INTEGER,
  2 ** 53 + 1,
  -1e-9,
  0.999999999999999,
  123456789.123456789,
]

function randomJson(r: Rand, depth = 0): unknown {
  const k = r()
  if (depth > 4 || k < 0.3) return pick(r, [...STRINGS, ...NUMBERS, true, false, null] as unknown[])
  if (k < 0.6) return Array.from({ length: Math.floor(r() * 4) }, () => randomJson(r, depth + 1))
  const o: Record<string, unknown> = {}
  for (let i = 0; i < Math.floor(r() * 5); i++)
    o[
      pick(r, [
        'sql',
        'query',
        'grant',
        'epsilon',
        'delta',
        'mechanism',
        'id',
        'name',
        'role',
        'columns',
        'x',
        ...STRINGS.slice(0, 6),
      ])
    ] = randomJson(r, depth + 1)
  return o
}

/** A valid body for some routes, to mutate: most inputs should get past the schema and reach the engine. */
function templates(grant: string, dataset: string): Record<string, Record<string, unknown>[]> {
  return {
    'POST /v1/queries': [
      { sql: `SELECT district, COUNT(*), AVG(income) FROM ${dataset} GROUP BY district`, grant, epsilon: 0.01 },
      {
        sql: `SELECT MEDIAN(age) FROM ${dataset} WHERE age BETWEEN 20 AND 60`,
        grant,
        epsilon: 0.01,
        mechanism: 'gaussian',
      },
      {
        query: {
          select: [{ aggregate: 'count' }],
          from: dataset,
          where: { not: { cmp: { column: 'age', op: '<', value: 30 } } },
        },
        grant,
        epsilon: 0.01,
      },
    ],
    'POST /v1/queries/preview': [{ sql: `SELECT SUM(income) FROM ${dataset}`, grant, epsilon: 0.5 }],
    'POST /v1/datasets': [
      {
        id: 'fz',
        title: 'fuzz',
        classification: 'internal',
        privacyUnit: 'pid',
        maxRowsPerUnit: 1,
        columns: [
          { name: 'pid', type: 'id', protection: 'public' },
          { name: 'x', type: 'number', protection: 'dp', lower: 0, upper: 10 },
        ],
      },
    ],
    'POST /v1/grants': [
      { analyst: 'alice', dataset, purpose: 'fuzz', epsilon: 0.1, expiresAt: '2099-01-01T00:00:00Z' },
    ],
    'POST /v1/keys': [{ name: 'fz', role: 'analyst' }],
    'PUT /v1/datasets/{id}/budget': [{ epsilon: 100, delta: 1e-5 }],
    'PUT /v1/datasets/{id}/listing': [{ listed: true }],
    'POST /v1/audit/receipts/verify': [{ receipt: { queryId: 'q', auditRecord: 'a_0' } }],
  }
}

function mutate(r: Rand, body: Record<string, unknown>): unknown {
  const o: Record<string, unknown> = JSON.parse(JSON.stringify(body))
  const keys = Object.keys(o)
  switch (Math.floor(r() * 8)) {
    case 0:
      delete o[pick(r, keys)]
      return o
    case 1:
      o[pick(r, keys)] = randomJson(r)
      return o
    case 2:
      o[pick(r, ['extra', '__proto__', 'constructor', 'x'])] = randomJson(r)
      return o
    case 3: {
      // Deep nesting, inside and past the limits.
      const depth = pick(r, [10, 33, 127, 129, 2000])
      o[pick(r, keys)] = JSON.parse(`${'{"not":'.repeat(depth)}1${'}'.repeat(depth)}`)
      return o
    }
    case 4:
      o[pick(r, keys)] = pick(r, NUMBERS)
      return o
    case 5:
      o[pick(r, keys)] = pick(r, STRINGS)
      return o
    case 6:
      return Array.isArray(o) ? o : [o]
    default:
      return o
  }
}

function fill(r: Rand, path: string, known: Record<string, string[]>): string {
  return path.replace(/\{(\w+)\}/g, (_m, name: string) => {
    const k = r()
    if (k < 0.5 && known[name]?.length) return encodeURIComponent(pick(r, known[name]!))
    return encodeURIComponent(
      pick(r, [
        'x',
        '0',
        '-1',
        `q_${'0'.repeat(24)}`,
        `g_${'f'.repeat(16)}`,
        'a'.repeat(300),
        '..',
        '滨',
        '%',
        'NaN',
        '1e400',
      ]),
    )
  })
}

interface Outcome {
  readonly status: number
  readonly contentType: string | undefined
  readonly body: string
}

function checkOutcome(t: Test, what: string, o: Outcome, tally: { fiveHundreds: number; notProblem: number }): void {
  if (o.status >= 500 && o.status !== 503 && o.status !== 504) {
    tally.fiveHundreds += 1
    t.fail(`${what}: ${o.status} ${o.body.slice(0, 300)}`)
  }
  if (o.status >= 400) {
    let code: unknown
    try {
      code = (JSON.parse(o.body) as { code?: unknown }).code
    } catch {
      code = undefined
    }
    if (
      !o.contentType?.startsWith('application/problem+json') ||
      typeof code !== 'string' ||
      !/^VEILBOX_ERR_[A-Z_]+$/.test(code)
    ) {
      tally.notProblem += 1
      t.fail(`${what}: ${o.status} is not problem+json with a code: ${o.contentType} ${o.body.slice(0, 200)}`)
    }
  }
}

t.test(
  `${INPUTS} fuzzed requests over every route: no 5xx, problem+json everywhere, the service alive after each batch`,
  async (t) => {
    const qa = await queryApp(t, {
      overrides: { rateLimitPerMinute: 10_000_000, authFailuresPerMinute: 10_000_000, maxReleaseValues: 2000 },
    })
    const spec = (await qa.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<string, Record<string, unknown>>
    }
    const routes: { method: string; path: string }[] = []
    for (const [path, methods] of Object.entries(spec.paths))
      for (const m of Object.keys(methods)) routes.push({ method: m.toUpperCase(), path })
    t.ok(routes.length >= 25, `${routes.length} documented routes`)
    const extra = [
      '/healthz',
      '/console/',
      '/console/index.html',
      '/docs',
      '/docs/static/index.html',
      '/openapi.json',
      '/nope',
      '/v1',
      '/v1/',
    ]
    const r = mulberry32(SEED)
    // Names of keys the fuzzer may revoke or rotate: never its own principals', or later inputs would all stop at 401.
    const known = { id: [qa.dataset, 'none'], queryId: [], name: ['fz', 'nobody'], version: ['1', '2'] }
    const tpl = templates(qa.grant, qa.dataset)
    const keys = [
      qa.keys.operator,
      qa.keys.analyst,
      qa.keys.custodian,
      null,
      `vbx_000000000000_${'A'.repeat(43)}`,
      'garbage',
      '',
    ]
    const tally = { inputs: 0, fiveHundreds: 0, notProblem: 0, byStatus: new Map<number, number>() }
    for (let i = 0; i < INPUTS; i++) {
      const route =
        r() < 0.9
          ? pick(r, routes)
          : { method: pick(r, ['GET', 'POST', 'DELETE', 'PUT', 'PATCH']), path: pick(r, extra) }
      const method = r() < 0.9 ? route.method : pick(r, ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'])
      const url =
        fill(r, route.path, known) +
        (r() < 0.2 ? `?${pick(r, ['limit=-1', 'limit=1e9', 'after=x', 'head=zz', 'dataset=%00', 'a=b&a=c', 'x'])}` : '')
      const template = tpl[`${route.method} ${route.path}`]
      // Mostly a valid key (the analyst's most of all): inputs should reach the engine, not stop at authentication.
      const key =
        r() < 0.8 ? (r() < 0.6 ? qa.keys.analyst : pick(r, [qa.keys.operator, qa.keys.custodian])) : pick(r, keys)
      let payload: string | Buffer | undefined
      let contentType: string | undefined = 'application/json'
      const k = r()
      if (method === 'GET' || method === 'DELETE' || method === 'HEAD' || method === 'OPTIONS')
        payload = r() < 0.1 ? JSON.stringify(randomJson(r)) : undefined
      else if (k < 0.55 && template) payload = JSON.stringify(mutate(r, pick(r, template)))
      else if (k < 0.8) payload = JSON.stringify(randomJson(r))
      else if (k < 0.88)
        payload = Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]) // {"\xff\xfe":1}
      else if (k < 0.94) {
        payload = 'pid,x\n1,2\n'
        contentType = pick(r, [
          'text/csv',
          'application/x-ndjson',
          'text/plain',
          'application/xml',
          'multipart/form-data; boundary=x',
        ])
      } else payload = '{"sql": "SELECT' // cut short
      const res = await qa.app.inject({
        method: method as 'GET',
        url,
        headers: {
          ...(key === null ? {} : { authorization: `Bearer ${key}` }),
          ...(payload === undefined ? {} : { 'content-type': contentType }),
        },
        ...(payload === undefined ? {} : { payload }),
      })
      tally.inputs += 1
      tally.byStatus.set(res.statusCode, (tally.byStatus.get(res.statusCode) ?? 0) + 1)
      if (res.statusCode === 200 && url.startsWith('/v1/queries') && method === 'POST') {
        const id = (res.json() as { queryId?: string }).queryId
        if (id) (known as Record<string, string[]>).queryId!.push(id)
      }
      if (method !== 'HEAD')
        checkOutcome(
          t,
          `${method} ${url}`,
          { status: res.statusCode, contentType: res.headers['content-type'] as string | undefined, body: res.body },
          tally,
        )
      if ((i + 1) % BATCH === 0) {
        const health = await qa.app.inject({ method: 'GET', url: '/healthz' })
        if (health.statusCode !== 200) t.fail(`after input ${i + 1}, /healthz answers ${health.statusCode}`)
      }
    }
    t.equal(tally.fiveHundreds, 0, `${tally.inputs} inputs, 5xx: ${tally.fiveHundreds}`)
    t.equal(tally.notProblem, 0, 'every error problem+json with a code')
    t.comment(
      `statuses: ${[...tally.byStatus.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([s, n]) => `${s}:${n}`)
        .join(' ')}`,
    )
    const answered = tally.byStatus.get(200) ?? 0
    t.ok(answered > INPUTS * 0.05, `a share of inputs got through to an answer (${answered})`)

    // Raw paths over a socket: what an HTTP client would normalize.
    const address = await qa.app.listen({ host: '127.0.0.1', port: 0 })
    const port = Number(new URL(address).port)
    const rawPaths = [
      '/console/../x',
      '/console/%2e%2e/%2e%2e/etc/passwd',
      '/console/..%5c..%5cwin.ini',
      '//etc/passwd',
      '/console/%00',
      '/docs/static/../../x',
      '/v1/datasets/%',
      '/v1/datasets/%zz',
      '/v1/queries/%c0%af',
      '/v1/%E0%A4%A',
      '/%2F%2F',
      '/console/%252e%252e/x',
      '/v1/datasets/..',
      `/${'a/'.repeat(3000)}`,
    ]
    for (let i = 0; i < Math.min(INPUTS / 10, 200); i++) {
      const p =
        i < rawPaths.length
          ? rawPaths[i]!
          : pick(r, rawPaths).replace(/x|a/g, () => pick(r, ['%2e', '..', '%00', '\\', '%5c', 'x']))
      const key = pick(r, keys)
      const text = await new Promise<string>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () =>
          s.write(
            `${pick(r, ['GET', 'POST', 'DELETE'])} ${p} HTTP/1.1\r\nHost: x\r\n${key ? `Authorization: Bearer ${key}\r\n` : ''}Connection: close\r\nContent-Length: 0\r\n\r\n`,
          ),
        )
        let out = ''
        s.on('data', (d) => (out += d.toString()))
        s.on('close', () => resolve(out))
        s.on('error', () => resolve(out))
        setTimeout(() => s.destroy(), 3000)
      })
      const [head = '', ...rest] = text.split('\r\n\r\n')
      const status = Number(head.split(' ')[1])
      const ct = /content-type: ([^\r\n]+)/i.exec(head)?.[1]
      let body = rest.join('\r\n\r\n')
      if (/transfer-encoding: chunked/i.test(head))
        body = body.replace(/^[0-9a-f]+\r\n/, '').replace(/\r\n0\r\n\r\n$/, '')
      tally.inputs += 1
      if (Number.isNaN(status)) {
        // Node's parser refused the request line itself (400 and a closed socket, no body): not a response of ours.
        continue
      }
      checkOutcome(t, `raw ${p}`, { status, contentType: ct, body }, tally)
    }
    t.equal((await qa.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'alive at the end')
  },
)
