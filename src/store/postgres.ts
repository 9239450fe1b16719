import { createHash } from 'node:crypto'
import pg from 'pg'
import { VeilboxError } from '../errors/index.js'
import { PG_MIGRATIONS, type PgMigration } from './pg-migrations.js'
import { DeferredWork, type Database, type OpenTx, type Param, type Sql, type TxOptions } from './sql.js'

/**
 * The shared store: PostgreSQL through a node-postgres pool. Any number of
 * veilbox nodes use one database; everything durable lives in it.
 *
 * Transactions run at READ COMMITTED (PostgreSQL's default). What must not
 * race is held with SELECT ... FOR UPDATE in one fixed order: the grant row,
 * then the dataset's budget row, then the audit chain's head row, always
 * last (store/audit.ts). Ledger charges stay guarded UPDATEs (spent + x <=
 * total). No SERIALIZABLE: under concurrent releases it fails most of them
 * with serialization errors, where row locks make them wait their turn.
 *
 * Integer columns are bigint and come back as numbers (every ledger unit
 * fits 2^53; a value that does not is refused rather than rounded); blobs
 * and audit hashes are bytea.
 */

const INT8 = 20
const NUMERIC = 1700

function exactNumber(text: string): number {
  const n = Number(text)
  if (!Number.isSafeInteger(n))
    throw new VeilboxError(
      'VEILBOX_ERR_INTERNAL',
      `a stored integer (${text}) is beyond 2^53 and cannot be read exactly`,
    )
  return n
}

const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8 || oid === NUMERIC) return exactNumber
    return pg.types.getTypeParser(oid, format as 'text')
  },
}

/** Prepared-statement names: one per text, so each pooled connection parses a statement once. */
const names = new Map<string, string>()
function nameOf(text: string): string {
  let n = names.get(text)
  if (n === undefined) {
    n = `vb_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`
    names.set(text, n)
  }
  return n
}

function values(params: readonly Param[]): unknown[] {
  return params.map((v) =>
    v instanceof Uint8Array && !Buffer.isBuffer(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : v,
  )
}

type Client = pg.Pool | pg.PoolClient

async function query(
  client: Client,
  text: string,
  params: readonly Param[],
  rowMode?: 'array',
): Promise<pg.QueryResult> {
  try {
    return await client.query({ name: nameOf(text), text, values: values(params), ...(rowMode ? { rowMode } : {}) })
  } catch (err) {
    throw fromPg(err)
  }
}

/** PostgreSQL's own errors keep their SQLSTATE in `code`; a failed connection says what, never the URL's credentials. */
function fromPg(err: unknown): unknown {
  const code = (err as { code?: string }).code
  if (
    typeof code === 'string' &&
    /^(ECONNREFUSED|ENOENT|ETIMEDOUT|EHOSTUNREACH|ECONNRESET|57P0[1-3]|08\d\d\d)$/.test(code)
  ) {
    return new VeilboxError(
      'VEILBOX_ERR_STORE_UNAVAILABLE',
      'the database is not reachable; retry shortly',
      {},
      { cause: err, headers: { 'retry-after': '2' } },
    )
  }
  return err
}

/** The statements of either handle, through a pooled client (a transaction) or the pool itself (one statement each). */
abstract class PgStatements {
  readonly dialect = 'postgres' as const
  protected abstract readonly target: Client

  async all<T>(text: string, params: readonly Param[] = []): Promise<T[]> {
    return (await query(this.target, text, params)).rows as T[]
  }
  async get<T>(text: string, params: readonly Param[] = []): Promise<T | undefined> {
    return (await query(this.target, text, params)).rows[0] as T | undefined
  }
  async rows(text: string, params: readonly Param[] = []): Promise<unknown[][]> {
    return (await query(this.target, text, params, 'array')).rows as unknown[][]
  }
  async value<T>(text: string, params: readonly Param[] = []): Promise<T | undefined> {
    return ((await query(this.target, text, params, 'array')).rows[0] as unknown[] | undefined)?.[0] as T | undefined
  }
  async run(text: string, params: readonly Param[] = []): Promise<number> {
    return (await query(this.target, text, params)).rowCount ?? 0
  }
  hashParam(hex: string): Param {
    return Buffer.from(hex, 'hex')
  }
  hashColumn(column: string): string {
    return `encode(${column}, 'hex')`
  }
}

class PgTx extends PgStatements implements OpenTx {
  readonly inTransaction = true
  open = true
  readonly deferred = new DeferredWork()
  private savepoints = 0

  constructor(private readonly client: pg.PoolClient) {
    super()
  }

  protected get target(): Client {
    return this.client
  }
  /**
   * One write of a group commit, in a savepoint of its own. The SAVEPOINT and
   * RELEASE are not waited for: node-postgres sends each queued statement as
   * soon as the one before it is answered, so they cost the batch no turn of
   * the event loop while it holds its locks. A failure is rolled back to the
   * savepoint, waited for.
   */
  async item<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    const name = `sp${++this.savepoints}`
    const quiet = (text: string) => void this.client.query(text).catch(() => {})
    quiet(`SAVEPOINT ${name}`)
    const mark = this.deferred.mark()
    try {
      const out = await fn(this)
      quiet(`RELEASE SAVEPOINT ${name}`)
      return out
    } catch (err) {
      this.deferred.rollbackTo(mark)
      await this.client.query(`ROLLBACK TO SAVEPOINT ${name}`)
      await this.client.query(`RELEASE SAVEPOINT ${name}`)
      throw err
    } finally {
      this.savepoints--
    }
  }

  async transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    const name = `sp${++this.savepoints}`
    await this.client.query(`SAVEPOINT ${name}`)
    const mark = this.deferred.mark()
    try {
      const out = await fn(this)
      await this.client.query(`RELEASE SAVEPOINT ${name}`)
      return out
    } catch (err) {
      this.deferred.rollbackTo(mark)
      await this.client.query(`ROLLBACK TO SAVEPOINT ${name}`)
      await this.client.query(`RELEASE SAVEPOINT ${name}`)
      throw err
    } finally {
      this.savepoints--
    }
  }
}

