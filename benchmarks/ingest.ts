/**
 * Ingest benchmark: uploads a ROWS-row CSV (default 1,000,000) to a real
 * veilbox server process and reports rows/s and the server's peak resident
 * memory (VmHWM), which must stay under 500 MB.
 *
 *   npm run bench:ingest            ROWS=200000 npm run bench:ingest
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { demoCsv, DEMO_SPEC } from '../src/demo/binzhou.js'
import { envInt, machine, processMemory, startServerProcess, table, writeResult } from './lib.js'

const ROWS = envInt('ROWS', 1_000_000)
const LIMIT_MB = 500

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
    if (res.status !== 201) throw new Error(`upload: ${res.status} ${JSON.stringify(body)}`)
    const after = processMemory(server.child.pid!)
    const peakRssMB = Math.max(after?.peakRss ?? 0, sampledPeak) / 2 ** 20
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
      sha256: body.sha256!,
      machine: machine(),
    }
    const out = writeResult('ingest', result)
    process.stderr.write(
      `${table([{ rows: result.rows, MB: bytes / 1e6, 'rows/s': result.rowsPerSec, 'MB/s': result.mbPerSec, 'peak RSS MB': result.serverPeakRssMB }])}\n`,
    )
    process.stderr.write(`wrote ${out}\n`)
    process.stdout.write(`${JSON.stringify(result)}\n`)
    if (!result.withinLimit) process.exitCode = 1
  } finally {
    await server.stop()
    fs.rmSync(tmp, { recursive: true, force: true })
  }
}

await main()
