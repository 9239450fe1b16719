/**
 * HTTP load benchmark: a real veilbox server (its own process and data
 * directory, the demo dataset) driven by autocannon, beside a bare Fastify
 * route started with the same server options, in the same run.
 *
 *   npm run bench:http
 *   ROUNDS=3 DURATION=5 WARMUP=10 CONNECTIONS=10 HEAVY_ROWS=1000000 npm run bench:http
 *   SERVER_CPUS=0-3 CLIENT_CPUS=4-5 npm run bench:http   # servers and load generator on CPUs of their own
 *   SCENARIOS=fresh,cached npm run bench:http            # the goals' scenarios only (and the bare route)
 *
 * Scenarios: the bare route, /healthz, the catalog, a preview, fresh DP
 * queries (each one different, so each spends and writes the ledger),
 * repeated (cached) queries, and /healthz while heavy queries saturate the
 * sandboxes. Budgets are set large enough that refusals are not what is
 * measured; any refusal is counted and reported. Writes
 * benchmarks/results/http.json, with each goal of the service (see GOALS)
 * checked against this run's numbers.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { Readable } from 'node:stream'
import autocannon from 'autocannon'
import { demoCsv, DEMO_SPEC } from '../src/demo/binzhou.js'
import {
  allowedCpus,
  api,
  envCpus,
  envInt,
  listeningUrl,
  machine,
  pinnedCommand,
  pinProcess,
  processCpuSeconds,
  ROOT,
  startServerProcess,
  stealPercent,
  systemCpu,
  table,
  writeResult,
} from './lib.js'

const DURATION = envInt('DURATION', 5)
/**
 * Rounds of every scenario, one after another (bare route, stack ceiling, ...,
 * then again): each scenario's numbers are its medians over the rounds, and
 * its ratio to the bare route the median of the per-round ratios, so a
 * scenario and the bare route are compared at moments close together on a
 * machine whose speed drifts.
 */
const ROUNDS = envInt('ROUNDS', 3)
/**
 * Seconds of the same load before each measured one, not counted: the JIT
 * compiles the request path during the first seconds of load (several seconds
 * of optimizing compiler time on a small machine), and a running service is
 * past that. 0 measures from a cold start.
 */
const WARMUP = envInt('WARMUP', 10, 0) // before each scenario's first round only
const CONNECTIONS = envInt('CONNECTIONS', 10)
const HEAVY_ROWS = envInt('HEAVY_ROWS', 1_000_000)
const HEAVY_CONNECTIONS = envInt('HEAVY_CONNECTIONS', 4)
/**
 * CPUs for the servers (veilbox and the bare baseline, each on all of them)
 * and for the load generator (this process): on a machine with cores to
 * spare, autocannon then takes no CPU from the service it measures. Unset,
 * everything shares every core.
 */
const SERVER_CPUS = envCpus('SERVER_CPUS')
const CLIENT_CPUS = envCpus('CLIENT_CPUS')
/** The scenarios a run can select by key (SCENARIOS=fresh,cached), and what each runs; the bare route always runs, every ratio needs it. */
export const SCENARIO_KEYS = {
  stack: 'stack ceiling (constant POST)',
  healthz: 'healthz',
  catalog: 'catalog',
  preview: 'preview',
  fresh: 'fresh DP query',
  cached: 'cached query',
  heavy: 'healthz under heavy queries, and the heavy queries',
} as const
export type ScenarioKey = keyof typeof SCENARIO_KEYS

