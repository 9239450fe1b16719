/**
 * Runs every benchmark, one process each, and writes
 * benchmarks/results/summary.json with the machine, the date, each
 * benchmark's headline numbers and every goal the benchmarks judged (each
 * result file's `goals`, in the shape of benchmarks/lib-goals.ts), which
 * the run's output ends with as a table. Goals are reported, never
 * enforced: a missed one fails nothing.
 *
 *   npm run bench          full sizes (minutes)
 *   npm run bench:smoke    small sizes, a few minutes: fails on any crash, error,
 *                          timeout or unexpected non-2xx, never on speed
 *
 * Sizes and durations come from the environment (each benchmark documents its
 * own variables); the smoke profile sets small ones unless they are set.
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { type Goal, goalRows, machine, RESULTS_DIR, ROOT, stealPercent, systemCpu, table, writeResult } from './lib.js'

const SMOKE = process.argv.includes('--smoke')

interface Bench {
  readonly name: string
  readonly script: string
  /** Environment for the smoke profile (explicit settings win). */
  readonly smoke: Record<string, string>
  /** The headline numbers of its result file, for the summary. */
  readonly headline: (result: Record<string, unknown>) => Record<string, unknown>
}

type Row = Record<string, unknown>
const cases = (r: Row): Row[] => (Array.isArray(r.cases) ? (r.cases as Row[]) : [])

const BENCHES: Bench[] = [
  {
    name: 'ingest',
    script: 'benchmarks/ingest.ts',
    smoke: { ROWS: '20000' },
    headline: (r) => ({
      rows: r.rows,
      rowsPerSec: r.rowsPerSec,
      ratioOfCopy: r.ratioOfCopy,
      serverPeakRssMB: r.serverPeakRssMB,
      withinLimit: r.withinLimit,
    }),
  },
  {
    name: 'engine',
    script: 'benchmarks/engine.ts',
    smoke: { ROWS: '100000', REPEAT: '2' },
    headline: (r) =>
      Object.fromEntries(
        cases(r).map((c) => [
          `${String(c.name)} @ ${String(c.rows)}`,
          { veilboxRowsPerSec: c.veilboxRowsPerSec, ratioToSqlite: c.ratio },
        ]),
      ),
  },
  {
    name: 'he',
    script: 'benchmarks/he.ts',
    smoke: { ROWS: '16384', REPEAT: '1' },
    headline: (r) => Object.fromEntries(Object.entries(r).filter(([k]) => /ratio|rowsPerSec|latency/i.test(k))),
  },
  {
    name: 'stalls',
    script: 'benchmarks/stalls.ts',
    smoke: { INGEST_ROWS: '20000', LOAD_ROWS: '50000', RELEASE_GROUPS: '5000' },
    headline: (r) =>
      Object.fromEntries(
        (Array.isArray(r.scenarios) ? (r.scenarios as Row[]) : []).map((s) => [
          String(s.name),
          { healthzP99Ms: s.p99Ms, healthzMaxMs: s.maxMs, workMs: s.workMs, metGoal: s.metGoal },
        ]),
      ),
  },
  {
    name: 'http',
    script: 'benchmarks/http.ts',
    smoke: {
      ROUNDS: '1',
      DURATION: '2',
      WARMUP: '1',
      CONNECTIONS: '4',
      HEAVY_ROWS: '20000',
      HEAVY_CONNECTIONS: '2',
      INGEST_ROWS: '20000',
      COLD_ROWS: '50000',
      RELEASE_VALUES: '5000',
      STRICT: '1',
    },
    headline: (r) => ({
      ...Object.fromEntries(
        (Array.isArray(r.scenarios) ? (r.scenarios as Row[]) : []).map((s) => [
          String(s.name),
          {
            requestsPerSec: s.requestsPerSec,
            p99Ms: s.p99Ms,
            ratioToBare: s.ratioToBare,
            serverCpuUsPerRequest: s.serverCpuUsPerRequest,
          },
        ]),
      ),
      ...Object.fromEntries(
        (Array.isArray(r.healthzDuring) ? (r.healthzDuring as Row[]) : []).map((d) => {
          const h = (d.healthz ?? {}) as Row
          return [String(d.name), { operationMs: d.operationMs, healthzP99Ms: h.p99Ms, healthzMaxMs: h.maxMs }]
        }),
      ),
    }),
  },
  {
    name: 'sources',
    script: 'benchmarks/sources.ts',
    smoke: { ROWS: '100000', REPEAT: '1' },
    headline: (r) =>
      Object.fromEntries(
        cases(r).map((c) => [
          `${String(c.engine)}: ${String(c.query)}`,
          { bareMs: c.bareMs, veilboxMs: c.veilboxMs, ratio: c.ratio, windowRatio: c.windowRatio },
        ]),
      ),
  },
  {
    name: 'cluster',
    script: 'benchmarks/cluster.ts',
    smoke: { DURATION: '1', WARMUP: '0', CONNECTIONS: '6', ROWS: '5000', GRANTS: '6', NODES: '2', STRICT: '1' },
    headline: (r) =>
      Object.fromEntries(
        (Array.isArray(r.configs) ? (r.configs as Row[]) : []).map((c) => {
          const p = (k: string) => (c[k] ?? {}) as Row
          return [
            String(c.name),
            {
              freshPerSec: p('fresh').requestsPerSec,
              freshP99Ms: p('fresh').p99Ms,
              freshSpreadPerSec: p('freshSpread').requestsPerSec,
              cachedPerSec: p('cached').requestsPerSec,
              cachedP99Ms: p('cached').p99Ms,
              auditOk: p('audit').ok,
            },
          ]
        }),
      ),
  },
]

