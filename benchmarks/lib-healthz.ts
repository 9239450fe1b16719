/**
 * /healthz polled while something else runs (benchmarks/lib.ts re-exports
 * it): the ingest, stall and HTTP benchmarks' view of the event loop, as a
 * client sees it.
 */
import { Worker } from 'node:worker_threads'

/** /healthz latency while something else runs: one request at a time, from a thread of its own. */
export interface HealthzSummary {
  readonly requests: number
  /** Requests that failed or answered other than 200 (their latency is counted all the same). */
  readonly failures: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly maxMs: number
}

export interface HealthPoll {
  /** Stops after the request in flight; every request's latency in ms, and how many failed. */
  stop(): Promise<{ latencies: number[]; failures: number }>
}

// The poller runs in a worker thread: whatever this process does meanwhile (stream an upload, read a
// large answer) must not show as the server's latency. Plain JavaScript, so no loader is needed.
const POLLER = `
const { parentPort, workerData } = require('node:worker_threads')
const { url, pauseMs } = workerData
let running = true
const latencies = []
let failures = 0
parentPort.once('message', () => { running = false })
const probe = async () => {
  const t0 = performance.now()
  try {
    const res = await fetch(url)
    await res.arrayBuffer()
    if (res.status !== 200) failures += 1
  } catch {
    failures += 1
  }
  return performance.now() - t0
}
;(async () => {
  await probe() // unmeasured: the thread's first fetch sets up its client and connection
  failures = 0
  parentPort.postMessage({ ready: true })
  while (running) {
    latencies.push(await probe())
    if (running) await new Promise((r) => setTimeout(r, pauseMs))
  }
  parentPort.postMessage({ latencies, failures })
})()
`

/**
 * Polls `GET /healthz` one request at a time, `pauseMs` after each answer,
 * until stopped; resolves once the first (unmeasured) request is answered.
 */
export async function pollHealth(base: string | URL, pauseMs = 20): Promise<HealthPoll> {
  const worker = new Worker(POLLER, { eval: true, workerData: { url: String(new URL('/healthz', base)), pauseMs } })
  const messages: { ready?: true; latencies?: number[]; failures?: number }[] = []
  let wake: (() => void) | null = null
  let failed: Error | null = null
  worker.on('message', (m: (typeof messages)[number]) => {
    messages.push(m)
    wake?.()
  })
  worker.on('error', (err) => {
    failed = err
    wake?.()
  })
  const next = async () => {
    while (messages.length === 0) {
      if (failed !== null) throw failed
      await new Promise<void>((r) => (wake = r))
    }
    return messages.shift()!
  }
  await next()
  return {
    async stop() {
      worker.postMessage('stop')
      const m = await next()
      await worker.terminate()
      return { latencies: m.latencies!, failures: m.failures! }
    },
  }
}

/** The p-th quantile (0 < p <= 1) of some values: the smallest value with at least a share p at or below it. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!
}

export function healthzSummary(latencies: readonly number[], failures = 0): HealthzSummary {
  const ms = (x: number) => Number(x.toFixed(1))
  return {
    requests: latencies.length,
    failures,
    p50Ms: ms(percentile(latencies, 0.5)),
    p99Ms: ms(percentile(latencies, 0.99)),
    maxMs: ms(latencies.length === 0 ? Number.NaN : Math.max(...latencies)),
  }
}

/** Runs `work` while polling /healthz: its result, how long it took, and the latencies seen meanwhile. */
export async function healthzDuring<T>(
  base: string | URL,
  work: () => Promise<T>,
  pauseMs = 20,
): Promise<{ value: T; operationMs: number; healthz: HealthzSummary }> {
  const poll = await pollHealth(base, pauseMs)
  const t0 = performance.now()
  let value: T
  try {
    value = await work()
  } catch (err) {
    await poll.stop()
    throw err
  }
  const operationMs = Math.round(performance.now() - t0)
  const polled = await poll.stop()
  return { value, operationMs, healthz: healthzSummary(polled.latencies, polled.failures) }
}
