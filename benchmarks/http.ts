/**
 * HTTP load benchmark: a real veilbox server (its own process and data
 * directory, the demo dataset) driven by autocannon, beside a bare Fastify
 * route started with the same server options, in the same run.
 *
 *   npm run bench:http
 *   ROUNDS=3 DURATION=5 WARMUP=10 CONNECTIONS=10 HEAVY_ROWS=1000000 npm run bench:http
 *   SERVER_CPUS=0-3 CLIENT_CPUS=4-5 npm run bench:http   # servers and load generator on CPUs of their own
 *   SCENARIOS=stack,fresh,cached,catalog npm run bench:http   # the CPU goals' scenarios only (and the bare route)
 *   SCENARIOS=ingest,cold,release npm run bench:http     # the stall scenarios only (no load, no bare route)
 *
 * Scenarios under load (http-load.ts): the bare route, the stack ceiling,
 * /healthz, the catalog, a preview, fresh DP queries (each one different, so
 * each spends and writes the ledger), repeated (cached) queries, and /healthz
 * while heavy queries saturate the sandboxes. Budgets are set large enough
 * that refusals are not what is measured; any refusal is counted and
 * reported. Then, on a server of their own, /healthz polled during one heavy
 * operation each (http-stalls.ts): an ingest, the first query on a cold
 * version, the largest release. Writes benchmarks/results/http.json, with
 * each goal of the service (http-goals.ts) checked against this run's numbers.
 */