/**
 * A result's goals, each as {benchmark, name, target, measured, met} (and a
 * note when there is one); `goal` is read as the name where a result names
 * it so.
 */
export function goalsOf(benchmark: string, result: Row): (Goal & { benchmark: string })[] {
  if (!Array.isArray(result.goals)) return []
  return (result.goals as Row[]).map((g) => {
    const name = String(g.name ?? g.goal ?? '(unnamed)')
    const measured = typeof g.measured === 'number' && Number.isFinite(g.measured) ? g.measured : null
    const met = typeof g.met === 'boolean' ? g.met : null
    const note = typeof g.note === 'string' && g.note !== '' ? { note: g.note } : {}
    return { benchmark, name, target: String(g.target ?? ''), measured, met, ...note }
  })
}

function runOne(b: Bench): Promise<{ code: number | null; seconds: number; hostStealPercent: number | null }> {
  const started = Date.now()
  const cpu0 = systemCpu()
  const env = {
    ...process.env,
    ...(SMOKE ? Object.fromEntries(Object.entries(b.smoke).filter(([k]) => process.env[k] === undefined)) : {}),
  }
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, b.script)], {
      env,
      stdio: ['ignore', 'inherit', 'inherit'],
    })
    const tick = setInterval(
      () => process.stderr.write(`[bench] ${b.name}: ${Math.round((Date.now() - started) / 1000)} s\n`),
      15_000,
    )
    child.on('exit', (code) => {
      clearInterval(tick)
      resolve({ code, seconds: (Date.now() - started) / 1000, hostStealPercent: stealPercent(cpu0, systemCpu()) })
    })
  })
}

async function main(): Promise<void> {
  const only = process.env.BENCH?.split(',')
  const selected = BENCHES.filter(
    (b) => (only ? only.includes(b.name) : true) && fs.existsSync(path.join(ROOT, b.script)),
  )
  const rows: Record<string, string | number>[] = []
  const summary: Record<string, unknown> = {}
  const goals: (Goal & { benchmark: string })[] = []
  let failed = 0
  for (const [i, b] of selected.entries()) {
    process.stderr.write(`\n[bench] ${i + 1}/${selected.length} ${b.name}${SMOKE ? ' (smoke)' : ''}\n`)
    const { code, seconds, hostStealPercent } = await runOne(b)
    const file = path.join(RESULTS_DIR, `${b.name}.json`)
    const ok = code === 0 && fs.existsSync(file)
    if (!ok) failed += 1
    const result = ok ? (JSON.parse(fs.readFileSync(file, 'utf8')) as Row) : null
    if (result !== null) goals.push(...goalsOf(b.name, result))
    // Steal: the share of CPU time the virtual machine's host gave to others while it ran (see docs/performance.md).
    summary[b.name] = {
      ok,
      exitCode: code,
      seconds: Number(seconds.toFixed(1)),
      hostStealPercent,
      ...(result ? { headline: b.headline(result) } : {}),
    }
    rows.push({
      benchmark: b.name,
      status: ok ? 'ok' : `FAILED (exit ${code})`,
      seconds: Number(seconds.toFixed(1)),
      'host steal %': hostStealPercent ?? '',
    })
  }
  const out = writeResult('summary', {
    profile: SMOKE ? 'smoke' : 'full',
    machine: machine(),
    benchmarks: summary,
    goals,
  })
  process.stdout.write(`\n${table(rows)}\nsummary: ${out}\n`)
  // Last on stderr: every goal of the run (reported; a missed one fails nothing).
  if (goals.length > 0)
    process.stderr.write(`\ngoals (met: yes, no, or not judged by this run)\n${table(goalRows(goals))}\n`)
  if (failed > 0) process.exitCode = 1
}

if (import.meta.url === `file://${process.argv[1]}`) await main()
