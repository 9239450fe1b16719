import os from 'node:os'
import path from 'node:path'
import { z } from 'zod'
import { VeilboxError } from '../errors/index.js'

/**
 * The service's configuration, parsed once at start from the environment
 * through one schema. Nothing else in veilbox reads process.env.
 */
const intFrom = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max))

const envSchema = z.object({
  VEILBOX_HOST: z.string().min(1).default('127.0.0.1'),
  VEILBOX_PORT: intFrom(0, 65535).default(8080),
  VEILBOX_DATA_DIR: z.string().min(1).default('./data'),
  VEILBOX_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Requests per minute per principal (anonymous callers: per IP). */
  VEILBOX_RATE_LIMIT: intFrom(1, 10_000_000).default(6000),
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
  VEILBOX_NATIVE: z.enum(['0', '1']).default('1'),
})

export interface Config {
  readonly host: string
  readonly port: number
  readonly dataDir: string
  readonly logLevel: z.infer<typeof envSchema>['VEILBOX_LOG_LEVEL']
  readonly rateLimitPerMinute: number
  readonly uploadMaxBytes: number
  readonly workers: number
  readonly queryTimeoutMs: number
  readonly queueMax: number
  readonly columnCacheBytes: number
  readonly taskMaxCells: number
  readonly workerHeapMb: number
  readonly native: boolean
  /** Create the demo dataset and keys on first start. */
  readonly demo: boolean
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const known = Object.fromEntries(Object.entries(env).filter(([k, v]) => k.startsWith('VEILBOX_') && v !== ''))
  const parsed = envSchema.safeParse(known)
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)
    throw new VeilboxError('VEILBOX_ERR_CONFIG_INVALID', `invalid environment: ${problems.join('; ')}`, { problems })
  }
  const e = parsed.data
  return Object.freeze({
    host: e.VEILBOX_HOST,
    port: e.VEILBOX_PORT,
    dataDir: path.resolve(e.VEILBOX_DATA_DIR),
    logLevel: e.VEILBOX_LOG_LEVEL,
    rateLimitPerMinute: e.VEILBOX_RATE_LIMIT,
    uploadMaxBytes: e.VEILBOX_UPLOAD_MAX_MB * 1024 * 1024,
    workers: e.VEILBOX_WORKERS,
    queryTimeoutMs: e.VEILBOX_QUERY_TIMEOUT_MS,
    queueMax: e.VEILBOX_QUEUE_MAX,
    columnCacheBytes: e.VEILBOX_COLUMN_CACHE_MB * 1024 * 1024,
    taskMaxCells: e.VEILBOX_TASK_MAX_CELLS,
    workerHeapMb: e.VEILBOX_WORKER_HEAP_MB,
    native: e.VEILBOX_NATIVE === '1',
    demo: false,
    ...overrides,
  })
}
