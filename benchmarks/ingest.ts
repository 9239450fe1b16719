/**
 * Ingest benchmark: uploads a ROWS-row CSV (default 1,000,000) to a real
 * veilbox server process and reports rows/s and the server's peak resident
 * memory (VmHWM), which must stay under 500 MB.
 *
 * In the same run (issue 22): /healthz is polled throughout the upload and
 * its p99 reported (goal < 50 ms), and the same file is loaded by
 * PostgreSQL 15's COPY into an equivalent table on a throwaway cluster of the
 * benchmark's own, durable as veilbox is (fsync on). veilbox's rows/s over
 * COPY's is the ratio the issue sets at 1.0 or more; with peak RSS under 300
 * MB. Goals are reported, not enforced: only a crash or an error fails.
 * COPY_REFERENCE=0 skips PostgreSQL.
 *
 *   npm run bench:ingest            ROWS=200000 npm run bench:ingest
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { demoCsv, DEMO_SPEC } from '../src/demo/binzhou.js'
import { postgresBin, startPostgres } from '../test/helpers/pg.js'
import {
  envInt,
  goal,
  goalRows,
  type HealthzSummary,
  healthzSummary,
  machine,
  pollHealth,
  processMemory,
  startServerProcess,
  statedAt,
  table,
  writeResult,
} from './lib.js'
import { copyReference, HOUSEHOLDS_TABLE, restartWithFsync } from './pg-reference.js'

const ROWS = envInt('ROWS', 1_000_000)
const LIMIT_MB = 500
const GOAL_ROWS = 1_000_000
const GOAL_RSS_MB = 300
const GOAL_HEALTHZ_P99_MS = 50

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'veilbox-ingest-'))
  const file = path.join(tmp, 'households.csv')
  process.stderr.write(`writing ${ROWS} rows of CSV...\n`)
  await pipeline(demoCsv(ROWS, 7), fs.createWriteStream(file))
  const bytes = fs.statSync(file).size
  const server = await startServerProcess({ from: 'dist' })
  try {
    const { operator } = JSON.parse(fs.readFileSync(path.join(server.dataDir, 'operator-key.json'), 'utf8')) as {
      operator: string
    }
    const auth = { authorization: `Bearer ${operator}` }
    const spec = { ...DEMO_SPEC, id: 'bench_households' }
    const created = await fetch(new URL('/v1/datasets', server.url), {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify(spec),
    })
    if (created.status !== 201) throw new Error(`create dataset: ${created.status} ${await created.text()}`)
    const before = processMemory(server.child.pid!)
    let sampledPeak = before?.rss ?? 0
    const sampler = setInterval(() => {
      const m = processMemory(server.child.pid!)
      if (m) sampledPeak = Math.max(sampledPeak, m.rss)
    }, 50)
    process.stderr.write(`uploading ${(bytes / 1e6).toFixed(1)} MB...\n`)
    const health = await pollHealth(server.url)
    const started = process.hrtime.bigint()
    const res = await fetch(new URL(`/v1/datasets/${spec.id}/versions`, server.url), {
      method: 'POST',
      headers: { ...auth, 'content-type': 'text/csv' },
      body: Readable.toWeb(fs.createReadStream(file)) as ReadableStream,
      duplex: 'half',
    } as RequestInit)
    const body = (await res.json()) as { rows?: number; sha256?: string }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9
    clearInterval(sampler)
    const polled = await health.stop()
    const healthz = healthzSummary(polled.latencies, polled.failures)
    if (res.status !== 201) throw new Error(`upload: ${res.status} ${JSON.stringify(body)}`)
    const after = processMemory(server.child.pid!)
    const peakRssMB = Math.max(after?.peakRss ?? 0, sampledPeak) / 2 ** 20
    await server.stop()
    const copy = await copyRun(file)
    const rowsPerSec = Math.round(body.rows! / seconds)
    const result = {
      name: 'ingest-csv',
      rows: body.rows!,
      bytes,
      seconds: Number(seconds.toFixed(3)),
      rowsPerSec: Math.round(body.rows! / seconds),
      mbPerSec: Number((bytes / 1e6 / seconds).toFixed(1)),
      serverRssBeforeMB: Number(((before?.rss ?? 0) / 2 ** 20).toFixed(1)),
      serverPeakRssMB: Number(peakRssMB.toFixed(1)),
      peakRssLimitMB: LIMIT_MB,
      withinLimit: peakRssMB < LIMIT_MB,
      healthz,
      copyReference: copy,
      ratioOfCopy: copy === null ? null : Number((rowsPerSec / copy.rowsPerSec).toFixed(3)),
      goals: ingestGoals(body.rows!, rowsPerSec, copy, peakRssMB, healthz),
      sha256: body.sha256!,
      machine: machine(),
    }
    const out = writeResult('ingest', result)
    process.stderr.write(
      `${table([
        {
          rows: result.rows,
          MB: bytes / 1e6,
          'rows/s': result.rowsPerSec,
          'MB/s': result.mbPerSec,
          'peak RSS MB': result.serverPeakRssMB,
          'healthz p99 ms': result.healthz.p99Ms,
          'COPY rows/s': copy?.rowsPerSec ?? 'skipped',
          'x COPY': result.ratioOfCopy ?? 'n/a',
        },
      ])}\n`,
    )
    process.stderr.write(`${table(goalRows(result.goals))}\n`)
    process.stderr.write(`wrote ${out}\n`)
    process.stdout.write(`${JSON.stringify(result)}\n`)
    if (!result.withinLimit) process.exitCode = 1
  } finally {
    await server.stop()
    fs.rmSync(tmp, { recursive: true, force: true })
  }
}

/**
 * The goals for ingest, stated for a 1,000,000-row upload: rows/s
 * at least PostgreSQL COPY's of the same file in the same run, peak server
 * RSS under 300 MB, /healthz p99 under 50 ms during the upload. Reported,
 * never enforced.
 */
