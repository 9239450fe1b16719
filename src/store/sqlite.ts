// Long on purpose: the SQLite driver in one place (two connections, the BEGIN IMMEDIATE queue, group commit
// with the WAL fsync off the main thread, staged files); each part relies on the others' ordering guarantees.
import fs from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import BetterSqlite3 from 'better-sqlite3'
import type { Statement } from 'better-sqlite3'
import { Checkpointer } from './checkpoint.js'
import { MIGRATIONS, type Migration } from './migrations.js'
import {
  DeferredWork,
  placeholderOrder,
  type Database,
  type OpenTx,
  type Param,
  type Sql,
  type TxOptions,
} from './sql.js'

/**
 * The embedded store: one SQLite file in the data directory, WAL mode,
 * synchronous=FULL (a commit is on disk before it returns), foreign keys on.
 *
 * Two connections: writes go through one, one transaction at a time (BEGIN
 * IMMEDIATE, queued in this process, and behind SQLite's own lock across
 * processes); reads outside a transaction go through the other, so they
 * never see a transaction that has not committed. An in-memory database has
 * one connection for both.
 */

export const DB_FILE = 'veilbox.db'

export interface SqliteOptions {
  /** Milliseconds a writer waits for another process's lock before failing. */
  readonly busyTimeoutMs?: number
  readonly readonly?: boolean
  readonly migrations?: readonly Migration[]
  /** fsync of one file, for group commit; tests inject a failing one. */
  readonly syncFile?: (path: string) => Promise<void>
  /** Most writes one group commit takes. */
  readonly maxBatch?: number
  /** Milliseconds between the checkpointer's looks at the log (checkpoint.ts); tests shorten it. */
  readonly checkpointEveryMs?: number
}

type Raw = BetterSqlite3.Database
type Mode = 'object' | 'raw' | 'pluck'

class Statements {
  private readonly cache = new Map<string, { stmt: Statement; order: number[] }>()
  constructor(readonly conn: Raw) {}

  get(text: string, mode: Mode): { stmt: Statement; order: number[] } {
    const key = mode === 'object' ? text : `${mode}\u0000${text}`
    let s = this.cache.get(key)
    if (s === undefined) {
      const { sqlite, order } = placeholderOrder(text)
      const stmt = this.conn.prepare(sqlite)
      if (mode === 'raw') stmt.raw()
      else if (mode === 'pluck') stmt.pluck()
      s = { stmt, order }
      this.cache.set(key, s)
    }
    return s
  }
}

function bind(order: readonly number[], params: readonly Param[]): unknown[] {
  const out = new Array<unknown>(order.length)
  for (let i = 0; i < order.length; i++) {
    const v = params[order[i]!]
    out[i] =
      typeof v === 'boolean'
        ? v
          ? 1
          : 0
        : v instanceof Uint8Array && !Buffer.isBuffer(v)
          ? Buffer.from(v.buffer, v.byteOffset, v.byteLength)
          : v === undefined
            ? null
            : v
  }
  return out
}

/** Statements on one connection, synchronously; the async Sql methods wrap these. */
class Conn {
  readonly statements: Statements
  constructor(readonly raw: Raw) {
    this.statements = new Statements(raw)
  }
  all(text: string, params: readonly Param[]): unknown[] {
    const s = this.statements.get(text, 'object')
    if (s.stmt.reader) return s.stmt.all(...bind(s.order, params))
    s.stmt.run(...bind(s.order, params))
    return []
  }
  get(text: string, params: readonly Param[]): unknown {
    const s = this.statements.get(text, 'object')
    return s.stmt.get(...bind(s.order, params))
  }
  rows(text: string, params: readonly Param[]): unknown[][] {
    const s = this.statements.get(text, 'raw')
    return s.stmt.all(...bind(s.order, params)) as unknown[][]
  }
  value(text: string, params: readonly Param[]): unknown {
    const s = this.statements.get(text, 'pluck')
    return s.stmt.get(...bind(s.order, params))
  }
  /** A statement without parameters or rows (BEGIN, COMMIT, SAVEPOINT, PRAGMA), prepared once: exec() would parse it every time. */
  exec(text: string): void {
    this.statements.get(text, 'object').stmt.run()
  }
  run(text: string, params: readonly Param[]): number {
    const s = this.statements.get(text, 'object')
    if (s.stmt.reader) {
      s.stmt.all(...bind(s.order, params))
      return 0
    }
    return s.stmt.run(...bind(s.order, params)).changes
  }
}

/** The reads of either handle, on the connection `read()` names; hashes are hex text. */
abstract class SqliteStatements {
  readonly dialect = 'sqlite' as const
  protected abstract read(): Conn

