import { AsyncLocalStorage } from 'node:async_hooks'

/**
 * The store's one way to a database: an async handle with two
 * implementations, SQLite (sqlite.ts, embedded, the default) and PostgreSQL
 * (postgres.ts, shared by any number of nodes). Every store module is written
 * once against it.
 *
 * Statements are written in PostgreSQL's form: `$1`, `$2` placeholders (a
 * number may repeat; `$1::text` where PostgreSQL cannot infer a type), and `FOR UPDATE` on the rows a transaction must hold.
 * The SQLite driver rewrites placeholders to `?` and drops casts and `FOR UPDATE`: its
 * write transactions are `BEGIN IMMEDIATE`, one at a time, which holds every
 * row already. Where the two dialects differ in more than that (column types
 * in migrations, hashes kept as bytea), the handle says which one it is.
 *
 * Inside `transaction(fn)`, every statement made in fn's asynchronous context
 * runs in that transaction, whichever handle it was made through: a store
 * function called with the database handle from inside a transaction joins
 * it rather than waiting for it (which would never end on SQLite).
 */

export type Dialect = 'sqlite' | 'postgres'

export type Param = string | number | bigint | boolean | Buffer | Uint8Array | null

export interface TxOptions {
  /**
   * Writes that may share one durable commit with others arriving together
   * (SQLite's group commit; each in a savepoint of its own, so one that
   * throws rolls back alone). On PostgreSQL each is its own transaction.
   */
  readonly group?: boolean
  /**
   * Staged data whose commit need not wait for the disk (an upload's chunks:
   * a crash discards the upload anyway, and the version's own commit makes
   * everything before it durable). SQLite: synchronous=NORMAL for this
   * transaction; PostgreSQL: synchronous_commit off for it.
   */
  readonly staging?: boolean
}

export interface Sql {
  readonly dialect: Dialect
  /** Rows as objects. */
  all<T = Record<string, unknown>>(text: string, params?: readonly Param[]): Promise<T[]>
  /** The first row, or undefined. */
  get<T = Record<string, unknown>>(text: string, params?: readonly Param[]): Promise<T | undefined>
  /** Rows as arrays, in the order of the select list (cheaper on hot paths). */
  rows(text: string, params?: readonly Param[]): Promise<unknown[][]>
  /** The first column of the first row, or undefined. */
  value<T = unknown>(text: string, params?: readonly Param[]): Promise<T | undefined>
  /** Runs a statement; how many rows it changed. */
  run(text: string, params?: readonly Param[]): Promise<number>
  /**
   * Runs fn in a write transaction and commits it when fn's promise resolves
   * (rolls back when it rejects). SQLite: BEGIN IMMEDIATE. PostgreSQL: READ
   * COMMITTED, with rows held by SELECT ... FOR UPDATE. Inside another
   * transaction it is a savepoint, rolled back alone if fn throws.
   */
  transaction<T>(fn: (tx: Sql) => Promise<T>, options?: TxOptions): Promise<T>
  /** True when statements made through this handle, here, run inside a transaction. */
  readonly inTransaction: boolean
  /** A hash (hex) as a parameter: text on SQLite, bytea on PostgreSQL. */
  hashParam(hex: string): Param
  /** A hash column read back as hex: `col` on SQLite, `encode(col, 'hex')` on PostgreSQL. */
  hashColumn(column: string): string
}

export interface Database extends Sql {
  /** The schema version applied (the last migration). */
  schemaVersion(): Promise<number>
  /** What /healthz reports about the backend. */
  describe(): Promise<{ backend: Dialect; journalMode?: string }>
  close(): Promise<void>
}

/** The transaction a piece of work runs in: set by the drivers for the duration of fn. */
export interface OpenTx extends Sql {
  readonly open: boolean
}

export const currentTx = new AsyncLocalStorage<OpenTx>()

/** The open transaction of this asynchronous context, if any. */
export function activeTx(): OpenTx | undefined {
  const tx = currentTx.getStore()
  return tx !== undefined && tx.open ? tx : undefined
}

/**
 * A statement in SQLite's form: `$n` placeholders become `?` (with the
 * parameter each takes, in order), `::type` casts and `FOR UPDATE` go.
 * Quoted text is left as it is.
 */
export function placeholderOrder(text: string): { sqlite: string; order: number[] } {
  const order: number[] = []
  let out = ''
  let i = 0
  while (i < text.length) {
    const c = text[i]!
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1)
      const stop = end === -1 ? text.length : end + 1
      out += text.slice(i, stop)
      i = stop
      continue
    }
    if (c === '$' && /[0-9]/.test(text[i + 1] ?? '')) {
      let j = i + 1
      while (j < text.length && /[0-9]/.test(text[j]!)) j++
      order.push(Number(text.slice(i + 1, j)) - 1)
      out += '?'
      i = j
      continue
    }
    if (c === ':' && text[i + 1] === ':') {
      // A PostgreSQL cast (`$1::text`, which types a parameter PostgreSQL cannot infer): SQLite needs none.
      let j = i + 2
      while (j < text.length && /[a-z0-9_]/i.test(text[j]!)) j++
      i = j
      continue
    }
    out += c
    i++
  }
  return { sqlite: out.replace(/\s+FOR UPDATE\b/gi, ''), order }
}
