import { createHash } from 'node:crypto'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { VeilboxError } from '../../errors/index.js'
import type { ColumnType, DatasetSpec, SourceSpec } from '../../schema.js'
import {
  SourceError,
  type SourceColumn,
  type SourceEngine,
  type SourceFrom,
  type Sources,
} from '../../sources/index.js'
import type { VersionRecord } from '../../store/datasets.js'
import type { ExecResult } from '../exec/executor.js'
import type { ExecTask } from '../exec/task.js'
import {
  checkSnapshot,
  checkTask,
  checkUnchanged,
  declarationCheck,
  postgresChecksum,
  unitBoundCheck,
} from './checks.js'
import { compileTask, type SourceRelation } from './compile.js'
import type { JoinedSide, PublicSide } from './joined.js'
import {
  describeSnapshot,
  fileFacts,
  relationOf,
  snapshotOf,
  type SnapshotRequest,
  type StoredSnapshot,
} from './snapshot.js'

export { snapshotRequestSchema, snapshotView, type SnapshotRequest } from './snapshot.js'
import { dialectFor } from './dialect.js'
import { runStatement } from './run.js'

/**
 * Sourced datasets in the engine: the checks at registration (the source's
 * columns and types, a read-only role), snapshots (a version per immutable
 * snapshot, with its row count and checksum), and queries (one compiled
 * statement, its result checked against the snapshot's registration).
 * docs/sources.md is the operator's guide.
 */

export interface TakenSnapshot {
  /** The JSON the store keeps. */
  readonly snapshot: string
  readonly checksum: string
  readonly rows: number
  /** SHA-256 of the snapshot, its row count and checksum: the version's content hash. */
  readonly sha256: string
  /** What the operator and the audit record see: where the rows are, without credentials. */
  readonly describe: Readonly<Record<string, unknown>>
}

export interface SourceServiceOptions {
  readonly sources: Sources
  /** A query's statement is cancelled past this (VEILBOX_SOURCE_TIMEOUT_MS). */
  readonly timeoutMs: number
  /** Registration's statements (checksums over every row) get this long. */
  readonly registrationTimeoutMs?: number
  /** A query's pushed-down work ends on a multiple of this from its start (VEILBOX_SOURCE_TIME_SLOT_MS). */
  readonly timeSlotMs: number
}

/** Which of the engine's type names may back each declared column type (none a date's: src/schema.ts refuses them on sources). */
const COMPATIBLE: Partial<Record<ColumnType, RegExp>> = {
  id: /^(smallint|integer|bigint|text|uuid|character varying.*|character.*|varchar.*|tinyint|utinyint|usmallint|uinteger|ubigint|hugeint)$/,
  integer: /^(smallint|integer|bigint|tinyint|utinyint|usmallint|uinteger|ubigint|hugeint)$/,
  number:
    /^(smallint|integer|bigint|real|double precision|double|float|numeric.*|decimal.*|tinyint|utinyint|usmallint|uinteger|ubigint|hugeint)$/,
  category: /^(text|character varying.*|character.*|varchar.*)$/,
  boolean: /^boolean$/,
}

function refused(detail: string, extra: Record<string, unknown> = {}): VeilboxError {
  return new VeilboxError('VEILBOX_ERR_SOURCE_REFUSED', detail, extra)
}

export class SourceService {
  private readonly registrationTimeoutMs: number

  constructor(private readonly options: SourceServiceOptions) {
    this.registrationTimeoutMs = options.registrationTimeoutMs ?? 30 * 60_000
  }

  private engine(source: SourceSpec): SourceEngine {
    try {
      return source.kind === 'postgres'
        ? this.options.sources.postgresSource(source.connection)
        : this.options.sources.parquetSource()
    } catch (err) {
      if (err instanceof SourceError) throw refused(err.message, { source: err.source })
      throw err
    }
  }

  /** A statement of registration's: source errors become the operator's refusal, with the source's words. */
  private async registrationRun(engine: SourceEngine, sql: string, params: Parameters<SourceEngine['run']>[1]) {
    try {
      return await engine.run(sql, params, { timeoutMs: this.registrationTimeoutMs })
    } catch (err) {
      if (err instanceof SourceError) throw refused(err.message, { source: err.source })
      throw err
    }
  }