/** SQLSTATEs after which a whole transaction is tried again: a deadlock, a serialization failure. */
const RETRY = new Set(['40P01', '40001'])

export interface PgOptions {
  /** Connections in this node's pool (default 10). */
  readonly poolSize?: number
  readonly migrations?: readonly PgMigration[]
  /** The statement timeout for this node's sessions, ms (default 30 s). */
  readonly statementTimeoutMs?: number
}

interface Queued {
  readonly fn: (tx: Sql) => Promise<unknown>
  readonly locks: TxOptions['locks']
  readonly resolve: (v: unknown) => void
  readonly reject: (e: unknown) => void
}

export class PgDatabase extends PgStatements implements Database {
  private closed = false
  private pending: Queued[] = []
  private scheduled = false
  private running = false
  private readonly maxBatch = 256

  private constructor(readonly pool: pg.Pool) {
    super()
  }

  static async open(url: string, options: PgOptions = {}): Promise<PgDatabase> {
    const pool = new pg.Pool({
      connectionString: url,
      max: options.poolSize ?? 10,
      types,
      application_name: 'veilbox',
      statement_timeout: options.statementTimeoutMs ?? 30_000,
    })
    // An idle connection that breaks (the server restarted) is dropped from the pool, not thrown at the process.
    pool.on('error', () => {})
    const db = new PgDatabase(pool)
    try {
      await migrate(db, options.migrations ?? PG_MIGRATIONS)
    } catch (err) {
      await pool.end()
      throw fromPg(err)
    }
    return db
  }

  readonly inTransaction = false

  protected get target(): Client {
    return this.pool
  }

  async transaction<T>(fn: (tx: Sql) => Promise<T>, options: TxOptions = {}): Promise<T> {
    if (this.closed) throw new Error('the database is closed')
    if (options.group) {
      return new Promise<T>((resolve, reject) => {
        this.pending.push({ fn, locks: options.locks, resolve: resolve as (v: unknown) => void, reject })
        this.schedule()
      })
    }
    return this.attempts(async (tx, client) => {
      if (options.staging) await client.query('SET LOCAL synchronous_commit = off')
      return fn(tx)
    })
  }

