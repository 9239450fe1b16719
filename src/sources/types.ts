/**
 * The owner's engines as veilbox reaches them: a PostgreSQL server through a
 * named connection, or Parquet files through an embedded DuckDB. This layer
 * runs statements it is given, with their values bound, and reads back rows;
 * it knows nothing of privacy (the engine compiles every statement,
 * src/engine/pushdown) and stores nothing.
 *
 * Credentials. A connection's URL is read from the environment once
 * (src/config) and given to node-postgres; no message of this layer carries
 * it: errors name the connection, never its URL (see `SourceError`).
 */

/** A list parameter: a PostgreSQL array or a DuckDB list of that element type. */
export interface SourceList {
  readonly list: readonly (number | string | boolean)[]
  readonly type: 'float8' | 'text' | 'boolean'
}

export type SourceParam = number | string | boolean | SourceList

export interface RunOptions {
  /** The statement is cancelled past this. */
  readonly timeoutMs: number
}

/** A source column as the engine describes it: its name and the engine's type name, lower case. */
export interface SourceColumn {
  readonly name: string
  readonly type: string
}

/** The rows a statement reads: a table or view (`schema.table`), or a fixed list of Parquet files. */
export type SourceFrom =
  | { readonly kind: 'table'; readonly name: string }
  | { readonly kind: 'parquet'; readonly files: readonly string[] }

export interface SourceEngine {
  readonly dialect: 'postgres' | 'duckdb'
  /** Runs one statement; its rows as arrays, in select-list order. */
  run(sql: string, params: readonly SourceParam[], options: RunOptions): Promise<unknown[][]>
  /** The relation's columns, or null when it does not exist. */
  describe(from: SourceFrom, options: RunOptions): Promise<SourceColumn[] | null>
  close(): Promise<void>
}

/**
 * Statement failures, named by connection: `kind` says whether the source
 * timed out, refused the statement, was unreachable, or had as many
 * statements waiting as it may queue.
 */
export class SourceError extends Error {
  constructor(
    readonly source: string,
    readonly kind: 'timeout' | 'unavailable' | 'refused' | 'busy',
    message: string,
  ) {
    super(message)
    this.name = 'SourceError'
  }
}
