import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { kernelReport, loadKernel, type KernelReport } from '../../engine/exec/loader.js'
import type { Custodian } from '../../engine/he/types.js'
import { QueryEngine } from '../../engine/queries.js'
import { SourceService } from '../../engine/pushdown/source.js'
import { Sources } from '../../sources/index.js'
import { custodianFor } from '../../custodian/local.js'
import type { Executor } from '../../engine/exec/executor.js'
import { SandboxPool } from '../../sandbox/pool.js'
import { ColumnCache } from '../../engine/exec/column-cache.js'
import { signCurrentHead } from '../../store/audit-heads.js'
import { serviceSigningKey, type SigningKey } from '../../store/receipt-keys.js'
import { readSecret, sealerFromSecret } from '../../sealed.js'

declare module 'fastify' {
  interface FastifyInstance {
    columnCache: ColumnCache
    executor: Executor
    /** Sourced datasets: registration checks, snapshots and pushed-down statements. */
    sources: SourceService
    queries: QueryEngine
    signingKey: SigningKey
    /** Which aggregate kernel the sandboxes run, and why. */
    kernel: KernelReport
    /** The HE key custodian: in process (VEILBOX_CUSTODIAN_DIR) or a separate process (VEILBOX_CUSTODIAN_URL). */
    custodian: Custodian
    /** The service's clock: the engine's, and what budget windows are read against (tests inject one). */
    clock: () => Date
  }
}

/** The query engine and where it computes; routes reach them through these decorators. */
export default fp(
  async function engine(app: FastifyInstance, opts: { sandboxWorker?: string; now?: () => Date }) {
    const c = app.config
    const clock = opts.now ?? (() => new Date())
    app.decorate('clock', clock)
    // First, before anything that holds threads or timers. One node: a key file in the data directory. A cluster: one key in the database, sealed under
    // the secret every node is given.
    const signingKey = await serviceSigningKey(c, app.db, () =>
      sealerFromSecret(readSecret({ file: c.secretFile, value: c.secret })!),
    )
    const columnCache = new ColumnCache(app.db, c.columnCacheBytes)
    const choice = loadKernel({ native: c.native })
    const kernel = kernelReport(choice)
    app.decorate('kernel', kernel)
    app.log.info(kernel, `aggregate kernel: ${kernel.kernel}${kernel.reason ? ` (${kernel.reason})` : ''}`)
    const pool = new SandboxPool(
      columnCache,
      {
        workers: c.workers,
        queueMax: c.queueMax,
        timeoutMs: c.queryTimeoutMs,
        maxCells: c.taskMaxCells,
        heapMb: c.workerHeapMb,
        native: kernel.kernel === 'native',
        ...(opts.sandboxWorker ? { filename: opts.sandboxWorker } : {}),
      },
      kernel.kernel,
    )
    const executor: Executor = pool
    // The metrics read the pool's and the cache's counts at scrape time (plugins/metrics.ts).
    app.metrics.watchSandbox(pool)
    app.metrics.watchColumnCache(columnCache)
    app.decorate('columnCache', columnCache)
    app.decorate('executor', executor)
    app.decorate('signingKey', signingKey)
    // The chain's head signed at start, at intervals and at close (store/audit-heads.ts).
    const signHead = async (): Promise<void> => {
      try {
        await signCurrentHead(app.db, signingKey)
      } catch (err) {
        app.log.error({ err }, 'could not sign the audit chain head')
      }
    }
    await signHead()
    const signer = setInterval(() => void signHead(), c.auditSignIntervalMs)
    signer.unref()
    const custodian = app.metrics.custodian(await custodianFor(c))
    app.decorate('custodian', custodian)
    const sourceEngines = new Sources({
      connections: c.sourceConnections,
      poolSize: c.sourcePoolSize,
      parquetRoot: c.parquetRoot,
      duckdbThreads: c.workers,
      duckdbMemoryMb: c.duckdbMemoryMb,
    })
    const sources = new SourceService({
      sources: sourceEngines,
      timeoutMs: c.sourceTimeoutMs,
      timeSlotMs: c.sourceTimeSlotMs,
    })
    app.decorate('sources', sources)
    const queries = new QueryEngine({
      db: app.db,
      executor,
      signer: signingKey,
      custodian,
      sources,
      limits: { maxCells: c.taskMaxCells, heMaxWork: c.heMaxWork, maxReleaseValues: c.maxReleaseValues },
      observer: app.metrics.queries,
      now: clock,
    })
    app.decorate('queries', queries)
    app.addHook('onClose', async () => {
      clearInterval(signer)
      await executor.close()
      await queries.close()
      await sourceEngines.close()
      await signHead()
    })
  },
  { name: 'engine', dependencies: ['db', 'metrics'] },
)
