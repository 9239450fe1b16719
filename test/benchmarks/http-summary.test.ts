import type autocannon from 'autocannon'
import t from 'tap'
import { httpGoals } from '../../benchmarks/http-goals.js'
import { type Ran, type Scenario, scenario } from '../../benchmarks/http-load.js'
import type { HealthzDuring } from '../../benchmarks/http-stalls.js'
import { envScenarios, SCENARIO_KEYS } from '../../benchmarks/http.js'

// How the HTTP benchmark turns rounds of load into one line of http.json.
function round(o: {
  rps: number
  total: number
  p50?: number
  p99?: number
  errors?: number
  non2xx?: number
  server?: number | null
  client?: number
  steal?: number | null
  statuses?: [number, number][]
  warmup?: number
}): Ran {
  return {
    result: {
      requests: { average: o.rps, total: o.total },
      latency: { p50: o.p50 ?? 1, p99: o.p99 ?? 2, p99_9: 3 },
      errors: o.errors ?? 0,
      timeouts: 0,
      non2xx: o.non2xx ?? 0,
    } as unknown as autocannon.Result,
    statuses: new Map(o.statuses ?? []),
    warmupProblems: o.warmup ?? 0,
    hostStealPercent: o.steal === undefined ? 1 : o.steal,
    serverCpu: o.server === undefined ? 1 : o.server,
    clientCpu: o.client ?? 0.5,
  }
}

t.test(
  'a scenario is its medians over the rounds, its counts summed, its CPU per request over all requests',
  async (t) => {
    const s = scenario(
      'x',
      [
        round({ rps: 100, total: 1000, p99: 9, errors: 1, server: 2, client: 1, steal: 0 }),
        round({ rps: 300, total: 3000, p99: 3, non2xx: 2, server: 3, client: 1, steal: 3, statuses: [[409, 2]] }),
        round({ rps: 200, total: 2000, p99: 5, server: 1, client: 1, steal: null, warmup: 4 }),
      ],
      null,
    )
    t.match(s, {
      name: 'x',
      requestsPerSec: 200,
      p99Ms: 5,
      errors: 1,
      non2xx: 2,
      refusals: 2,
      requests: 6000,
      ratioToBare: 1,
      warmupProblems: 4,
    })
    t.same(s.requestsPerSecRounds, [100, 300, 200], 'each round, in order')
    t.equal(s.serverCpuUsPerRequest, 1000, '6 s of CPU over 6,000 requests')
    t.equal(s.clientCpuUsPerRequest, 500)
    t.equal(s.hostStealPercent, 1.5, 'the mean of the rounds that could read it')
  },
)

t.test('the ratio to the bare route is the median of the per-round ratios, not a ratio of medians', async (t) => {
  const bare = [round({ rps: 1000, total: 1 }), round({ rps: 4000, total: 1 }), round({ rps: 2000, total: 1 })]
  const s = scenario(
    'y',
    [round({ rps: 500, total: 1 }), round({ rps: 400, total: 1 }), round({ rps: 300, total: 1 })],
    bare,
  )
  // Per round: 0.5, 0.1, 0.15, whose median is 0.15; the medians' ratio would be 400 / 2000 = 0.2.
  t.equal(s.ratioToBare, 0.15)
  t.equal(s.requestsPerSec, 400)
})

t.test('CPU per request is null when a round could not read it, or when the load shared the server', async (t) => {
  const rounds = [round({ rps: 10, total: 10 }), round({ rps: 10, total: 10, server: null })]
  t.equal(scenario('z', rounds, null).serverCpuUsPerRequest, null)
  t.equal(scenario('z', rounds, null).clientCpuUsPerRequest, 50_000)
  const shared = scenario('w', [round({ rps: 10, total: 10 })], null, true)
  t.equal(shared.serverCpuUsPerRequest, null)
  t.equal(shared.clientCpuUsPerRequest, null)
  t.equal(scenario('v', [round({ rps: 10, total: 10, steal: null })], null).hostStealPercent, null)
})