/** The scenarios named in an environment variable (every one when it is unset), or an error naming the keys. */
export function envScenarios(name: string): ReadonlySet<ScenarioKey> {
  const keys = Object.keys(SCENARIO_KEYS) as ScenarioKey[]
  const raw = process.env[name]
  if (raw === undefined || raw.trim() === '') return new Set(keys)
  const picked = raw
    .split(',')
    .map((k) => k.trim())
    .filter((k) => k !== '' && k !== 'bare')
  const unknown = picked.filter((k) => !(keys as string[]).includes(k))
  if (unknown.length > 0)
    throw new Error(
      `${name} takes a comma list of ${keys.join(', ')} (the bare route always runs); unknown: ${unknown.join(', ')}`,
    )
  return new Set(picked as ScenarioKey[])
}
const SCENARIOS = envScenarios('SCENARIOS')
/** Exit non-zero on any error, timeout or unexpected status (the CI smoke run). */
const STRICT = process.env.STRICT === '1'

export interface Scenario {
  readonly name: string
  readonly requestsPerSec: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly p999Ms: number
  readonly errors: number
  readonly timeouts: number
  readonly non2xx: number
  /** Budget refusals among the non-2xx (should be zero: budgets are set large). */
  readonly refusals: number
  readonly ratioToBare: number
  /** Requests measured, all rounds. */
  readonly requests: number
  /** Requests/s of each round, in order: the spread the medians come from. */
  readonly requestsPerSecRounds: readonly number[]
  /**
   * CPU time per request of the process serving it (all its threads: the event
   * loop, sandbox workers, V8's helpers), in microseconds; null when it shares
   * the time with another scenario or /proc is not there. Steadier than
   * requests/s on a shared machine, where the load generator competes for the cores.
   */
  readonly serverCpuUsPerRequest: number | null
  /** The same for autocannon, in this process. */
  readonly clientCpuUsPerRequest: number | null
  /** Errors, timeouts and non-2xx responses during the warm-up (not in the counts above); any is a problem too. */
  readonly warmupProblems: number
  /**
   * Percent of the machine's CPU time its hypervisor gave to others during
   * the measurement (steal, from /proc/stat); on a shared virtual machine a
   * high value means the numbers were cut short by the host, not by veilbox.
   */
  readonly hostStealPercent: number | null
}

interface Load {
  readonly url: string
  /** The process serving the URL, for its CPU time per request. */
  readonly pid?: number
  readonly method?: 'GET' | 'POST'
  readonly headers?: Record<string, string>
  readonly body?: () => string
  readonly connections?: number
  readonly duration?: number
}

export interface Ran {
  readonly result: autocannon.Result
  readonly statuses: Map<number, number>
  /** Errors, timeouts and unexpected statuses during the warm-up. */
  readonly warmupProblems: number
  readonly hostStealPercent: number | null
  /** CPU seconds of the serving process and of this one while the load ran. */
  readonly serverCpu: number | null
  readonly clientCpu: number
}

async function run(load: Load, warm: boolean): Promise<Ran> {
  let warmupProblems = 0
  if (warm && WARMUP > 0) {
    const warm = await drive({ ...load, duration: WARMUP })
    warmupProblems = warm.result.errors + warm.result.timeouts + warm.result.non2xx
  }
  const server0 = load.pid === undefined ? null : processCpuSeconds(load.pid)
  const client0 = process.cpuUsage()
  const system0 = systemCpu()
  const { result, statuses } = await drive(load)
  const server1 = load.pid === undefined ? null : processCpuSeconds(load.pid)
  const client = process.cpuUsage(client0)
  return {
    result,
    statuses,
    warmupProblems,
    hostStealPercent: stealPercent(system0, systemCpu()),
    serverCpu: server0 === null || server1 === null ? null : server1 - server0,
    clientCpu: (client.user + client.system) / 1e6,
  }
}

