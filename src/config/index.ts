import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { z } from 'zod'
import { VeilboxError } from '../errors/index.js'
import { SWITCH_WORDS, switchValue } from './switch.js'

/**
 * The service's configuration, parsed once at start from the environment
 * through one schema. Nothing else in veilbox reads process.env.
 */
const intFrom = (min: number, max: number) =>
  z.string().regex(/^\d+$/, 'must be a whole number').transform(Number).pipe(z.number().int().min(min).max(max))

/** An on/off switch, read as switch.ts reads it (the kernel loader reads VEILBOX_NATIVE the same way). */
const onOff = z.string().transform((raw, ctx) => {
  const value = switchValue(raw)
  if (value === null) {
    ctx.addIssue({ code: 'custom', message: `must be one of ${SWITCH_WORDS}, got ${JSON.stringify(raw)}` })
    return z.NEVER
  }
  return value
})

const envSchema = z.object({
  VEILBOX_HOST: z.string().min(1).default('127.0.0.1'),
  VEILBOX_PORT: intFrom(0, 65535).default(8080),
  VEILBOX_DATA_DIR: z.string().min(1).default('./data'),
  /** postgres://... : all durable state in PostgreSQL, shared by every node given the same URL (docs/deploy.md). */
  VEILBOX_DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional(),
  /** Connections in this node's PostgreSQL pool. */
  VEILBOX_DATABASE_POOL: intFrom(1, 1000).default(10),
  /** A file holding the secret that seals the signing key kept in PostgreSQL; the same file on every node. */
  VEILBOX_SECRET_FILE: z.string().min(1).optional(),
  /** The same secret as text (prefer the file: the environment shows in more places). */
  VEILBOX_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  VEILBOX_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Requests with a missing or invalid key per minute per client address, before 429. */
  VEILBOX_AUTH_FAILURES_PER_MINUTE: intFrom(1, 10_000_000).default(60),
  /** How long a request body may stop arriving before the request is ended (408). */
  VEILBOX_BODY_IDLE_TIMEOUT_MS: intFrom(100, 3_600_000).default(30_000),
  /** Requests one principal may have in flight at once (429 past it). */
  VEILBOX_MAX_OPEN_REQUESTS: intFrom(1, 1_000_000).default(64),
  /** Requests per minute per principal (anonymous callers: per IP). */
  VEILBOX_RATE_LIMIT: intFrom(1, 10_000_000).default(6000),
  /** Longest line of an upload (a CSV record, an NDJSON row, a line of an encrypted upload), in MiB. */
  VEILBOX_INGEST_MAX_LINE_MB: intFrom(1, 1024).default(16),
  /** Longest field of an uploaded row, in KiB (characters / 1024). */
  VEILBOX_INGEST_MAX_FIELD_KB: intFrom(1, 1024 * 1024).default(64),
  /** Largest accepted dataset upload, in MiB. */
  VEILBOX_UPLOAD_MAX_MB: intFrom(1, 1_000_000).default(4096),
  VEILBOX_WORKERS: intFrom(1, 256).default(Math.max(1, os.availableParallelism())),
  VEILBOX_QUERY_TIMEOUT_MS: intFrom(100, 3_600_000).default(10_000),
  VEILBOX_QUEUE_MAX: intFrom(1, 1_000_000).default(64),
  VEILBOX_COLUMN_CACHE_MB: intFrom(1, 1_000_000).default(1024),
  /** Rows x columns one sandbox task may touch. */
  VEILBOX_TASK_MAX_CELLS: intFrom(1, Number.MAX_SAFE_INTEGER).default(8_000_000_000),
  /** JS heap cap of each sandbox worker, MiB. */
  VEILBOX_WORKER_HEAP_MB: intFrom(16, 65_536).default(256),
  /** Off: the TypeScript kernel, whatever is built (docs/native.md). */
  VEILBOX_NATIVE: onOff.default(true),
  /** The in-process custodian's key directory: never inside the data directory. */
  VEILBOX_CUSTODIAN_DIR: z.string().min(1).default('./custodian'),
  /** A separate `veilbox custodian` process; when set, the in-process custodian is not used. */
  VEILBOX_CUSTODIAN_URL: z.url({ protocol: /^https?$/ }).optional(),
  /** The bearer token shared with that process. */
  VEILBOX_CUSTODIAN_TOKEN: z.string().min(32, 'must be at least 32 characters').optional(),
  VEILBOX_CUSTODIAN_TIMEOUT_MS: intFrom(100, 600_000).default(30_000),
  /** How often the service signs the audit chain's head (and at start and close). */
  VEILBOX_AUDIT_SIGN_INTERVAL_MS: intFrom(1000, 86_400_000).default(60_000),
  /** Values (groups x aggregates) one answer may release. */
  VEILBOX_MAX_RELEASE_VALUES: intFrom(1, 10_000_000).default(100_000),
  /** Encrypted work units one query may do (src/engine/admission.ts). */
  VEILBOX_HE_MAX_WORK: intFrom(1, 100_000_000).default(1_000),
  /** Connections per PostgreSQL source (docs/sources.md). */
  VEILBOX_SOURCE_POOL: intFrom(1, 1000).default(4),
  /** A pushed-down statement is cancelled at the source past this. */
  VEILBOX_SOURCE_TIMEOUT_MS: intFrom(100, 3_600_000).default(30_000),
  /** A pushed-down query's work ends on a multiple of this from its start, whatever the source took (0: off). */
  VEILBOX_SOURCE_TIME_SLOT_MS: intFrom(0, 60_000).default(50),
  /** The only directory Parquet sources may read; unset: no Parquet sources. */
  VEILBOX_PARQUET_ROOT: z.string().min(1).optional(),
  /** DuckDB's memory limit for Parquet sources, in MiB (it spills past it). */
  VEILBOX_DUCKDB_MEMORY_MB: intFrom(64, 1_000_000).default(1024),
  /** Off: no /metrics at all (docs/operations.md). */
  VEILBOX_METRICS: onOff.default(true),
  /** Serve /metrics on this port instead of the service's (and only there). */
  VEILBOX_METRICS_PORT: intFrom(0, 65535).optional(),
  /** Where that port listens; default VEILBOX_HOST. */
  VEILBOX_METRICS_HOST: z.string().min(1).optional(),
  /** A bearer token a scraper may send instead of an operator key; compared in constant time. */
  VEILBOX_METRICS_TOKEN: z.string().min(32, 'must be at least 32 characters').optional(),
})

