/**
 * The HTTP benchmark's stall scenarios (issue 22): /healthz polled one
 * request at a time (benchmarks/lib.ts pollHealth, from a thread of its own)
 * while one heavy operation runs on a veilbox server process of its own,
 * with the operation's own duration:
 *
 *   ingest    an upload of INGEST_ROWS demo rows (1,000,000) over HTTP
 *   cold      the first query on a COLD_ROWS-row version (10,000,000 demo
 *             rows, uploaded over HTTP) that no query has loaded: the server
 *             is restarted after the upload, and answers a query on a small
 *             dataset first, so that the query measured pays for loading
 *             the version, not for compiling the query path
 *   release   one fresh query releasing RELEASE_VALUES values (the limit,
 *             VEILBOX_MAX_RELEASE_VALUES, 100,000 by default): as many groups
 *             of one VAR each, the costliest release per value
 *
 * The goal for each is /healthz p99 under 50 ms (http-goals.ts). On Linux
 * the server also runs benchmarks/loop-probe.mjs, which records its main
 * thread's event-loop gaps with the CPU time the thread spent in each: a
 * scenario reports its longest gap and the most CPU time the thread spent
 * in one gap (mainThread), so that a stall of veilbox's own (the CPU time
 * is the gap) can be told from a host too busy to run it (the CPU time is
 * small); the idle server's /healthz latency is measured first, as the
 * reference.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { DEMO_SPEC, demoCsv } from '../src/demo/binzhou.js'
import { api, healthzDuring, type HealthzSummary, ROOT, type ServerProcess, startServerProcess } from './lib.js'

const LOOP_PROBE = path.join(ROOT, 'benchmarks', 'loop-probe.mjs')

/** The server's main thread during an operation, from loop-probe.mjs (null off Linux). */
export interface MainThreadGaps {
  /** Gaps over 20 ms between the probe's 5 ms ticks. */
  readonly gaps: number
  /** The longest gap, ms of wall time. */
  readonly longestGapMs: number
  /** The most CPU time the main thread spent within one gap, ms: its longest stretch of work without a pause. */
  readonly mostCpuInAGapMs: number
}

