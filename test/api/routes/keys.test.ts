import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { SqliteDatabase } from '../../../src/store/sqlite.js'
import { queryApp, testApp } from '../../helpers/app.js'

function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : e.isFile() ? [path.join(dir, e.name)] : []))
}

/**
 * Every file the store under test keeps, after what was committed is in its
 * files: on SQLite the data directory, checkpointed (the WAL folded into the
 * database file); on PostgreSQL the data directory and the whole test
 * cluster's directory (heap, WAL, logs), after a CHECKPOINT.
 */
async function storeFiles(app: FastifyInstance, dataDir: string): Promise<string[]> {
  if (app.db instanceof SqliteDatabase) {
    app.db.raw.pragma('wal_checkpoint(TRUNCATE)')
    return filesUnder(dataDir)
  }
  await app.db.run('CHECKPOINT')
  // The test cluster listens on a unix socket in its own directory (test/helpers/pg.ts): the URL's host parameter
  // (not new URL(): postgres://user@/db, with the host in the query, is no WHATWG URL).
  const url = app.config.databaseUrl!
  const cluster = new URLSearchParams(url.slice(url.indexOf('?') + 1)).get('host')!
  const files = filesUnder(cluster)
  if (!files.some((f) => f.includes(`${path.sep}base${path.sep}`)))
    throw new Error(`no database files under ${cluster}`)
  return [...filesUnder(dataDir), ...files]
}

t.test('an operator creates a key, shown once, that then works for its role', async (t) => {
  const { call, app } = await testApp(t)
  const res = await call('operator', { method: 'POST', url: '/v1/keys', payload: { role: 'analyst', name: 'bob' } })
  t.equal(res.statusCode, 201)
  const created = res.json()
  t.match(created, { name: 'bob', role: 'analyst' })
  t.match(created.key, /^vbx_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/)
  const use = await app.inject({
    method: 'GET',
    url: '/v1/datasets',
    headers: { authorization: `Bearer ${created.key}` },
  })
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
  const keyId = res.json().keyId as string
  let holdsKeyId = false
  for (const f of await storeFiles(app, dataDir)) {
    const bytes = fs.readFileSync(f)
    t.equal(bytes.indexOf(secret), -1, `${f} does not hold the key`)
    t.equal(bytes.indexOf(secret.slice(17)), -1, `${f} does not hold the secret part`)
    if (bytes.indexOf(`${keyId}`) !== -1) holdsKeyId = true
  }
  // The control: the files scanned are where the store keeps what it stores (the key id is stored, in plain text).
  t.ok(holdsKeyId, 'the public key id is found in the files scanned')
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
    t.ok(
      res.json().errors.some((e: { path: string }) => e.path === c.path),
      `names ${c.path}: ${res.body}`,
    )
  }
  const list = await call('operator', { method: 'GET', url: '/v1/keys' })
  t.equal(list.json().keys.length, 3)
})

t.test('only operators manage keys', async (t) => {
  const { call } = await testApp(t)
  for (const [method, url] of [
    ['GET', '/v1/keys'],
    ['POST', '/v1/keys'],
    ['DELETE', '/v1/keys/olga'],
  ] as const) {
    const res = await call('analyst', {
      method,
      url,
      payload: method === 'POST' ? { role: 'operator', name: 'evil' } : undefined,
    })
    t.equal(res.statusCode, 403, `${method} ${url}`)
  }
})

