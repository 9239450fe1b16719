/**
 * The HTTP benchmark's load: autocannon against one URL for a while, the
 * serving process's and this process's CPU time read around it, and a
 * scenario's rounds reduced to one line of http.json (benchmarks/http.ts);
 * the bare route's server and the heavy scenario's dataset.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import path from 'node:path'
import { Readable } from 'node:stream'
import autocannon from 'autocannon'
import { DEMO_SPEC, demoCsv } from '../src/demo/binzhou.js'
import { api, listeningUrl, pinnedCommand, processCpuSeconds, ROOT, stealPercent, systemCpu } from './lib.js'

/** How long each load runs and with how many connections (DURATION, WARMUP, CONNECTIONS). */
export interface LoadSettings {
  readonly duration: number
  /** Seconds of the same load before the measured one, not counted (0: none). */
  readonly warmup: number
  readonly connections: number
}

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

export interface Load {
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

export async function run(load: Load, warm: boolean, settings: LoadSettings): Promise<Ran> {
  let warmupProblems = 0
  if (warm && settings.warmup > 0) {
    const warm = await drive({ ...load, duration: settings.warmup }, settings)
    warmupProblems = warm.result.errors + warm.result.timeouts + warm.result.non2xx
  }
  const server0 = load.pid === undefined ? null : processCpuSeconds(load.pid)
  const client0 = process.cpuUsage()
  const system0 = systemCpu()
  const { result, statuses } = await drive(load, settings)
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

function drive(
  load: Load,
  settings: LoadSettings,
): Promise<{ result: autocannon.Result; statuses: Map<number, number> }> {
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
        connections: load.connections ?? settings.connections,
        duration: load.duration ?? settings.duration,
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

/** The bare route's server (benchmarks/bare-server.ts), answering the stack ceiling's POST with `stackBody`. */
export async function startBare(stackBody: string, cpus: string | null): Promise<{ url: string; child: ChildProcess }> {
  const [command, args] = pinnedCommand(cpus, process.execPath, [
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

/** The heavy scenario's dataset: `rows` rows of its own, a budget and a grant; the grant's id. */
export async function loadHeavy(
  base: string,
  op: string,
  heavyId: string,
  rows: number,
  expiresAt: string,
  say: (msg: string) => void,
): Promise<string> {
  say(`loading ${rows.toLocaleString()} rows for the heavy queries...`)
  await api(base, op, 'POST', '/v1/datasets', { ...DEMO_SPEC, id: heavyId })
  await api(
    base,
    op,
    'POST',
    `/v1/datasets/${heavyId}/versions`,
    Readable.toWeb(demoCsv(rows, 99)) as unknown as ReadableStream,
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