  async all<T>(text: string, params: readonly Param[] = []): Promise<T[]> {
    return this.read().all(text, params) as T[]
  }
  async get<T>(text: string, params: readonly Param[] = []): Promise<T | undefined> {
    return this.read().get(text, params) as T | undefined
  }
  async rows(text: string, params: readonly Param[] = []): Promise<unknown[][]> {
    return this.read().rows(text, params)
  }
  async value<T>(text: string, params: readonly Param[] = []): Promise<T | undefined> {
    return this.read().value(text, params) as T | undefined
  }
  hashParam(hex: string): Param {
    return hex
  }
  hashColumn(column: string): string {
    return column
  }
}

/** A write transaction (or savepoint) on the writer connection. */
class SqliteTx extends SqliteStatements implements OpenTx {
  readonly inTransaction = true
  open = true
  readonly deferred = new DeferredWork()
  private savepoints = 0

  constructor(private readonly conn: Conn) {
    super()
  }

  protected read(): Conn {
    return this.conn
  }
  async run(text: string, params: readonly Param[] = []): Promise<number> {
    return this.conn.run(text, params)
  }

  /** A savepoint: rolled back alone if fn throws. */
  async transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    const name = `sp${++this.savepoints}`
    this.conn.exec(`SAVEPOINT ${name}`)
    const mark = this.deferred.mark()
    try {
      const out = await fn(this)
      this.conn.exec(`RELEASE ${name}`)
      return out
    } catch (err) {
      this.deferred.rollbackTo(mark)
      this.conn.exec(`ROLLBACK TO ${name}`)
      this.conn.exec(`RELEASE ${name}`)
      throw err
    } finally {
      this.savepoints--
    }
  }
}

/** One lock: the writer connection's transactions, one after another. */
class Queue {
  private tail: Promise<unknown> = Promise.resolve()
  run<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.tail.then(fn)
    this.tail = p.then(
      () => undefined,
      () => undefined,
    )
    return p
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

interface Queued {
  readonly fn: (tx: Sql) => Promise<unknown>
  readonly resolve: (v: unknown) => void
  readonly reject: (e: unknown) => void
}

export class SqliteDatabase extends SqliteStatements implements Database {
  private readonly writer: Conn
  private readonly reader: Conn
  private readonly queue = new Queue()
  private readonly wal: string | null
  private readonly walFile = new OpenFile()
  private readonly checkpointer: Checkpointer | null
  private readonly syncFile: (path: string) => Promise<void>
  private readonly maxBatch: number
  private pending: Queued[] = []
  private scheduled = false
  private readonly flushing = new Set<Promise<void>>()
  private closed = false

