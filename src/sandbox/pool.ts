import { fileURLToPath } from 'node:url'
import { Piscina } from 'piscina'
import { ERROR_CODES, VeilboxError, type ErrorCode } from '../errors/index.js'
import { publicRows } from '../engine/admission.js'
import { groupLayout } from '../engine/exec/grouping.js'
import type { ExecTask } from '../engine/exec/task.js'
import type { ColumnArray } from '../engine/exec/types.js'
import type { EncryptedColumn } from '../engine/he/types.js'
import type { Lease, LoadedVersion } from '../engine/exec/column-cache.js'
import type { ExecResult, Executor } from '../engine/exec/executor.js'
import { taskColumns, workerResponseSchema, type WorkerHeRequest, type WorkerRequest } from './protocol.js'

/**
 * The sandbox: one piscina pool of worker threads per process.
 *
 * - Every task has a deadline, enforced with an AbortSignal: a task past it is
 *   ended by terminating its worker, which piscina replaces.
 * - Worker heaps are capped (resourceLimits). Work that does not live on the
 *   JS heap (selection and group-code arrays, one byte or more per row) is
 *   bounded before the task starts: rows times the columns it touches.
 * - The queue is bounded: past it, callers get 503 with Retry-After.
 * - A worker that crashes, runs out of memory or times out fails only its own
 *   task, with its own code; the pool and the service go on.
 */

export interface PoolOptions {
  readonly workers: number
  readonly queueMax: number
  readonly timeoutMs: number
  /** Cap on rows x (columns touched + 1) per task. */
  readonly maxCells: number
  /** JS heap cap of each worker, MiB. */
  readonly heapMb: number
  /** Backstop cap on ciphertext batches x groups x streams per encrypted task (default DEFAULT_HE_MAX_WORK); the engine admits on VEILBOX_HE_MAX_WORK first. */
  readonly heMaxWork?: number
  /** The worker module; tests pass fixtures. */
  readonly filename?: string
  /** Let workers load the native kernel (each runs its own self-check). Default true. */
  readonly native?: boolean
}

export const DEFAULT_HEAP_MB = 256
export const DEFAULT_MAX_CELLS = 8_000_000_000
export const DEFAULT_HE_MAX_WORK = 50_000

// Under tsx the sources run as .ts and workers need tsx to load them; the build runs compiled .js.
const FROM_SOURCE = import.meta.url.endsWith('.ts')

function defaultWorkerFile(): string {
  return fileURLToPath(new URL(`./worker.${FROM_SOURCE ? 'ts' : 'js'}`, import.meta.url))
}

/** Where the pool gets loaded versions: the column cache, or a benchmark's generated data. */
export interface VersionSource {
  acquire(dataset: string, version: number): Promise<Lease>
}

export class SandboxPool implements Executor {
  private readonly pool: Piscina
  private readonly options: PoolOptions
  private closed = false
  /** Tasks submitted and not yet settled: running plus queued. */
  private inflight = 0
  /** Tasks stopped at their deadline, since start (read by the metrics; counts only, nothing of the task). */
  deadlineHits = 0
  /** Tasks whose worker crashed, ran out of memory or answered malformed, since start. */
  crashes = 0

  constructor(
    private readonly versions: VersionSource,
    options: PoolOptions,
    readonly kernel: string = 'ts',
  ) {
    this.options = options
    this.pool = new Piscina({
      filename: options.filename ?? defaultWorkerFile(),
      minThreads: options.workers,
      maxThreads: options.workers,
      // The bound is kept here (see execute): piscina's own maxQueue does not count
      // tasks parked while every worker is busy.
      idleTimeout: 60_000,
      // Workers get exactly what loading their module needs, not the parent's loaders and flags.
      execArgv: FROM_SOURCE ? ['--import', 'tsx'] : [],
      workerData: { native: options.native !== false },
      resourceLimits: { maxOldGenerationSizeMb: options.heapMb, maxYoungGenerationSizeMb: 32, stackSizeMb: 4 },
    })
    // Worker deaths surface as task rejections; this keeps a stray 'error' from being unhandled.
    this.pool.on('error', () => {})
  }

  /** Tasks waiting for a worker. */
  get queueSize(): number {
    return Math.max(0, this.inflight - this.options.workers)
  }

