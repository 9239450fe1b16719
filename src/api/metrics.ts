import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { ErrorCode } from '../errors/index.js'
import type { Custodian, DecryptRequest, DecryptResponse, PublicMaterial } from '../engine/he/types.js'
import type { HeKeyOptions, HeProfile } from '../engine/he/profile.js'
import type { QueryObserver } from '../engine/observer.js'
import type { DatasetSpec } from '../schema.js'

/**
 * veilbox's Prometheus metrics (docs/operations.md lists them), on a registry
 * of the app's own, never prom-client's global one: a process (a test) may
 * build many apps. The lower layers know nothing of Prometheus: the engine
 * tells a QueryObserver, the sandbox pool and the column cache keep plain
 * counts read at scrape time, and the custodian is wrapped here.
 *
 * Nothing here is labelled by analyst, grant, key, query or value: the only
 * label of a caller's choosing is the dataset of the epsilon counter, which
 * the operator registered.
 */

/** What the metrics read from the sandbox pool at scrape time (src/sandbox/pool.ts). */
export interface SandboxGauges {
  readonly queueSize: number
  readonly busy: number
  readonly deadlineHits: number
  readonly crashes: number
}

/** What the metrics read from the column cache at scrape time (src/engine/exec/column-cache.ts). */
export interface CacheGauges {
  readonly bytes: number
  readonly size: number
  readonly evictions: number
}

/** Seconds; a request answered from memory takes about a millisecond, an upload minutes. */
const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
const CUSTODIAN_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

type HttpLabel = 'method' | 'route' | 'status_code'
type CustodianOperation = 'create_keys' | 'public_material' | 'decrypt'

/**
 * One route's requests for one method and status, found without building a
 * label string: a plain count (added to the counter when scraped) and the
 * histogram's child (prom-client hashes the labels on every observation, so
 * one observation per request is all a request pays for).
 */
interface HttpChild {
  readonly labels: Record<HttpLabel, string>
  count: number
  counted: number
  readonly duration: Histogram.Internal<HttpLabel>
}

export class VeilboxMetrics {
  readonly registry = new Registry()
  private readonly httpDuration: Histogram<HttpLabel>
  /** route -> method -> status -> children: a request's labels cost three map reads once seen. */
  private readonly httpChildren = new Map<string, Map<string, Map<number, HttpChild>>>()
  private readonly releases: Counter
  private readonly rereads: Counter
  private readonly refusals: Counter<'code'>
  private readonly epsilon: Counter<'dataset'>
  private readonly custodianCalls: Counter<'operation' | 'outcome'>
  private readonly custodianDuration: Histogram<'operation' | 'outcome'>
  private readonly ingestRows: Counter
  private sandbox: SandboxGauges | null = null
  private cache: CacheGauges | null = null

  constructor(options: { defaults?: boolean; workers?: number; cacheBudgetBytes?: number } = {}) {
    const registers = [this.registry]
    if (options.defaults !== false) collectDefaultMetrics({ register: this.registry })
    const children = this.httpChildren
    new Counter({
      name: 'veilbox_http_requests_total',
      help: 'HTTP requests answered, by method, route pattern and status code',
      labelNames: ['method', 'route', 'status_code'],
      registers,
      collect() {
        for (const byMethod of children.values())
          for (const byStatus of byMethod.values())
            for (const child of byStatus.values()) {
              if (child.count > child.counted) this.inc(child.labels, child.count - child.counted)
              child.counted = child.count
            }
      },
    })
    this.httpDuration = new Histogram({
      name: 'veilbox_http_request_duration_seconds',
      help: 'Time from a request to its response, by method, route pattern and status code',
      labelNames: ['method', 'route', 'status_code'],
      buckets: HTTP_BUCKETS,
      registers,
    })
    this.releases = new Counter({
      name: 'veilbox_query_releases_total',
      help: 'Fresh answers released: charged, stored and sent',
      registers,
    })
    this.rereads = new Counter({
      name: 'veilbox_query_cached_rereads_total',
      help: 'Queries answered with their stored answer, free (cached: true)',
      registers,
    })
    this.refusals = new Counter({
      name: 'veilbox_query_refusals_total',
      help: 'Queries refused or failed, by the error code the analyst was sent',
      labelNames: ['code'],
      registers,
    })
    this.epsilon = new Counter({
      name: 'veilbox_dataset_epsilon_charged_total',
      help: "Epsilon charged to a dataset's budget (releases and deadline hits), as a float; the exact ledgers are the budgets",
      labelNames: ['dataset'],
      registers,
    })
    this.custodianCalls = new Counter({
      name: 'veilbox_custodian_calls_total',
      help: 'Calls to the key custodian, by operation and outcome',
      labelNames: ['operation', 'outcome'],
      registers,
    })
    this.custodianDuration = new Histogram({
      name: 'veilbox_custodian_call_duration_seconds',
      help: 'Time a call to the key custodian took, by operation and outcome',
      labelNames: ['operation', 'outcome'],
      buckets: CUSTODIAN_BUCKETS,
      registers,
    })
    this.ingestRows = new Counter({
      name: 'veilbox_ingest_rows_total',
      help: 'Rows of uploaded dataset versions committed',
      registers,
    })
    this.sandboxAndCache(options.workers ?? 0, options.cacheBudgetBytes ?? 0)
  }