/** VEILBOX_SOURCE_<NAME>_URL names a PostgreSQL source connection <name> (lower case). */
const SOURCE_URL = /^VEILBOX_SOURCE_([A-Z][A-Z0-9_]{0,62})_URL$/

/** The source connections the environment names; their URLs are never logged or shown. */
function sourceConnections(env: NodeJS.ProcessEnv): { connections: Map<string, string>; problems: string[] } {
  const connections = new Map<string, string>()
  const problems: string[] = []
  for (const [key, value] of Object.entries(env)) {
    const m = SOURCE_URL.exec(key)
    if (m === null || value === undefined || value === '') continue
    if (!/^postgres(ql)?:\/\//.test(value)) problems.push(`${key}: must be a postgres:// URL`)
    else connections.set(m[1]!.toLowerCase(), value)
  }
  return { connections, problems }
}

export interface Config {
  readonly host: string
  readonly port: number
  readonly dataDir: string
  /** PostgreSQL's URL, or null for SQLite in the data directory. Never logged: it may carry a password. */
  readonly databaseUrl: string | null
  readonly databasePoolSize: number
  /** The sealing secret's file or text (PostgreSQL: required). */
  readonly secretFile: string | null
  readonly secret: string | null
  readonly logLevel: z.infer<typeof envSchema>['VEILBOX_LOG_LEVEL']
  readonly rateLimitPerMinute: number
  readonly authFailuresPerMinute: number
  readonly bodyIdleTimeoutMs: number
  readonly maxOpenRequests: number
  readonly uploadMaxBytes: number
  readonly ingestMaxLineBytes: number
  readonly ingestMaxFieldChars: number
  readonly workers: number
  readonly queryTimeoutMs: number
  readonly queueMax: number
  readonly columnCacheBytes: number
  readonly taskMaxCells: number
  readonly workerHeapMb: number
  readonly native: boolean
  readonly custodianDir: string
  readonly custodianUrl: string | null
  readonly custodianToken: string | null
  readonly custodianTimeoutMs: number
  readonly heMaxWork: number
  readonly maxReleaseValues: number
  readonly auditSignIntervalMs: number
  /** PostgreSQL source connections by name (VEILBOX_SOURCE_<NAME>_URL). Never logged: URLs carry passwords. */
  readonly sourceConnections: ReadonlyMap<string, string>
  readonly sourcePoolSize: number
  readonly sourceTimeoutMs: number
  readonly sourceTimeSlotMs: number
  /** The directory Parquet sources live under, or null: none. */
  readonly parquetRoot: string | null
  readonly duckdbMemoryMb: number
  /** Whether /metrics is served at all. */
  readonly metrics: boolean
  /** A port of its own for /metrics (then only there), or null: the service's port. */
  readonly metricsPort: number | null
  readonly metricsHost: string
  /** The scrape token (never logged), or null: operator keys only. */
  readonly metricsToken: string | null
  /** Create the demo dataset and keys on first start. */
  readonly demo: boolean
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const known = Object.fromEntries(Object.entries(env).filter(([k, v]) => k.startsWith('VEILBOX_') && v !== ''))
  const parsed = envSchema.safeParse(known)
  const sources = sourceConnections(env)
  if (!parsed.success || sources.problems.length > 0) {
    const problems = [
      ...(parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)),
      ...sources.problems,
    ]
    throw new VeilboxError('VEILBOX_ERR_CONFIG_INVALID', `invalid environment: ${problems.join('; ')}`, { problems })
  }
  const e = parsed.data!
  if (e.VEILBOX_CUSTODIAN_URL !== undefined && e.VEILBOX_CUSTODIAN_TOKEN === undefined) {
    const problem =
      'VEILBOX_CUSTODIAN_TOKEN: a remote custodian (VEILBOX_CUSTODIAN_URL) needs the token it was started with'
    throw new VeilboxError('VEILBOX_ERR_CONFIG_INVALID', `invalid environment: ${problem}`, { problems: [problem] })
  }
  if (
    e.VEILBOX_METRICS_PORT !== undefined &&
    e.VEILBOX_METRICS_PORT !== 0 &&
    e.VEILBOX_METRICS_PORT === e.VEILBOX_PORT
  ) {
    const problem =
      'VEILBOX_METRICS_PORT: must differ from VEILBOX_PORT (leave it unset to serve /metrics on the service port)'
    throw new VeilboxError('VEILBOX_ERR_CONFIG_INVALID', `invalid environment: ${problem}`, { problems: [problem] })
  }
  const config: Config = Object.freeze({
    host: e.VEILBOX_HOST,
    port: e.VEILBOX_PORT,
    dataDir: path.resolve(e.VEILBOX_DATA_DIR),
    databaseUrl: e.VEILBOX_DATABASE_URL ?? null,
    databasePoolSize: e.VEILBOX_DATABASE_POOL,
    secretFile: e.VEILBOX_SECRET_FILE === undefined ? null : path.resolve(e.VEILBOX_SECRET_FILE),
    secret: e.VEILBOX_SECRET ?? null,
    logLevel: e.VEILBOX_LOG_LEVEL,
    rateLimitPerMinute: e.VEILBOX_RATE_LIMIT,
    authFailuresPerMinute: e.VEILBOX_AUTH_FAILURES_PER_MINUTE,
    bodyIdleTimeoutMs: e.VEILBOX_BODY_IDLE_TIMEOUT_MS,
    maxOpenRequests: e.VEILBOX_MAX_OPEN_REQUESTS,
    uploadMaxBytes: e.VEILBOX_UPLOAD_MAX_MB * 1024 * 1024,
    ingestMaxLineBytes: e.VEILBOX_INGEST_MAX_LINE_MB * 1024 * 1024,
    ingestMaxFieldChars: e.VEILBOX_INGEST_MAX_FIELD_KB * 1024,
    workers: e.VEILBOX_WORKERS,
    queryTimeoutMs: e.VEILBOX_QUERY_TIMEOUT_MS,
    queueMax: e.VEILBOX_QUEUE_MAX,
    columnCacheBytes: e.VEILBOX_COLUMN_CACHE_MB * 1024 * 1024,
    taskMaxCells: e.VEILBOX_TASK_MAX_CELLS,
    workerHeapMb: e.VEILBOX_WORKER_HEAP_MB,
    native: e.VEILBOX_NATIVE,
    custodianDir: path.resolve(e.VEILBOX_CUSTODIAN_DIR),
    custodianUrl: e.VEILBOX_CUSTODIAN_URL ?? null,
    custodianToken: e.VEILBOX_CUSTODIAN_TOKEN ?? null,
    custodianTimeoutMs: e.VEILBOX_CUSTODIAN_TIMEOUT_MS,
    heMaxWork: e.VEILBOX_HE_MAX_WORK,
    maxReleaseValues: e.VEILBOX_MAX_RELEASE_VALUES,
    auditSignIntervalMs: e.VEILBOX_AUDIT_SIGN_INTERVAL_MS,
    sourceConnections: sources.connections,
    sourcePoolSize: e.VEILBOX_SOURCE_POOL,
    sourceTimeoutMs: e.VEILBOX_SOURCE_TIMEOUT_MS,
    sourceTimeSlotMs: e.VEILBOX_SOURCE_TIME_SLOT_MS,
    parquetRoot: e.VEILBOX_PARQUET_ROOT === undefined ? null : path.resolve(e.VEILBOX_PARQUET_ROOT),
    duckdbMemoryMb: e.VEILBOX_DUCKDB_MEMORY_MB,
    metrics: e.VEILBOX_METRICS,
    metricsPort: e.VEILBOX_METRICS_PORT ?? null,
    metricsHost: e.VEILBOX_METRICS_HOST ?? e.VEILBOX_HOST,
    metricsToken: e.VEILBOX_METRICS_TOKEN ?? null,
    demo: false,
    ...overrides,
  })
  checkCustodianDir(config)
  return config
}

