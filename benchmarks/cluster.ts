/**
 * Cluster benchmark: fresh releases and cached re-reads through 1, 2 and 3
 * server processes on one PostgreSQL database, and through one server on
 * SQLite, in the same run, with what limits the scaling measured beside them.
 *
 *   npm run bench:cluster
 *   npm run bench:cluster -- --smoke                 # a tiny profile, a few seconds per configuration
 *   NODES=1,3 DURATION=10 WARMUP=3 CONNECTIONS=12 ROWS=100000 npm run bench:cluster
 *   SQLITE=0 npm run bench:cluster                   # PostgreSQL only
 *
 * PostgreSQL is a throwaway cluster of the benchmark's own
 * (test/helpers/pg.ts: initdb into a temporary directory, a unix socket, no
 * TCP), restarted with fsync=on (the test harness runs it with fsync=off) so
 * that its commits reach the disk as SQLite's do; FSYNC=0 keeps it off. Each
 * configuration gets a fresh database (or data directory), the demo schema
 * with ROWS rows, a budget and a grant far beyond what the run can spend.
 *
 * Three phases per configuration, each WARMUP s unmeasured then DURATION s:
 * fresh, each request a different query (the same SQL at a different
 * epsilon, as in benchmarks/http.ts, so every one is planned, computed,
 * noised, charged, audited, signed and stored), all in one grant; fresh
 * spread, the same rotating over GRANTS grants (the grant rows no longer
 * collide; the dataset's budget row and the chain head still do); cached,
 * the same query again (the stored answer; each re-read is still
 * authenticated and audited). autocannon drives CONNECTIONS connections
 * spread round-robin over the nodes (connection i goes to node i mod N).
 *
 * Variables (full / --smoke): DURATION (10 / 1), WARMUP (3 / 0), CONNECTIONS
 * (12 / 6), ROWS (100000 / 5000), GRANTS (12 / 6), NODES (1,2,3 / 1,3;
 * empty: SQLite only), SAMPLE_MS (50), SQLITE (1; 0 skips it), FSYNC (1),
 * FROM (dist; src runs the sources through tsx), STRICT (1 in the smoke
 * profile: exit 1 on any error, timeout, non-2xx, wrong answer or broken
 * chain). The smoke profile takes about 35 s, most of it starting nodes.
 *
 * What limits scaling, measured during each PostgreSQL run: CPU time of the
 * nodes, of PostgreSQL (the postmaster and its children) and of the load
 * generator against the machine's capacity; pg_stat_activity sampled every
 * SAMPLE_MS (backends on CPU, waiting on heavyweight locks by kind, on
 * LWLocks, on I/O, idle inside a transaction; the statements that wait on a
 * lock and the state of the backends blocking them, from pg_blocking_pids);
 * ungranted pg_locks by type and mode; write transactions counted by
 * PostgreSQL's transaction ids; and, by Little's law, the mean time a write
 * transaction is open and the mean time spent waiting on locks per write
 * transaction. Writes benchmarks/results/cluster.json.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import autocannon from 'autocannon'
import pg from 'pg'
import { demoCsv, DEMO_SPEC } from '../src/demo/binzhou.js'
import { startPostgres, type PgCluster } from '../test/helpers/pg.js'
import { restartWithFsync } from './pg-reference.js'
import {
  api,
  envInt,
  machine,
  processCpuSeconds,
  ROOT,
  startServerProcess,
  stealPercent,
  systemCpu,
  table,
  writeResult,
  type ServerProcess,
} from './lib.js'

const SMOKE = process.argv.includes('--smoke') || process.env.SMOKE === '1'
/** The full profile's value, or the smoke profile's; an explicit variable wins over both. */
const setting = (name: string, full: number, smoke: number, min = 1) => envInt(name, SMOKE ? smoke : full, min)
const DURATION = setting('DURATION', 10, 1)
const WARMUP = setting('WARMUP', 3, 0, 0)
const CONNECTIONS = setting('CONNECTIONS', 12, 6)
const ROWS = setting('ROWS', 100_000, 5_000)
const SAMPLE_MS = setting('SAMPLE_MS', 50, 50, 5)
/** Grants the spread fresh phase rotates over (one analyst, one dataset): every release still shares the dataset's budget row and the chain's head. */
const GRANTS = setting('GRANTS', 12, 6)
const NODE_COUNTS = (process.env.NODES ?? (SMOKE ? '1,3' : '1,2,3'))
  .split(',')
  .filter((s) => s.trim() !== '')
  .map((s) => {
    const n = Number(s.trim())
    if (!Number.isInteger(n) || n < 1 || n > 16)
      throw new Error(
        `NODES takes a comma list of node counts from 1 to 16 (empty: SQLite only), got ${process.env.NODES}`,
      )
    return n
  })
