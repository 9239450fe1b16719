import path from 'node:path'
import {
  BOOLEAN,
  DOUBLE,
  DuckDBInstance,
  LIST,
  listValue,
  VARCHAR,
  type DuckDBConnection,
  type DuckDBType,
  type DuckDBValue,
} from '@duckdb/node-api'
import {
  SourceError,
  type RunOptions,
  type SourceColumn,
  type SourceEngine,
  type SourceFrom,
  type SourceParam,
} from './types.js'

export interface DuckDbSourceOptions {
  /** The only directory DuckDB may read: VEILBOX_PARQUET_ROOT. */
  readonly root: string
  readonly threads: number
  readonly memoryLimitMb: number
  /** Statements at once; one more is refused at once (busy). Default 64. */
  readonly queueMax?: number
}

/**
 * Parquet files through one embedded, in-memory DuckDB per process. It reads
 * files larger than memory (DuckDB streams row groups and spills), runs on
 * its own threads (the event loop only awaits), and is locked down before
 * the first statement: it may read under the Parquet root and nothing else,
 * and its configuration cannot be changed afterwards.
 */
export class DuckDbSource implements SourceEngine {
  readonly dialect = 'duckdb' as const
  private instance: Promise<DuckDBInstance> | null = null
  private running = 0

  constructor(private readonly options: DuckDbSourceOptions) {}

  private async open(): Promise<DuckDBInstance> {
    const instance = await DuckDBInstance.create(':memory:', {
      threads: String(this.options.threads),
      memory_limit: `${this.options.memoryLimitMb}MB`,
    })
    const c = await instance.connect()
    try {
      const root = path.resolve(this.options.root) + path.sep
      await c.run(`SET allowed_directories = [${sqlString(root)}]`)
      await c.run('SET enable_external_access = false')
      await c.run('SET lock_configuration = true')
    } finally {
      c.closeSync()
    }
    return instance
  }

  async run(sql: string, params: readonly SourceParam[], options: RunOptions): Promise<unknown[][]> {
    if (this.running >= (this.options.queueMax ?? 64))
      throw new SourceError('parquet', 'busy', `DuckDB has ${this.running} statements running`)
    this.running += 1
    try {
      return await this.runNow(sql, params, options)
    } finally {
      this.running -= 1
    }
  }

  private async runNow(sql: string, params: readonly SourceParam[], options: RunOptions): Promise<unknown[][]> {
    this.instance ??= this.open()
    let connection: DuckDBConnection
    try {
      connection = await (await this.instance).connect()
    } catch (err) {
      throw new SourceError('parquet', 'unavailable', `DuckDB could not start: ${(err as Error).message}`)
    }
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      connection.interrupt()
    }, options.timeoutMs)
    try {
      // Every value typed: a JavaScript number is a DOUBLE (left to DuckDB, 1e15 would not fit the INTEGER it guesses).
      const values: DuckDBValue[] = params.map((p) => (typeof p === 'object' ? listValue([...p.list]) : p))
      const types: DuckDBType[] = params.map((p) =>
        typeof p === 'object' ? LIST(ELEMENT[p.type]) : ELEMENT[SCALAR[typeof p as 'number']],
      )
      const reader = await connection.runAndReadAll(sql, values, types)
      return reader.getRowsJS() as unknown[][]
    } catch (err) {
      if (timedOut)
        throw new SourceError('parquet', 'timeout', `DuckDB cancelled the statement after ${options.timeoutMs} ms`)
      throw new SourceError('parquet', 'refused', `DuckDB: ${(err as Error).message}`)
    } finally {
      clearTimeout(timer)
      connection.closeSync()
    }
  }

  async describe(from: SourceFrom, options: RunOptions): Promise<SourceColumn[] | null> {
    if (from.kind !== 'parquet') throw new SourceError('parquet', 'refused', 'DuckDB sources read Parquet files')
    if (from.files.length === 0) return null
    const rows = await this.run(
      'DESCRIBE SELECT * FROM read_parquet($1::VARCHAR[])',
      [{ list: from.files, type: 'text' }],
      options,
    )
    return rows.map((r) => ({ name: String(r[0]), type: String(r[1]).toLowerCase() }))
  }

  /** The files a glob names under the root, sorted (DuckDB's glob, so that its sandbox decides what is readable). */
  async glob(pattern: string, options: RunOptions): Promise<string[]> {
    const rows = await this.run('SELECT file FROM glob($1) ORDER BY file', [pattern], options)
    return rows.map((r) => String(r[0]))
  }

  get root(): string {
    return path.resolve(this.options.root)
  }

  async close(): Promise<void> {
    const instance = this.instance
    this.instance = null
    if (instance !== null) (await instance.catch(() => null))?.closeSync()
  }
}

const ELEMENT: Record<'float8' | 'text' | 'boolean', DuckDBType> = { float8: DOUBLE, text: VARCHAR, boolean: BOOLEAN }
const SCALAR = { number: 'float8', string: 'text', boolean: 'boolean' } as const

/** A DuckDB string literal (only for the configuration above: the operator's own root directory). */
function sqlString(s: string): string {
  return `'${s.replaceAll("'", "''")}'`
}