t.test(
  'finding 11: a name revoked and issued again is a new principal; a rotated key keeps the principal',
  async (t) => {
    const qa = await queryApp(t, { overrides: { rateLimitPerMinute: 20 } })
    const as = (key: string, opts: { method: 'GET' | 'POST'; url: string; payload?: object }) =>
      qa.app.inject({ ...opts, headers: { authorization: `Bearer ${key}` } })
    const answer = await as(qa.keys.analyst, {
      method: 'POST',
      url: '/v1/queries',
      payload: { sql: 'SELECT COUNT(*) FROM binzhou_households', grant: qa.grant, epsilon: 0.1 },
    })
    t.equal(answer.statusCode, 200)
    const queryId = answer.json().queryId
    // Use up most of the old holder's rate-limit bucket (19 of 20).
    for (let i = 0; i < 18; i++) await as(qa.keys.analyst, { method: 'GET', url: '/v1/grants' })
    const oldId = (
      (await qa.call('operator', { method: 'GET', url: '/v1/keys' })).json().keys as {
        name: string
        principalId: string
      }[]
    ).find((k) => k.name === 'alice')!.principalId
    t.equal((await qa.call('operator', { method: 'DELETE', url: '/v1/keys/alice' })).statusCode, 200)
    const again = await qa.call('operator', {
      method: 'POST',
      url: '/v1/keys',
      payload: { name: 'alice', role: 'analyst' },
    })
    t.equal(again.statusCode, 201)
    t.not(again.json().principalId, oldId, 'a new principal')
    const newKey = again.json().key as string
    t.same(
      (await as(newKey, { method: 'GET', url: '/v1/grants' })).json().grants,
      [],
      "none of the old holder's grants",
    )
    const run = await as(newKey, {
      method: 'POST',
      url: '/v1/queries',
      payload: { sql: 'SELECT COUNT(*) FROM binzhou_households', grant: qa.grant, epsilon: 0.1 },
    })
    t.equal(run.statusCode, 403)
    t.equal(run.json().code, 'VEILBOX_ERR_POLICY_NOT_YOUR_GRANT')
    t.same(
      (await as(newKey, { method: 'GET', url: '/v1/queries' })).json().answers,
      [],
      "none of the old holder's answers",
    )
    t.equal((await as(newKey, { method: 'GET', url: `/v1/queries/${queryId}` })).statusCode, 404)
    t.same((await as(newKey, { method: 'GET', url: '/v1/me/usage' })).json().grants, [])
    t.equal(
      (await as(newKey, { method: 'GET', url: `/v1/datasets/${qa.dataset}` })).statusCode,
      404,
      "nor the old holder's catalog",
    )
    // The old holder's rate-limit bucket (19 of 20 used) is not the new principal's: its 6 requests so far and 7 more pass.
    const statuses = []
    for (let i = 0; i < 7; i++) statuses.push((await as(newKey, { method: 'GET', url: '/v1/grants' })).statusCode)
    t.ok(
      statuses.every((s) => s === 200),
      `a bucket of its own: ${statuses.join(',')}`,
    )

    // Rotation keeps the principal: grants and answers stay; the old key stops working at once.
    const g2 = await qa.call('operator', {
      method: 'POST',
      url: '/v1/grants',
      payload: {
        analyst: 'alice',
        dataset: qa.dataset,
        purpose: 'after re-issue',
        epsilon: 1,
        expiresAt: '2099-01-01T00:00:00Z',
      },
    })
    t.equal(g2.statusCode, 201)
    t.equal(g2.json().analystId, again.json().principalId)
    const rotated = await qa.call('operator', { method: 'POST', url: '/v1/keys/alice/rotate' })
    t.equal(rotated.statusCode, 201, JSON.stringify(rotated.json()))
    t.equal(rotated.json().principalId, again.json().principalId, 'the same principal')
    t.not(rotated.json().key, newKey)
    t.equal((await as(newKey, { method: 'GET', url: '/v1/grants' })).statusCode, 401, 'the rotated-out key is revoked')
    t.same(
      (await as(rotated.json().key, { method: 'GET', url: '/v1/grants' }))
        .json()
        .grants.map((g: { id: string }) => g.id),
      [g2.json().id],
      'the grants stay',
    )
    t.equal((await qa.call('operator', { method: 'POST', url: '/v1/keys/nobody/rotate' })).statusCode, 404)
    const rec = (await qa.app.db.value<string>("SELECT detail FROM audit_log WHERE action = 'key.rotate'"))!
    t.match(JSON.parse(rec), { name: 'alice', principal: again.json().principalId, keyId: rotated.json().keyId })
  },
)

t.test('GET /v1/me names the principal a key speaks for, for every role, and never the secret', async (t) => {
  const ta = await testApp(t)
  for (const role of ['operator', 'analyst', 'custodian'] as const) {
    const me = await ta.call(role, { method: 'GET', url: '/v1/me' })
    t.equal(me.statusCode, 200)
    t.equal(me.json().role, role)
    t.match(me.json().id, /^p_[0-9a-f]{16}$/)
    t.notOk(me.body.includes(ta.keys[role].split('_')[2]!), 'the secret is not in the answer')
  }
  t.equal((await ta.call('analyst', { method: 'GET', url: '/v1/me' })).json().name, 'alice')
  t.equal((await ta.call(null, { method: 'GET', url: '/v1/me' })).statusCode, 401)
})