  /** The files a Parquet path names, under the root; refused when it names none. */
  private async parquetFiles(p: string): Promise<string[]> {
    const duck = this.options.sources.parquetSource()
    const absolute = path.resolve(duck.root, p)
    if (absolute !== duck.root && !absolute.startsWith(duck.root + path.sep))
      throw refused(`the Parquet path ${JSON.stringify(p)} is outside the Parquet root (VEILBOX_PARQUET_ROOT)`)
    let files: string[]
    try {
      files = await duck.glob(absolute, { timeoutMs: this.registrationTimeoutMs })
    } catch (err) {
      if (err instanceof SourceError) throw refused(err.message)
      throw err
    }
    if (files.length === 0) throw refused(`no Parquet file matches ${JSON.stringify(p)} under the Parquet root`)
    return files
  }

  /**
   * The checks of a dataset registered with a source, before it is created:
   * the relation exists with every declared column (and the rowOrder ones)
   * in a compatible type, and for PostgreSQL the connection's role holds no
   * write privilege on it. Refused (422, what to fix) otherwise.
   */
  async checkDataset(spec: DatasetSpec): Promise<void> {
    const source = spec.source
    if (source === undefined) return
    const from: SourceFrom =
      source.kind === 'postgres'
        ? { kind: 'table', name: source.table }
        : { kind: 'parquet', files: await this.parquetFiles(source.path) }
    await this.checkRelation(spec, from)
  }

  private async checkRelation(spec: DatasetSpec, from: SourceFrom): Promise<void> {
    const source = spec.source!
    const engine = this.engine(source)
    const where = from.kind === 'table' ? `table ${from.name}` : `${from.files.length} Parquet file(s)`
    let columns: SourceColumn[] | null
    try {
      columns = await engine.describe(from, { timeoutMs: this.registrationTimeoutMs })
    } catch (err) {
      if (err instanceof SourceError) throw refused(err.message, { source: err.source })
      throw err
    }
    if (columns === null) throw refused(`the source has no ${where} (or this connection's role cannot see it)`)
    const types = new Map(columns.map((c) => [c.name, c.type]))
    const problems: string[] = []
    for (const c of spec.columns) {
      const type = types.get(c.name)
      if (type === undefined) problems.push(`column ${c.name} is missing`)
      else if (COMPATIBLE[c.type]?.test(type) !== true)
        problems.push(`column ${c.name} is ${type}, which cannot hold ${c.type} values`)
    }
    for (const name of source.rowOrder ?? []) if (!types.has(name)) problems.push(`rowOrder column ${name} is missing`)
    if (problems.length > 0)
      throw refused(`the ${where} does not match the declared columns: ${problems.join('; ')}`, { problems })
    if (source.kind === 'postgres' && from.kind === 'table') {
      const pg = this.options.sources.postgresSource(source.connection)
      let privileges: string[]
      try {
        privileges = await pg.writePrivileges(from.name, { timeoutMs: this.registrationTimeoutMs })
      } catch (err) {
        if (err instanceof SourceError) throw refused(err.message, { source: err.source })
        throw err
      }
      if (privileges.length > 0)
        throw new VeilboxError(
          'VEILBOX_ERR_SOURCE_WRITABLE',
          `the role of connection "${source.connection}" may ${privileges.join(', ')} on ${from.name}; veilbox reads sources only through a role without write privileges (docs/sources.md shows how to create one)`,
          { privileges },
        )
    }
  }