function drive(load: Load): Promise<{ result: autocannon.Result; statuses: Map<number, number> }> {
  const statuses = new Map<number, number>()
  const body = load.body
  return new Promise((resolve, reject) => {
    // Ctrl-C ends the load early and still writes what was measured.
    let instance: autocannon.Instance | null = null
    const stop = () => instance?.stop()
    process.once('SIGINT', stop)
    instance = autocannon(
      {
        url: load.url,
        method: load.method ?? 'GET',
        headers: { ...(load.body ? { 'content-type': 'application/json' } : {}), ...(load.headers ?? {}) },
        connections: load.connections ?? CONNECTIONS,
        duration: load.duration ?? DURATION,
        timeout: 30,
        requests: [
          {
            ...(body ? { setupRequest: (req: autocannon.Request) => ({ ...req, body: body() }) } : {}),
            onResponse: (status: number) => {
              statuses.set(status, (statuses.get(status) ?? 0) + 1)
            },
          } as autocannon.Request,
        ],
      },
      (err, result) => {
        process.off('SIGINT', stop)
        if (err) reject(err)
        else resolve({ result, statuses })
      },
    )
  })
}

const median = (xs: readonly number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0)

/**
 * One scenario over its rounds. `bare`: the bare route's rounds (null for the
 * bare route itself). `shared`: the load ran beside another, so CPU time is
 * not its own.
 */
export function scenario(name: string, rounds: readonly Ran[], bare: readonly Ran[] | null, shared = false): Scenario {
  const rps = rounds.map((r) => r.result.requests.average)
  const latency = (key: string) =>
    median(rounds.map((r) => (r.result.latency as unknown as Record<string, number>)[key] ?? 0))
  const requests = sum(rounds.map((r) => r.result.requests.total))
  const perRequest = (seconds: readonly (number | null)[]) =>
    shared || requests === 0 || seconds.some((x) => x === null)
      ? null
      : Math.round((sum(seconds as number[]) * 1e6) / requests)
  const steal = rounds.map((r) => r.hostStealPercent).filter((x): x is number => x !== null)
  const statusCount = (code: number) => sum(rounds.map((r) => r.statuses.get(code) ?? 0))
  return {
    name,
    requestsPerSec: Math.round(median(rps)),
    p50Ms: latency('p50'),
    p99Ms: latency('p99'),
    p999Ms: latency('p99_9') || latency('p999'),
    errors: sum(rounds.map((r) => r.result.errors)),
    timeouts: sum(rounds.map((r) => r.result.timeouts)),
    non2xx: sum(rounds.map((r) => r.result.non2xx)),
    refusals: statusCount(403) + statusCount(409),
    ratioToBare: bare === null ? 1 : Number(median(rps.map((x, i) => x / bare[i]!.result.requests.average)).toFixed(3)),
    requests,
    requestsPerSecRounds: rps.map((x) => Math.round(x)),
    serverCpuUsPerRequest: perRequest(rounds.map((r) => r.serverCpu)),
    clientCpuUsPerRequest: perRequest(rounds.map((r) => r.clientCpu)),
    warmupProblems: sum(rounds.map((r) => r.warmupProblems)),
    hostStealPercent: steal.length === 0 ? null : Number((sum(steal) / steal.length).toFixed(1)),
  }
}

/** The service's speed goals, each checked against one scenario of a run. */
export const GOALS = [
  {
    goal: "cached queries at half the bare route's requests/s",
    scenario: SCENARIO_KEYS.cached,
    measure: 'ratioToBare',
    atLeast: 0.5,
    connections: null,
  },
  {
    goal: 'fresh DP queries with p99 under 20 ms',
    scenario: SCENARIO_KEYS.fresh,
    measure: 'p99Ms',
    under: 20,
    connections: 10,
  },
] as const

export interface GoalCheck {
  readonly goal: string
  readonly scenario: string
  readonly measure: 'ratioToBare' | 'p99Ms'
  readonly target: string
  /** The scenario's value of the measure; null when the scenario did not run. */
  readonly measured: number | null
  /** null: this run cannot tell (another connection count, or no such scenario). */
  readonly met: boolean | null
  readonly note?: string
}

/**
 * Each goal against a run's scenarios. A goal stated at a number of
 * connections is only judged at that number; a scenario with errors,
 * timeouts or non-2xx responses meets nothing.
 */
