/**
 * The cluster test: three real server processes on one real PostgreSQL (a
 * throwaway cluster of its own, test/helpers/pg.ts), sharing one database
 * and one sealing secret, each with its own data directory and port.
 *
 * 1. Sixty distinct queries at epsilon 0.1, all at once, round-robin across
 *    the three nodes, in a grant of epsilon 1.0: exactly ten are answered,
 *    fifty are refused for budget, the grant has spent exactly 1.0, and the
 *    audit chain (links, signed heads, every ledger and answer) verifies.
 * 2. A burst of distinct queries across the nodes in a larger grant, one node
 *    killed with -9 in the middle of it: every answer that was delivered is
 *    stored, the grant has spent at least what was delivered and exactly what
 *    the chain's release records charged, the chain verifies, the two other
 *    nodes kept answering, and the killed node serves again after a restart.
 *
 *   npx tap test/cluster/cluster.test.ts
 */
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { startServerProcess, type ServerProcess } from '../../benchmarks/lib.js'
import { DEMO_SPEC, demoCsv } from '../../src/demo/binzhou.js'
import { runCli } from '../helpers/cli.js'
import { startPostgres } from '../helpers/pg.js'

const NODES = 3
const ROWS = 20_000
const MICRO = 1_000_000
const DATASET = DEMO_SPEC.id

type Json = Record<string, unknown>

interface Answer {
  readonly node: number
  readonly status: number
  readonly json: Json
  /** When the request was sent and when its answer came back (ms since the epoch). */
  readonly sentAt: number
  readonly receivedAt: number
}

interface Delivered {
  readonly node: number
  readonly queryId: string
  readonly epsilonMicro: number
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const micro = (x: number | string) => Math.round(Number(x) * MICRO)

/** A TCP port nothing listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo
      srv.close(() => resolve(port))
    })
  })
}

/** Waits until something accepts connections on the port, then until its /healthz answers 200. */
async function waitForPort(port: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port })
      s.once('connect', () => {
        s.destroy()
        resolve(true)
      })
      s.once('error', () => resolve(false))
    })
    if (open) {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null)
      if (res?.status === 200) return
    }
    if (Date.now() > deadline) throw new Error(`nothing served /healthz on port ${port} within ${timeoutMs} ms`)
    await sleep(100)
  }
}

async function csvOf(rows: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let s = ''
    demoCsv(rows, 9)
      .on('data', (c) => (s += c))
      .on('end', () => resolve(s))
      .on('error', reject)
  })
}