t.test('the CPU goals: a fresh query under 1,000 µs, cached and catalog at most twice the stack ceiling', async (t) => {
  const run = (o: { fresh: number; cached: number; catalog: number; stack?: number | null; errors?: number }) => {
    const one = (name: string, server: number | null, errors = 0) =>
      scenario(name, [round({ rps: 100, total: 1000, server, errors })], null)
    return [
      one('bare route', 0.05),
      ...(o.stack === null ? [] : [one('stack ceiling (constant POST)', (o.stack ?? 100) / 1000)]),
      one('fresh DP query', o.fresh / 1000, o.errors),
      one('cached query', o.cached / 1000),
      one('catalog', o.catalog / 1000),
    ]
  }
  const byName = (s: Scenario[]) => Object.fromEntries(httpGoals(s, []).map((g) => [g.name, g]))
  const fresh = 'fresh DP query: server CPU per request, µs'
  const cached = "cached query: server CPU per request, x the stack ceiling's"
  const catalog = "catalog: server CPU per request, x the stack ceiling's"

  const met = byName(run({ fresh: 1000, cached: 200, catalog: 150 }))
  t.same(met[fresh], { name: fresh, target: '<= 1000', measured: 1000, met: true }, '1,000 µs is enough')
  t.same(met[cached], { name: cached, target: '<= 2', measured: 2, met: true }, 'exactly twice is enough')
  t.match(met[catalog], { measured: 1.5, met: true })

  const missed = byName(run({ fresh: 1001, cached: 201, catalog: 500 }))
  t.match(missed[fresh], { measured: 1001, met: false })
  t.match(missed[cached], { measured: 2.01, met: false })
  t.match(missed[catalog], { measured: 5, met: false })

  const failing = byName(run({ fresh: 10, cached: 100, catalog: 100, errors: 3 }))
  t.match(failing[fresh], { met: false, note: '3 requests failed' }, 'a cheap scenario with failures meets nothing')

  const noStack = byName(run({ fresh: 10, cached: 100, catalog: 100, stack: null }))
  t.match(noStack[cached], { measured: null, met: null, note: 'the stack ceiling did not run' })

  const none = httpGoals([scenario('bare route', [round({ rps: 1, total: 1 })], null)], [])
  t.same(
    none.map((g) => [g.measured, g.met, g.note]),
    [
      [null, null, 'the scenario did not run'],
      [null, null, 'the scenario did not run'],
      [null, null, 'the scenario did not run'],
    ],
  )
})

t.test('the healthz goals: p99 under 50 ms, judged only at the size the goal is stated at', async (t) => {
  const during = (size: number, p99: number | null, failures = 0): HealthzDuring => ({
    key: 'ingest',
    name: `healthz during an ingest of ${size} rows`,
    goal: 'during a 1,000,000-row ingest',
    unit: 'rows',
    size,
    statedSize: 1_000_000,
    operationMs: p99 === null ? null : 1000,
    healthz: p99 === null ? null : { requests: 50, failures, p50Ms: 2, p99Ms: p99, maxMs: p99 },
    mainThread: null,
    detail: {},
  })
  const one = (d: HealthzDuring) => httpGoals([], [d])[3]!
  const name = '/healthz p99 during a 1,000,000-row ingest, ms'
  t.same(one(during(1_000_000, 49.9)), { name, target: '< 50', measured: 49.9, met: true })
  t.match(one(during(1_000_000, 50)), { measured: 50, met: false }, '50 ms is not under 50 ms')
  t.match(one(during(20_000, 5)), {
    measured: 5,
    met: null,
    note: 'the goal is stated at 1,000,000 rows; this run used 20,000',
  })
  t.match(one(during(1_000_000, 5, 2)), { met: false, note: '2 /healthz requests failed' })
  t.match(one(during(1_000_000, null)), { measured: null, met: null, note: 'the scenario did not run' })
})

t.test('SCENARIOS picks scenarios by key, and names the keys when one is unknown', async (t) => {
  const name = 'VEILBOX_TEST_SCENARIOS'
  t.teardown(() => {
    delete process.env[name]
  })
  delete process.env[name]
  t.same([...envScenarios(name)], Object.keys(SCENARIO_KEYS), 'unset: every scenario')
  process.env[name] = ' fresh, cached ,'
  t.same([...envScenarios(name)], ['fresh', 'cached'])
  process.env[name] = 'bare'
  t.same([...envScenarios(name)], [], 'the bare route alone (it runs beside any scenario under load)')
  process.env[name] = 'fresh,cahced,bar'
  t.throws(() => envScenarios(name), {
    message:
      'VEILBOX_TEST_SCENARIOS takes a comma list of stack, healthz, catalog, preview, fresh, cached, heavy, ingest, cold, release (the bare route runs beside any scenario under load); unknown: cahced, bar',
  })
})
