import fs from 'node:fs'
import { promisify } from 'node:util'
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
 *
 * The -wal file stays open between batches (opening and closing it cost the
 * main thread more than the fsync's own dispatch). SQLite deletes that file
 * only when the last connection closes, and this one is open, so the handle
 * names the live file; should it ever be unlinked anyway (its link count
 * drops to 0, checked before every sync), it is reopened by name.
 */
export class GroupCommitter {
  private queue: { fn: () => unknown; resolve: (v: unknown) => void; reject: (e: unknown) => void }[] = []
  private scheduled = false
  private readonly wal: string | null
  private readonly walFile = new OpenFile()
  private readonly syncFile: (path: string) => Promise<void>
  private readonly flushing = new Set<Promise<void>>()

  constructor(
    private readonly db: Db,
    private readonly maxBatch = 256,
    /** fsync of one file; tests inject a failing one. By default the -wal file's handle is kept open. */
    syncFile?: (path: string) => Promise<void>,
  ) {
    // An in-memory database has no file to sync; its commits stay as they are.
    this.wal = db.memory || db.name === '' ? null : `${db.name}-wal`
    this.syncFile = syncFile ?? ((file) => this.walFile.sync(file))
  }

  /** Waits for the writes queued and the batches in flight, then closes the -wal file's handle. */
  async close(): Promise<void> {
    while (this.scheduled || this.flushing.size > 0) {
      await Promise.all(this.flushing)
      await new Promise<void>((resolve) => setImmediate(resolve))
    }
    this.walFile.close()
  }

  run<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (v: unknown) => void, reject })
      if (!this.scheduled) {
        this.scheduled = true
        // Let the requests already in flight queue their writes first.
        setImmediate(() => this.startFlush())
      }
    })
  }

  private startFlush(): void {
    const f = this.flush()
    this.flushing.add(f)
    void f.finally(() => this.flushing.delete(f))
  }

  private async flush(): Promise<void> {
    this.scheduled = false
    const batch = this.queue.splice(0, this.maxBatch)
    if (this.queue.length > 0) {
      this.scheduled = true
      setImmediate(() => this.startFlush())
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

const fsync = promisify(fs.fsync)

/** One file kept open for fsync, opened on first use and reopened if it was unlinked. */
export class OpenFile {
  private fd: number | null = null

  async sync(file: string): Promise<void> {
    if (this.fd !== null && fs.fstatSync(this.fd).nlink === 0) this.close()
    if (this.fd === null) {
      try {
        this.fd = fs.openSync(file, 'r')
      } catch (err) {
        // No -wal file: a checkpoint moved every frame into the database file and synced it.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
        throw err
      }
    }
    await fsync(this.fd)
  }

  close(): void {
    if (this.fd === null) return
    fs.closeSync(this.fd)
    this.fd = null
  }
}