function ingestGoals(
  rows: number,
  rowsPerSec: number,
  copy: { rowsPerSec: number } | null,
  peakRssMB: number,
  healthz: HealthzSummary,
) {
  const size = statedAt('rows', GOAL_ROWS, rows)
  return [
    goal(
      "ingest rows/s, x PostgreSQL COPY's of the same file",
      { op: '>=', value: 1 },
      copy === null ? null : Number((rowsPerSec / copy.rowsPerSec).toFixed(3)),
      { unjudged: copy === null ? 'COPY was not measured (COPY_REFERENCE=0, or no PostgreSQL)' : size },
    ),
    goal('ingest peak server RSS, MB', { op: '<', value: GOAL_RSS_MB }, Number(peakRssMB.toFixed(1)), {
      unjudged: size,
    }),
    goal('/healthz p99 during the upload, ms', { op: '<', value: GOAL_HEALTHZ_P99_MS }, healthz.p99Ms, {
      unjudged: size,
      failed: healthz.failures > 0 ? `${healthz.failures} /healthz requests failed` : null,
    }),
  ]
}

/** PostgreSQL's COPY of the same file, on a cluster of its own with fsync on; null when skipped or absent. */
async function copyRun(file: string): Promise<{ rows: number; seconds: number; rowsPerSec: number } | null> {
  if (process.env.COPY_REFERENCE === '0' || postgresBin() === null) return null
  const teardowns: (() => unknown)[] = []
  try {
    const cluster = await startPostgres({ teardown: (fn) => void teardowns.push(fn) })
    restartWithFsync(cluster)
    process.stderr.write('PostgreSQL COPY of the same file...\n')
    const r = await copyReference(cluster, file, HOUSEHOLDS_TABLE)
    return { rows: r.rows, seconds: Number(r.seconds.toFixed(3)), rowsPerSec: Math.round(r.rows / r.seconds) }
  } finally {
    for (const fn of teardowns.reverse()) await fn()
  }
}

await main()