const SQLITE = process.env.SQLITE !== '0'
const FSYNC = process.env.FSYNC !== '0'
/** Exit non-zero on any error, timeout, unexpected status or broken chain (the CI smoke run). */
const STRICT = process.env.STRICT === '1' || (SMOKE && process.env.STRICT !== '0')
const FROM: 'src' | 'dist' = process.env.FROM === 'src' ? 'src' : 'dist'

const DATASET = DEMO_SPEC.id
const GROUPED = `SELECT district, COUNT(*), SUM(income), AVG(income) FROM ${DATASET} GROUP BY district`

function say(msg: string): void {
  process.stderr.write(`${msg}\n`)
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const round = (x: number, digits = 1) => Number(x.toFixed(digits))
function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return 0
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}

// ---------------------------------------------------------------- setup

/** `veilbox <args>` from the build (or the sources with FROM=src); its stdout. */
function cli(args: readonly string[], env: Record<string, string>): Promise<string> {
  const entry =
    FROM === 'dist'
      ? [path.join(ROOT, 'bin', 'veilbox.js')]
      : ['--import', 'tsx', path.join(ROOT, 'test', 'helpers', 'cli-entry.ts')]
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [...entry, ...args], { env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      if (err) reject(new Error(`veilbox ${args.join(' ')} failed: ${stderr || stdout || err.message}`))
      else resolve(stdout)
    })
  })
}

async function pgSettings(cluster: PgCluster): Promise<Record<string, string>> {
  const c = new pg.Client({ connectionString: cluster.url('postgres') })
  await c.connect()
  try {
    const names = [
      'server_version',
      'fsync',
      'synchronous_commit',
      'full_page_writes',
      'wal_sync_method',
      'shared_buffers',
      'max_connections',
    ]
    const rows = (
      await c.query<{ name: string; setting: string; unit: string | null }>(
        'SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1)',
        [names],
      )
    ).rows
    return Object.fromEntries(rows.map((r) => [r.name, r.unit ? `${r.setting} ${r.unit}` : r.setting]))
  } finally {
    await c.end()
  }
}

/** The file system a directory lives on (type and device), from /proc/self/mountinfo; null off Linux. */
function fileSystemOf(dir: string): string | null {
  try {
    const real = fs.realpathSync(dir)
    let best: { mount: string; type: string; source: string } | null = null
    for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const [left, right] = line.split(' - ')
      if (!left || !right) continue
      const mount = left.split(' ')[4]!
      const [type, source] = right.split(' ')
      if (
        (real === mount || real.startsWith(mount === '/' ? '/' : `${mount}/`)) &&
        (best === null || mount.length > best.mount.length)
      )
        best = { mount, type: type!, source: source! }
    }
    return best === null ? null : `${best.type} (${best.source} on ${best.mount})`
  } catch {
    return null
  }
}

// ---------------------------------------------------------------- CPU of PostgreSQL

/** The postmaster's pid and every process whose parent it is (backends, WAL writer, checkpointer, ...). */
function postgresPids(cluster: PgCluster): number[] {
  try {
    const postmaster = Number(
      fs.readFileSync(path.join(cluster.dir, 'data', 'postmaster.pid'), 'utf8').split('\n', 1)[0],
    )
    const pids = [postmaster]
    for (const entry of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue
      try {
        const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8')
        if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === postmaster) pids.push(Number(entry))
      } catch {
        // gone
      }
    }
    return pids
  } catch {
    return []
  }
}

/** CPU seconds so far per pid (a process that exits in between is left out on both sides). */
function cpuOf(pids: readonly number[]): Map<number, number> {
  const m = new Map<number, number>()
  for (const pid of pids) {
    const s = processCpuSeconds(pid)
    if (s !== null) m.set(pid, s)
  }
  return m
}

function cpuDelta(before: Map<number, number>, after: Map<number, number>): number {
  let sum = 0
  for (const [pid, s] of after) sum += s - (before.get(pid) ?? 0)
  return sum
}

/** The machine's CPU ticks so far, all cores, and the idle ones among them (idle and iowait), from /proc/stat; null off Linux. */
function machineTimes(): { total: number; idle: number } | null {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1, 9).map(Number)
    if (f.length < 8 || f.some((v) => !Number.isFinite(v))) return null
    return { total: f.reduce((a, b) => a + b, 0), idle: f[3]! + f[4]! }
  } catch {
    return null
  }
}

// ---------------------------------------------------------------- PostgreSQL sampler

/** A statement short enough for a table, keeping its start and its end (where FROM ... FOR UPDATE is). */
function abbreviate(statement: string): string {
  return statement.length <= 160 ? statement : `${statement.slice(0, 60)} ... ${statement.slice(-90)}`
}

interface ActivityRow {
  pid: number
  state: string | null
  wait_event_type: string | null
  wait_event: string | null
  writing: boolean
  xact_ms: number | null
  query: string
  blockers: number[]
}

