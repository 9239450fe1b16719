/**
 * The HTTP benchmark's goals (issue 22), each judged against the run's own
 * numbers: a fresh DP query under 1,000 µs of server CPU; a cached re-read
 * and the catalog at most twice the stack ceiling's server CPU per request
 * (the same HTTP stack answering a constant, served in the same run); and
 * /healthz p99 under 50 ms during a 1 M-row ingest, during the first query
 * on a cold 10 M-row version, and while one query releases the largest
 * answer the limits allow (benchmarks/http-stalls.ts).
 */
import type { Scenario } from './http-load.js'
import type { HealthzDuring } from './http-stalls.js'
import { goal, statedAt, type Goal } from './lib.js'

/** The scenario names the goals read (SCENARIO_KEYS in http.ts names the same). */
export const STACK = 'stack ceiling (constant POST)'
export const FRESH = 'fresh DP query'
export const CACHED = 'cached query'
export const CATALOG = 'catalog'

export const FRESH_CPU_US = 1000
export const STACK_CPU_RATIO = 2
export const HEALTHZ_P99_MS = 50

const failuresOf = (s: Scenario): string | null => {
  const n = s.errors + s.timeouts + s.non2xx
  return n > 0 ? `${n} requests failed` : null
}

export function httpGoals(scenarios: readonly Scenario[], during: readonly HealthzDuring[]): Goal[] {
  const find = (name: string) => scenarios.find((s) => s.name === name)
  const fresh = find(FRESH)
  const stack = find(STACK)
  const overStack = (name: string, label: string): Goal => {
    const s = find(name)
    const title = `${label}: server CPU per request, x the stack ceiling's`
    const target = { op: '<=', value: STACK_CPU_RATIO } as const
    if (s === undefined) return goal(title, target, null, { unjudged: 'the scenario did not run' })
    if (stack === undefined) return goal(title, target, null, { unjudged: 'the stack ceiling did not run' })
    const ratio =
      s.serverCpuUsPerRequest === null || stack.serverCpuUsPerRequest === null || stack.serverCpuUsPerRequest === 0
        ? null
        : Number((s.serverCpuUsPerRequest / stack.serverCpuUsPerRequest).toFixed(2))
    return goal(title, target, ratio, {
      unjudged: ratio === null ? 'no CPU time per request (it needs /proc)' : null,
      failed: failuresOf(s),
    })
  }
  const freshTitle = 'fresh DP query: server CPU per request, µs'
  return [
    fresh === undefined
      ? goal(freshTitle, { op: '<=', value: FRESH_CPU_US }, null, { unjudged: 'the scenario did not run' })
      : goal(freshTitle, { op: '<=', value: FRESH_CPU_US }, fresh.serverCpuUsPerRequest, {
          unjudged: fresh.serverCpuUsPerRequest === null ? 'no CPU time per request (it needs /proc)' : null,
          failed: failuresOf(fresh),
        }),
    overStack(CACHED, 'cached query'),
    overStack(CATALOG, 'catalog'),
    ...during.map((d) => {
      const title = `/healthz p99 ${d.goal}, ms`
      const target = { op: '<', value: HEALTHZ_P99_MS } as const
      if (d.healthz === null) return goal(title, target, null, { unjudged: 'the scenario did not run' })
      return goal(title, target, d.healthz.p99Ms, {
        unjudged: statedAt(d.unit, d.statedSize, d.size),
        failed: d.healthz.failures > 0 ? `${d.healthz.failures} /healthz requests failed` : null,
      })
    }),
  ]
}
