/**
 * Event-loop stalls: /healthz latency, probed every PROBE_MS, while one heavy
 * request runs against a real server process (built code). The goal (issue
 * 17): /healthz p99 under 50 ms during each scenario.
 *
 *   ingest        an upload of INGEST_ROWS rows (default 300,000) of CSV
 *   first-query   the first query on a freshly loaded LOAD_ROWS-row version
 *                 (default 1,000,000): the version loads on its first use
 *   big-release   a GROUP BY releasing RELEASE_GROUPS groups x 1 aggregate
 *                 (default 100,000, VEILBOX_MAX_RELEASE_VALUES)
 *
 * A baseline (the same probe with the server idle) is measured in the same
 * run. JSON in benchmarks/results/stalls.json, a table on stderr.
 *
 *   npm run bench:stalls          INGEST_ROWS=50000 LOAD_ROWS=100000 npm run bench:stalls
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { demoCsv, DEMO_SPEC } from '../src/demo/binzhou.js'
import { envInt, machine, startServerProcess, table, writeResult } from './lib.js'

const INGEST_ROWS = envInt('INGEST_ROWS', 300_000)
const LOAD_ROWS = envInt('LOAD_ROWS', 1_000_000)
const RELEASE_GROUPS = envInt('RELEASE_GROUPS', 100_000)
const PROBE_MS = envInt('PROBE_MS', 10)
const GOAL_P99_MS = 50

interface Probe {
  readonly samples: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly maxMs: number
}

function summarize(ms: number[]): Probe {
  const s = [...ms].sort((a, b) => a - b)
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0
  return { samples: s.length, p50Ms: round(at(0.5)), p99Ms: round(at(0.99)), maxMs: round(s[s.length - 1] ?? 0) }
}

const round = (x: number) => Math.round(x * 10) / 10

/** Probes /healthz one request at a time (a new one PROBE_MS after the last answer) until `work` settles. */
async function probeDuring(url: string, work: () => Promise<unknown>): Promise<{ probe: Probe; workMs: number }> {
  const ms: number[] = []
  let done = false
  const probing = (async () => {
    while (!done) {
      const t0 = performance.now()
      const r = await fetch(new URL('/healthz', url))
      await r.arrayBuffer()
      ms.push(performance.now() - t0)
      await new Promise((resolve) => setTimeout(resolve, PROBE_MS))
    }
  })()
  const t0 = performance.now()
  try {
    await work()
  } finally {
    done = true
  }
  const workMs = performance.now() - t0
  await probing
  return { probe: summarize(ms), workMs: Math.round(workMs) }
}