export interface PgProfile {
  readonly samples: number
  readonly sampleMs: number
  /** Mean over the samples of the nodes' backends: connected, in a transaction, holding a transaction id (writing). */
  readonly meanBackends: {
    connected: number
    inTransaction: number
    writing: number
    onCpu: number
    idleInTransaction: number
  }
  /** Mean backends per wait, "Lock:advisory", "LWLock:WALWrite", "IO:WALSync", ... (state active only; idle backends wait for their client). */
  readonly meanWaiting: Record<string, number>
  /** Share of the samples in which at least one backend waited on a heavyweight lock: a lower bound on how busy the most contended lock was. */
  readonly lockBusyShare: number
  /** The statements seen waiting on a heavyweight lock, with the share of lock waits each had (top 5). */
  readonly lockWaitStatements: { statement: string; share: number }[]
  /** The state of the backends blocking lock waiters ("idle in transaction": the lock holder's node was busy between statements). */
  readonly blockerStates: Record<string, number>
  /** Mean ungranted pg_locks per sample, by "locktype mode". */
  readonly meanUngrantedLocks: Record<string, number>
  /** How long transactions had been open when sampled (biased to long ones), ms. */
  readonly openTransactionAgeMs: { p50: number; p90: number; max: number }
  /** Write transactions (transaction ids assigned) per second. */
  readonly writeTransactionsPerSec: number
  /** Little's law: mean backends holding a transaction id / write transactions per second (from the first write to the end). */
  readonly meanWriteTransactionMs: number
  /**
   * Little's law: mean backends inside a transaction / write transactions per second: from BEGIN to the end, the lock waits
   * before the first write included (the few short read-only transactions are counted in, so it errs long).
   */
  readonly meanTransactionMs: number
  /** Little's law: mean backends waiting on heavyweight locks / write transactions per second. */
  readonly meanLockWaitPerWriteTransactionMs: number
}

class PgSampler {
  private readonly client: pg.Client
  private active = false
  private running: Promise<void> | null = null
  private rows: ActivityRow[][] = []
  private locks: Record<string, number>[] = []
  private xid0 = 0n
  private started = 0

  constructor(
    cluster: PgCluster,
    private readonly database: string,
  ) {
    // On the maintenance database: its own queries never count in the benchmark database's statistics.
    this.client = new pg.Client({ connectionString: cluster.url('postgres') })
  }

  async connect(): Promise<void> {
    await this.client.connect()
  }

  private async nextXid(): Promise<bigint> {
    // The snapshot's xmax is the next transaction id to be assigned; reading it assigns none.
    const r = await this.client.query<{ x: string }>('SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS x')
    return BigInt(r.rows[0]!.x)
  }

  async start(): Promise<void> {
    this.rows = []
    this.locks = []
    this.xid0 = await this.nextXid()
    this.started = performance.now()
    const tick = async () => {
      const activity = await this.client.query<ActivityRow>(
        `SELECT pid, state, wait_event_type, wait_event, backend_xid IS NOT NULL AS writing,
                extract(epoch FROM clock_timestamp() - xact_start)::float8 * 1000 AS xact_ms,
                regexp_replace(left(query, 2000), '\\s+', ' ', 'g') AS query, pg_blocking_pids(pid) AS blockers
           FROM pg_stat_activity
          WHERE datname = $1 AND backend_type = 'client backend' AND pid <> pg_backend_pid()`,
        [this.database],
      )
      const locks = await this.client.query<{ k: string; n: number }>(
        "SELECT locktype || ' ' || mode AS k, count(*)::int AS n FROM pg_locks WHERE NOT granted GROUP BY 1",
      )
      this.rows.push(activity.rows)
      this.locks.push(Object.fromEntries(locks.rows.map((r) => [r.k, r.n])))
    }
    const loop = async () => {
      while (this.active) {
        const t0 = performance.now()
        await tick()
        await sleep(Math.max(0, SAMPLE_MS - (performance.now() - t0)))
      }
    }
    this.active = true
    this.running = loop()
  }

