import { Writable } from 'node:stream'
import Fastify from 'fastify'
import t, { type Test } from 'tap'
import { sealCall } from '../../src/engine/he/he-error.js'
import { ERROR_CODES, VeilboxError, detailIsPublic, type ErrorCode } from '../../src/errors/index.js'
import problem, { hiddenDetail } from '../../src/http/problem.js'
import { clinicSpec } from '../helpers/he.js'
import { testApp } from '../helpers/app.js'

/** What SEAL throws from inside its wasm module: its own words, a pointer, numbers. */
const SEAL_TEXT = 'std::invalid_argument: ciphertext data is invalid at 0x7f3a2c001000 (coeff 1234567)'

/** An app with only the error plugin, whose routes throw what they are given; its log lines are kept. */
async function throwing(t: Test, routes: Record<string, () => unknown>) {
  const lines: Record<string, unknown>[] = []
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)) as Record<string, unknown>)
      done()
    },
  })
  const app = Fastify({ logger: { level: 'info', stream } })
  await app.register(problem)
  for (const [url, fn] of Object.entries(routes))
    app.get(url, async () => {
      fn()
    })
  t.teardown(() => app.close())
  await app.ready()
  return { app, lines }
}

t.test(
  'an HE failure answers 500 with a fixed sentence: no SEAL message, no extra field; the log keeps both',
  async (t) => {
    const { app, lines } = await throwing(t, {
      '/seal': () =>
        sealCall('VEILBOX_ERR_HE_SEAL_FAILURE', 'encrypted aggregation failed', () => {
          throw new Error(SEAL_TEXT)
        }),
      '/extra': () => {
        throw new VeilboxError('VEILBOX_ERR_HE_NOISE_BUDGET_EXHAUSTED', `group 3 of 17 rows: ${SEAL_TEXT}`, {
          rows: 17,
        })
      },
    })
    const res = await app.inject({ method: 'GET', url: '/seal' })
    t.equal(res.statusCode, 500)
    t.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8')
    const body = res.json()
    t.same(Object.keys(body).sort(), ['code', 'detail', 'instance', 'status', 'title', 'type'])
    t.equal(body.code, 'VEILBOX_ERR_HE_SEAL_FAILURE')
    t.equal(
      body.detail,
      `an internal error (Microsoft SEAL failed) stopped this request; it changed nothing. Quote request id ${body.instance} when reporting it.`,
    )
    t.notOk(res.body.includes('std::') || res.body.includes('0x7f3a') || res.body.includes('aggregation'), res.body)
    const logged = lines.find((l) => l.msg === 'request failed')
    t.match(logged, { level: 50, code: 'VEILBOX_ERR_HE_SEAL_FAILURE' }, 'logged at error level')
    t.match(JSON.stringify(logged), /encrypted aggregation failed: std::invalid_argument/, 'the log keeps the detail')

    const extra = await app.inject({ method: 'GET', url: '/extra' })
    t.equal(extra.statusCode, 500)
    t.notOk('rows' in extra.json(), 'no extra field of a hidden 5xx')
    t.notMatch(extra.json().detail, /group 3|17 rows|std::/)
  },
)

t.test('an internal error whose detail holds a value shows only the fixed sentence', async (t) => {
  const { app } = await throwing(t, {
    '/value': () => {
      throw new VeilboxError('VEILBOX_ERR_INTERNAL', 'an exact value handed to a mechanism must be finite, got 4521.25')
    },
    '/plain': () => {
      throw new Error(SEAL_TEXT)
    },
  })
  for (const url of ['/value', '/plain']) {
    const res = await app.inject({ method: 'GET', url })
    t.equal(res.statusCode, 500, url)
    const body = res.json()
    t.equal(body.code, 'VEILBOX_ERR_INTERNAL', url)
    t.equal(
      body.detail,
      `an internal error stopped this request; it changed nothing. Quote request id ${body.instance} when reporting it.`,
      url,
    )
    t.equal(body.detail, hiddenDetail('VEILBOX_ERR_INTERNAL', body.instance))
  }
})

t.test('a 5xx marked publicDetail keeps its detail, extra fields and headers; a 4xx always does', async (t) => {
  const { app } = await throwing(t, {
    '/busy': () => {
      throw new VeilboxError(
        'VEILBOX_ERR_SANDBOX_BUSY',
        'every sandbox is busy and the queue is full; retry after a moment',
        { queueMax: 4 },
        { headers: { 'retry-after': '1' } },
      )
    },
    '/refused': () => {
      throw new VeilboxError('VEILBOX_ERR_HE_BAD_VALUE', 'row 3: 501 is outside the declared bounds [0, 500]', {
        row: 3,
      })
    },
  })
  const busy = await app.inject({ method: 'GET', url: '/busy' })
  t.equal(busy.statusCode, 503)
  t.equal(busy.headers['retry-after'], '1')
  t.match(busy.json(), {
    code: 'VEILBOX_ERR_SANDBOX_BUSY',
    detail: 'every sandbox is busy and the queue is full; retry after a moment',
    queueMax: 4,
  })
  const refused = await app.inject({ method: 'GET', url: '/refused' })
  t.equal(refused.statusCode, 400)
  t.match(refused.json(), { detail: 'row 3: 501 is outside the declared bounds [0, 500]', row: 3 })
})

t.test('the registry: publicDetail marks 5xx codes only; which 5xx codes show their detail', async (t) => {
  const shown: string[] = []
  for (const [code, def] of Object.entries(ERROR_CODES) as [ErrorCode, (typeof ERROR_CODES)[ErrorCode]][]) {
    if ('publicDetail' in def) t.ok(def.status >= 500, `${code}: publicDetail only means something on a 5xx`)
    if (def.status < 500) t.ok(detailIsPublic(code), `${code}: a 4xx shows its detail`)
    else if (detailIsPublic(code)) shown.push(code)
  }
  t.same(shown.sort(), [
    'VEILBOX_ERR_CUSTODIAN_UNAVAILABLE',
    'VEILBOX_ERR_DP_NOT_FINITE',
    'VEILBOX_ERR_SANDBOX_BUSY',
    'VEILBOX_ERR_SANDBOX_CRASHED',
    'VEILBOX_ERR_SANDBOX_OUT_OF_MEMORY',
    'VEILBOX_ERR_SANDBOX_TIMEOUT',
    'VEILBOX_ERR_SOURCE_UNAVAILABLE',
    'VEILBOX_ERR_STORE_UNAVAILABLE',
  ])
})

t.test('through the API: SEAL failing while the custodian makes keys is a 500 without its message', async (t) => {
  const ta = await testApp(t)
  const created = await ta.call('operator', { method: 'POST', url: '/v1/datasets', payload: clinicSpec() })
  t.equal(created.statusCode, 201, created.body)
  ta.app.custodian.createKeys = async () =>
    sealCall('VEILBOX_ERR_HE_SEAL_FAILURE', 'creating the secret key failed', () => {
      throw new Error(SEAL_TEXT)
    })
  const res = await ta.call('custodian', {
    method: 'POST',
    url: '/v1/datasets/clinic/he/keys',
    payload: { maxRows: 100, polyModulusDegree: 4096 },
  })
  t.equal(res.statusCode, 500)
  t.equal(res.json().code, 'VEILBOX_ERR_HE_SEAL_FAILURE')
  t.equal(res.json().detail, hiddenDetail('VEILBOX_ERR_HE_SEAL_FAILURE', res.json().instance))
  t.notMatch(res.body, /std::|0x7f3a|secret key/)
})