/**
 * Every node of a cluster opens the shared signing key with the same secret:
 * without one, a PostgreSQL node cannot start. Checked when a server starts,
 * before it opens anything (offline commands given --public-key need none).
 */
export function checkServerSecret(config: Config): void {
  if (config.databaseUrl === null || config.secretFile !== null || config.secret !== null) return
  const problem =
    "VEILBOX_SECRET_FILE: with VEILBOX_DATABASE_URL every node needs the cluster's sealing secret (a file of at least 32 random bytes, e.g. openssl rand -hex 32); see docs/deploy.md"
  throw new VeilboxError('VEILBOX_ERR_CONFIG_INVALID', `invalid environment: ${problem}`, { problems: [problem] })
}

/**
 * The secret keys must never sit in the compute service's data directory:
 * that directory (database, WAL, backups of it) is exactly what the service
 * is trusted not to hold them in. Refused at start, whatever the paths.
 */
function checkCustodianDir(config: Config): void {
  if (config.custodianUrl !== null) return
  if (isWithin(realPath(config.dataDir), realPath(config.custodianDir))) {
    const problem = `VEILBOX_CUSTODIAN_DIR (${config.custodianDir}) lies inside the data directory (${config.dataDir}); the custodian's secret keys must live outside it`
    throw new VeilboxError('VEILBOX_ERR_CONFIG_INVALID', `invalid environment: ${problem}`, { problems: [problem] })
  }
}

/**
 * `dir` with every symbolic link resolved, for a path that may not exist yet:
 * the deepest existing ancestor is resolved by the file system and the rest
 * appended. A lexical comparison is not enough: `<data>/..keys` is inside
 * `<data>` though its relative path starts with "..", and a link can point
 * anywhere.
 */
export function realPath(dir: string): string {
  let head = path.resolve(dir)
  const rest: string[] = []
  for (;;) {
    try {
      return path.join(fs.realpathSync.native(head), ...rest.reverse())
    } catch {
      const parent = path.dirname(head)
      if (parent === head) return path.join(head, ...rest.reverse())
      rest.push(path.basename(head))
      head = parent
    }
  }
}

/** `inner` is `outer` or lies below it (both real paths). */
export function isWithin(outer: string, inner: string): boolean {
  const rel = path.relative(outer, inner)
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel))
}