async function main(): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'veilbox-stalls-'))
  const server = await startServerProcess({
    from: 'dist',
    env: { VEILBOX_MAX_RELEASE_VALUES: String(Math.max(100_000, RELEASE_GROUPS)) },
  })
  try {
    const { operator } = JSON.parse(fs.readFileSync(path.join(server.dataDir, 'operator-key.json'), 'utf8')) as {
      operator: string
    }
    const call = async (
      method: string,
      route: string,
      body?: unknown,
      key = operator,
    ): Promise<Record<string, unknown>> => {
      const res = await fetch(new URL(route, server.url), {
        method,
        headers: {
          authorization: `Bearer ${key}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      })
      const json = (await res.json()) as Record<string, unknown>
      if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${JSON.stringify(json)}`)
      return json
    }
    const upload = async (dataset: string, file: string) => {
      const res = await fetch(new URL(`/v1/datasets/${dataset}/versions`, server.url), {
        method: 'POST',
        headers: { authorization: `Bearer ${operator}`, 'content-type': 'text/csv' },
        body: Readable.toWeb(fs.createReadStream(file)) as ReadableStream,
        duplex: 'half',
      } as RequestInit)
      if (res.status !== 201) throw new Error(`upload ${dataset}: ${res.status} ${await res.text()}`)
    }
    const analyst = (await call('POST', '/v1/keys', { name: 'alice', role: 'analyst' })).key as string
    const grantOn = async (dataset: string) => {
      await call('PUT', `/v1/datasets/${dataset}/budget`, { epsilon: 1000 })
      return (
        await call('POST', '/v1/grants', {
          analyst: 'alice',
          dataset,
          purpose: 'stall benchmark',
          epsilon: 1000,
          expiresAt: '2099-01-01T00:00:00Z',
        })
      ).id as string
    }

    process.stderr.write(`stall benchmark: writing ${INGEST_ROWS} and ${LOAD_ROWS} rows of CSV...\n`)
    const ingestFile = path.join(tmp, 'ingest.csv')
    const loadFile = path.join(tmp, 'load.csv')
    await pipeline(demoCsv(INGEST_ROWS, 3), fs.createWriteStream(ingestFile))
    await pipeline(demoCsv(LOAD_ROWS, 5), fs.createWriteStream(loadFile))

    const results: Record<string, Probe & { workMs: number; metGoal: boolean | null }> = {}
    const record = (name: string, r: { probe: Probe; workMs: number }, goal: boolean) => {
      results[name] = { ...r.probe, workMs: r.workMs, metGoal: goal ? r.probe.p99Ms < GOAL_P99_MS : null }
    }

    process.stderr.write('baseline: the server idle...\n')
    record('idle (baseline)', await probeDuring(server.url, () => new Promise((r) => setTimeout(r, 2000))), false)

    process.stderr.write(`ingest: uploading ${INGEST_ROWS} rows...\n`)
    await call('POST', '/v1/datasets', { ...DEMO_SPEC, id: 'stall_ingest' })
    record(
      `ingest of ${INGEST_ROWS} rows`,
      await probeDuring(server.url, () => upload('stall_ingest', ingestFile)),
      true,
    )

    process.stderr.write(`first query on a fresh ${LOAD_ROWS}-row version...\n`)
    await call('POST', '/v1/datasets', { ...DEMO_SPEC, id: 'stall_load' })
    await upload('stall_load', loadFile)
    const loadGrant = await grantOn('stall_load')
    record(
      `first query on a fresh ${LOAD_ROWS}-row version`,
      await probeDuring(server.url, () =>
        call(
          'POST',
          '/v1/queries',
          {
            sql: 'SELECT district, COUNT(*), AVG(income) FROM stall_load GROUP BY district',
            grant: loadGrant,
            epsilon: 1,
          },
          analyst,
        ),
      ),
      true,
    )

    process.stderr.write(`a release of ${RELEASE_GROUPS} groups...\n`)
    // Two declared columns whose product is the group count (a category list holds at most 65,535 values).
    const A = Math.min(1000, RELEASE_GROUPS)
    const B = Math.ceil(RELEASE_GROUPS / A)
    await call('POST', '/v1/datasets', {
      id: 'stall_release',
      title: 'many groups',
      classification: 'internal',
      privacyUnit: 'pid',
      maxRowsPerUnit: 1,
      columns: [
        { name: 'pid', type: 'id', protection: 'public' },
        { name: 'a', type: 'category', protection: 'public', categories: Array.from({ length: A }, (_, i) => `a${i}`) },
        { name: 'b', type: 'category', protection: 'public', categories: Array.from({ length: B }, (_, i) => `b${i}`) },
      ],
    })
    const relFile = path.join(tmp, 'release.csv')
    fs.writeFileSync(
      relFile,
      `pid,a,b\n${Array.from({ length: 1000 }, (_, i) => `p${i},a${i % A},b${i % B}`).join('\n')}\n`,
    )
    await upload('stall_release', relFile)
    const relGrant = await grantOn('stall_release')
    record(
      `release of ${A * B} groups`,
      await probeDuring(server.url, () =>
        call(
          'POST',
          '/v1/queries',
          { sql: 'SELECT a, b, COUNT(*) FROM stall_release GROUP BY a, b', grant: relGrant, epsilon: 1 },
          analyst,
        ),
      ),
      true,
    )

    const rows = Object.entries(results).map(([name, r]) => ({
      scenario: name,
      'work ms': r.workMs,
      probes: r.samples,
      'p50 ms': r.p50Ms,
      'p99 ms': r.p99Ms,
      'max ms': r.maxMs,
      [`p99 < ${GOAL_P99_MS} ms`]: r.metGoal === null ? '' : r.metGoal ? 'yes' : 'no',
    }))
    process.stderr.write(`\n${table(rows)}\n`)
    const file = writeResult('stalls', {
      name: 'stalls',
      machine: machine(),
      settings: { INGEST_ROWS, LOAD_ROWS, RELEASE_GROUPS, PROBE_MS, goalP99Ms: GOAL_P99_MS },
      scenarios: Object.entries(results).map(([name, r]) => ({ name, ...r })),
    })
    process.stderr.write(`${file}\n`)
  } finally {
    await server.stop()
    fs.rmSync(tmp, { recursive: true, force: true })
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`)
  process.exit(1)
})
