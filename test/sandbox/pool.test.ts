import { fileURLToPath } from 'node:url'
import t from 'tap'
import { queryApp } from '../helpers/app.js'

const FIXTURE = fileURLToPath(new URL('../fixtures/sandbox-worker.ts', import.meta.url))

async function fixtureApp(t: Parameters<typeof queryApp>[0], overrides = {}) {
  return queryApp(t, { overrides: { queryTimeoutMs: 10_000, ...overrides }, sandboxWorker: FIXTURE })
}

const ask = (qa: Awaited<ReturnType<typeof fixtureApp>>, where: string, epsilon = 0.1) =>
  qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql: `SELECT COUNT(*) FROM binzhou_households WHERE ${where}`, grant: qa.grant, epsilon },
  })

const spent = async (qa: Awaited<ReturnType<typeof fixtureApp>>) =>
  (await qa.call('analyst', { method: 'GET', url: `/v1/grants/${qa.grant}` })).json().budget.epsilon.spent as number

t.test(
  'a task past its deadline is ended within the deadline plus a second, and charged like an answer; the next query succeeds',
  async (t) => {
    // Deadlines count from the moment a worker starts the task.
    const deadline = 3000
    const qa = await fixtureApp(t, { queryTimeoutMs: deadline })
    await ask(qa, 'age > 20') // warm the worker
    const started = Date.now()
    const res = await ask(qa, 'age = -1001')
    const took = Date.now() - started
    t.equal(res.statusCode, 504)
    const body = res.json()
    t.equal(body.code, 'VEILBOX_ERR_SANDBOX_TIMEOUT')
    t.ok(took >= deadline - 50 && took < deadline + 1000, `ended after ${took} ms`)
    t.match(body.detail, /charged as if it had been answered/)
    t.same(body.charged, { epsilon: 0.1, delta: 0 })
    t.equal(await spent(qa), 0.2, 'the deadline hit was charged like the warm-up answer')
    const records = await qa.app.db.all(
      "SELECT action, outcome, charged_epsilon FROM audit_log WHERE action LIKE 'query.%' ORDER BY seq",
    )
    t.same(
      records,
      [
        { action: 'query.release', outcome: 'ok', charged_epsilon: '0.1' },
        { action: 'query.deadline', outcome: 'VEILBOX_ERR_SANDBOX_TIMEOUT', charged_epsilon: '0.1' },
      ],
      'one record of the deadline, with its charge, and no refusal record besides',
    )
    const next = await ask(qa, 'age > 30')
    t.equal(next.statusCode, 200, 'the pool replaced the worker and goes on')
  },
)

t.test(
  'time queued behind other tasks never counts toward a deadline: a task no worker starts within one is dropped as busy, free',
  async (t) => {
    const deadline = 2000
    const qa = await fixtureApp(t, { queryTimeoutMs: deadline, queueMax: 4 })
    t.equal((await ask(qa, 'age > 20')).statusCode, 200, 'warm')
    const task = (value: number) => ({
      dataset: qa.dataset,
      version: 1,
      where: { kind: 'cmp' as const, column: 'age', op: '=' as const, value },
      groupBy: [],
      measures: [],
    })
    const t0 = Date.now()
    // Submitted in one tick: the second is queued before the first has started, so its wait for a worker
    // (the one worker spins until its deadline, then is replaced) passes a deadline first.
    const spin = qa.app.executor.execute(task(-1001)).then(
      () => null,
      (e: { code: string }) => ({ code: e.code, at: Date.now() - t0 }),
    )
    const queued = qa.app.executor.execute(task(30)).then(
      () => null,
      (e: { code: string; headers: Record<string, string> }) => ({
        code: e.code,
        retry: e.headers['retry-after'],
        at: Date.now() - t0,
      }),
    )
    const [a, b] = await Promise.all([spin, queued])
    t.match(a, { code: 'VEILBOX_ERR_SANDBOX_TIMEOUT' }, 'the running task hit its deadline')
    t.match(b, { code: 'VEILBOX_ERR_SANDBOX_BUSY', retry: '1' }, 'the queued one is busy, not timed out')
    t.ok(b !== null && b.at < deadline + 1000, `dropped after ${b?.at} ms in the queue`)
    t.equal(await spent(qa), 0.1, 'only the warm-up was charged')
  },
)

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
  t.same(
    done.map((r) => r.statusCode),
    [200, 200],
    'the queued work still completes',
  )
  t.equal(await spent(qa), 0.4, 'the refused query charged nothing')
})

