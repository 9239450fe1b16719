import t from 'tap'
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import { testApp } from '../../helpers/app.js'

t.test('a /v1 route without a key is refused with 401 problem+json', async (t) => {
  const { call } = await testApp(t)
  const res = await call(null, { method: 'GET', url: '/v1/datasets' })
  t.equal(res.statusCode, 401)
  t.match(res.headers['content-type'], /^application\/problem\+json/)
  const body = res.json()
  t.equal(body.code, 'VEILBOX_ERR_AUTH_MISSING_KEY')
  t.equal(body.status, 401)
  t.match(body.detail, /Authorization: Bearer/)
  t.ok(body.type && body.title && body.instance)
})

t.test('an unknown, malformed or revoked key is refused with 401', async (t) => {
  const { call, app, keys } = await testApp(t)
  for (const header of [
    'Bearer nonsense',
    'Basic abc',
    `Bearer ${keys.analyst.slice(0, -2)}xx`,
    `Bearer vbx_000000000000_${'a'.repeat(43)}`,
  ]) {
    const res = await app.inject({ method: 'GET', url: '/v1/datasets', headers: { authorization: header } })
    t.equal(res.statusCode, 401, header)
    t.equal(res.json().code, 'VEILBOX_ERR_AUTH_INVALID_KEY')
  }
  t.equal((await call('operator', { method: 'DELETE', url: '/v1/keys/alice' })).statusCode, 200)
  const revoked = await call('analyst', { method: 'GET', url: '/v1/datasets' })
  t.equal(revoked.statusCode, 401)
  t.equal(revoked.json().code, 'VEILBOX_ERR_AUTH_INVALID_KEY')
})

t.test('a valid key of the wrong role gets 403 naming the roles that may', async (t) => {
  const { call } = await testApp(t)
  for (const role of ['analyst', 'custodian'] as const) {
    const res = await call(role, { method: 'POST', url: '/v1/datasets', payload: {} })
    t.equal(res.statusCode, 403)
    t.equal(res.json().code, 'VEILBOX_ERR_AUTH_FORBIDDEN_ROLE')
    t.equal(res.json().role, role)
    t.same(res.json().allowed, ['operator'])
  }
})

t.test('the bearer scheme is case-insensitive and the key is taken exactly', async (t) => {
  const { app, keys } = await testApp(t)
  const res = await app.inject({
    method: 'GET',
    url: '/v1/datasets',
    headers: { authorization: `bearer ${keys.analyst}` },
  })
  t.equal(res.statusCode, 200)
})

t.test('a /v1 route that does not declare its roles stops the app from starting', async (t) => {
  const { default: auth } = await import('../../../src/api/plugins/auth.js')
  const app = Fastify()
  await app.register(
    fp(
      async (a) => {
        a.decorate('db', {} as never)
      },
      { name: 'db' },
    ),
  )
  await app.register(auth)
  t.throws(() => app.get('/v1/forgotten', async () => 'open'), /route GET \/v1\/forgotten must declare config\.roles/)
  t.doesNotThrow(() => app.get('/v1/declared', { config: { roles: 'any' } }, async () => 'ok'))
  await app.close()
})