  async stop(): Promise<PgProfile> {
    const seconds = (performance.now() - this.started) / 1000
    const xid1 = await this.nextXid()
    this.active = false
    await this.running
    const samples = this.rows
    const n = Math.max(1, samples.length)
    const count = (f: (r: ActivityRow) => boolean) => samples.reduce((s, rows) => s + rows.filter(f).length, 0) / n
    const waits: Record<string, number> = {}
    const statements = new Map<string, number>()
    const blockerStates: Record<string, number> = {}
    let lockWaits = 0
    let busy = 0
    const ages: number[] = []
    for (const rows of samples) {
      const byPid = new Map(rows.map((r) => [r.pid, r]))
      let lockWaiting = false
      for (const r of rows) {
        if (r.xact_ms !== null) ages.push(r.xact_ms)
        if (r.state !== 'active' || r.wait_event_type === null) continue
        const key = `${r.wait_event_type}:${r.wait_event}`
        waits[key] = (waits[key] ?? 0) + 1 / n
        if (r.wait_event_type !== 'Lock') continue
        lockWaiting = true
        lockWaits += 1
        const statement = abbreviate(r.query.replace(/\b\d+(\.\d+)?\b/g, 'N'))
        statements.set(statement, (statements.get(statement) ?? 0) + 1)
        for (const b of r.blockers) {
          const state = byPid.get(b)?.state ?? 'not in this database'
          blockerStates[state] = (blockerStates[state] ?? 0) + 1
        }
      }
      if (lockWaiting) busy += 1
    }
    const ungranted: Record<string, number> = {}
    for (const l of this.locks) for (const [k, v] of Object.entries(l)) ungranted[k] = (ungranted[k] ?? 0) + v / n
    const writeTps = Number(xid1 - this.xid0) / seconds
    const writing = count((r) => r.writing)
    const lockWaiting = count((r) => r.state === 'active' && r.wait_event_type === 'Lock')
    return {
      samples: samples.length,
      sampleMs: SAMPLE_MS,
      meanBackends: {
        connected: round(
          count(() => true),
          2,
        ),
        inTransaction: round(
          count((r) => r.xact_ms !== null),
          2,
        ),
        writing: round(writing, 2),
        onCpu: round(
          count((r) => r.state === 'active' && r.wait_event_type === null),
          2,
        ),
        idleInTransaction: round(
          count((r) => r.state === 'idle in transaction'),
          2,
        ),
      },
      meanWaiting: Object.fromEntries(
        Object.entries(waits)
          .sort((a, b) => b[1] - a[1])
          .map(([k, v]) => [k, round(v, 3)]),
      ),
      lockBusyShare: round(busy / n, 3),
      lockWaitStatements: [...statements]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 5)
        .map(([statement, c]) => ({ statement, share: round(c / Math.max(1, lockWaits), 3) })),
      blockerStates,
      meanUngrantedLocks: Object.fromEntries(Object.entries(ungranted).map(([k, v]) => [k, round(v, 3)])),
      openTransactionAgeMs: {
        p50: round(quantile(ages, 0.5), 2),
        p90: round(quantile(ages, 0.9), 2),
        max: round(quantile(ages, 1), 2),
      },
      writeTransactionsPerSec: round(writeTps, 1),
      meanWriteTransactionMs: writeTps > 0 ? round((1000 * writing) / writeTps, 3) : 0,
      meanTransactionMs: writeTps > 0 ? round((1000 * count((r) => r.xact_ms !== null)) / writeTps, 3) : 0,
      meanLockWaitPerWriteTransactionMs: writeTps > 0 ? round((1000 * lockWaiting) / writeTps, 3) : 0,
    }
  }

  async close(): Promise<void> {
    await this.client.end()
  }
}

// ---------------------------------------------------------------- load

export interface Phase {
  readonly requestsPerSec: number
  readonly p50Ms: number
  readonly p90Ms: number
  readonly p99Ms: number
  readonly maxMs: number
  readonly requests: number
  readonly errors: number
  readonly timeouts: number
  readonly non2xx: number
  readonly statuses: Record<string, number>
  /** Answers that were not what the phase asks for: a stored answer in the fresh phase, a fresh one in the cached phase. */
  readonly unexpectedAnswers: number
  readonly warmupProblems: number
  /**
   * CPU seconds per second of the run (1.0 = one core busy): the nodes together, PostgreSQL (all its processes), this process (autocannon),
   * and everything else the machine ran meanwhile (its busy time less those three: the kernel's own work, and whatever else shares the machine).
   */
  readonly cpuCores: {
    nodes: number
    postgres: number | null
    loadGenerator: number
    others: number | null
    machine: number
  }
  /** CPU time per answer, microseconds. */
  readonly cpuUsPerRequest: { nodes: number; postgres: number | null; loadGenerator: number }
  /** The share of the machine's CPU time busy (all processes), percent, and the share the hypervisor took (steal). */
  readonly machineBusyPercent: number | null
  readonly hostStealPercent: number | null
  readonly postgres: PgPhaseProfile | null
}

export interface PgPhaseProfile extends PgProfile {
  /** Write transactions per answer: 1 means every answer, fresh or re-read, was a write transaction of its own. */
  readonly writeTransactionsPerAnswer: number
  /**
   * When a lock had waiters in (nearly) every sample (lockBusyShare >= 0.9), the write transactions went through it one at a
   * time, each holding it for about 1 / their rate: that time, ms; null when the lock was not the queue.
   */
  readonly serializedMsPerWriteTransaction: number | null
}

interface Load {
  readonly urls: readonly string[]
  readonly key: string
  readonly body: () => string
  /** A marker every answer of the phase must hold ('"cached":false' or '"cached":true'). */
  readonly expect: string
}

