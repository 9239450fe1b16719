import t from 'tap'
import { PEOPLE_SPEC, storeOverrides, testApp } from '../helpers/app.js'

t.test('__proto__ and constructor keys in a JSON body are refused and change nothing', async (t) => {
  const { call } = await testApp(t)
  for (const payload of [
    '{"role":"analyst","name":"x","__proto__":{"role":"operator"}}',
    '{"role":"analyst","name":"x","constructor":{"prototype":{"admin":true}}}',
  ]) {
    const res = await call('operator', {
      method: 'POST',
      url: '/v1/keys',
      headers: { 'content-type': 'application/json' },
      payload,
    })
    t.equal(res.statusCode, 400)
    t.equal(res.json().code, 'VEILBOX_ERR_REQUEST_FORBIDDEN_KEY')
  }
  const keys = await call('operator', { method: 'GET', url: '/v1/keys' })
  t.notOk(keys.json().keys.some((k: { name: string }) => k.name === 'x'))
})

t.test('malformed JSON and oversized JSON bodies get their own codes', async (t) => {
  const { call } = await testApp(t)
  const bad = await call('operator', {
    method: 'POST',
    url: '/v1/keys',
    headers: { 'content-type': 'application/json' },
    payload: '{"role":',
  })
  t.equal(bad.statusCode, 400)
  t.equal(bad.json().code, 'VEILBOX_ERR_REQUEST_BAD_JSON')
  const big = await call('operator', {
    method: 'POST',
    url: '/v1/datasets',
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ ...PEOPLE_SPEC, description: 'x'.repeat(1024 * 1024) }),
  })
  t.equal(big.statusCode, 413)
  t.equal(big.json().code, 'VEILBOX_ERR_REQUEST_TOO_LARGE')
})

t.test('responses carry security headers and a request id', async (t) => {
  const { call } = await testApp(t)
  const res = await call('analyst', { method: 'GET', url: '/v1/datasets' })
  t.match(res.headers['content-security-policy'], /default-src 'self'/)
  t.equal(res.headers['x-content-type-options'], 'nosniff')
  t.equal(res.headers['x-frame-options'], 'SAMEORIGIN')
  t.ok(res.headers['strict-transport-security'])
  t.match(res.headers['x-request-id'], /^[0-9a-f-]{36}$/)
  const problem = await call(null, { method: 'GET', url: '/v1/datasets' })
  t.equal(problem.json().instance, problem.headers['x-request-id'], 'a problem names its request id')
})

t.test('rate limits are kept per principal, not per address', async (t) => {
  const { call, app } = await testApp(t, { rateLimitPerMinute: 3 })
  for (let i = 0; i < 3; i++) t.equal((await call('analyst', { method: 'GET', url: '/v1/datasets' })).statusCode, 200)
  const limited = await call('analyst', { method: 'GET', url: '/v1/datasets' })
  t.equal(limited.statusCode, 429)
  t.equal(limited.json().code, 'VEILBOX_ERR_REQUEST_RATE_LIMITED')
  t.ok(Number(limited.headers['retry-after']) > 0, 'Retry-After is set')
  // Same address, another principal: its own bucket.
  t.equal((await call('operator', { method: 'GET', url: '/v1/datasets' })).statusCode, 200)
  // A rotated key of the same principal shares the first one's bucket.
  const { createKey, revokeKey, rotateKey, SYSTEM_ACTOR } = await import('../../src/store/keys.js')
  const second = (await rotateKey(app.db, 'alice', SYSTEM_ACTOR)).key
  const res = await app.inject({ method: 'GET', url: '/v1/datasets', headers: { authorization: `Bearer ${second}` } })
  t.equal(res.statusCode, 429)
  // The name revoked and issued again is a new principal, with a bucket of its own (finding 11).
  await revokeKey(app.db, 'alice', SYSTEM_ACTOR)
  const third = (await createKey(app.db, { name: 'alice', role: 'analyst' }, SYSTEM_ACTOR)).key
  t.equal(
    (await app.inject({ method: 'GET', url: '/v1/datasets', headers: { authorization: `Bearer ${third}` } }))
      .statusCode,
    200,
  )
})

t.test('unknown routes answer problem+json 404', async (t) => {
  const { call } = await testApp(t)
  const res = await call('analyst', { method: 'GET', url: '/v1/nothing-here?x=1' })
  t.equal(res.statusCode, 404)
  t.equal(res.json().code, 'VEILBOX_ERR_REQUEST_NOT_FOUND')
  t.match(res.json().detail, /no route GET \/v1\/nothing-here;/)
})

t.test('logs never carry a key or a row value', async (t) => {
  const fs = await import('node:fs')
  const os = await import('node:os')
  const path = await import('node:path')
  const { Writable } = await import('node:stream')
  const { buildApp } = await import('../../src/api/app.js')
  const { loadConfig } = await import('../../src/config/index.js')
  const { createKey, SYSTEM_ACTOR } = await import('../../src/store/keys.js')
  const lines: string[] = []
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk))
      done()
    },
  })
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'veilbox-log-'))
  // On the store under test (storeOverrides: nothing for SQLite, the database URL and sealing secret for PostgreSQL).
  const config = loadConfig({}, { dataDir, ...(await storeOverrides()) })
  const app = await buildApp({ config, logger: { level: 'trace', stream, redact: ['req.headers.authorization'] } })
  t.teardown(async () => {
    await app.close()
    fs.rmSync(dataDir, { recursive: true, force: true })
  })
  await app.ready()
  const key = (await createKey(app.db, { name: 'olga', role: 'operator' }, SYSTEM_ACTOR)).key
  const auth = { authorization: `Bearer ${key}` }
  await app.inject({ method: 'POST', url: '/v1/datasets', headers: auth, payload: PEOPLE_SPEC })
  await app.inject({
    method: 'POST',
    url: '/v1/datasets/people/versions',
    headers: { ...auth, 'content-type': 'text/csv' },
    payload: 'pid,city,member,age,income\nsecretperson,north,true,33,123456.75\nsecretperson,north,true,999,1\n',
  })
  await app.inject({
    method: 'GET',
    url: '/v1/keys',
    headers: { authorization: 'Bearer vbx_000000000000_wrongwrongwrongwrongwrongwrongwrongwrongwro' },
  })
  const log = lines.join('')
  t.ok(log.length > 0, 'something was logged')
  t.equal(log.indexOf(key), -1, 'no key')
  t.equal(log.indexOf(key.slice(17)), -1, 'no key secret')
  t.equal(log.indexOf('wrongwrongwrong'), -1, 'not even a wrong key')
  t.equal(log.indexOf('secretperson'), -1, 'no id value')
  t.equal(log.indexOf('123456.75'), -1, 'no numeric value')
  t.match(log, /"reqId":"[0-9a-f-]{36}"/, 'request ids are logged')
})