/** Gaps recorded between two moments (epoch ms), from every loop-<pid>.json in `dir`. */
export function gapsBetween(dir: string, from: number, to: number): MainThreadGaps | null {
  if (!fs.existsSync(dir)) return null
  const all = fs
    .readdirSync(dir)
    .filter((f) => /^loop-\d+\.json$/.test(f))
    .flatMap((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as [number, number, number][])
  // A gap is recorded when it ends: one ending within the operation (or just after it) lay in it.
  const inside = all.filter(([endedAt, gap]) => endedAt - gap <= to && endedAt >= from)
  return {
    gaps: inside.length,
    longestGapMs: Math.max(0, ...inside.map(([, gap]) => gap)),
    mostCpuInAGapMs: Math.max(0, ...inside.map(([, , cpu]) => cpu)),
  }
}

export const STALL_KEYS = {
  ingest: 'healthz during an ingest',
  cold: 'healthz during the first query on a cold version',
  release: 'healthz during the largest release',
} as const
export type StallKey = keyof typeof STALL_KEYS

export interface StallSettings {
  readonly ingestRows: number
  readonly coldRows: number
  readonly releaseValues: number
  /** The service's limit on values per answer, which the release goal is stated at. */
  readonly maxReleaseValues: number
  /** Pause between two /healthz requests, ms. */
  readonly pauseMs: number
  /** Options for node running the server (--cpu-prof, ...). */
  readonly nodeArgs: readonly string[]
  readonly from: 'src' | 'dist'
  readonly cpus: string | null
}

/** One scenario's line in http.json; healthz null when it was not selected. */
export interface HealthzDuring {
  readonly key: StallKey
  readonly name: string
  /** The goal's own words (at the size it is stated at). */
  readonly goal: string
  readonly unit: 'rows' | 'values'
  readonly size: number
  readonly statedSize: number
  readonly operationMs: number | null
  readonly healthz: HealthzSummary | null
  readonly mainThread: MainThreadGaps | null
  readonly detail: Readonly<Record<string, unknown>>
}

const GOAL_INGEST_ROWS = 1_000_000
const GOAL_COLD_ROWS = 10_000_000

/** The dataset of the largest release: two declared categories whose product is the group count, one number. */
function releaseShape(values: number): { a: number; b: number } {
  const a = Math.min(1000, values)
  return { a, b: Math.max(1, Math.floor(values / a)) }
}

async function upload(base: string, key: string, dataset: string, body: Readable): Promise<{ rows: number }> {
  return api(base, key, 'POST', `/v1/datasets/${dataset}/versions`, Readable.toWeb(body) as ReadableStream, 'text/csv')
}

/** Seconds of /healthz on the idle server: the reference for the scenarios' latencies, in the same run. */
const IDLE_SECONDS = 2

export async function runStalls(
  selected: ReadonlySet<StallKey>,
  s: StallSettings,
  say: (msg: string) => void,
): Promise<{ idle: HealthzSummary | null; during: HealthzDuring[] }> {
  const { a, b } = releaseShape(s.releaseValues)
  const groups = a * b
  const base = {
    ingest: {
      name: `healthz during an ingest of ${s.ingestRows.toLocaleString('en-US')} rows`,
      goal: `during a ${GOAL_INGEST_ROWS.toLocaleString('en-US')}-row ingest`,
      unit: 'rows',
      size: s.ingestRows,
      statedSize: GOAL_INGEST_ROWS,
    },
    cold: {
      name: `healthz during the first query on a cold ${s.coldRows.toLocaleString('en-US')}-row version`,
      goal: `during the first query on a cold ${GOAL_COLD_ROWS.toLocaleString('en-US')}-row version`,
      unit: 'rows',
      size: s.coldRows,
      statedSize: GOAL_COLD_ROWS,
    },
    release: {
      name: `healthz during a release of ${groups.toLocaleString('en-US')} values`,
      goal: `while one query releases the largest answer the limits allow (${s.maxReleaseValues.toLocaleString('en-US')} values)`,
      unit: 'values',
      size: groups,
      statedSize: s.maxReleaseValues,
    },
  } as const
  const out = new Map<StallKey, HealthzDuring>(
    (Object.keys(STALL_KEYS) as StallKey[]).map((key) => [
      key,
      { key, ...base[key], operationMs: null, healthz: null, mainThread: null, detail: {} },
    ]),
  )
  if (selected.size === 0) return { idle: null, during: [...out.values()] }

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'veilbox-http-stalls-'))
  const dataDir = path.join(tmp, 'data')
  const loopDir = path.join(tmp, 'loop')
  const start = () =>
    startServerProcess({
      from: s.from,
      cpus: s.cpus,
      dataDir,
      env: { VEILBOX_CUSTODIAN_DIR: path.join(tmp, 'custodian'), VEILBOX_BENCH_LOOP_DIR: loopDir },
      nodeArgs: ['--import', LOOP_PROBE, ...s.nodeArgs],
    })
  /** When each scenario's operation ran (epoch ms), for the probe's gaps once the server has written them. */
  const windows = new Map<StallKey, [number, number]>()
  const timed = async <T>(key: StallKey, work: () => Promise<T>) => {
    const from = Date.now()
    const r = await healthzDuring(server.url, work, s.pauseMs)
    windows.set(key, [from, Date.now()])
    return r
  }
  let server: ServerProcess = await start()
  let idle: HealthzSummary | null = null
  try {
    const { operator } = JSON.parse(fs.readFileSync(path.join(dataDir, 'operator-key.json'), 'utf8')) as {
      operator: string
    }
    const analyst = (
      await api<{ key: string }>(server.url, operator, 'POST', '/v1/keys', { name: 'alice', role: 'analyst' })
    ).key
    const grantOn = async (dataset: string) => {
      await api(server.url, operator, 'PUT', `/v1/datasets/${dataset}/budget`, { epsilon: 1_000_000, delta: 0.001 })
      return (
        await api<{ id: string }>(server.url, operator, 'POST', '/v1/grants', {
          analyst: 'alice',
          dataset,
          purpose: 'benchmark: stalls',
          epsilon: 1_000_000,
          delta: 1e-6,
          expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
        })
      ).id
    }
    const query = (sql: string, grant: string, epsilon: number) =>
      fetch(new URL('/v1/queries', server.url), {
        method: 'POST',
        headers: { authorization: `Bearer ${analyst}`, 'content-type': 'application/json' },
        body: JSON.stringify({ sql, grant, epsilon }),
      }).then(async (res) => {
        // Read as bytes while /healthz is polled; parsed (and checked) after.
        const bytes = await res.arrayBuffer()
        if (!res.ok) throw new Error(`query: ${res.status} ${Buffer.from(bytes).toString('utf8', 0, 300)}`)
        return bytes
      })
    say(`healthz with the server idle, ${IDLE_SECONDS} s (the reference)...`)
    idle = (await healthzDuring(server.url, () => new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000)), s.pauseMs))
      .healthz
    const record = (key: StallKey, r: { operationMs: number; healthz: HealthzSummary }, detail = {}) => {
      out.set(key, { ...out.get(key)!, operationMs: r.operationMs, healthz: r.healthz, detail })
      say(`  ${r.operationMs} ms; /healthz p50 ${r.healthz.p50Ms}, p99 ${r.healthz.p99Ms}, max ${r.healthz.maxMs} ms`)
    }

    if (selected.has('ingest')) {
      const file = path.join(tmp, 'ingest.csv')
      await pipeline(demoCsv(s.ingestRows, 7), fs.createWriteStream(file))
      await api(server.url, operator, 'POST', '/v1/datasets', { ...DEMO_SPEC, id: 'stall_ingest' })
      say(`${STALL_KEYS.ingest}: uploading ${s.ingestRows.toLocaleString('en-US')} rows...`)
      const r = await timed('ingest', () => upload(server.url, operator, 'stall_ingest', fs.createReadStream(file)))
      record('ingest', r, { rows: r.value.rows, bytes: fs.statSync(file).size })
      fs.rmSync(file)
    }

    if (selected.has('release')) {
      await api(server.url, operator, 'POST', '/v1/datasets', {
        id: 'stall_release',
        title: 'the largest release',
        classification: 'internal',
        privacyUnit: 'pid',
        maxRowsPerUnit: 1,
        columns: [
          { name: 'pid', type: 'id', protection: 'public' },
          {
            name: 'a',
            type: 'category',
            protection: 'public',
            categories: Array.from({ length: a }, (_, i) => `a${i}`),
          },
          {
            name: 'b',
            type: 'category',
            protection: 'public',
            categories: Array.from({ length: b }, (_, i) => `b${i}`),
          },
          { name: 'x', type: 'number', protection: 'dp', lower: 0, upper: 1000 },
        ],
      })
      // One row per group: every group of the answer has a row behind it.
      const lines = function* () {
        yield 'pid,a,b,x\n'
        for (let i = 0; i < groups; i++) yield `p${i},a${i % a},b${Math.floor(i / a)},${(i * 7919) % 1000}\n`
      }
      await upload(server.url, operator, 'stall_release', Readable.from(lines()))
      const grant = await grantOn('stall_release')
      const sql = 'SELECT a, b, VAR(x) FROM stall_release GROUP BY a, b'
      // Unmeasured first: the release path compiled, as in a service that has answered queries before.
      await query(sql, grant, 1)
      say(`${STALL_KEYS.release}: ${groups.toLocaleString('en-US')} groups x VAR...`)
      const r = await timed('release', () => query(sql, grant, 2))
      const answer = JSON.parse(Buffer.from(r.value).toString('utf8')) as { rows?: unknown[] }
      if (answer.rows?.length !== groups)
        throw new Error(`the release answered ${answer.rows?.length} groups, not ${groups}`)
      record('release', r, { groups, aggregate: 'VAR', answerBytes: r.value.byteLength })
    }

    if (selected.has('cold')) {
      // A small dataset beside it, queried first after the restart: the query measured then pays for
      // the cold version's load, not for compiling the query path.
      await api(server.url, operator, 'POST', '/v1/datasets', { ...DEMO_SPEC, id: 'stall_warm' })
      await upload(server.url, operator, 'stall_warm', demoCsv(1000, 3))
      const warmGrant = await grantOn('stall_warm')
      await api(server.url, operator, 'POST', '/v1/datasets', { ...DEMO_SPEC, id: 'stall_cold' })
      const grant = await grantOn('stall_cold')
      say(`${STALL_KEYS.cold}: uploading ${s.coldRows.toLocaleString('en-US')} rows...`)
      const made = performance.now()
      await upload(server.url, operator, 'stall_cold', demoCsv(s.coldRows, 5))
      await server.stop()
      const uploadSeconds = Number(((performance.now() - made) / 1000).toFixed(1))
      // Restarted: nothing of the version is in the column cache.
      server = await start()
      const sql = (dataset: string) => `SELECT district, COUNT(*), AVG(income) FROM ${dataset} GROUP BY district`
      await query(sql('stall_warm'), warmGrant, 1)
      await query(sql('stall_warm'), warmGrant, 2)
      say(`${STALL_KEYS.cold}: the first query...`)
      const r = await timed('cold', () => query(sql('stall_cold'), grant, 1))
      record('cold', r, { uploadSeconds, sql: sql('stall_cold') })
    }
    await server.stop()
    for (const [key, [from, to]] of windows)
      out.set(key, { ...out.get(key)!, mainThread: gapsBetween(loopDir, from, to) })
  } finally {
    await server.stop()
    fs.rmSync(tmp, { recursive: true, force: true })
  }
  return { idle, during: [...out.values()] }
}
