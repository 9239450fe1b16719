import { DuckDbSource } from './duckdb.js'
import { PostgresSource } from './postgres.js'
import { SourceError } from './types.js'

export { DuckDbSource } from './duckdb.js'
export { PostgresSource, quotedRelation } from './postgres.js'
export * from './types.js'

export interface SourcesOptions {
  /** Named PostgreSQL connections: VEILBOX_SOURCE_<NAME>_URL. */
  readonly connections: ReadonlyMap<string, string>
  /** Connections per PostgreSQL source (VEILBOX_SOURCE_POOL). */
  readonly poolSize: number
  /** The only directory Parquet sources may read (VEILBOX_PARQUET_ROOT); null: no Parquet sources. */
  readonly parquetRoot: string | null
  readonly duckdbThreads: number
  readonly duckdbMemoryMb: number
}

/**
 * The source engines of one process: a pool per named PostgreSQL connection
 * and one DuckDB for Parquet, each opened on first use and closed with the
 * service.
 */
export class Sources {
  private readonly postgres = new Map<string, PostgresSource>()
  private duckdb: DuckDbSource | null = null

  constructor(private readonly options: SourcesOptions) {}

  /** The names of the configured connections (never their URLs). */
  get connectionNames(): string[] {
    return [...this.options.connections.keys()].sort()
  }

  postgresSource(name: string): PostgresSource {
    const open = this.postgres.get(name)
    if (open !== undefined) return open
    const url = this.options.connections.get(name)
    if (url === undefined)
      throw new SourceError(
        name,
        'unavailable',
        `no source connection named "${name}": the server defines one per environment variable VEILBOX_SOURCE_${name.toUpperCase()}_URL`,
      )
    const source = new PostgresSource({ name, url, poolSize: this.options.poolSize })
    this.postgres.set(name, source)
    return source
  }

  parquetSource(): DuckDbSource {
    if (this.options.parquetRoot === null)
      throw new SourceError(
        'parquet',
        'unavailable',
        'Parquet sources are off on this server: set VEILBOX_PARQUET_ROOT to the directory their files live under',
      )
    this.duckdb ??= new DuckDbSource({
      root: this.options.parquetRoot,
      threads: this.options.duckdbThreads,
      memoryLimitMb: this.options.duckdbMemoryMb,
    })
    return this.duckdb
  }

  async close(): Promise<void> {
    const all = [...this.postgres.values(), ...(this.duckdb === null ? [] : [this.duckdb])]
    this.postgres.clear()
    this.duckdb = null
    await Promise.allSettled(all.map((s) => s.close()))
  }
}