t.test('three nodes on one PostgreSQL: one budget, one chain, a node killed mid-burst', async (t) => {
  const started = Date.now()
  const pg = await startPostgres(t)
  const url = await pg.createDatabase('cluster')
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'veilbox-cluster-'))
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }))
  // The secret that seals the signing key in the database: the same file for every node and the CLI.
  const secretFile = path.join(root, 'secret')
  fs.writeFileSync(secretFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 })
  // The offline CLI gets a scratch data directory so that it never falls back to ./data in the repository.
  const cliEnv = { VEILBOX_SECRET_FILE: secretFile, VEILBOX_DATA_DIR: path.join(root, 'cli') }

  const created = await runCli(
    ['keys', 'create', '--role', 'operator', '--name', 'op', '--database-url', url, '--json'],
    cliEnv,
  )
  if (created.code !== 0)
    throw new Error(`veilbox keys create --database-url failed (${created.code}): ${created.stderr}${created.stdout}`)
  const operator = (JSON.parse(created.stdout) as { key: string }).key
  t.match(operator, /^vbx_/, 'the CLI printed an operator key')

  // Every node and every start of one, so that teardown stops whatever is running, however the test ends.
  const ports = await Promise.all(Array.from({ length: NODES }, () => freePort()))
  const nodes: (ServerProcess | null)[] = Array.from({ length: NODES }, () => null)
  const starting = new Set<Promise<ServerProcess>>()
  const everyProcess: ServerProcess[] = []
  t.teardown(async () => {
    await Promise.allSettled([...starting])
    // A node killed with -9 has exited already (exitCode stays null, signalCode is set): only the others are stopped.
    await Promise.all(
      everyProcess.filter((p) => p.child.exitCode === null && p.child.signalCode === null).map((p) => p.stop()),
    )
  })
  const startNode = async (i: number): Promise<ServerProcess> => {
    const p = startServerProcess({
      dataDir: path.join(root, `node${i + 1}`),
      databaseUrl: url,
      port: ports[i]!,
      env: {
        VEILBOX_SECRET_FILE: secretFile,
        VEILBOX_CUSTODIAN_DIR: path.join(root, `node${i + 1}-custodian`),
        // Three servers, PostgreSQL and this test share the machine: one sandbox worker each.
        VEILBOX_WORKERS: '1',
      },
    })
    starting.add(p)
    try {
      const server = await p
      everyProcess.push(server)
      await waitForPort(ports[i]!)
      nodes[i] = server
      return server
    } finally {
      starting.delete(p)
    }
  }
  // All three at once: the first to reach the database migrates it (under an advisory lock), the others wait.
  await Promise.all(Array.from({ length: NODES }, (_, i) => startNode(i)))
  t.pass(`${NODES} nodes serving on ports ${ports.join(', ')} (${Date.now() - started} ms since the start)`)

  const api = async (
    node: number,
    key: string,
    method: string,
    route: string,
    body?: unknown,
    type = 'application/json',
  ) => {
    const server = nodes[node]
    if (server === null || server === undefined) throw new Error(`node ${node + 1} is not running`)
    const sentAt = Date.now()
    const res = await fetch(new URL(route, server.url), {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': type }) },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    })
    const text = await res.text()
    let json: Json
    try {
      json = JSON.parse(text) as Json
    } catch {
      json = { text }
    }
    return { node, status: res.status, json, sentAt, receivedAt: Date.now() } satisfies Answer
  }
  const ok = (res: { status: number; json: Json }, want: number): Json => {
    if (res.status !== want) throw new Error(`HTTP ${res.status} (wanted ${want}): ${JSON.stringify(res.json)}`)
    return res.json
  }

  // The dataset, its budget, an analyst and a grant, all through node 1.
  ok(await api(0, operator, 'POST', '/v1/datasets', DEMO_SPEC), 201)
  ok(await api(0, operator, 'POST', `/v1/datasets/${DATASET}/versions`, await csvOf(ROWS), 'text/csv'), 201)
  ok(await api(0, operator, 'PUT', `/v1/datasets/${DATASET}/budget`, { epsilon: 1000 }), 200)
  const analyst = ok(await api(0, operator, 'POST', '/v1/keys', { name: 'alice', role: 'analyst' }), 201).key as string
  const expiresAt = '2099-01-01T00:00:00Z'
  const grant1 = ok(
    await api(0, operator, 'POST', '/v1/grants', {
      analyst: 'alice',
      dataset: DATASET,
      purpose: 'cluster test: one budget',
      epsilon: 1.0,
      expiresAt,
    }),
    201,
  ).id as string

  /** Every record of the chain for `grant` with one of `actions`, through `node`, paged. */
  const auditRecords = async (node: number, grant: string, actions: readonly string[]): Promise<Json[]> => {
    const out: Json[] = []
    for (const action of actions) {
      let after: number | null = null
      do {
        const page = ok(
          await api(
            node,
            operator,
            'GET',
            `/v1/audit?dataset=${DATASET}&action=${action}&limit=1000${after === null ? '' : `&after=${after}`}`,
          ),
          200,
        ) as {
          records: Json[]
          next: number | null
        }
        out.push(...page.records.filter((r) => r.grant === grant && r.action === action))
        after = page.next
      } while (after !== null)
    }
    return out
  }
  const chargedMicro = (records: readonly Json[]) =>
    records.reduce((s, r) => s + micro((r.charged as { epsilon: string }).epsilon), 0)
  const spentMicro = async (node: number, grant: string) =>
    micro(
      (ok(await api(node, operator, 'GET', `/v1/grants/${grant}`), 200).budget as { epsilon: { spent: number } })
        .epsilon.spent,
    )
  const verifyVia = async (node: number) =>
    ok(await api(node, operator, 'GET', '/v1/audit/verify'), 200) as {
      ok: boolean
      problem?: string
      records: number
      ledgers: { ok: boolean; answers: number }
    }
  const chargeOf = (json: Json) =>
    micro((json.privacy as { charged: { grant: { epsilon: number } } }).charged.grant.epsilon)

  await t.test(
    '60 distinct queries at once on a grant of epsilon 1.0: exactly 10 answered, round-robin over the nodes',
    async (t) => {
      const answers = await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          api(i % NODES, analyst, 'POST', '/v1/queries', {
            sql: `SELECT district, COUNT(*), AVG(income) FROM ${DATASET} WHERE age >= ${18 + i} GROUP BY district`,
            grant: grant1,
            epsilon: 0.1,
          }),
        ),
      )
      const answered = answers.filter((a) => a.status === 200)
      const refused = answers.filter((a) => a.status === 403 && a.json.code === 'VEILBOX_ERR_BUDGET_EXHAUSTED')
      const other = answers.filter((a) => !answered.includes(a) && !refused.includes(a))
      t.equal(answered.length, 10, 'exactly ten answers')
      t.equal(refused.length, 50, 'fifty refusals for budget')
      t.same(
        other.map((a) => `${a.status} ${String(a.json.code)}`),
        [],
        'nothing else came back',
      )
      t.ok(
        answered.every((a) => a.json.cached === false && chargeOf(a.json) === micro(0.1)),
        'each answer is fresh and charged 0.1',
      )
      const byNode = Array.from({ length: NODES }, (_, n) => answered.filter((a) => a.node === n).length)
      t.comment(
        `answers by node: ${byNode.join(', ')}; refusals by node: ${Array.from({ length: NODES }, (_, n) => refused.filter((a) => a.node === n).length).join(', ')}`,
      )
      t.equal(
        answered.reduce((s, a) => s + chargeOf(a.json), 0),
        MICRO,
        'the answers charged 1.0 in all',
      )
      for (let n = 0; n < NODES; n++)
        t.equal(await spentMicro(n, grant1), MICRO, `node ${n + 1} sees the grant spent exactly 1.0`)
      const releases = await auditRecords(1, grant1, ['query.release'])
      t.equal(releases.length, 10, 'ten release records in the chain')
      t.equal(chargedMicro(releases), MICRO, 'and they charge 1.0 in all')
      const check = await verifyVia(2)
      t.ok(check.ok, `GET /v1/audit/verify: ok (${check.problem ?? `${check.records} records`})`)
      t.ok(check.ledgers.ok, 'every ledger and stored answer agrees with the chain')
    },
  )

  await t.test('a burst across the nodes with one node killed -9 in the middle of it', async (t) => {
    const EPSILON = 0.05
    const GRANT_EPSILON = 50
    // Never more attempts than the grant can pay for: the burst measures kills, not refusals.
    const MAX_ATTEMPTS = Math.floor((GRANT_EPSILON * 0.95) / EPSILON)
    const grant2 = ok(
      await api(0, operator, 'POST', '/v1/grants', {
        analyst: 'alice',
        dataset: DATASET,
        purpose: 'cluster test: kill a node',
        epsilon: GRANT_EPSILON,
        expiresAt,
      }),
      201,
    ).id as string
    const VICTIM = 2
    const delivered: Delivered[] = []
    const outcomes: Answer[] = []
    const failures = Array.from({ length: NODES }, () => 0)
    let attempts = 0
    let stop = false
    let killedAt = Infinity
    const loop = async (node: number) => {
      while (!stop && attempts < MAX_ATTEMPTS) {
        const i = attempts++
        let res: Answer
        try {
          res = await api(node, analyst, 'POST', '/v1/queries', {
            sql: `SELECT district, COUNT(*), AVG(medical_spending) FROM ${DATASET} WHERE income >= ${i * 7} GROUP BY district`,
            grant: grant2,
            epsilon: EPSILON,
          })
        } catch {
          failures[node]! += 1
          if (nodes[node] === null || node === VICTIM) return // the node is gone
          await sleep(50)
          continue
        }
        outcomes.push(res)
        if (res.status === 200 && typeof res.json.queryId === 'string')
          delivered.push({ node, queryId: res.json.queryId, epsilonMicro: chargeOf(res.json) })
      }
    }
    // Four clients per node, each one request at a time.
    const loops = Array.from({ length: NODES * 4 }, (_, c) => loop(c % NODES))
    // Kill once answers are flowing, at a moment after that.
    for (let waited = 0; delivered.length < 20 && waited < 30_000; waited += 20) await sleep(20)
    await sleep(Math.floor(Math.random() * 400))
    const victim = nodes[VICTIM]!
    const exited = new Promise((resolve) => victim.child.once('exit', resolve))
    victim.child.kill('SIGKILL')
    killedAt = Date.now()
    await exited
    nodes[VICTIM] = null
    const deliveredBeforeKill = delivered.length
    const survivors = Array.from({ length: NODES }, (_, n) => n).filter((n) => n !== VICTIM)
    // The two others carry on: for two seconds at least, and until each has answered queries sent after the kill (at most 30 s).
    const answeredSinceKill = (n: number) =>
      outcomes.filter((o) => o.node === n && o.sentAt > killedAt && o.status === 200).length
    for (
      let waited = 0;
      (waited < 2_000 || survivors.some((n) => answeredSinceKill(n) < 3)) && waited < 30_000 && attempts < MAX_ATTEMPTS;
      waited += 50
    )
      await sleep(50)
    stop = true
    await Promise.all(loops)

    t.ok(
      deliveredBeforeKill > 0,
      `${deliveredBeforeKill} answers delivered before the kill, ${delivered.length} in all (${attempts} attempts)`,
    )
    const afterKill = outcomes.filter((o) => o.sentAt > killedAt && o.status === 200)
    for (const n of survivors)
      t.ok(
        afterKill.some((o) => o.node === n),
        `node ${n + 1} answered queries sent after the kill`,
      )
    const survivorProblems = outcomes.filter((o) => o.node !== VICTIM && o.status !== 200)
    t.same(
      survivorProblems.map((o) => `${o.status} ${String(o.json.code)}`),
      [],
      'every query to a surviving node was answered',
    )
    t.same(
      survivors.map((n) => failures[n]),
      survivors.map(() => 0),
      'no connection to a surviving node failed',
    )
    t.comment(`connections lost to the killed node: ${failures[VICTIM]}`)

    // Everything delivered is stored and charged, as the surviving nodes see it.
    const missing: string[] = []
    for (let i = 0; i < delivered.length; i += 8) {
      await Promise.all(
        delivered.slice(i, i + 8).map(async (d, j) => {
          const res = await api(survivors[(i + j) % survivors.length]!, analyst, 'GET', `/v1/queries/${d.queryId}`)
          if (res.status !== 200 || res.json.queryId !== d.queryId) missing.push(`${d.queryId}: ${res.status}`)
        }),
      )
    }
    t.same(missing, [], `all ${delivered.length} delivered answers are stored`)
    const releases = await auditRecords(survivors[0]!, grant2, ['query.release'])
    const deadlines = await auditRecords(survivors[0]!, grant2, ['query.deadline'])
    const releaseOf = new Map(
      releases.map((r) => [
        (r.detail as { queryId?: string } | null)?.queryId,
        micro((r.charged as { epsilon: string }).epsilon),
      ]),
    )
    const unrecorded = delivered.filter((d) => releaseOf.get(d.queryId) !== d.epsilonMicro)
    t.same(
      unrecorded.map((d) => d.queryId),
      [],
      'every delivered answer has its release record, with the charge it reported',
    )
    const spent = await spentMicro(survivors[1]!, grant2)
    const deliveredSum = delivered.reduce((s, d) => s + d.epsilonMicro, 0)
    t.ok(spent >= deliveredSum, `spent ${spent / MICRO} >= delivered ${deliveredSum / MICRO}`)
    t.equal(deadlines.length, 0, 'no query hit its deadline (so every charge is a release)')
    t.equal(
      spent,
      chargedMicro(releases) + chargedMicro(deadlines),
      `spent equals the charges of the chain's ${releases.length} release records`,
    )
    t.comment(
      `charged but never delivered (lost with the killed node): ${(spent - deliveredSum) / MICRO} epsilon, ${releases.length - delivered.length} releases`,
    )
    const check = await verifyVia(survivors[0]!)
    t.ok(check.ok, `GET /v1/audit/verify after the kill: ok (${check.problem ?? `${check.records} records`})`)
    t.ok(check.ledgers.ok, 'every ledger and stored answer agrees with the chain')

    for (const n of survivors) {
      const res = await api(n, analyst, 'POST', '/v1/queries', {
        sql: `SELECT COUNT(*) FROM ${DATASET} WHERE household_size >= ${n + 2}`,
        grant: grant2,
        epsilon: EPSILON,
      })
      t.equal(res.status, 200, `node ${n + 1} still answers a fresh query`)
    }

    // The killed node comes back on its own data directory and port.
    await startNode(VICTIM)
    const back = await api(VICTIM, analyst, 'POST', '/v1/queries', {
      sql: `SELECT COUNT(*), AVG(age) FROM ${DATASET} WHERE insured = TRUE`,
      grant: grant2,
      epsilon: EPSILON,
    })
    t.equal(back.status, 200, `the restarted node answers: ${back.status === 200 ? 'ok' : JSON.stringify(back.json)}`)
    const reread = delivered.find((d) => d.node === VICTIM)
    if (reread !== undefined)
      t.equal(
        (await api(VICTIM, analyst, 'GET', `/v1/queries/${reread.queryId}`)).status,
        200,
        'and reads back an answer it delivered before it was killed',
      )
    const again = await verifyVia(VICTIM)
    t.ok(again.ok, `and its GET /v1/audit/verify is ok (${again.problem ?? `${again.records} records`})`)

    // The same check offline, on the database, with the shared secret to find the public key.
    const offline = await runCli(['audit', 'verify', '--database-url', url], cliEnv)
    t.equal(offline.code, 0, `veilbox audit verify --database-url: ${offline.stdout}${offline.stderr}`)
    t.comment(
      `burst: ${attempts} attempts, ${delivered.length} delivered (${deliveredBeforeKill} before the kill, ${afterKill.length} sent after it), releases in the chain ${releases.length}, spent ${spent / MICRO}; ${Date.now() - started} ms since the start`,
    )
  })
})