t.test(
  'a grant revoked while its query computes is refused at the release: nothing charged, stored or sent',
  async (t) => {
    const qa = await fixtureApp(t)
    t.equal((await ask(qa, 'age > 22')).statusCode, 200, 'warm')
    const before = await spent(qa)
    // Revoke once the query has passed every check before the sandbox and its task is running.
    const pool = qa.app.executor as unknown as { execute: (task: unknown) => Promise<unknown> }
    const execute = pool.execute.bind(pool)
    let entered!: () => void
    const inSandbox = new Promise<void>((resolve) => (entered = resolve))
    pool.execute = (task) => {
      entered()
      return execute(task)
    }
    const pending = ask(qa, 'age = -1006', 0.3)
    await inSandbox
    t.equal((await qa.call('operator', { method: 'DELETE', url: `/v1/grants/${qa.grant}` })).statusCode, 200)
    const res = await pending
    t.equal(res.statusCode, 403)
    t.equal(res.json().code, 'VEILBOX_ERR_POLICY_GRANT_REVOKED')
    t.equal(await spent(qa), before, 'the grant was not charged')
    const { answers } = (await qa.call('analyst', { method: 'GET', url: '/v1/queries' })).json() as {
      answers: { epsilon: number }[]
    }
    t.same(
      answers.map((a) => a.epsilon),
      [0.1],
      'only the warm-up answer was stored',
    )
  },
)

t.test('workers read the column cache in place: the same shared memory, no copy', async (t) => {
  const qa = await fixtureApp(t)
  const lease = await qa.app.columnCache.acquire(qa.dataset, 1)
  t.teardown(() => lease.end())
  const age = lease.version.columns.get('age')!
  t.ok(age.values.buffer instanceof SharedArrayBuffer)
  const before = age.values[0]
  const res = await ask(qa, 'age = -1005')
  t.equal(res.statusCode, 500, 'the fixture refuses, after writing')
  t.equal(age.values[0], 77, `the main thread sees the worker's write (was ${before})`)
})

t.test('a worker receives a plan and column views only: no key, grant, budget or purpose', async (t) => {
  const qa = await fixtureApp(t)
  const pool = qa.app.executor as unknown as { pool: { run: (m: unknown, o: unknown) => Promise<unknown> } }
  const run = pool.pool.run.bind(pool.pool)
  let seen = ''
  pool.pool.run = async (m, o) => {
    const r = (await run(m, o)) as { detail?: string }
    seen = r.detail ?? ''
    return r
  }
  await ask(qa, 'age = -1007')
  const msg = JSON.parse(seen) as Record<string, unknown>
  t.same(
    Object.keys(msg).sort(),
    ['columns', 'keep', 'rows', 'started', 'task'],
    'started: the port the worker signals its start on',
  )
  t.same(msg.started, {}, 'a bare message port')
  t.same(Object.keys(msg.columns as object).sort(), ['age'], 'only the columns the task reads')
  for (const secret of [
    qa.keys.analyst,
    qa.keys.operator,
    qa.grant,
    'test: household statistics',
    'alice',
    'epsilon',
    'budget',
  ]) {
    t.notOk(seen.includes(secret), `the message does not hold ${secret.slice(0, 12)}`)
  }
})

t.test('the worker protocol refuses anything beyond the plan and its columns', async (t) => {
  const { workerRequestSchema } = await import('../../src/sandbox/protocol.js')
  const ok = {
    task: { dataset: 'd', version: 1, where: null, groupBy: [], measures: [] },
    rows: 0,
    keep: new Uint8Array(0),
    columns: {},
  }
  t.ok(workerRequestSchema.safeParse(ok).success)
  t.notOk(workerRequestSchema.safeParse({ ...ok, apiKey: 'vbx_x' }).success, 'no extra field')
  t.notOk(workerRequestSchema.safeParse({ ...ok, task: { ...ok.task, grant: 'g_1' } }).success, 'no extra task field')
  t.notOk(
    workerRequestSchema.safeParse({ ...ok, columns: { x: { kind: 'f64', values: [1, 2], nulls: null } } }).success,
    'columns are typed arrays',
  )
})

t.test('finding 4: an answer that is not a finite number is never released or charged', async (t) => {
  const qa = await fixtureApp(t)
  const res = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql: 'SELECT SUM(income) FROM binzhou_households WHERE age = -1008', grant: qa.grant, epsilon: 0.1 },
  })
  t.equal(res.statusCode, 500)
  t.equal(res.json().code, 'VEILBOX_ERR_DP_NOT_FINITE')
  t.equal(await spent(qa), 0)
  t.equal(await qa.app.db.value<number>('SELECT COUNT(*) FROM answers'), 0, 'nothing stored')
})