import type { ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { loadConfig } from '../src/config/index.js'
import { DEMO_SPEC } from '../src/demo/binzhou.js'
import { httpGoals } from './http-goals.js'
import {
  type Load,
  type LoadSettings,
  loadHeavy,
  type Ran,
  run,
  type Scenario,
  scenario,
  startBare,
} from './http-load.js'
import { runStalls, STALL_KEYS, type StallKey } from './http-stalls.js'
import {
  allowedCpus,
  api,
  envCpus,
  envInt,
  goalRows,
  machine,
  pinProcess,
  startServerProcess,
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
/**
 * The scenarios a run can select by key (SCENARIOS=fresh,cached), and what
 * each runs; the bare route runs beside any scenario under load, every ratio
 * needs it. The stall scenarios (ingest, cold, release) run on a server of
 * their own after the load.
 */
export const SCENARIO_KEYS = {
  stack: 'stack ceiling (constant POST)',
  healthz: 'healthz',
  catalog: 'catalog',
  preview: 'preview',
  fresh: 'fresh DP query',
  cached: 'cached query',
  heavy: 'healthz under heavy queries, and the heavy queries',
  ...STALL_KEYS,
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
      `${name} takes a comma list of ${keys.join(', ')} (the bare route runs beside any scenario under load); unknown: ${unknown.join(', ')}`,
    )
  return new Set(picked as ScenarioKey[])
}
const SCENARIOS = envScenarios('SCENARIOS')
const isStall = (k: ScenarioKey): k is StallKey => k in STALL_KEYS
/** Load scenarios run (with the bare route) unless only stall scenarios were picked. */
const LOAD_SELECTED = [...SCENARIOS].some((k) => !isStall(k)) || ![...SCENARIOS].some(isStall)
/** The stall scenarios' sizes: an ingest, a cold version, a release (its default: the service's limit). */
const INGEST_ROWS = envInt('INGEST_ROWS', 1_000_000)
const COLD_ROWS = envInt('COLD_ROWS', 10_000_000)
/** The same environment the servers get: their limit on the values of one answer. */
const MAX_RELEASE_VALUES = loadConfig(process.env).maxReleaseValues
const RELEASE_VALUES = envInt('RELEASE_VALUES', MAX_RELEASE_VALUES)
if (RELEASE_VALUES > MAX_RELEASE_VALUES)
  throw new Error(`RELEASE_VALUES is at most the service's VEILBOX_MAX_RELEASE_VALUES, ${MAX_RELEASE_VALUES}`)
/** Pause between two /healthz requests of the stall scenarios, ms. */
const HEALTHZ_PAUSE_MS = envInt('HEALTHZ_PAUSE_MS', 20, 0)
/**
 * Options for node running the stall scenarios' server, to profile it:
 * SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" (a profile per
 * process; the cold scenario restarts it).
 */
const SERVER_NODE_ARGS = (process.env.SERVER_NODE_ARGS ?? '').split(/\s+/).filter((a) => a !== '')
const FROM = process.env.FROM === 'src' ? 'src' : 'dist'
const LOAD: LoadSettings = { duration: DURATION, warmup: WARMUP, connections: CONNECTIONS }
/** Exit non-zero on any error, timeout or unexpected status (the CI smoke run). */
const STRICT = process.env.STRICT === '1'

function say(msg: string): void {
  process.stderr.write(`${msg}\n`)
}

/** The scenarios under load, in ROUNDS rounds, on the demo server and the bare one; with the CPUs each side had. */
async function underLoad(): Promise<{ scenarios: Scenario[]; cpus: { server: string; client: string } }> {
  const server = await startServerProcess({
    demo: true,
    from: FROM,
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
    const heavyGrant = SCENARIOS.has('heavy')
      ? await loadHeavy(server.url, op, heavyId, HEAVY_ROWS, expiresAt, say)
      : null

    const auth = { authorization: `Bearer ${analyst}` }
    const grouped = 'SELECT district, COUNT(*), SUM(income), AVG(income) FROM binzhou_households GROUP BY district'
    let fresh = 0
    const freshBody = () => JSON.stringify({ sql: grouped, grant, epsilon: (1000 + fresh++) / 1e6 })
    const cachedBody = JSON.stringify({ sql: grouped, grant, epsilon: 0.5 })
    // The stored answer is also the constant the stack ceiling returns; the service writes it with
    // JSON.stringify, so stringifying it back gives the same bytes it sends.
    const storedAnswer = await api<unknown>(server.url, analyst, 'POST', '/v1/queries', JSON.parse(cachedBody))
    bare = await startBare(JSON.stringify(storedAnswer), SERVER_CPUS)
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
        ran.get(name)!.push(await run(load, warm, LOAD))
      }
      if (heavyGrant === null) continue
      say(`round ${round + 1}/${ROUNDS}: healthz while ${HEAVY_CONNECTIONS} connections run heavy queries...`)
      const [health, load] = await Promise.all([
        run({ url: `${server.url}/healthz`, connections: 1 }, warm, LOAD),
        run(
          {
            url: `${server.url}/v1/queries`,
            method: 'POST',
            headers: auth,
            body: heavyBody,
            connections: HEAVY_CONNECTIONS,
          },
          warm,
          LOAD,
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
  return { scenarios, cpus }
}

export async function main(): Promise<void> {
  say(
    LOAD_SELECTED
      ? `veilbox HTTP benchmark: ${ROUNDS} round(s) of ${DURATION} s per scenario, after ${WARMUP} s of warm-up, ${CONNECTIONS} connections`
      : 'veilbox HTTP benchmark: the stall scenarios only',
  )
  if (CLIENT_CPUS !== null) pinProcess(process.pid, CLIENT_CPUS)
  const loaded = LOAD_SELECTED ? await underLoad() : { scenarios: [], cpus: null }
  const scenarios = loaded.scenarios
  const { idle: healthzIdle, during: stalls } = await runStalls(
    new Set([...SCENARIOS].filter(isStall)),
    {
      ingestRows: INGEST_ROWS,
      coldRows: COLD_ROWS,
      releaseValues: RELEASE_VALUES,
      maxReleaseValues: MAX_RELEASE_VALUES,
      pauseMs: HEALTHZ_PAUSE_MS,
      nodeArgs: SERVER_NODE_ARGS,
      from: FROM,
      cpus: SERVER_CPUS,
    },
    say,
  )
  const settings = {
    durationSec: DURATION,
    rounds: ROUNDS,
    warmupSec: WARMUP,
    connections: CONNECTIONS,
    heavyRows: HEAVY_ROWS,
    heavyConnections: HEAVY_CONNECTIONS,
    ingestRows: INGEST_ROWS,
    coldRows: COLD_ROWS,
    releaseValues: RELEASE_VALUES,
    maxReleaseValues: MAX_RELEASE_VALUES,
    healthzPauseMs: HEALTHZ_PAUSE_MS,
    selected: [...(LOAD_SELECTED ? ['bare'] : []), ...SCENARIOS],
    serverCpus: loaded.cpus?.server ?? SERVER_CPUS ?? 'all',
    clientCpus: loaded.cpus?.client ?? CLIENT_CPUS ?? 'all',
  }
  const goals = httpGoals(scenarios, stalls)
  const healthzDuring = stalls.filter((d) => d.healthz !== null)
  const out = writeResult('http', {
    benchmark: 'http',
    machine: machine(),
    settings,
    scenarios,
    healthzIdle,
    healthzDuring,
    goals,
  })
  if (scenarios.length > 0)
    process.stdout.write(
      `${table(scenarios.map((s) => ({ scenario: s.name, 'req/s': s.requestsPerSec, 'p50 ms': s.p50Ms, 'p99 ms': s.p99Ms, 'p99.9 ms': s.p999Ms, errors: s.errors, timeouts: s.timeouts, non2xx: s.non2xx, 'x bare': s.ratioToBare, 'server us/req': s.serverCpuUsPerRequest ?? '', 'client us/req': s.clientCpuUsPerRequest ?? '', 'steal %': s.hostStealPercent ?? '', 'req/s by round': s.requestsPerSecRounds.join(' ') })))}\n`,
    )
  if (healthzIdle !== null) {
    const lines = [
      { name: 'healthz with the server idle (reference)', operationMs: null, healthz: healthzIdle, mainThread: null },
      ...healthzDuring,
    ]
    process.stdout.write(
      `${table(
        lines.map((d) => ({
          scenario: d.name,
          'operation ms': d.operationMs ?? '',
          'healthz requests': d.healthz!.requests,
          'p50 ms': d.healthz!.p50Ms,
          'p99 ms': d.healthz!.p99Ms,
          'max ms': d.healthz!.maxMs,
          failures: d.healthz!.failures,
          'server: longest gap ms': d.mainThread?.longestGapMs ?? '',
          'most CPU in a gap ms': d.mainThread?.mostCpuInAGapMs ?? '',
        })),
      )}\n`,
    )
  }
  process.stdout.write(`${table(goalRows(goals))}\n`)
  say(`wrote ${out}`)
  const bad = scenarios.filter((s) => s.errors > 0 || s.timeouts > 0 || s.non2xx > 0 || s.warmupProblems > 0)
  const badPolls = healthzDuring.filter((d) => d.healthz!.failures > 0)
  if (bad.length > 0 || badPolls.length > 0) {
    say(
      `problems: ${[
        ...bad.map(
          (s) =>
            `${s.name} (errors ${s.errors}, timeouts ${s.timeouts}, non-2xx ${s.non2xx}, refusals ${s.refusals}, during warm-up ${s.warmupProblems})`,
        ),
        ...badPolls.map((d) => `${d.name} (${d.healthz!.failures} /healthz requests failed)`),
      ].join('; ')}`,
    )
    if (STRICT) process.exitCode = 1
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await main()
}