export function goals(scenarios: readonly Scenario[], connections: number): GoalCheck[] {
  return GOALS.map((g) => {
    const base = {
      goal: g.goal,
      scenario: g.scenario,
      measure: g.measure,
      target: 'atLeast' in g ? `>= ${g.atLeast}` : `< ${g.under}`,
    }
    const s = scenarios.find((x) => x.name === g.scenario)
    if (s === undefined) return { ...base, measured: null, met: null, note: 'the scenario did not run' }
    const measured = s[g.measure]
    if (g.connections !== null && connections !== g.connections) {
      return {
        ...base,
        measured,
        met: null,
        note: `the goal is stated at ${g.connections} connections; this run used ${connections}`,
      }
    }
    const failures = s.errors + s.timeouts + s.non2xx
    if (failures > 0) return { ...base, measured, met: false, note: `${failures} requests failed` }
    const met = 'atLeast' in g ? measured >= g.atLeast : measured < g.under
    return { ...base, measured, met }
  })
}

async function startBare(stackBody: string): Promise<{ url: string; child: ChildProcess }> {
  const [command, args] = pinnedCommand(SERVER_CPUS, process.execPath, [
    '--import',
    'tsx',
    path.join(ROOT, 'benchmarks', 'bare-server.ts'),
  ])
  const child = spawn(command, args, {
    env: { ...process.env, VEILBOX_LOG_LEVEL: 'warn', VEILBOX_RATE_LIMIT: '10000000', BARE_STACK_BODY: stackBody },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const url = await listeningUrl(child, (code) => `bare server exited with ${code}`)
  return { url, child }
}

/** The heavy scenario's dataset: HEAVY_ROWS rows of its own, a budget and a grant; the grant's id. */
async function loadHeavy(base: string, op: string, heavyId: string, expiresAt: string): Promise<string> {
  say(`loading ${HEAVY_ROWS.toLocaleString()} rows for the heavy queries...`)
  await api(base, op, 'POST', '/v1/datasets', { ...DEMO_SPEC, id: heavyId })
  await api(
    base,
    op,
    'POST',
    `/v1/datasets/${heavyId}/versions`,
    Readable.toWeb(demoCsv(HEAVY_ROWS, 99)) as unknown as ReadableStream,
    'text/csv',
  )
  await api(base, op, 'PUT', `/v1/datasets/${heavyId}/budget`, { epsilon: 1_000_000, delta: 0.001 })
  return (
    await api<{ id: string }>(base, op, 'POST', '/v1/grants', {
      analyst: 'demo-analyst',
      dataset: heavyId,
      purpose: 'benchmark: heavy',
      epsilon: 1_000_000,
      delta: 1e-6,
      expiresAt,
    })
  ).id
}

function say(msg: string): void {
  process.stderr.write(`${msg}\n`)
}

export async function main(): Promise<Scenario[]> {
  say(
    `veilbox HTTP benchmark: ${ROUNDS} round(s) of ${DURATION} s per scenario, after ${WARMUP} s of warm-up, ${CONNECTIONS} connections`,
  )
  if (CLIENT_CPUS !== null) pinProcess(process.pid, CLIENT_CPUS)
  const server = await startServerProcess({
    demo: true,
    from: process.env.FROM === 'src' ? 'src' : 'dist',
    env: { VEILBOX_RATE_LIMIT: '10000000' },
    cpus: SERVER_CPUS,
  })
  // The CPUs each side may use, as the kernel reports them (every CPU when nothing was pinned).
  const cpus = {
    server: allowedCpus(server.child.pid!) ?? SERVER_CPUS ?? 'all',
    client: allowedCpus(process.pid) ?? CLIENT_CPUS ?? 'all',
  }
  if (SERVER_CPUS !== null || CLIENT_CPUS !== null)
    say(`servers on CPUs ${cpus.server}, load generator on CPUs ${cpus.client}`)
  let bare: { url: string; child: ChildProcess } | null = null
  const scenarios: Scenario[] = []
  try {
    const keys = JSON.parse(fs.readFileSync(path.join(server.dataDir, 'demo-keys.json'), 'utf8')) as Record<
      string,
      string
    >
    const op = keys.operator!
    const analyst = keys.analyst!
    // Budgets far beyond what the run can spend: refusals are not what is measured.
    await api(server.url, op, 'PUT', `/v1/datasets/${DEMO_SPEC.id}/budget`, { epsilon: 1_000_000, delta: 0.001 })
    const expiresAt = new Date(Date.now() + 86_400_000).toISOString()
    const grant = (
      await api<{ id: string }>(server.url, op, 'POST', '/v1/grants', {
        analyst: 'demo-analyst',
        dataset: DEMO_SPEC.id,
        purpose: 'benchmark',
        epsilon: 1_000_000,
        delta: 1e-6,
        expiresAt,
      })
    ).id

    const heavyId = 'bench_heavy'
    const heavyGrant = SCENARIOS.has('heavy') ? await loadHeavy(server.url, op, heavyId, expiresAt) : null

    const auth = { authorization: `Bearer ${analyst}` }
    const grouped = 'SELECT district, COUNT(*), SUM(income), AVG(income) FROM binzhou_households GROUP BY district'
    let fresh = 0
    const freshBody = () => JSON.stringify({ sql: grouped, grant, epsilon: (1000 + fresh++) / 1e6 })
    const cachedBody = JSON.stringify({ sql: grouped, grant, epsilon: 0.5 })
    // The stored answer is also the constant the stack ceiling returns; the service writes it with
    // JSON.stringify, so stringifying it back gives the same bytes it sends.
    const storedAnswer = await api<unknown>(server.url, analyst, 'POST', '/v1/queries', JSON.parse(cachedBody))
    bare = await startBare(JSON.stringify(storedAnswer))
    let heavy = 0
    const heavyBody = () =>
      JSON.stringify({
        sql: `SELECT district, VAR(income), MEDIAN(medical_spending), AVG(age) FROM ${heavyId} WHERE household_size >= 1 GROUP BY district`,
        grant: heavyGrant,
        epsilon: (1000 + heavy++) / 1e6,
      })
    // Load the heavy version into the column cache before anything is timed.
    if (heavyGrant !== null) await api(server.url, analyst, 'POST', '/v1/queries', JSON.parse(heavyBody()))

    const barePid = bare.child.pid
    const serverPid = server.child.pid
    const all: [ScenarioKey | 'bare', string, Load][] = [
      ['bare', 'bare route', { url: `${bare.url}/bare`, pid: barePid }],
      [
        'stack',
        SCENARIO_KEYS.stack,
        { url: `${bare.url}/stack`, pid: barePid, method: 'POST', headers: auth, body: () => cachedBody },
      ],
      ['healthz', SCENARIO_KEYS.healthz, { url: `${server.url}/healthz`, pid: serverPid }],
      ['catalog', SCENARIO_KEYS.catalog, { url: `${server.url}/v1/datasets`, pid: serverPid, headers: auth }],
      [
        'preview',
        SCENARIO_KEYS.preview,
        {
          url: `${server.url}/v1/queries/preview`,
          pid: serverPid,
          method: 'POST',
          headers: auth,
          body: () => cachedBody,
        },
      ],
      [
        'fresh',
        SCENARIO_KEYS.fresh,
        { url: `${server.url}/v1/queries`, pid: serverPid, method: 'POST', headers: auth, body: freshBody },
      ],
      [
        'cached',
        SCENARIO_KEYS.cached,
        { url: `${server.url}/v1/queries`, pid: serverPid, method: 'POST', headers: auth, body: () => cachedBody },
      ],
    ]
    const steps = all
      .filter(([key]) => key === 'bare' || SCENARIOS.has(key))
      .map(([, name, load]): [string, Load] => [name, load])
    const HEALTH_UNDER_HEAVY = 'healthz under heavy queries'
    const HEAVY = 'heavy queries (concurrent)'
    const ran = new Map<string, Ran[]>([
      ...steps.map(([name]) => [name, []] as [string, Ran[]]),
      ...(heavyGrant === null
        ? []
        : ([
            [HEALTH_UNDER_HEAVY, []],
            [HEAVY, []],
          ] as [string, Ran[]][])),
    ])
    for (let round = 0; round < ROUNDS; round++) {
      const warm = round === 0
      for (const [name, load] of steps) {
        say(`round ${round + 1}/${ROUNDS}: ${name}...`)
        ran.get(name)!.push(await run(load, warm))
      }
      if (heavyGrant === null) continue
      say(`round ${round + 1}/${ROUNDS}: healthz while ${HEAVY_CONNECTIONS} connections run heavy queries...`)
      const [health, load] = await Promise.all([
        run({ url: `${server.url}/healthz`, connections: 1 }, warm),
        run(
          {
            url: `${server.url}/v1/queries`,
            method: 'POST',
            headers: auth,
            body: heavyBody,
            connections: HEAVY_CONNECTIONS,
          },
          warm,
        ),
      ])
      ran.get(HEALTH_UNDER_HEAVY)!.push(health)
      ran.get(HEAVY)!.push(load)
    }
    const bareRounds = ran.get('bare route')!
    for (const [name, rounds] of ran) {
      const shared = name === HEALTH_UNDER_HEAVY || name === HEAVY
      scenarios.push(scenario(name, rounds, name === 'bare route' ? null : bareRounds, shared))
    }
  } finally {
    bare?.child.kill('SIGTERM')
    await server.stop()
  }
  const settings = {
    durationSec: DURATION,
    rounds: ROUNDS,
    warmupSec: WARMUP,
    connections: CONNECTIONS,
    heavyRows: HEAVY_ROWS,
    heavyConnections: HEAVY_CONNECTIONS,
    selected: ['bare', ...SCENARIOS],
    serverCpus: cpus.server,
    clientCpus: cpus.client,
  }
  const checked = goals(scenarios, CONNECTIONS)
  const out = writeResult('http', { benchmark: 'http', machine: machine(), settings, scenarios, goals: checked })
  process.stdout.write(
    `${table(scenarios.map((s) => ({ scenario: s.name, 'req/s': s.requestsPerSec, 'p50 ms': s.p50Ms, 'p99 ms': s.p99Ms, 'p99.9 ms': s.p999Ms, errors: s.errors, timeouts: s.timeouts, non2xx: s.non2xx, 'x bare': s.ratioToBare, 'server us/req': s.serverCpuUsPerRequest ?? '', 'client us/req': s.clientCpuUsPerRequest ?? '', 'steal %': s.hostStealPercent ?? '', 'req/s by round': s.requestsPerSecRounds.join(' ') })))}\n`,
  )
  process.stdout.write(
    `${table(checked.map((g) => ({ goal: g.goal, target: g.target, measured: g.measured ?? '', met: g.met === null ? 'not measured' : g.met ? 'yes' : 'no', note: g.note ?? '' })))}\n`,
  )
  say(`wrote ${out}`)
  const bad = scenarios.filter((s) => s.errors > 0 || s.timeouts > 0 || s.non2xx > 0 || s.warmupProblems > 0)
  if (bad.length > 0) {
    say(
      `problems: ${bad.map((s) => `${s.name} (errors ${s.errors}, timeouts ${s.timeouts}, non-2xx ${s.non2xx}, refusals ${s.refusals}, during warm-up ${s.warmupProblems})`).join('; ')}`,
    )
    if (STRICT) process.exitCode = 1
  }
  return scenarios
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await main()
}
