import pg from 'pg'
import {
  SourceError,
  type RunOptions,
  type SourceColumn,
  type SourceEngine,
  type SourceFrom,
  type SourceParam,
} from './types.js'

export interface PostgresSourceOptions {
  /** The connection's name (VEILBOX_SOURCE_<NAME>_URL): what every message says instead of the URL. */
  readonly name: string
  readonly url: string
  /** Connections at most; statements past it wait for one. */
  readonly poolSize: number
  /** Statements that may wait for a connection; one more is refused at once (busy). Default 64. */
  readonly queueMax?: number
}

/** PostgreSQL's own codes for a cancelled statement and for a read-only transaction's refusal. */
const CANCELLED = '57014'

/**
 * An owner's PostgreSQL, through a pool of read-only sessions: every
 * session starts with default_transaction_read_only on (the role itself must
 * hold no write privilege either: registration checks it, engine/sources.ts).
 * Each statement runs with its own statement_timeout, so a slow source ends
 * the statement on the server, not only the wait for it.
 */
export class PostgresSource implements SourceEngine {
  readonly dialect = 'postgres' as const
  private readonly pool: pg.Pool

  constructor(private readonly options: PostgresSourceOptions) {
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize,
      application_name: 'veilbox',
      options: '-c default_transaction_read_only=on',
      connectionTimeoutMillis: 10_000,
    })
    // An idle client's error (the server restarted) must not end the process; the next statement reconnects.
    this.pool.on('error', () => {})
  }

  async run(sql: string, params: readonly SourceParam[], options: RunOptions): Promise<unknown[][]> {
    if (this.pool.waitingCount >= (this.options.queueMax ?? 64))
      throw new SourceError(
        this.options.name,
        'busy',
        `source "${this.options.name}" has ${this.pool.waitingCount} statements waiting for its ${this.options.poolSize} connections`,
      )
    let client: pg.PoolClient
    try {
      client = await this.pool.connect()
    } catch (err) {
      throw this.failure(err)
    }
    let broken: unknown
    try {
      await client.query('BEGIN READ ONLY')
      await client.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.floor(options.timeoutMs))}`)
      const result = await client.query({
        text: sql,
        values: params.map((p) => (typeof p === 'object' ? [...p.list] : p)),
        rowMode: 'array',
      })
      await client.query('COMMIT')
      return result.rows as unknown[][]
    } catch (err) {
      broken = err
      await client.query('ROLLBACK').catch(() => {})
      throw this.failure(err)
    } finally {
      // A client whose connection failed is dropped from the pool, not reused.
      client.release(broken instanceof Error && !('code' in broken) ? broken : undefined)
    }
  }

  async describe(from: SourceFrom, options: RunOptions): Promise<SourceColumn[] | null> {
    if (from.kind !== 'table') throw new SourceError(this.options.name, 'refused', 'PostgreSQL reads tables, not files')
    const rel = quotedRelation(from.name)
    const exists = await this.run('SELECT to_regclass($1) IS NOT NULL', [rel], options)
    if (exists[0]?.[0] !== true) return null
    const rows = await this.run(
      `SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
        WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
      [rel],
      options,
    )
    return rows.map(([name, type]) => ({ name: String(name), type: String(type).toLowerCase() }))
  }

  /** The write privileges this connection's role holds on the relation (none is what registration wants). */
  async writePrivileges(table: string, options: RunOptions): Promise<string[]> {
    const privileges = ['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']
    const rows = await this.run(
      `SELECT ${privileges.map((_, i) => `has_table_privilege($1, $${i + 2})`).join(', ')}`,
      [quotedRelation(table), ...privileges],
      options,
    )
    return privileges.filter((_, i) => rows[0]?.[i] === true)
  }

  /** The server's words, which name tables and columns but not the URL; connection failures say only that. */
  private failure(err: unknown): SourceError {
    const code = (err as { code?: unknown }).code
    const message = err instanceof Error ? err.message : String(err)
    if (code === CANCELLED)
      return new SourceError(
        this.options.name,
        'timeout',
        `source "${this.options.name}" cancelled the statement: ${message}`,
      )
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !code.startsWith('08') && !code.startsWith('28'))
      return new SourceError(
        this.options.name,
        'refused',
        `source "${this.options.name}": ${message} (SQLSTATE ${code})`,
      )
    return new SourceError(
      this.options.name,
      'unavailable',
      `source "${this.options.name}" cannot be reached or refused the connection${typeof code === 'string' ? ` (SQLSTATE ${code})` : ''}`,
    )
  }

  async close(): Promise<void> {
    await this.pool.end()
  }
}

/** `schema.table` as quoted identifiers (each part already checked against [a-z_][a-z0-9_]*). */
export function quotedRelation(name: string): string {
  return name
    .split('.')
    .map((part) => `"${part.replaceAll('"', '""')}"`)
    .join('.')
}
