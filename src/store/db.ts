import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { MIGRATIONS, type Migration } from './migrations.js'
import { VeilboxError } from '../errors/index.js'
import { stmt } from './statements.js'

export type Db = Database.Database

export const DB_FILE = 'veilbox.db'

export interface OpenOptions {
  /** Milliseconds a writer waits for another process's lock before failing. */
  readonly busyTimeoutMs?: number
  readonly readonly?: boolean
  readonly migrations?: readonly Migration[]
}

/**
 * Opens (creating if needed) the service database in `dataDir` with the
 * durability settings every write relies on: WAL, synchronous=FULL (a commit
 * is on disk before it returns), a busy timeout so two processes queue rather
 * than fail, foreign keys on. Applies pending migrations.
 */
export function openDb(dataDir: string, options: OpenOptions = {}): Db {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const file = path.join(dataDir, DB_FILE)
  // Created owner-only before SQLite opens it; the -wal and -shm files inherit the mode.
  if (!options.readonly) fs.closeSync(fs.openSync(file, 'a', 0o600))
  const db = new Database(file, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false })
  try {
    db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 10_000}`)
    if (!options.readonly) {
      db.pragma('journal_mode = WAL')
      db.pragma('synchronous = FULL')
      db.pragma('foreign_keys = ON')
      migrate(db, options.migrations ?? MIGRATIONS)
    }
    return db
  } catch (err) {
    db.close()
    throw err
  }
}

export function schemaVersion(db: Db): number {
  return stmt(db, 'PRAGMA user_version', 'pluck').get() as number
}

function migrate(db: Db, migrations: readonly Migration[]): void {
  for (const m of migrations) {
    // Each migration checks the version inside its own write lock, so two
    // processes starting together apply it once.
    immediate(db, () => {
      if (schemaVersion(db) >= m.version) return
      db.exec(m.sql)
      m.run?.(db)
      db.pragma(`user_version = ${m.version}`)
    })
  }
}

type Runner = Database.Transaction<(fn: () => unknown) => unknown>

// better-sqlite3 prepares BEGIN/COMMIT/SAVEPOINT statements for every
// transaction function it makes: make one per connection and pass it the work.
const runners = new WeakMap<Db, Runner>()

function runnerOf(db: Db): Runner {
  let r = runners.get(db)
  if (!r) {
    r = db.transaction((fn: () => unknown) => fn())
    runners.set(db, r)
  }
  return r
}

/**
 * Runs `fn` in a `BEGIN IMMEDIATE` transaction: the only way veilbox writes.
 * Inside another transaction it becomes a savepoint, rolled back alone if `fn` throws.
 */
export function immediate<T>(db: Db, fn: () => T): T {
  const r = runnerOf(db)
  return (db.inTransaction ? r(fn) : r.immediate(fn)) as T
}

export const LOCK_FILE = 'veilbox.lock'

/**
 * Takes the data directory for this process: an exclusive SQLite lock on
 * `veilbox.lock` in it, held until `release()` or until the process ends
 * (the operating system drops the lock of a process killed with -9). One
 * server per data directory: a second one fails here, before it migrates,
 * bootstraps the demo or serves anything. Offline commands (keys, audit)
 * do not take it; they work beside a running server through SQLite's own
 * locking.
 */
export function lockDataDir(dataDir: string): { release(): void } {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const file = path.join(dataDir, LOCK_FILE)
  const lock = new Database(file)
  try {
    lock.pragma('busy_timeout = 0')
    lock.pragma('locking_mode = EXCLUSIVE')
    // The first write in exclusive locking mode takes the lock for the life of the connection.
    lock.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER, started_at TEXT); DELETE FROM holder')
    lock.prepare('INSERT INTO holder VALUES (?, ?)').run(process.pid, new Date().toISOString())
  } catch (err) {
    lock.close()
    const code = (err as { code?: string }).code
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
      throw new VeilboxError(
        'VEILBOX_ERR_CONFIG_DATA_DIR_IN_USE',
        `the data directory ${dataDir} is in use by another veilbox server (it holds ${file}); stop it, or start this one with its own VEILBOX_DATA_DIR`,
        { dataDir },
      )
    }
    throw err
  }
  return { release: () => lock.close() }
}
