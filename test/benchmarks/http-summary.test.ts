import type autocannon from 'autocannon'
import t from 'tap'
import { envScenarios, goals, scenario, SCENARIO_KEYS, type Ran, type Scenario } from '../../benchmarks/http.js'

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

t.test('each goal is judged against its scenario, at the connections it is stated for', async (t) => {
  const bare = [round({ rps: 10_000, total: 1 })]
  const run = (cachedRps: number, freshP99: number, fresh: { errors?: number } = {}): Scenario[] => [
    scenario('bare route', bare, null),
    scenario('cached query', [round({ rps: cachedRps, total: 1 })], bare),
    scenario('fresh DP query', [round({ rps: 500, total: 1, p99: freshP99, ...fresh })], bare),
  ]
  const byGoal = (checks: ReturnType<typeof goals>) => Object.fromEntries(checks.map((g) => [g.scenario, g]))

  const met = byGoal(goals(run(5_000, 19), 10))
  t.match(
    met['cached query'],
    { measure: 'ratioToBare', target: '>= 0.5', measured: 0.5, met: true },
    'exactly half is enough',
  )
  t.match(met['fresh DP query'], { measure: 'p99Ms', target: '< 20', measured: 19, met: true })
  t.notOk('note' in met['fresh DP query']!)

  const missed = byGoal(goals(run(4_990, 20), 10))
  t.match(missed['cached query'], { measured: 0.499, met: false })
  t.match(missed['fresh DP query'], { measured: 20, met: false }, '20 ms is not under 20 ms')

  const fewer = byGoal(goals(run(6_000, 5), 4))
  t.match(fewer['fresh DP query'], {
    measured: 5,
    met: null,
    note: 'the goal is stated at 10 connections; this run used 4',
  })
  t.match(fewer['cached query'], { met: true }, 'the ratio goal holds at any connection count')

  const failing = byGoal(goals(run(6_000, 5, { errors: 3 }), 10))
  t.match(
    failing['fresh DP query'],
    { met: false, note: '3 requests failed' },
    'a fast scenario with failures meets nothing',
  )

  const none = goals([scenario('bare route', bare, null)], 10)
  t.same(
    none.map((g) => [g.measured, g.met, g.note]),
    [
      [null, null, 'the scenario did not run'],
      [null, null, 'the scenario did not run'],
    ],
  )
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
  t.same([...envScenarios(name)], [], 'the bare route alone (it always runs)')
  process.env[name] = 'fresh,cahced,bar'
  t.throws(() => envScenarios(name), {
    message:
      'VEILBOX_TEST_SCENARIOS takes a comma list of stack, healthz, catalog, preview, fresh, cached, heavy (the bare route always runs); unknown: cahced, bar',
  })
})