  /** The metrics read at scrape time: the sandbox pool's and the column cache's state and counts. */
  private sandboxAndCache(workers: number, budgetBytes: number): void {
    const registers = [this.registry]
    const self = this
    new Gauge({
      name: 'veilbox_sandbox_workers',
      help: 'Sandbox worker threads configured (VEILBOX_WORKERS)',
      registers,
    }).set(workers)
    new Gauge({
      name: 'veilbox_sandbox_queue_depth',
      help: 'Sandbox tasks waiting for a worker',
      registers,
      collect() {
        this.set(self.sandbox?.queueSize ?? 0)
      },
    })
    new Gauge({
      name: 'veilbox_sandbox_busy_workers',
      help: 'Sandbox workers holding a task (loading its columns or running it)',
      registers,
      collect() {
        this.set(self.sandbox?.busy ?? 0)
      },
    })
    mirror(this.registry, 'veilbox_sandbox_deadline_hits_total', 'Sandbox tasks stopped at their deadline', () =>
      self.sandbox === null ? 0 : self.sandbox.deadlineHits,
    )
    mirror(
      this.registry,
      'veilbox_sandbox_crashes_total',
      'Sandbox tasks whose worker crashed, ran out of memory or answered malformed',
      () => (self.sandbox === null ? 0 : self.sandbox.crashes),
    )
    new Gauge({
      name: 'veilbox_column_cache_bytes',
      help: 'Bytes of loaded dataset versions held by the column cache',
      registers,
      collect() {
        this.set(self.cache?.bytes ?? 0)
      },
    })
    new Gauge({
      name: 'veilbox_column_cache_budget_bytes',
      help: "The column cache's byte budget (VEILBOX_COLUMN_CACHE_MB); leased versions may hold it over for a while",
      registers,
    }).set(budgetBytes)
    new Gauge({
      name: 'veilbox_column_cache_versions',
      help: 'Dataset versions loaded or loading in the column cache',
      registers,
      collect() {
        this.set(self.cache?.size ?? 0)
      },
    })
    mirror(
      this.registry,
      'veilbox_column_cache_evictions_total',
      'Versions dropped from the column cache to stay under its byte budget',
      () => (self.cache === null ? 0 : self.cache.evictions),
    )
  }

  /** The sandbox pool whose state the gauges read. */
  watchSandbox(pool: SandboxGauges): void {
    this.sandbox = pool
  }

  watchColumnCache(cache: CacheGauges): void {
    this.cache = cache
  }

  /** Counts one answered request. `route` is the route's pattern (never the URL), or null for no route (404). */
  request(method: string, route: string | undefined, status: number, seconds: number): void {
    const pattern = route ?? 'unmatched'
    let byMethod = this.httpChildren.get(pattern)
    if (byMethod === undefined) {
      byMethod = new Map()
      this.httpChildren.set(pattern, byMethod)
    }
    let byStatus = byMethod.get(method)
    if (byStatus === undefined) {
      byStatus = new Map()
      byMethod.set(method, byStatus)
    }
    let child = byStatus.get(status)
    if (child === undefined) {
      const labels = { method, route: pattern, status_code: String(status) }
      child = { labels, count: 0, counted: 0, duration: this.httpDuration.labels(labels) }
      byStatus.set(status, child)
    }
    child.count += 1
    child.duration.observe(seconds)
  }

  /** Rows of a committed upload. */
  ingested(rows: number): void {
    this.ingestRows.inc(rows)
  }

  /** What the query engine tells: counts, and the epsilon each dataset was charged. */
  readonly queries: QueryObserver = {
    released: () => this.releases.inc(),
    reread: () => this.rereads.inc(),
    refused: (code: ErrorCode) => this.refusals.inc({ code }),
    charged: (dataset: string, epsilon: number) => this.epsilon.inc({ dataset }, epsilon),
  }

  /** The custodian, each call counted and timed (by operation and outcome only). */
  custodian(inner: Custodian): Custodian {
    const timed = async <T>(operation: CustodianOperation, call: () => Promise<T>): Promise<T> => {
      const start = process.hrtime.bigint()
      let outcome = 'error'
      try {
        const out = await call()
        outcome = 'ok'
        return out
      } finally {
        const seconds = Number(process.hrtime.bigint() - start) / 1e9
        this.custodianCalls.inc({ operation, outcome })
        this.custodianDuration.observe({ operation, outcome }, seconds)
      }
    }
    return {
      createKeys: (dataset: string, spec: DatasetSpec, options: HeKeyOptions): Promise<HeProfile> =>
        timed('create_keys', () => inner.createKeys(dataset, spec, options)),
      publicMaterial: (dataset: string): Promise<PublicMaterial> =>
        timed('public_material', () => inner.publicMaterial(dataset)),
      decryptAggregates: (request: DecryptRequest): Promise<DecryptResponse> =>
        timed('decrypt', () => inner.decryptAggregates(request)),
    }
  }

  /** The text a scrape gets, and its content type. */
  async scrape(): Promise<{ text: string; contentType: string }> {
    return { text: await this.registry.metrics(), contentType: this.registry.contentType }
  }
}

/** A counter that follows a count kept elsewhere (a plain number that only grows), read at scrape time. */
function mirror(registry: Registry, name: string, help: string, read: () => number): void {
  let seen = 0
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const now = read()
      if (now > seen) this.inc(now - seen)
      seen = now
    },
  })
}