  /**
   * One transaction around `body`, tried again whole (up to 5 times) after a
   * deadlock or a serialization failure. The deferred work (audit records)
   * runs last, then COMMIT; a COMMIT that PostgreSQL turned into a rollback
   * (the transaction had failed) is an error, never a success.
   */
  private async attempts<T>(body: (tx: PgTx, client: pg.PoolClient) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let client: pg.PoolClient
      try {
        client = await this.pool.connect()
      } catch (err) {
        throw fromPg(err)
      }
      const tx = new PgTx(client)
      let broken = false
      try {
        await client.query('BEGIN')
        const out = await body(tx, client)
        await tx.deferred.flush(tx)
        const done = await client.query('COMMIT')
        if (done.command !== 'COMMIT') throw new Error(`the transaction was rolled back at COMMIT (${done.command})`)
        return out
      } catch (err) {
        try {
          await client.query('ROLLBACK')
        } catch {
          broken = true
        }
        const code = (err as { code?: string }).code
        if (code !== undefined && RETRY.has(code) && attempt < 5) continue
        throw fromPg(err)
      } finally {
        tx.open = false
        client.release(broken)
      }
    }
  }

  /**
   * Group commit: writes that arrive together share one transaction and one
   * durable COMMIT. Each waits for the disk anyway, and a release holds its
   * grant's row until its COMMIT returns, so one COMMIT per release capped a
   * grant at one release per fsync. A batch first locks every grant row and
   * then every budget row its writes declared, each set in sorted order, in
   * two statements; each write then runs in a savepoint of its own (rolled
   * back alone if it throws); the audit records of the whole batch go last,
   * under one lock of the chain head. Every batch on every node takes its
   * locks in that order (grants by id, budgets by id, the head), so two
   * batches never wait on each other in a circle. One batch is in flight per
   * node; the next is gathered while it commits.
   */
  private schedule(): void {
    if (this.scheduled || this.running) return
    this.scheduled = true
    // Let the requests already in flight queue their writes first.
    setImmediate(() => void this.flush())
  }

  private async flush(): Promise<void> {
    this.scheduled = false
    this.running = true
    const batch = this.pending.splice(0, this.maxBatch)
    try {
      const grants = [...new Set(batch.flatMap((b) => b.locks?.grants ?? []))].sort()
      const budgets = [...new Set(batch.flatMap((b) => b.locks?.budgets ?? []))].sort()
      let outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = []
      await this.attempts(async (tx, client) => {
        outcomes = []
        if (grants.length > 0)
          await client.query({
            text: 'SELECT id FROM grants WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE',
            values: [grants],
          })
        if (budgets.length > 0)
          await client.query({
            text: 'SELECT dataset_id FROM dataset_budgets WHERE dataset_id = ANY($1::text[]) ORDER BY dataset_id FOR UPDATE',
            values: [budgets],
          })
        for (const item of batch) {
          try {
            outcomes.push({ ok: true, value: await tx.item(item.fn) })
          } catch (error) {
            outcomes.push({ ok: false, error })
          }
        }
      })
      batch.forEach((item, i) => {
        const o = outcomes[i]!
        if (o.ok) item.resolve(o.value)
        else item.reject(o.error)
      })
    } catch (error) {
      // The shared transaction failed: none of the batch is acknowledged.
      for (const item of batch) item.reject(error)
    } finally {
      this.running = false
      if (this.pending.length > 0) this.schedule()
    }
  }

  async schemaVersion(): Promise<number> {
    return (await this.value<number>('SELECT COALESCE(MAX(version), 0) FROM schema_migrations')) ?? 0
  }

  async describe(): Promise<{ backend: 'postgres' }> {
    await this.value('SELECT 1')
    return { backend: 'postgres' }
  }

  /** Waits for the writes queued and the batch in flight, then ends the pool. */
  async close(): Promise<void> {
    if (this.closed) return
    while (this.scheduled || this.running || this.pending.length > 0)
      await new Promise<void>((resolve) => setTimeout(resolve, 5))
    this.closed = true
    await this.pool.end()
  }
}

/** Applies pending migrations, each in its own transaction under one advisory lock, so nodes starting together apply each once. */
async function migrate(db: PgDatabase, migrations: readonly PgMigration[]): Promise<void> {
  const client = await db.pool.connect()
  try {
    for (const m of migrations) {
      await client.query('BEGIN')
      try {
        await client.query("SELECT pg_advisory_xact_lock(hashtext('veilbox.migrate'))")
        await client.query(
          'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL)',
        )
        const done = await client.query('SELECT 1 FROM schema_migrations WHERE version = $1', [m.version])
        if (done.rowCount === 0) {
          // The simple protocol: a migration is several statements in one text.
          await client.query(m.sql)
          await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
            m.version,
            m.name,
            new Date().toISOString(),
          ])
        }
        await client.query('COMMIT')
      } catch (err) {
        await client.query('ROLLBACK')
        throw err
      }
    }
  } finally {
    client.release()
  }
}
