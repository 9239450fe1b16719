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
 * Inside `transaction(fn)`, statements run in the transaction only through
 * the handle fn is given (`tx`): store functions take the handle to use, and
 * a store function that opens a transaction, given `tx`, opens a savepoint
 * in it. The database handle inside fn reads what is committed, and a write
 * or transaction on it waits for fn's transaction to end (on SQLite: never,
 * so never do that). No AsyncLocalStorage: on Node 20 it turns on a hook for
 * every promise in the process, which cost a catalog or cached request about
 * a tenth of its CPU (measured: 466 -> 418 and 764 -> 683 µs).
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
   * The rows a grouped write will lock FOR UPDATE (grants by id, budgets by
   * dataset): PostgreSQL's group commit locks them for the whole batch first,
   * in sorted order, so batches on different nodes never deadlock. A grouped
   * write must lock no other grant or budget row.
   */
  readonly locks?: { readonly grants?: readonly string[]; readonly budgets?: readonly string[] }
  /**
   * Staged data whose commit need not wait for the disk (an upload's chunks:
   * a crash discards the upload anyway, and the version's own commit makes
   * everything before it durable). SQLite: synchronous=NORMAL for this
   * transaction; PostgreSQL: synchronous_commit off for it.
   */
  readonly staging?: boolean
  /**
   * A durable commit whose wait for the disk does not hold the event loop (a
   * version's commit, after tens of megabytes of staged frames). SQLite:
   * synchronous=NORMAL for the commit, then the -wal file's fsync on libuv's
   * thread pool before the promise resolves (as group commit does); a later
   * durable commit covers it in any case, as frames are appended in order.
   * PostgreSQL: as any commit (the server waits, not this process).
   */
  readonly syncOffThread?: boolean
}

export interface Sql {
  readonly dialect: Dialect
  /**
   * SQLite: the database file (':memory:' for none), which a thread may open
   * with a connection of its own to read what is committed. Undefined on
   * PostgreSQL and on a transaction's handle.
   */
  readonly file?: string
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
  /** Work the transaction does last, just before COMMIT (audit records: the chain head is locked there, after every other row). */
  readonly deferred: DeferredWork
}

/**
 * Items a transaction gathers and writes at its end, in one go per kind: the
 * drivers run `flush` before COMMIT, and a savepoint rolled back drops the
 * items added inside it.
 */
export class DeferredWork {
  private readonly kinds = new Map<
    object,
    { items: unknown[]; flush: (tx: Sql, items: readonly unknown[]) => Promise<void> }
  >()

  add<T>(kind: object, item: T, flush: (tx: Sql, items: readonly T[]) => Promise<void>): void {
    let k = this.kinds.get(kind)
    if (k === undefined) {
      k = { items: [], flush: flush as (tx: Sql, items: readonly unknown[]) => Promise<void> }
      this.kinds.set(kind, k)
    }
    k.items.push(item)
  }

  /** Where a savepoint starts. */
  mark(): Map<object, number> {
    return new Map([...this.kinds].map(([kind, k]) => [kind, k.items.length]))
  }

  /** A savepoint rolled back: what was added since `mark` goes with it. */
  rollbackTo(mark: Map<object, number>): void {
    for (const [kind, k] of this.kinds) k.items.length = mark.get(kind) ?? 0
  }

  /** Writes every kind's items (called once, before COMMIT). */
  async flush(tx: Sql): Promise<void> {
    for (const k of this.kinds.values()) {
      const items = k.items.splice(0)
      if (items.length > 0) await k.flush(tx, items)
    }
  }
}

/** The handle, when it is an open transaction (what appendAudit needs). */
export function openTx(db: Sql): OpenTx | undefined {
  const tx = db as Partial<OpenTx>
  return tx.deferred !== undefined && tx.open === true ? (db as OpenTx) : undefined
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