  /**
   * A snapshot registered as the dataset's next version: where its rows are,
   * checked as at registration; every row checked against the declaration
   * (none may be NaN, infinite, out of bounds, null where not nullable, or
   * an undeclared category, as ingest refuses them); a unitBounded source's
   * units counted; the row count and checksum taken. Nothing is stored here:
   * the caller commits the version (store/uploads.ts).
   */
  async takeSnapshot(spec: DatasetSpec, request: SnapshotRequest): Promise<TakenSnapshot> {
    const source = spec.source
    if (source === undefined)
      throw new VeilboxError(
        'VEILBOX_ERR_SOURCE_NOT_SOURCED',
        `dataset "${spec.id}" has no source; its versions are uploads (POST /v1/datasets/${spec.id}/versions)`,
      )
    if (source.kind === 'postgres' && request.path !== undefined)
      throw refused('"path" names Parquet files; a PostgreSQL source takes "table", or "column" and "value"')
    if (source.kind === 'parquet' && request.table !== undefined)
      throw refused('"table" names a PostgreSQL table; a Parquet source takes "path", or "column" and "value"')
    const filter = request.column === undefined ? null : { column: request.column, value: request.value! }
    let stored: StoredSnapshot
    if (source.kind === 'postgres') {
      stored = { from: { kind: 'table', name: request.table ?? source.table }, filter, files: [] }
    } else {
      const files = await this.parquetFiles(request.path ?? source.path)
      stored = { from: { kind: 'parquet', files }, filter, files: await Promise.all(files.map(fileFacts)) }
    }
    await this.checkRelation(spec, stored.from)
    if (filter !== null && !spec.columns.some((c) => c.name === filter.column)) {
      // The snapshot column need not be declared, but it must exist.
      const columns = await this.engine(source).describe(stored.from, { timeoutMs: this.registrationTimeoutMs })
      if (!columns?.some((c) => c.name === filter.column))
        throw refused(`the snapshot column ${filter.column} is missing from the source`)
    }
    const relation = relationOf(spec, stored)
    const engine = this.engine(source)
    const check = declarationCheck(spec, relation, dialectFor(engine.dialect))
    const checked = check.decode(await this.registrationRun(engine, check.sql, check.params))
    if (checked.rows === 0) throw refused('the snapshot has no rows')
    if (checked.violations > 0)
      throw new VeilboxError(
        'VEILBOX_ERR_SOURCE_BREAKS_DECLARATION',
        `${checked.violations} of the snapshot's ${checked.rows} rows break the dataset's declaration (a NaN, an infinity or a value outside a column's bounds, a fraction in an integer column, a null in a column not declared nullable, a category not among the declared ones, or a null privacy unit); fix the rows at the source, or the declaration, and register the snapshot again`,
        { rows: checked.rows, violations: checked.violations },
      )
    if (source.unitBounded === true) {
      const units = unitBoundCheck(spec, relation)
      const over = Number((await this.registrationRun(engine, units.sql, units.params))[0]?.[0] ?? 0)
      if (over > 0)
        throw refused(
          `the source is declared unitBounded, but ${over} units own more than maxRowsPerUnit (${spec.maxRowsPerUnit}) rows; drop "unitBounded" (veilbox then bounds each unit's rows itself) or fix the source`,
          { units: over },
        )
    }
    const checksum = await this.checksum(spec, stored, relation, engine)
    if (checksum.rows !== checked.rows)
      throw refused('the source changed while the snapshot was being registered; register it again')
    const snapshot = JSON.stringify(stored)
    const sha256 = createHash('sha256')
      .update(JSON.stringify({ source: source.kind, snapshot: stored, rows: checksum.rows, checksum: checksum.text }))
      .digest('hex')
    return {
      snapshot,
      checksum: checksum.text,
      rows: checksum.rows,
      sha256,
      describe: describeSnapshot(source, stored),
    }
  }

  private async checksum(
    spec: DatasetSpec,
    stored: StoredSnapshot,
    relation: SourceRelation,
    engine: SourceEngine,
  ): Promise<{ rows: number; text: string }> {
    if (stored.from.kind === 'parquet') {
      // Parquet files are hashed whole; their rows are counted by the declaration check's statement.
      const check = declarationCheck(spec, relation, dialectFor(engine.dialect))
      const rows = check.decode(await this.registrationRun(engine, check.sql, check.params)).rows
      const files = stored.files.map((f) => `${f.sha256}  ${path.basename(f.path)}`).join('\n')
      return { rows, text: `parquet-sha256:${createHash('sha256').update(files).digest('hex')}` }
    }
    const s = postgresChecksum(spec, relation)
    const [row] = await this.registrationRun(engine, s.sql, s.params)
    return { rows: Number(row![0]), text: `pg-md5-sum:${String(row![0])}:${String(row![1])}` }
  }

  /**
   * The version's snapshot read again whole: its row count and checksum
   * compared with registration's. A mismatch is the caller's to record
   * (store: markSnapshotChanged), after which queries on it are refused.
   */
  async verify(
    spec: DatasetSpec,
    version: VersionRecord,
  ): Promise<{ matches: boolean; rows: number; checksum: string }> {
    if (spec.source === undefined || version.source === null)
      throw new VeilboxError(
        'VEILBOX_ERR_SOURCE_NOT_SOURCED',
        `version ${version.version} of "${spec.id}" is an upload, not a source snapshot: there is no source to verify it against`,
        { dataset: spec.id, version: version.version },
      )
    const stored = snapshotOf(version)
    const engine = this.engine(spec.source!)
    if (stored.from.kind === 'parquet') {
      const now = await Promise.all(stored.files.map((f) => fileFacts(f.path).catch(() => null)))
      if (now.some((f, i) => f === null || f.sha256 !== stored.files[i]!.sha256))
        return { matches: false, rows: version.rows, checksum: 'files changed' }
    }
    const sum = await this.checksum(spec, stored, relationOf(spec, stored), engine)
    return {
      matches: sum.rows === version.rows && sum.text === version.source!.checksum,
      rows: sum.rows,
      checksum: sum.text,
    }
  }