  /** Tasks holding a worker (acquiring their columns or running). */
  get busy(): number {
    return Math.min(this.inflight, this.options.workers)
  }

  get threads(): number {
    return this.pool.threads.length
  }

  async execute(task: ExecTask): Promise<ExecResult> {
    if (this.closed)
      throw new VeilboxError(
        'VEILBOX_ERR_SANDBOX_BUSY',
        'the service is shutting down; retry against another instance',
        {},
        { headers: { 'retry-after': '1' } },
      )
    if (this.inflight >= this.options.workers + this.options.queueMax) {
      throw new VeilboxError(
        'VEILBOX_ERR_SANDBOX_BUSY',
        'every sandbox is busy and the queue is full; retry after a moment',
        { queueMax: this.options.queueMax },
        { headers: { 'retry-after': '1' } },
      )
    }
    this.inflight += 1
    let lease: Lease | null = null
    let joinLease: Lease | null = null
    try {
      lease = await this.versions.acquire(task.dataset, task.version)
      const v = lease.version
      const names = taskColumns(task)
      // A backstop behind the engine's admission (engine/admission.ts), on the same public size class:
      // neither the decision nor its message may show the exact row count.
      // A join's rows: at most the left's size class times the pairs one left row can make (engine/pipeline/admit.ts).
      const rows = task.join === undefined ? publicRows(v.rows) : publicRows(v.rows) * task.join.maxRowsPerUnit
      const cells = rows * (names.length + 1)
      if (cells > this.options.maxCells) {
        throw new VeilboxError(
          'VEILBOX_ERR_SANDBOX_TOO_LARGE',
          `the query would touch ${names.length} columns of a version in the size class of ${rows} rows, more than this service allows per task (VEILBOX_TASK_MAX_CELLS=${this.options.maxCells}); touch fewer columns`,
          { publicRows: rows, columns: names.length },
        )
      }
      const columns: Record<string, ColumnArray> = {}
      // A join task names joined columns: each side sends its own, by their own names (exec/join.ts).
      const own =
        task.join === undefined ? names : task.join.columns.filter((c) => c.side === 'left').map((c) => c.column)
      for (const n of task.join === undefined ? own : [...own, task.join.leftUnit]) {
        const c = v.columns.get(n)
        if (c) columns[n] = c
      }
      let joined: WorkerRequest['joined']
      if (task.join !== undefined) {
        joinLease = await this.versions.acquire(task.join.dataset, task.join.version)
        const jv = joinLease.version
        const theirs: Record<string, ColumnArray> = {}
        for (const c of task.join.columns
          .filter((x) => x.side === 'right')
          .map((x) => x.column)
          .concat(task.join.rightUnit)) {
          const col = jv.columns.get(c)
          if (col) theirs[c] = col
        }
        joined = { rows: jv.rows, keep: jv.keep, columns: theirs }
      }
      const he = task.encrypted === undefined ? undefined : this.encryptedPart(task, v)
      // The deadline counts from the moment a worker starts the task (it posts on `started`), so that
      // time spent queued behind other tasks never turns into a deadline hit, which the engine charges.
      // A task that waits longer than a deadline for a worker is dropped as busy, free.
      const { port1, port2 } = new MessageChannel()
      const request: WorkerRequest = {
        task,
        rows: v.rows,
        keep: v.keep,
        columns,
        ...(he === undefined ? {} : { he }),
        ...(joined === undefined ? {} : { joined }),
        started: port2,
      }
      // Ref'd timers, unlike AbortSignal.timeout: a pending query keeps the process alive.
      const deadline = new AbortController()
      let started = false
      let runTimer: NodeJS.Timeout | undefined
      const queueTimer = setTimeout(() => deadline.abort(), this.options.timeoutMs)
      port1.once('message', () => {
        started = true
        clearTimeout(queueTimer)
        runTimer = setTimeout(() => deadline.abort(), this.options.timeoutMs)
      })
      let raw: unknown
      try {
        raw = await this.pool.run(request, { signal: deadline.signal, transferList: [port2] })
      } catch (err) {
        throw this.failure(err, deadline.signal, started)
      } finally {
        clearTimeout(queueTimer)
        clearTimeout(runTimer)
        port1.close()
      }
      const parsed = workerResponseSchema.safeParse(raw)
      if (!parsed.success) {
        this.crashes += 1
        throw new VeilboxError(
          'VEILBOX_ERR_SANDBOX_CRASHED',
          'the sandbox answered with a malformed message; nothing was released',
          {},
        )
      }
      const response = parsed.data
      if (!response.ok) {
        // HE refusals (capacity, ciphertexts that do not fit their profile) keep their code: they say what is wrong with the data.
        if (response.code.startsWith('VEILBOX_ERR_HE_') && response.code in ERROR_CODES)
          throw new VeilboxError(response.code as ErrorCode, response.detail)
        this.crashes += 1
        throw new VeilboxError(
          'VEILBOX_ERR_SANDBOX_CRASHED',
          `the sandbox refused the task (${response.code}); nothing was released`,
          {},
        )
      }
      return response.result
    } finally {
      this.inflight -= 1
      lease?.end()
      joinLease?.end()
    }
  }