function drive(
  load: Load,
  seconds: number,
): Promise<{ result: autocannon.Result; statuses: Map<number, number>; unexpected: number }> {
  const statuses = new Map<number, number>()
  let unexpected = 0
  return new Promise((resolve, reject) => {
    autocannon(
      {
        // More than one URL: connection i goes to URL i mod N (autocannon's own round-robin).
        url: load.urls as unknown as string,
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${load.key}` },
        connections: CONNECTIONS,
        duration: seconds,
        timeout: 30,
        requests: [
          {
            setupRequest: (req: autocannon.Request) => ({ ...req, body: load.body() }),
            onResponse: (status: number, body: string) => {
              statuses.set(status, (statuses.get(status) ?? 0) + 1)
              if (status === 200 && !body.includes(load.expect)) unexpected += 1
            },
          } as autocannon.Request,
        ],
      },
      (err, result) => (err ? reject(err) : resolve({ result, statuses, unexpected })),
    )
  })
}

async function phase(
  load: Load,
  nodes: readonly ServerProcess[],
  cluster: PgCluster | null,
  sampler: PgSampler | null,
): Promise<Phase> {
  let warmupProblems = 0
  if (WARMUP > 0) {
    const warm = await drive(load, WARMUP)
    warmupProblems = warm.result.errors + warm.result.timeouts + warm.result.non2xx + warm.unexpected
  }
  const pgPids = cluster === null ? [] : postgresPids(cluster)
  const nodes0 = cpuOf(nodes.map((n) => n.child.pid!))
  const pg0 = cpuOf(pgPids)
  const client0 = process.cpuUsage()
  const system0 = systemCpu()
  const busy0 = machineTimes()
  await sampler?.start()
  const t0 = performance.now()
  const { result, statuses, unexpected } = await drive(load, DURATION)
  const seconds = (performance.now() - t0) / 1000
  const profile = sampler === null ? null : await sampler.stop()
  const system1 = systemCpu()
  const busy1 = machineTimes()
  const clientUsage = process.cpuUsage(client0)
  const nodesCpu = cpuDelta(nodes0, cpuOf(nodes.map((n) => n.child.pid!)))
  const pgCpu = cluster === null ? null : cpuDelta(pg0, cpuOf(pgPids))
  const clientCpu = (clientUsage.user + clientUsage.system) / 1e6
  const cores = os.availableParallelism()
  const machineBusy =
    busy0 === null || busy1 === null || busy1.total <= busy0.total
      ? null
      : round((100 * (busy1.total - busy0.total - (busy1.idle - busy0.idle))) / (busy1.total - busy0.total))
  const served = Math.max(1, result.requests.total)
  const latency = result.latency as unknown as Record<string, number>
  return {
    requestsPerSec: Math.round(result.requests.total / seconds),
    p50Ms: latency.p50 ?? 0,
    p90Ms: latency.p90 ?? 0,
    p99Ms: latency.p99 ?? 0,
    maxMs: latency.max ?? 0,
    requests: result.requests.total,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    statuses: Object.fromEntries([...statuses].map(([k, v]) => [String(k), v])),
    unexpectedAnswers: unexpected,
    warmupProblems,
    cpuCores: {
      nodes: round(nodesCpu / seconds, 2),
      postgres: pgCpu === null ? null : round(pgCpu / seconds, 2),
      loadGenerator: round(clientCpu / seconds, 2),
      others:
        machineBusy === null
          ? null
          : round(Math.max(0, (machineBusy / 100) * cores - (nodesCpu + (pgCpu ?? 0) + clientCpu) / seconds), 2),
      machine: cores,
    },
    cpuUsPerRequest: {
      nodes: Math.round((nodesCpu * 1e6) / served),
      postgres: pgCpu === null ? null : Math.round((pgCpu * 1e6) / served),
      loadGenerator: Math.round((clientCpu * 1e6) / served),
    },
    machineBusyPercent: machineBusy,
    hostStealPercent: stealPercent(system0, system1),
    postgres:
      profile === null
        ? null
        : {
            ...profile,
            writeTransactionsPerAnswer: round(
              profile.writeTransactionsPerSec / Math.max(1e-9, result.requests.total / seconds),
              2,
            ),
            serializedMsPerWriteTransaction:
              profile.lockBusyShare >= 0.9 && profile.writeTransactionsPerSec > 0
                ? round(1000 / profile.writeTransactionsPerSec, 2)
                : null,
          },
  }
}

// ---------------------------------------------------------------- one configuration

const PHASES = ['fresh', 'freshSpread', 'cached'] as const

export interface ConfigResult {
  readonly name: string
  readonly store: 'sqlite' | 'postgresql'
  readonly nodes: number
  /** Connections per node (connection i goes to node i mod N). */
  readonly connectionsPerNode: number[]
  readonly startSeconds: number
  /** Fresh queries, all in one grant: every release locks the same grant row. */
  readonly fresh: Phase
  /** Fresh queries rotating over GRANTS grants: the grant rows no longer collide; the dataset's budget row and the chain head still do. */
  readonly freshSpread: Phase
  readonly cached: Phase
  /** GET /v1/audit/verify through node 1 after the load: the chain every node appended to. */
  readonly audit: {
    readonly ok: boolean
    readonly records: number
    readonly seconds: number
    readonly problem?: string
  }
}

async function runConfig(
  store: 'sqlite' | 'postgresql',
  n: number,
  cluster: PgCluster | null,
  root: string,
): Promise<ConfigResult> {
  const name = store === 'sqlite' ? 'SQLite, 1 node' : `PostgreSQL, ${n} node${n === 1 ? '' : 's'}`
  say(`\n${name}: starting...`)
  const dir = fs.mkdtempSync(path.join(root, `${store}-${n}-`))
  const running: ServerProcess[] = []
  let sampler: PgSampler | null = null
  try {
    let url: string | undefined
    let operator: string | undefined
    const env: Record<string, string> = {}
    if (store === 'postgresql') {
      url = await cluster!.createDatabase('bench')
      // The secret that seals the signing key in the database: one file for every node (and the CLI).
      const secretFile = path.join(dir, 'secret')
      fs.writeFileSync(secretFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 })
      env.VEILBOX_SECRET_FILE = secretFile
      const out = await cli(
        ['keys', 'create', '--role', 'operator', '--name', 'bench-operator', '--database-url', url, '--json'],
        { ...env, VEILBOX_DATA_DIR: path.join(dir, 'cli') },
      )
      operator = (JSON.parse(out) as { key: string }).key
    }
    const t0 = performance.now()
    // Every node at once, as a cluster starts: the first one migrates the database.
    const starts = await Promise.allSettled(
      Array.from({ length: n }, async (_, i) => {
        const s = await startServerProcess({
          from: FROM,
          dataDir: path.join(dir, `node${i + 1}`),
          ...(url === undefined ? {} : { databaseUrl: url }),
          env: { ...env, VEILBOX_CUSTODIAN_DIR: path.join(dir, `node${i + 1}-custodian`) },
        })
        running.push(s)
        return s
      }),
    )
    const failed = starts.find((s): s is PromiseRejectedResult => s.status === 'rejected')
    if (failed) throw failed.reason
    const nodes = starts.map((s) => (s as PromiseFulfilledResult<ServerProcess>).value)
    const startSeconds = round((performance.now() - t0) / 1000, 2)
    operator ??= (
      JSON.parse(fs.readFileSync(path.join(nodes[0]!.dataDir, 'operator-key.json'), 'utf8')) as { operator: string }
    ).operator
    const base = nodes[0]!.url

    say(`${name}: loading ${ROWS.toLocaleString('en-US')} rows...`)
    await api(base, operator, 'POST', '/v1/datasets', DEMO_SPEC)
    await api(
      base,
      operator,
      'POST',
      `/v1/datasets/${DATASET}/versions`,
      Readable.toWeb(demoCsv(ROWS, 99)) as unknown as ReadableStream,
      'text/csv',
    )
    // Budgets far beyond what the run can spend: refusals are not what is measured.
    await api(base, operator, 'PUT', `/v1/datasets/${DATASET}/budget`, { epsilon: 1_000_000, delta: 0.001 })
    const analyst = (
      await api<{ key: string }>(base, operator, 'POST', '/v1/keys', { name: 'bench-analyst', role: 'analyst' })
    ).key
    const expiresAt = new Date(Date.now() + 86_400_000).toISOString()
    const newGrant = async (purpose: string) =>
      (
        await api<{ id: string }>(base, operator, 'POST', '/v1/grants', {
          analyst: 'bench-analyst',
          dataset: DATASET,
          purpose,
          epsilon: 1_000_000,
          delta: 1e-6,
          expiresAt,
        })
      ).id
    const grant = await newGrant('benchmark: cluster')
    const spread: string[] = []
    for (let g = 0; g < GRANTS; g++) spread.push(await newGrant(`benchmark: cluster, grant ${g + 1} of ${GRANTS}`))

    let fresh = 0
    const freshBody = () => JSON.stringify({ sql: GROUPED, grant, epsilon: (1000 + fresh++) / 1e6 })
    let spreadN = 0
    const spreadBody = () => {
      const i = spreadN++
      return JSON.stringify({ sql: GROUPED, grant: spread[i % GRANTS], epsilon: (1000 + Math.floor(i / GRANTS)) / 1e6 })
    }
    const cachedBody = JSON.stringify({ sql: GROUPED, grant, epsilon: 0.5 })
    // Each node loads the version into its column cache on its first query: not what is timed.
    for (const node of nodes) await api(node.url, analyst, 'POST', '/v1/queries', JSON.parse(freshBody()))
    await api(base, analyst, 'POST', '/v1/queries', JSON.parse(cachedBody))

    if (store === 'postgresql') {
      sampler = new PgSampler(cluster!, url!.replace(/\?.*$/, '').split('/').pop()!)
      await sampler.connect()
    }
    const urls = nodes.map((s) => `${s.url}/v1/queries`)
    say(`${name}: fresh queries, ${WARMUP} s warm-up + ${DURATION} s over ${CONNECTIONS} connections...`)
    const freshPhase = await phase(
      { urls, key: analyst, body: freshBody, expect: '"cached":false' },
      nodes,
      cluster,
      sampler,
    )
    say(`${name}: fresh queries over ${GRANTS} grants, ${WARMUP} s warm-up + ${DURATION} s...`)
    const spreadPhase = await phase(
      { urls, key: analyst, body: spreadBody, expect: '"cached":false' },
      nodes,
      cluster,
      sampler,
    )
    say(`${name}: cached re-reads, ${WARMUP} s warm-up + ${DURATION} s...`)
    const cachedPhase = await phase(
      { urls, key: analyst, body: () => cachedBody, expect: '"cached":true' },
      nodes,
      cluster,
      sampler,
    )

    say(`${name}: verifying the audit chain...`)
    const v0 = performance.now()
    const check = await api<{ ok: boolean; records: number; problem?: string }>(
      base,
      operator,
      'GET',
      '/v1/audit/verify',
    )
    const audit = {
      ok: check.ok,
      records: check.records,
      seconds: round((performance.now() - v0) / 1000, 2),
      ...(check.problem === undefined ? {} : { problem: check.problem }),
    }
    return {
      name,
      store,
      nodes: n,
      connectionsPerNode: nodes.map((_, i) => Math.floor(CONNECTIONS / n) + (i < CONNECTIONS % n ? 1 : 0)),
      startSeconds,
      fresh: freshPhase,
      freshSpread: spreadPhase,
      cached: cachedPhase,
      audit,
    }
  } finally {
    await sampler?.close()
    await Promise.all(running.map((s) => s.stop()))
  }
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  // Each configuration says where its state lives and which secret seals it; nothing is inherited.
  for (const k of ['VEILBOX_DATABASE_URL', 'VEILBOX_SECRET', 'VEILBOX_SECRET_FILE']) delete process.env[k]
  say(
    `veilbox cluster benchmark${SMOKE ? ' (smoke)' : ''}: ${SQLITE ? 'SQLite x1, ' : ''}PostgreSQL x${NODE_COUNTS.join(', x')}; ${WARMUP} s warm-up + ${DURATION} s per phase, ${CONNECTIONS} connections, ${ROWS.toLocaleString('en-US')} rows`,
  )
  const cleanups: (() => unknown)[] = []
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'veilbox-cluster-bench-'))
  cleanups.push(() => fs.rmSync(root, { recursive: true, force: true }))
  const results: ConfigResult[] = []
  let postgres: { settings: Record<string, string>; fileSystem: string | null } | null = null
  try {
    let cluster: PgCluster | null = null
    if (NODE_COUNTS.length > 0) {
      // test/helpers/pg.ts's throwaway cluster; its teardown stops and removes it.
      cluster = await startPostgres({ teardown: (fn) => void cleanups.push(fn) })
      if (FSYNC) restartWithFsync(cluster)
      postgres = { settings: await pgSettings(cluster), fileSystem: fileSystemOf(cluster.dir) }
      say(
        `PostgreSQL ${postgres.settings.server_version} in ${cluster.dir}: fsync=${postgres.settings.fsync}, synchronous_commit=${postgres.settings.synchronous_commit}`,
      )
    }
    if (SQLITE) results.push(await runConfig('sqlite', 1, null, root))
    for (const n of NODE_COUNTS) results.push(await runConfig('postgresql', n, cluster, root))
  } finally {
    for (const fn of cleanups.reverse()) {
      try {
        await fn()
      } catch (err) {
        say(`cleanup: ${(err as Error).message}`)
      }
    }
  }

  const sqlite = results.find((r) => r.store === 'sqlite') ?? null
  const pg1 = results.find((r) => r.store === 'postgresql' && r.nodes === 1) ?? null
  const ratio = (a: number, b: number | undefined) => (b === undefined || b === 0 ? null : round(a / b, 2))
  const scaling = results
    .filter((r) => r.store === 'postgresql')
    .map((r) => ({
      nodes: r.nodes,
      freshPerSec: r.fresh.requestsPerSec,
      freshVsOneNode: ratio(r.fresh.requestsPerSec, pg1?.fresh.requestsPerSec),
      freshSpreadPerSec: r.freshSpread.requestsPerSec,
      freshSpreadVsOneNode: ratio(r.freshSpread.requestsPerSec, pg1?.freshSpread.requestsPerSec),
      cachedPerSec: r.cached.requestsPerSec,
      cachedVsOneNode: ratio(r.cached.requestsPerSec, pg1?.cached.requestsPerSec),
      freshVsSqlite: ratio(r.fresh.requestsPerSec, sqlite?.fresh.requestsPerSec),
      cachedVsSqlite: ratio(r.cached.requestsPerSec, sqlite?.cached.requestsPerSec),
    }))
  const cores = os.availableParallelism()
  const settings = {
    profile: SMOKE ? 'smoke' : 'full',
    durationSec: DURATION,
    warmupSec: WARMUP,
    connections: CONNECTIONS,
    rows: ROWS,
    grantsInSpreadPhase: GRANTS,
    nodeCounts: NODE_COUNTS,
    sqlite: SQLITE,
    sampleMs: SAMPLE_MS,
    from: FROM,
    freshQuery: `${GROUPED} (epsilon 0.001 + n * 1e-6: a different query each time; one grant, or rotating over ${GRANTS} grants in freshSpread)`,
    cachedQuery: `${GROUPED} (epsilon 0.5, stored before the run)`,
  }
  const notes = [
    `Every process shares this machine's ${cores} cores: the nodes, PostgreSQL and the load generator (autocannon, in the benchmark process). cpuCores says how many cores each used; machineBusyPercent near 100 means the machine's CPU, not the database or a lock, was the limit, and more nodes on the same cores cannot add throughput.`,
    "postgres.meanTransactionMs, meanWriteTransactionMs and meanLockWaitPerWriteTransactionMs come from Little's law over pg_stat_activity samples (mean backends inside a transaction, holding a transaction id, or waiting on a heavyweight lock, divided by write transactions per second from PostgreSQL's transaction ids); lockBusyShare is the share of samples with a lock waiter; serializedMsPerWriteTransaction (1 / write transactions per second, given only when lockBusyShare >= 0.9) is how long each transaction held the contended lock if they passed it one at a time; lockWaitStatements names the lock.",
    `SQLite and PostgreSQL data live on ${fileSystemOf(os.tmpdir()) ?? 'the same file system'} (the temporary directory); PostgreSQL ran with fsync=${postgres?.settings.fsync ?? 'n/a'}.`,
  ]
  const out = writeResult('cluster', {
    benchmark: 'cluster',
    machine: machine(),
    settings,
    postgres,
    configs: results,
    scaling,
    notes,
  })

  process.stdout.write(
    `\n${table(
      results.map((r) => ({
        configuration: r.name,
        'fresh/s': r.fresh.requestsPerSec,
        'fresh p50 ms': r.fresh.p50Ms,
        'fresh p99 ms': r.fresh.p99Ms,
        [`fresh/s, ${GRANTS} grants`]: r.freshSpread.requestsPerSec,
        [`p99 ms, ${GRANTS} grants`]: r.freshSpread.p99Ms,
        'cached/s': r.cached.requestsPerSec,
        'cached p99 ms': r.cached.p99Ms,
        failed: PHASES.reduce((sum, k) => sum + r[k].errors + r[k].timeouts + r[k].non2xx, 0),
        chain: r.audit.ok ? `ok (${r.audit.records})` : `BROKEN: ${r.audit.problem ?? ''}`,
      })),
    )}\n`,
  )
  const limits = results.flatMap((r) =>
    PHASES.map((k) => {
      const p = r[k]
      const top = Object.entries(p.postgres?.meanWaiting ?? {})[0]
      return {
        configuration: `${r.name}: ${k}`,
        'nodes cores': p.cpuCores.nodes,
        'pg cores': p.cpuCores.postgres ?? '',
        'client cores': p.cpuCores.loadGenerator,
        'other cores': p.cpuCores.others ?? '',
        'busy %': p.machineBusyPercent ?? '',
        'steal %': p.hostStealPercent ?? '',
        'write tx/s': p.postgres?.writeTransactionsPerSec ?? '',
        'tx ms': p.postgres?.meanTransactionMs ?? '',
        'lock wait ms/tx': p.postgres?.meanLockWaitPerWriteTransactionMs ?? '',
        'lock busy %': p.postgres === null ? '' : round(100 * p.postgres.lockBusyShare),
        'ms/tx in line': p.postgres?.serializedMsPerWriteTransaction ?? '',
        'top wait': top === undefined ? '' : `${top[0]} (${top[1]})`,
      }
    }),
  )
  process.stdout.write(
    `\nwhere the time goes (cores = CPU seconds per second; ${cores} on this machine)\n${table(limits)}\n`,
  )
  say(`wrote ${out}`)
  const bad = results.flatMap((r) => [
    ...PHASES.filter(
      (k) => r[k].errors + r[k].timeouts + r[k].non2xx + r[k].unexpectedAnswers + r[k].warmupProblems > 0,
    ).map((k) => {
      const p = r[k]
      return `${r.name} ${k}: errors ${p.errors}, timeouts ${p.timeouts}, non-2xx ${p.non2xx} (${JSON.stringify(p.statuses)}), unexpected answers ${p.unexpectedAnswers}, during warm-up ${p.warmupProblems}`
    }),
    ...(r.audit.ok ? [] : [`${r.name}: the audit chain does not verify: ${r.audit.problem ?? ''}`]),
  ])
  if (bad.length > 0) {
    say(`problems: ${bad.join('; ')}`)
    if (STRICT) process.exitCode = 1
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await main()
}