  /**
   * A query's exact aggregates from the source: one statement compiled from
   * the task, bounded by the statement timeout, then checked: the snapshot's
   * row count must be the registered one and no row may break the
   * declaration in the columns the query reads (checked over every row,
   * whatever the WHERE). The work ends on a time slot's boundary, counted
   * from its start, whatever happened.
   */
  async execute(
    spec: DatasetSpec,
    version: VersionRecord,
    task: ExecTask,
    joined?: JoinedSide | PublicSide,
  ): Promise<ExecResult> {
    const started = performance.now()
    try {
      return await this.executeNow(spec, version, task, joined)
    } finally {
      const slot = this.options.timeSlotMs
      if (slot > 0) {
        const elapsed = performance.now() - started
        await sleep(Math.ceil(elapsed / slot) * slot - elapsed)
      }
    }
  }

  private async executeNow(
    spec: DatasetSpec,
    version: VersionRecord,
    task: ExecTask,
    given?: JoinedSide | PublicSide,
  ): Promise<ExecResult> {
    const engine = this.engine(spec.source!)
    if (given !== undefined && 'table' in given) return this.lookup(engine, spec, version, task, given)
    const joined = given
    const sides = [{ spec, version }, ...(joined === undefined ? [] : [joined])]
    for (const side of sides) await checkUnchanged(side.spec, side.version)
    const relations = sides.map((side) => relationOf(side.spec, snapshotOf(side.version)))
    const dialect = dialectFor(engine.dialect)
    if (joined === undefined) {
      const statement = compileTask(task, spec, relations[0]!, dialect)
      const got = statement.decode(await runStatement(engine, this.options.timeoutMs, statement))
      checkSnapshot(spec, version, got)
      return got.result
    }
    // A unit join of two datasets of this source (query/joins.ts checked they share it): one statement over the
    // pairs, and each side's snapshot checked over all its rows in the columns the query reads of it.
    if (task.join === undefined || joined.spec.source === undefined)
      throw new VeilboxError(
        'VEILBOX_ERR_EXEC_BAD_ARGUMENT',
        'a pushed-down join needs the join part and a sourced side',
      )
    const statement = compileTask(task, joined.bound, relations[0]!, dialect, {
      left: { spec, relation: relations[0]! },
      right: { spec: joined.spec, relation: relations[1]! },
    })
    const got = statement.decode(await runStatement(engine, this.options.timeoutMs, statement))
    for (const [k, side] of sides.entries()) {
      const which = k === 0 ? 'left' : 'right'
      const check = checkTask(
        side.version.version,
        side.spec,
        task.join.columns.filter((c) => c.side === which),
      )
      const counted = compileTask(check, side.spec, relations[k]!, dialect)
      checkSnapshot(
        side.spec,
        side.version,
        counted.decode(await runStatement(engine, this.options.timeoutMs, counted)),
      )
    }
    return got.result
  }

  /** A public table's lookup at the source: one statement with the table's rows as lists; the snapshot checked apart. */
  private async lookup(
    engine: SourceEngine,
    spec: DatasetSpec,
    version: VersionRecord,
    task: ExecTask,
    side: PublicSide,
  ): Promise<ExecResult> {
    await checkUnchanged(spec, version)
    const relation = relationOf(spec, snapshotOf(version))
    const dialect = dialectFor(engine.dialect)
    const statement = compileTask(task, side.bound, relation, dialect, { table: side.table })
    const got = statement.decode(await runStatement(engine, this.options.timeoutMs, statement))
    const check = checkTask(
      version.version,
      spec,
      task.join!.columns.filter((c) => c.side === 'left'),
    )
    const counted = compileTask(check, spec, relation, dialect)
    checkSnapshot(spec, version, counted.decode(await runStatement(engine, this.options.timeoutMs, counted)))
    return got.result
  }
}
