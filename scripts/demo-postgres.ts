/**
 * The demo with its households in the bureau's own PostgreSQL:
 *
 *   npm run demo:postgres
 *
 * 1. starts a throwaway PostgreSQL 15 (initdb into a temporary directory, a
 *    unix socket, no TCP; as the postgres user when run as root), as the
 *    owner's database;
 * 2. creates the households table there, loads the demo's 100,000 synthetic
 *    households with COPY, and creates the read-only role veilbox_reader;
 * 3. starts `veilbox serve --demo` on 127.0.0.1:8080 (VEILBOX_PORT) with the
 *    data directory ./data-sourced (VEILBOX_DATA_DIR) and
 *    VEILBOX_SOURCE_BUREAU_URL pointing at that role;
 * 4. registers the dataset binzhou_households_pg with the table as its
 *    source, its first snapshot, a budget and a grant for the demo analyst;
 * 5. prints the README's query against it, and runs until Ctrl-C, when it
 *    stops veilbox and removes the PostgreSQL cluster.
 *
 * ROWS=5000 npm run demo:postgres loads fewer rows. The test
 * test/demo/postgres.test.ts runs it and asks the README's query.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { DEMO_ROWS } from '../src/demo/binzhou.js'
import { loadHouseholds, READER_ROLE, SOURCED_DEMO_ID, sourcedDemoSpec } from '../src/demo/households-source.js'
import { startPostgres } from '../test/helpers/pg.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

export interface SourcedDemo {
  readonly url: string
  readonly analystKey: string
  readonly grant: string
  readonly dataDir: string
  stop(): Promise<void>
}

export interface SourcedDemoOptions {
  readonly rows?: number
  readonly dataDir?: string
  readonly port?: number
  /** Run the server from src/ through tsx (tests) or from dist/ (npm run demo:postgres). */
  readonly from?: 'src' | 'dist'
  readonly log?: (line: string) => void
}

async function call<T>(url: string, key: string, method: string, route: string, body?: unknown): Promise<T> {
  const res = await fetch(`${url}${route}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${text}`)
  return JSON.parse(text) as T
}

function waitForListening(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = ''
    const onData = (d: Buffer): void => {
      out += d.toString()
      const m = /listening on (http:\/\/\S+)/.exec(out)
      if (m) resolve(m[1]!)
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    child.once('exit', (code) => reject(new Error(`veilbox exited (${code}) before listening:\n${out}`)))
  })
}

export async function startSourcedDemo(options: SourcedDemoOptions = {}): Promise<SourcedDemo> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`))
  const rows = options.rows ?? DEMO_ROWS
  const teardowns: (() => unknown)[] = []
  const stop = async (): Promise<void> => {
    for (const fn of teardowns.splice(0).reverse()) await fn()
  }
  try {
    log('starting a throwaway PostgreSQL for the bureau...')
    const cluster = await startPostgres({ teardown: (fn) => teardowns.push(fn) })
    const adminUrl = await cluster.createDatabase('bureau')
    log(`loading ${rows.toLocaleString()} households into its public.households...`)
    await loadHouseholds(adminUrl, rows)
    const readerUrl = adminUrl.replace('postgres://postgres@', `postgres://${READER_ROLE}@`)

    const dataDir = path.resolve(options.dataDir ?? process.env.VEILBOX_DATA_DIR ?? path.join(ROOT, 'data-sourced'))
    const entry =
      options.from === 'src'
        ? ['--import', 'tsx', path.join(ROOT, 'test', 'helpers', 'cli-entry.ts')]
        : [path.join(ROOT, 'bin', 'veilbox.js')]
    const port = options.port ?? Number(process.env.VEILBOX_PORT ?? 8080)
    log(`starting veilbox serve --demo (data directory ${dataDir})...`)
    const child = spawn(process.execPath, [...entry, 'serve', '--demo', '--port', String(port), '--data-dir', dataDir], {
      env: {
        ...process.env,
        VEILBOX_SOURCE_BUREAU_URL: readerUrl,
        VEILBOX_CUSTODIAN_DIR: `${dataDir}-custodian`,
        VEILBOX_LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    teardowns.push(
      () =>
        new Promise<void>((done) => {
          if (child.exitCode !== null) return done()
          child.once('exit', () => done())
          child.kill('SIGTERM')
        }),
    )
    const url = await waitForListening(child)
    const keys = JSON.parse(fs.readFileSync(path.join(dataDir, 'demo-keys.json'), 'utf8')) as {
      operator: string
      analyst: string
    }
    const existing = await fetch(`${url}/v1/datasets/${SOURCED_DEMO_ID}`, {
      headers: { authorization: `Bearer ${keys.operator}` },
    })
    if (existing.status === 404) {
      log(`registering ${SOURCED_DEMO_ID} with the bureau's table as its source...`)
      await call(url, keys.operator, 'POST', '/v1/datasets', sourcedDemoSpec('bureau'))
      await call(url, keys.operator, 'PUT', `/v1/datasets/${SOURCED_DEMO_ID}/budget`, { epsilon: 10, delta: 1e-5 })
    }
    // Every run starts a fresh PostgreSQL: its rows are the same, but it is a new snapshot.
    const snap = await call<{ version: number; rows: number }>(
      url,
      keys.operator,
      'POST',
      `/v1/datasets/${SOURCED_DEMO_ID}/snapshots`,
      {},
    )
    log(`snapshot registered as version ${snap.version} (${snap.rows.toLocaleString()} rows; none copied)`)
    const grant = await call<{ id: string }>(url, keys.operator, 'POST', '/v1/grants', {
      analyst: 'demo-analyst',
      dataset: SOURCED_DEMO_ID,
      purpose: 'demo: household statistics from the bureau database',
      epsilon: 1,
      delta: 1e-6,
      expiresAt: new Date(Date.now() + 30 * 86_400_000).toISOString(),
    })
    return { url, analystKey: keys.analyst, grant: grant.id, dataDir, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const demo = await startSourcedDemo({ rows: process.env.ROWS === undefined ? undefined : Number(process.env.ROWS) })
  const query = `SELECT district, COUNT(*), AVG(income) FROM ${SOURCED_DEMO_ID} GROUP BY district`
  process.stdout.write(
    `\nveilbox is at ${demo.url}, reading the households from PostgreSQL. Ask the README's query:\n\n` +
      `curl -s -H 'Authorization: Bearer ${demo.analystKey}' -H 'content-type: application/json' ${demo.url}/v1/queries \\\n` +
      `  -d '{"sql": "${query}", "grant": "${demo.grant}", "epsilon": 0.1}'\n\nCtrl-C stops veilbox and removes the PostgreSQL cluster.\n`,
  )
  const end = (): void => {
    void demo.stop().then(() => process.exit(0))
  }
  process.once('SIGINT', end)
  process.once('SIGTERM', end)
}