  constructor(
    /** The database file, or ':memory:'. */
    readonly file: string,
    options: SqliteOptions = {},
  ) {
    super()
    const readonly = options.readonly ?? false
    const memory = file === ':memory:'
    const open = (ro: boolean): Raw => {
      const db = new BetterSqlite3(file, { readonly: ro, fileMustExist: ro })
      try {
        db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 10_000}`)
        return db
      } catch (err) {
        db.close()
        throw err
      }
    }
    const w = open(readonly)
    try {
      if (!readonly) {
        if (!memory) w.pragma('journal_mode = WAL')
        // Checkpoints run on a thread of their own (checkpoint.ts), not in the middle of a commit here.
        if (!memory) w.pragma('wal_autocheckpoint = 0')
        w.pragma('synchronous = FULL')
        w.pragma('foreign_keys = ON')
        migrate(w, options.migrations ?? MIGRATIONS)
      }
    } catch (err) {
      w.close()
      throw err
    }
    this.writer = new Conn(w)
    this.reader = memory || readonly ? this.writer : new Conn(open(true))
    this.wal = memory || readonly ? null : `${file}-wal`
    this.syncFile = options.syncFile ?? ((f) => this.walFile.sync(f))
    this.checkpointer =
      this.wal === null ? null : new Checkpointer(file, options.busyTimeoutMs ?? 10_000, options.checkpointEveryMs)
    this.maxBatch = options.maxBatch ?? 256
  }

  /** The connection a statement outside a transaction reads through (tests and the ingest's direct paths). */
  get raw(): Raw {
    return this.writer.raw
  }

  readonly inTransaction = false

  /**
   * Where a read outside a transaction goes: the writer while it has no
   * transaction open (its page cache stays warm: every commit of another
   * connection would invalidate the reader's, and under a write on every
   * request that cost a cached answer a third of its time), the reader while
   * one is open (it never sees uncommitted rows).
   */
  protected read(): Conn {
    return this.writer.raw.inTransaction ? this.reader : this.writer
  }

  async run(text: string, params: readonly Param[] = []): Promise<number> {
    return this.transaction(async (t) => t.run(text, params))
  }

  transaction<T>(fn: (tx: Sql) => Promise<T>, options: TxOptions = {}): Promise<T> {
    if (this.closed) return Promise.reject(new Error('the database is closed'))
    if (options.group && this.wal !== null) {
      return new Promise<T>((resolve, reject) => {
        this.pending.push({ fn, resolve: resolve as (v: unknown) => void, reject })
        if (!this.scheduled) {
          this.scheduled = true
          // Let the requests already in flight queue their writes first.
          setImmediate(() => this.startFlush())
        }
      })
    }
    if (options.staging && this.wal !== null) return this.queue.run(() => this.unsynced(fn))
    if (options.syncOffThread && this.wal !== null) {
      const wal = this.wal
      return this.queue
        .run(() => this.unsynced(fn))
        .then(async (out) => {
          await this.syncFile(wal)
          return out
        })
    }
    return this.queue.run(() => this.immediate(fn))
  }

  /** A transaction committed with synchronous=NORMAL: in WAL mode its frames are written, not synced. */
  private async unsynced<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    this.writer.exec('PRAGMA synchronous = NORMAL')
    try {
      return await this.immediate(fn)
    } finally {
      this.writer.exec('PRAGMA synchronous = FULL')
    }
  }

  /** BEGIN IMMEDIATE ... COMMIT around fn, which runs with the transaction as its context. */
  private async immediate<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    const w = this.writer
    const tx = new SqliteTx(w)
    w.exec('BEGIN IMMEDIATE')
    try {
      const out = await fn(tx)
      await tx.deferred.flush(tx)
      w.exec('COMMIT')
      this.checkpointer?.committed()
      return out
    } catch (err) {
      if (w.raw.inTransaction) w.exec('ROLLBACK')
      throw err
    } finally {
      tx.open = false
    }
  }

  /**
   * Group commit: writes that arrive together share one durable commit, and
   * the wait for the disk does not block the event loop. Each write runs in
   * a savepoint of a shared BEGIN IMMEDIATE transaction; the commit runs
   * with synchronous=NORMAL, which in WAL mode writes the commit frames
   * without an fsync; the fsync of the -wal file then runs on libuv's thread
   * pool, and only when it returns does any write of the batch resolve. That
   * is what synchronous=FULL does in WAL mode, moved off the main thread.
   * Frames are appended in order, so a later write's fsync covers every
   * earlier one.
   */
  private startFlush(): void {
    const f = this.flush()
    this.flushing.add(f)
    void f.finally(() => this.flushing.delete(f))
  }

  private async flush(): Promise<void> {
    this.scheduled = false
    const batch = this.pending.splice(0, this.maxBatch)
    if (this.pending.length > 0) {
      this.scheduled = true
      setImmediate(() => this.startFlush())
    }
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = []
    try {
      await this.queue.run(() =>
        this.unsynced(async (tx) => {
          for (const item of batch) {
            try {
              outcomes.push({ ok: true, value: await tx.transaction(item.fn) })
            } catch (error) {
              outcomes.push({ ok: false, error })
            }
          }
        }),
      )
      await this.syncFile(this.wal!)
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

  async schemaVersion(): Promise<number> {
    return this.reader.value('PRAGMA user_version', []) as number
  }

  async describe(): Promise<{ backend: 'sqlite'; journalMode: string }> {
    return { backend: 'sqlite', journalMode: String(this.reader.value('PRAGMA journal_mode', [])) }
  }

  /** Waits for the writes queued and in flight, then closes both connections. */
  async close(): Promise<void> {
    if (this.closed) return
    while (this.scheduled || this.flushing.size > 0) {
      await Promise.all(this.flushing)
      await new Promise<void>((resolve) => setImmediate(resolve))
    }
    await this.queue.run(async () => undefined)
    this.closed = true
    await this.checkpointer?.close()
    this.walFile.close()
    if (this.reader !== this.writer) this.reader.raw.close()
    this.writer.raw.close()
  }
}

function migrate(db: Raw, migrations: readonly Migration[]): void {
  for (const m of migrations) {
    // Each migration checks the version inside its own write lock, so two processes starting together apply it once.
    db.exec('BEGIN IMMEDIATE')
    try {
      if ((db.pragma('user_version', { simple: true }) as number) < m.version) {
        db.exec(m.sql)
        m.run?.(db)
        db.pragma(`user_version = ${m.version}`)
      }
      db.exec('COMMIT')
    } catch (err) {
      if (db.inTransaction) db.exec('ROLLBACK')
      throw err
    }
  }
}

/** Opens (creating if needed) `veilbox.db` in `dataDir`, owner-only, and applies pending migrations. */
export function openSqlite(dataDir: string, options: SqliteOptions = {}): SqliteDatabase {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const file = path.join(dataDir, DB_FILE)
  // Created owner-only before SQLite opens it; the -wal and -shm files inherit the mode.
  if (!options.readonly) fs.closeSync(fs.openSync(file, 'a', 0o600))
  return new SqliteDatabase(file, options)
}
