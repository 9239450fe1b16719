import { immediate, type Db } from './db.js'

/**
 * Group commit: writes that arrive while the disk is busy share one durable
 * commit. Each write runs in a savepoint of a shared BEGIN IMMEDIATE
 * transaction, so one that throws (a charge that does not fit) rolls back
 * alone; the rest commit together, with one fsync, and only then does any of
 * them resolve. Nothing resolves before it is on disk.
 */
export class GroupCommitter {
  private queue: { fn: () => unknown; resolve: (v: unknown) => void; reject: (e: unknown) => void }[] = []
  private scheduled = false

  constructor(
    private readonly db: Db,
    private readonly maxBatch = 256,
  ) {}

  run<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (v: unknown) => void, reject })
      if (!this.scheduled) {
        this.scheduled = true
        // Let the requests already in flight queue their writes first.
        setImmediate(() => this.flush())
      }
    })
  }

  private flush(): void {
    this.scheduled = false
    const batch = this.queue.splice(0, this.maxBatch)
    if (this.queue.length > 0) {
      this.scheduled = true
      setImmediate(() => this.flush())
    }
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = []
    try {
      immediate(this.db, () => {
        for (const item of batch) {
          try {
            outcomes.push({ ok: true, value: immediate(this.db, item.fn) })
          } catch (error) {
            outcomes.push({ ok: false, error })
          }
        }
      })
    } catch (error) {
      // The shared commit failed: none of the batch is on disk.
      for (const item of batch) item.reject(error)
      return
    }
    batch.forEach((item, i) => {
      const o = outcomes[i]!
      if (o.ok) item.resolve(o.value)
      else item.reject(o.error)
    })
  }
}
