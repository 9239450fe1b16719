import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { VeilboxError } from '../errors/index.js'
import { PgDatabase, type PgOptions } from './postgres.js'
import type { Database as Store } from './sql.js'
import { openSqlite, type SqliteDatabase, type SqliteOptions } from './sqlite.js'

export type { Database as Store, Sql } from './sql.js'
export { DB_FILE } from './sqlite.js'

export interface StoreLocation {
  /** The data directory: SQLite's file lives here when no URL is given. */
  readonly dataDir: string
  /** postgres://... : all durable state in that PostgreSQL database, shared with any other node using it. */
  readonly databaseUrl?: string | null
}

/**
 * Opens the service's store: PostgreSQL when a database URL is given,
 * otherwise SQLite in the data directory (the zero-setup default). Applies
 * pending migrations either way.
 */
export async function openStore(where: StoreLocation, options: SqliteOptions & PgOptions = {}): Promise<Store> {
  if (where.databaseUrl) return PgDatabase.open(where.databaseUrl, options)
  return openSqlite(where.dataDir, options)
}

/** SQLite in `dataDir`, synchronously (tests and tools that need the file itself). */
export function openDb(dataDir: string, options: SqliteOptions = {}): SqliteDatabase {
  return openSqlite(dataDir, options)
}

/** Where a store lives, for messages: the backend and, for PostgreSQL, the database name, never the credentials. */
export function describeLocation(where: StoreLocation): string {
  if (!where.databaseUrl) return `SQLite in ${where.dataDir}`
  try {
    const u = new URL(where.databaseUrl)
    return `PostgreSQL database ${decodeURIComponent(u.pathname.slice(1)) || '(default)'}`
  } catch {
    return 'PostgreSQL'
  }
}

export const LOCK_FILE = 'veilbox.lock'

/**
 * Takes the data directory for this process: an exclusive SQLite lock on
 * `veilbox.lock` in it, held until `unlock()` or until the process ends
 * (the operating system drops the lock of a process killed with -9). One
 * server per data directory: a second one fails here, before it migrates,
 * bootstraps the demo or serves anything. Offline commands (keys, audit)
 * do not take it; they work beside a running server through SQLite's own
 * locking.
 */
export function lockDataDir(dataDir: string): { unlock(): void } {
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
  return { unlock: () => lock.close() }
}
