/**
 * The fault test: a real server process killed with -9 in the middle of
 * queries and uploads, restarted on the same data directory, round after
 * round. Afterwards the audit chain verifies (hash links, signed heads,
 * every ledger and stored answer against the chain), every answer that was
 * delivered has its stored answer and its charge, and no version is left
 * half-visible.
 *
 *   VEILBOX_FAULT_ROUNDS=45 npx tap test/fault/kill.test.ts    (default 3)
 *
 * SQLite's, whatever VEILBOX_TEST_STORE says: the server keeps its store in
 * the data directory, which this test then opens itself (openDb).
 */
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { startServerProcess } from '../../benchmarks/lib.js'
import { DEMO_SPEC, demoCsv } from '../../src/demo/binzhou.js'
import { mulberry32 } from '../../src/engine/mulberry32.js'
import { openDb } from '../../src/store/db.js'
import { tempDir } from '../helpers/app.js'
import { runCli } from '../helpers/cli.js'

const ROUNDS = Number(process.env.VEILBOX_FAULT_ROUNDS ?? 3)

interface Delivered {
  readonly queryId: string
  readonly epsilon: number
}

t.test(
  `${ROUNDS} rounds of kill -9 during queries and uploads: nothing delivered is uncharged, the chain verifies`,
  async (t) => {
    const dir = tempDir(t)
    const r = mulberry32(4242)
    const csv = await new Promise<string>((resolve) => {
      let s = ''
      demoCsv(100_000, 9)
        .on('data', (c) => (s += c))
        .on('end', () => resolve(s))
    })
    let server = await startServerProcess({ dataDir: dir })
    const { operator } = JSON.parse(fs.readFileSync(path.join(dir, 'operator-key.json'), 'utf8')) as {
      operator: string
    }
    const api = async (key: string, method: string, route: string, body?: unknown, type = 'application/json') => {
      const res = await fetch(new URL(route, server.url), {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': type }) },
        ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      })
      return { status: res.status, json: (await res.json()) as Record<string, unknown> }
    }
    const ok = (res: { status: number; json: unknown }, want: number) => {
      if (res.status !== want) throw new Error(`HTTP ${res.status}: ${JSON.stringify(res.json)}`)
      return res.json as Record<string, unknown>
    }
    ok(await api(operator, 'POST', '/v1/datasets', DEMO_SPEC), 201)
    ok(
      await api(
        operator,
        'POST',
        `/v1/datasets/${DEMO_SPEC.id}/versions`,
        csv.slice(0, csv.indexOf('\n', 200_000) + 1),
        'text/csv',
      ),
      201,
    )
    ok(await api(operator, 'PUT', `/v1/datasets/${DEMO_SPEC.id}/budget`, { epsilon: 1000 }), 200)
    const analyst = ok(await api(operator, 'POST', '/v1/keys', { name: 'alice', role: 'analyst' }), 201).key as string
    const grant = ok(
      await api(operator, 'POST', '/v1/grants', {
        analyst: 'alice',
        dataset: DEMO_SPEC.id,
        purpose: 'fault test',
        epsilon: 1000,
        expiresAt: '2099-01-01T00:00:00Z',
      }),
      201,
    ).id as string

    const delivered: Delivered[] = []
    let uploadsDelivered = 0
    let n = 0
    for (let round = 0; round < ROUNDS; round++) {
      if (round > 0) server = await startServerProcess({ dataDir: dir })
      let stop = false
      const queries = Array.from({ length: 4 }, async () => {
        while (!stop) {
          const i = n++
          try {
            const res = await api(analyst, 'POST', '/v1/queries', {
              sql: `SELECT district, COUNT(*), AVG(income) FROM ${DEMO_SPEC.id} WHERE age >= ${18 + (i % 60)} GROUP BY district`,
              grant,
              epsilon: Number((0.01 + i * 1e-6).toFixed(6)),
            })
            if (res.status === 200 && res.json.cached === false)
              delivered.push({
                queryId: res.json.queryId as string,
                epsilon: (res.json.privacy as { charged: { grant: { epsilon: number } } }).charged.grant.epsilon,
              })
          } catch {
            return // the server is gone
          }
        }
      })
      const upload = (async () => {
        try {
          const res = await api(operator, 'POST', `/v1/datasets/${DEMO_SPEC.id}/versions`, csv, 'text/csv')
          if (res.status === 201) uploadsDelivered += 1
        } catch {
          // the server is gone
        }
      })()
      if (round % 2 === 0) {
        // Kill once answers are flowing (workers under tsx take a few seconds to start), at a random moment after.
        const before = delivered.length
        for (let waited = 0; delivered.length === before && waited < 30_000; waited += 50)
          await new Promise((resolve) => setTimeout(resolve, 50))
        await new Promise((resolve) => setTimeout(resolve, Math.floor(r() * 800)))
      } else {
        // Kill in the middle of the upload (it takes seconds), before or while the first answers come.
        await new Promise((resolve) => setTimeout(resolve, 300 + Math.floor(r() * 1200)))
      }
      server.child.kill('SIGKILL')
      await new Promise((resolve) => server.child.once('exit', resolve))
      stop = true
      await Promise.all([...queries, upload])
    }
    t.ok(delivered.length > 0, `${delivered.length} answers delivered across ${ROUNDS} kills`)

    // Restart once more: stale uploads are discarded, the head is signed at start.
    server = await startServerProcess({ dataDir: dir })
    t.teardown(() => server.stop())
    const check = await runCli(['audit', 'verify', '--data-dir', dir])
    t.equal(check.code, 0, `audit verify after the kills: ${check.stdout}${check.stderr}`)
    t.match(check.stdout, /ledgers and \d+ answers agree with the chain/)

    const db = openDb(dir)
    t.teardown(() => db.close())
    let uncharged = 0
    for (const d of delivered) {
      const stored = await db.value<number>('SELECT epsilon_micro FROM answers WHERE query_id = $1', [d.queryId])
      const charged = await db.value<string>(
        "SELECT charged_epsilon FROM audit_log WHERE action = 'query.release' AND json_extract(detail, '$.queryId') = $1",
        [d.queryId],
      )
      if (stored === undefined || charged === undefined || stored !== Math.round(d.epsilon * 1e6)) uncharged += 1
    }
    t.equal(uncharged, 0, `answers delivered without their stored charge: ${uncharged} of ${delivered.length}`)
    t.equal(await db.value<number>("SELECT COUNT(*) FROM uploads WHERE state = 'staging'"), 0, 'no upload left staging')
    // Every version is whole: each column has all of its rows.
    const versions = await db.all<{ version: number; upload_id: number; rows: number }>(
      'SELECT version, upload_id, rows FROM dataset_versions WHERE dataset_id = $1',
      [DEMO_SPEC.id],
    )
    t.ok(
      versions.length >= 1 + uploadsDelivered,
      `${versions.length} versions (${uploadsDelivered} uploads delivered during the rounds)`,
    )
    for (const v of versions) {
      const perColumn = await db.all<{ column_name: string; n: number }>(
        'SELECT column_name, SUM(rows) AS n FROM column_chunks WHERE upload_id = $1 GROUP BY column_name',
        [v.upload_id],
      )
      t.ok(
        perColumn.length === DEMO_SPEC.columns.length && perColumn.every((c) => c.n === v.rows),
        `version ${v.version} is whole`,
      )
    }
    t.equal((await fetch(new URL('/healthz', server.url))).status, 200, 'the restarted server serves')
    const after = await api(analyst, 'POST', '/v1/queries', {
      sql: `SELECT COUNT(*) FROM ${DEMO_SPEC.id}`,
      grant,
      epsilon: 0.5,
    })
    t.equal(after.status, 200, 'and answers')
    t.comment(
      `kill rounds: ${ROUNDS}, answers delivered: ${delivered.length}, answers without a charge: ${uncharged}, uploads delivered: ${uploadsDelivered} of ${ROUNDS}, versions: ${versions.length}`,
    )
  },
)
