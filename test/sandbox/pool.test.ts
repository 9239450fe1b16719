import { fileURLToPath } from 'node:url'
import t from 'tap'
import { queryApp } from '../helpers/app.js'

const FIXTURE = fileURLToPath(new URL('../fixtures/sandbox-worker.ts', import.meta.url))

async function fixtureApp(t: Parameters<typeof queryApp>[0], overrides = {}) {
  return queryApp(t, { overrides: { queryTimeoutMs: 10_000, ...overrides }, sandboxWorker: FIXTURE })
}

const ask = (qa: Awaited<ReturnType<typeof fixtureApp>>, where: string, epsilon = 0.1) =>
  qa.call('analyst', { method: 'POST', url: '/v1/queries', payload: { sql: `SELECT COUNT(*) FROM binzhou_households WHERE ${where}`, grant: qa.grant, epsilon } })

const spent = async (qa: Awaited<ReturnType<typeof fixtureApp>>) =>
  (await qa.call('analyst', { method: 'GET', url: `/v1/grants/${qa.grant}` })).json().budget.epsilon.spent as number

t.test('a task past its deadline is ended within the deadline plus a second; the next query succeeds', async (t) => {
  // Deadlines count from submission; a long one leaves room for a cold worker under tsx.
  const deadline = 3000
  const qa = await fixtureApp(t, { queryTimeoutMs: deadline })
  await ask(qa, 'age > 20') // warm the worker
  const started = Date.now()
  const res = await ask(qa, 'age = -1001')
  const took = Date.now() - started
  t.equal(res.statusCode, 504)
  t.equal(res.json().code, 'VEILBOX_ERR_SANDBOX_TIMEOUT')
  t.ok(took >= deadline - 50 && took < deadline + 1000, `ended after ${took} ms`)
  t.equal(await spent(qa), 0.1, 'only the warm-up was charged')
  const next = await ask(qa, 'age > 30')
  t.equal(next.statusCode, 200, 'the pool replaced the worker and goes on')
})

t.test('a crashing worker and a throwing one fail only their own query and charge nothing', async (t) => {
  const qa = await fixtureApp(t)
  for (const where of ['age = -1002', 'age = -1004']) {
    const res = await ask(qa, where)
    t.equal(res.statusCode, 500, where)
    t.equal(res.json().code, 'VEILBOX_ERR_SANDBOX_CRASHED')
    t.notMatch(res.json().detail, /unexpected bug|exit/, 'no internal message')
  }
  t.equal(await spent(qa), 0)
  t.equal((await ask(qa, 'age > 40')).statusCode, 200)
  const health = await qa.call(null, { method: 'GET', url: '/healthz' })
  t.equal(health.statusCode, 200)
})

t.test('a worker out of memory fails only its query, with its own code', async (t) => {
  const qa = await fixtureApp(t, { workerHeapMb: 32, queryTimeoutMs: 30_000 })
  const res = await ask(qa, 'age = -1003')
  t.equal(res.statusCode, 507)
  t.equal(res.json().code, 'VEILBOX_ERR_SANDBOX_OUT_OF_MEMORY')
  t.equal(await spent(qa), 0)
  t.equal((await ask(qa, 'age > 50')).statusCode, 200)
})

t.test('a full queue answers 503 with Retry-After', async (t) => {
  const qa = await fixtureApp(t, { queueMax: 1, queryTimeoutMs: 10_000 })
  t.equal((await ask(qa, 'age > 19')).statusCode, 200, 'warm')
  // One worker busy, one task queued; the third finds the queue full.
  const pool = qa.app.executor as unknown as { queueSize: number }
  const slow = [ask(qa, 'age = -1006'), ask(qa, 'age = -1006', 0.2)]
  while (pool.queueSize < 1) await new Promise((r) => setTimeout(r, 10))
  const res = await ask(qa, 'age > 60')
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'VEILBOX_ERR_SANDBOX_BUSY')
  t.equal(res.headers['retry-after'], '1')
  const done = await Promise.all(slow)
  t.same(done.map((r) => r.statusCode), [200, 200], 'the queued work still completes')
  t.equal(await spent(qa), 0.4, 'the refused query charged nothing')
})

t.test('workers read the column store in place: the same shared memory, no copy', async (t) => {
  const qa = await fixtureApp(t)
  const lease = qa.app.columnStore.acquire(qa.dataset, 1)
  t.teardown(() => lease.release())
  const age = lease.version.columns.get('age')!
  t.ok(age.values.buffer instanceof SharedArrayBuffer)
  const before = age.values[0]
  const res = await ask(qa, 'age = -1005')
  t.equal(res.statusCode, 500, 'the fixture refuses, after writing')
  t.equal(age.values[0], 77, `the main thread sees the worker's write (was ${before})`)
})