  /**
   * The ciphertexts and Galois keys an encrypted task reads, as views of the
   * column cache's shared memory. The work (batches x groups, each a masked
   * product and an add at worst) is bounded here, before any starts.
   */
  private encryptedPart(task: ExecTask, v: LoadedVersion): WorkerHeRequest {
    const he = v.he
    if (he === undefined || he === null) {
      throw new VeilboxError(
        'VEILBOX_ERR_HE_BAD_CIPHERTEXT',
        `version ${v.version} of ${v.dataset} holds no ciphertexts; upload a version after the dataset's HE keys exist`,
        { dataset: v.dataset, version: v.version },
      )
    }
    const groups =
      task.groupBy.length === 0
        ? 1
        : groupLayout(task.groupBy.map((g) => ({ dictionary: g.dictionary, nullable: g.nullable }))).count
    const columns: Record<string, EncryptedColumn> = {}
    let work = 0
    for (const m of task.encrypted ?? []) {
      const c = he.columns.get(m.column)
      if (c === undefined)
        throw new VeilboxError(
          'VEILBOX_ERR_HE_BAD_CIPHERTEXT',
          `version ${v.version} of ${v.dataset} holds no ciphertexts of column ${m.column}`,
        )
      columns[m.column] = c
      const streams = c.values.length + (m.squares ? (c.squares?.length ?? 0) : 0)
      work += Math.ceil(publicRows(c.rows) / c.batchRows) * groups * streams
    }
    const max = this.options.heMaxWork ?? DEFAULT_HE_MAX_WORK
    if (work > max) {
      throw new VeilboxError(
        'VEILBOX_ERR_SANDBOX_TOO_LARGE',
        `the query would process ${work} ciphertext batches x groups x streams, more than this sandbox allows per task (${max}); group by fewer keys or aggregate fewer encrypted columns at once`,
        { work, max },
      )
    }
    return { material: { id: he.material.id, profile: he.material.profile, galois: he.material.galois }, columns }
  }

  private failure(err: unknown, signal: AbortSignal, started: boolean): VeilboxError {
    const e = err as { name?: string; code?: string; message?: string }
    if ((signal.aborted || e.name === 'AbortError') && !started) {
      return new VeilboxError(
        'VEILBOX_ERR_SANDBOX_BUSY',
        `no sandbox worker was free for ${this.options.timeoutMs} ms; nothing was computed or charged, retry after a moment`,
        {},
        { headers: { 'retry-after': '1' } },
      )
    }
    if (signal.aborted || e.name === 'AbortError') {
      this.deadlineHits += 1
      // The engine charges a deadline hit like an answer (docs/privacy-model.md); this says only what happened here.
      return new VeilboxError(
        'VEILBOX_ERR_SANDBOX_TIMEOUT',
        `the query ran past its deadline of ${this.options.timeoutMs} ms and was stopped; nothing was released`,
        {
          timeoutMs: this.options.timeoutMs,
        },
      )
    }
    this.crashes += 1
    if (e.code === 'ERR_WORKER_OUT_OF_MEMORY') {
      return new VeilboxError(
        'VEILBOX_ERR_SANDBOX_OUT_OF_MEMORY',
        'the query ran out of sandbox memory and was stopped; nothing was released or charged',
        {},
      )
    }
    return new VeilboxError(
      'VEILBOX_ERR_SANDBOX_CRASHED',
      'the sandbox running the query failed; nothing was released or charged',
      {},
      { cause: err },
    )
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.pool.destroy()
  }
}
