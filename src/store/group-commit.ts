import fs from 'node:fs/promises'
import { immediate, type Db } from './db.js'
import { stmt } from './statements.js'

/**
 * Group commit: writes that arrive together share one durable commit, and the
 * wait for the disk does not block the event loop.
 *
 * Each write runs in a savepoint of a shared BEGIN IMMEDIATE transaction, so
 * one that throws (a charge that does not fit) rolls back alone; the rest
 * commit together. The commit itself runs with synchronous=NORMAL, which in
 * WAL mode writes the commit frames to the -wal file without an fsync; the
 * fsync of the -wal file then runs on libuv's thread pool, and only when it
 * returns does any write of the batch resolve. That is what synchronous=FULL
 * does in WAL mode (fsync the WAL after each commit), moved off the main
 * thread: nothing resolves before it is on disk, and while one batch waits
 * for the disk the next one is already being built. Frames are appended in
 * order, so a later write's fsync covers every earlier one: a reader that saw
 * a write not yet acknowledged cannot have its own write acknowledged first.
 * Every other write of the connection keeps synchronous=FULL.
 */
export class GroupCommitter {
  private queue: { fn: () => unknown; resolve: (v: unknown) => void; reject: (e: unknown) => void }[] = []
  private scheduled = false
  private readonly wal: string | null

  constructor(
    private readonly db: Db,
    private readonly maxBatch = 256,
    /** fsync of one file; tests inject a failing one. */
    private readonly syncFile: (path: string) => Promise<void> = fsyncFile,
  ) {
    // An in-memory database has no file to sync; its commits stay as they are.
    this.wal = db.memory || db.name === '' ? null : `${db.name}-wal`
  }

  run<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (v: unknown) => void, reject })
      if (!this.scheduled) {
        this.scheduled = true
        // Let the requests already in flight queue their writes first.
        setImmediate(() => void this.flush())
      }
    })
  }

  private async flush(): Promise<void> {
    this.scheduled = false
    const batch = this.queue.splice(0, this.maxBatch)
    if (this.queue.length > 0) {
      this.scheduled = true
      setImmediate(() => void this.flush())
    }
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = []
    try {
      this.commit(() => {
        for (const item of batch) {
          try {
            outcomes.push({ ok: true, value: immediate(this.db, item.fn) })
          } catch (error) {
            outcomes.push({ ok: false, error })
          }
        }
      })
      await this.syncWal()
    } catch (error) {
      // The shared commit failed, or could not be made durable: none of the batch is acknowledged
      // (a commit whose fsync failed may still stand: a charge without its release, the safe side).
      for (const item of batch) item.reject(error)
      return
    }
    batch.forEach((item, i) => {
      const o = outcomes[i]!
      if (o.ok) item.resolve(o.value)
      else item.reject(o.error)
    })
  }

  /** One BEGIN IMMEDIATE ... COMMIT, its frames written to the -wal file but not yet synced. */
  private commit(work: () => void): void {
    if (this.wal === null) {
      immediate(this.db, work)
      return
    }
    stmt(this.db, 'PRAGMA synchronous = NORMAL').run()
    try {
      immediate(this.db, work)
    } finally {
      stmt(this.db, 'PRAGMA synchronous = FULL').run()
    }
  }

  private async syncWal(): Promise<void> {
    if (this.wal !== null) await this.syncFile(this.wal)
  }
}

async function fsyncFile(file: string): Promise<void> {
  let fh: fs.FileHandle
  try {
    fh = await fs.open(file, 'r')
  } catch (err) {
    // No -wal file: a checkpoint moved every frame into the database file and synced it.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw err
  }
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}
