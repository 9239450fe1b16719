import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { testApp } from '../helpers/app.js'

t.test('an operator creates a key, shown once, that then works for its role', async (t) => {
  const { call, app } = await testApp(t)
  const res = await call('operator', { method: 'POST', url: '/v1/keys', payload: { role: 'analyst', name: 'bob' } })
  t.equal(res.statusCode, 201)
  const created = res.json()
  t.match(created, { name: 'bob', role: 'analyst' })
  t.match(created.key, /^vbx_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/)
  const use = await app.inject({ method: 'GET', url: '/v1/datasets', headers: { authorization: `Bearer ${created.key}` } })
  t.equal(use.statusCode, 200)

  const list = await call('operator', { method: 'GET', url: '/v1/keys' })
  t.equal(list.statusCode, 200)
  const names = list.json().keys.map((k: { name: string }) => k.name)
  t.same(names, ['alice', 'bob', 'carl', 'olga'])
  t.notMatch(list.body, created.key.slice(18), 'the list never carries a secret')
  t.notOk('key' in list.json().keys[0])
})

t.test('keys are stored only as hashes: the secret is nowhere in the data directory', async (t) => {
  const { call, dataDir, app } = await testApp(t)
  const res = await call('operator', { method: 'POST', url: '/v1/keys', payload: { role: 'custodian', name: 'kim' } })
  const secret = res.json().key as string
  app.db.pragma('wal_checkpoint(TRUNCATE)')
  for (const f of fs.readdirSync(dataDir)) {
    const bytes = fs.readFileSync(path.join(dataDir, f))
    t.equal(bytes.indexOf(secret), -1, `${f} does not hold the key`)
    t.equal(bytes.indexOf(secret.slice(17)), -1, `${f} does not hold the secret part`)
  }
})

t.test('a name cannot hold two active keys; revoking frees it', async (t) => {
  const { call } = await testApp(t)
  const dup = await call('operator', { method: 'POST', url: '/v1/keys', payload: { role: 'analyst', name: 'alice' } })
  t.equal(dup.statusCode, 409)
  t.equal(dup.json().code, 'VEILBOX_ERR_KEY_NAME_TAKEN')
  const del = await call('operator', { method: 'DELETE', url: '/v1/keys/alice' })
  t.equal(del.statusCode, 200)
  t.match(del.json().revoked, { name: 'alice', role: 'analyst' })
  const again = await call('operator', { method: 'POST', url: '/v1/keys', payload: { role: 'analyst', name: 'alice' } })
  t.equal(again.statusCode, 201)
  const missing = await call('operator', { method: 'DELETE', url: '/v1/keys/nobody' })
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().code, 'VEILBOX_ERR_KEY_NOT_FOUND')
})

t.test('bad key requests are refused with the field named and nothing created', async (t) => {
  const { call } = await testApp(t)
  const cases = [
    { payload: { role: 'admin', name: 'x' }, path: 'body.role' },
    { payload: { role: 'analyst', name: '' }, path: 'body.name' },
    { payload: { role: 'analyst', name: 'a b' }, path: 'body.name' },
    { payload: { role: 'analyst', name: 'ok', extra: 1 }, path: 'body' },
  ]
  for (const c of cases) {
    const res = await call('operator', { method: 'POST', url: '/v1/keys', payload: c.payload })
    t.equal(res.statusCode, 400, JSON.stringify(c.payload))
    t.equal(res.json().code, 'VEILBOX_ERR_REQUEST_VALIDATION')
    t.ok(res.json().errors.some((e: { path: string }) => e.path === c.path), `names ${c.path}: ${res.body}`)
  }
  const list = await call('operator', { method: 'GET', url: '/v1/keys' })
  t.equal(list.json().keys.length, 3)
})

t.test('only operators manage keys', async (t) => {
  const { call } = await testApp(t)
  for (const [method, url] of [['GET', '/v1/keys'], ['POST', '/v1/keys'], ['DELETE', '/v1/keys/olga']] as const) {
    const res = await call('analyst', { method, url, payload: method === 'POST' ? { role: 'operator', name: 'evil' } : undefined })
    t.equal(res.statusCode, 403, `${method} ${url}`)
  }
})
