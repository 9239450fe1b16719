/**
 * Random sourced datasets for the pushdown tests: a declared spec, rows in
 * `seq` order (the source's rowOrder, and the embedded engine's upload
 * order), the same rows as the embedded engine's column arrays, and loaders
 * into a real PostgreSQL table and a Parquet file (written by DuckDB). The
 * data is made to hurt: nulls, values at and beyond the bounds, infinities,
 * subnormals, negative zero, duplicate units, unicode categories, and rows
 * of another snapshot in the same table.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import pg from 'pg'

import type { TaskColumns } from '../../../src/engine/exec/task.js'
import type { ColumnArray } from '../../../src/engine/exec/types.js'
import type { ColumnSpec, DatasetSpec } from '../../../src/schema.js'
import { datasetSpecSchema } from '../../../src/schema.js'
import type { ExecTask } from '../../../src/engine/exec/task.js'
import { declaredDomain, hasDeclaredDomain } from '../../../src/schema.js'
import { keepFirst, plan } from '../fixtures.js'
import { bitmap, int, pick } from '../exec/fixtures.js'

export type Value = number | string | boolean | null
export type Row = Record<string, Value>

const CATEGORY_POOL = [
  '北京',
  'Zürich',
  'zebra',
  'Äpfel',
  'apple',
  'ß',
  '😀',
  'a b',
  'A',
  'é',
  'e\u0301',
  'Ω',
  '滨城区',
  'x,y',
  'q"t',
]

export interface SourcedData {
  readonly spec: DatasetSpec
  /** Rows of snapshot `snapshot`, in seq order. */
  readonly rows: readonly Row[]
  /** Every row in the table: this snapshot's and another's. */
  readonly tableRows: readonly Row[]
  readonly snapshot: number
  /** The source's columns in table order, with their PostgreSQL and DuckDB types. */
  readonly columns: readonly { name: string; pg: string; duck: string }[]
}

function numberValue(r: () => number, c: ColumnSpec, wild: boolean): number {
  const lo = c.lower!
  const hi = c.upper!
  const u = r()
  if (wild && u < 0.04) return pick(r, [Infinity, -Infinity])
  if (wild && u < 0.12) return pick(r, [lo - (hi - lo) * r(), hi + (hi - lo) * r(), hi * 10, lo * 10 - 1])
  if (u < 0.2) {
    const special = [lo, hi, 0, -0, 5e-324, -1e-310, 2.2250738585072014e-308, (lo + hi) / 2]
    return pick(
      r,
      special.filter((x) => wild || (x >= lo && x <= hi)),
    )
  }
  const x = lo + (hi - lo) * r()
  return c.type === 'integer' ? Math.round(x) : x
}

function integerValue(r: () => number, c: ColumnSpec, wild: boolean): number {
  const lo = c.lower!
  const hi = c.upper!
  if (wild && r() < 0.1) return pick(r, [lo - 1 - int(r, 100), hi + 1 + int(r, 100)])
  if (r() < 0.15) return pick(r, [lo, hi])
  return lo + int(r, hi - lo + 1)
}

/**
 * A random dataset: `wild` puts values beyond the bounds and infinities in
 * (the source must clamp them as the kernels do, and report the snapshot as
 * breaking its declaration); `unique` makes the unit unique (unitBounded).
 */
export function randomSourced(
  r: () => number,
  options: { rows: number; wild: boolean; unique: boolean; selected?: boolean },
): SourcedData {
  const m = options.unique ? 1 : 1 + int(r, 3)
  const columns: ColumnSpec[] = [{ name: 'uid', type: 'id', protection: 'public' }]
  const bounds: [number, number][] = [
    [0, 1_000_000],
    [-50, 200],
    [0, 1e-6],
    [-1e15, 1e15],
    [1, 8],
    [-3.5, -1.25],
  ]
  const nNumbers = 1 + int(r, 3)
  for (let i = 0; i < nNumbers; i++) {
    const [lower, upper] = pick(r, bounds)
    columns.push({ name: `x${i}`, type: 'number', protection: 'dp', lower, upper, nullable: r() < 0.6 })
  }
  const nInts = int(r, 3)
  for (let i = 0; i < nInts; i++) {
    const lower = pick(r, [0, -20, 18, 1])
    columns.push({
      name: `k${i}`,
      type: 'integer',
      protection: 'dp',
      lower,
      upper: lower + pick(r, [1, 7, 82, 1000]),
      nullable: r() < 0.5,
    })
  }
  const nCats = 1 + int(r, 2)
  for (let i = 0; i < nCats; i++) {
    const categories = [...new Set(Array.from({ length: 2 + int(r, 6) }, () => pick(r, CATEGORY_POOL)))]
    columns.push({ name: `c${i}`, type: 'category', protection: 'public', categories, nullable: r() < 0.5 })
  }
  columns.push({ name: 'b0', type: 'boolean', protection: 'public', nullable: r() < 0.5 })
  // Keys found by partition selection: undeclared, at most maxKeys of them (issue 21).
  if (options.selected === true)
    columns.push({ name: 's0', type: 'category', protection: 'public', maxKeys: 16, nullable: r() < 0.5 })
  const spec = datasetSpecSchema.parse({
    id: 'sourced',
    title: 'random sourced data',
    classification: 'internal',
    privacyUnit: 'uid',
    maxRowsPerUnit: m,
    ...(options.selected === true ? { maxGroupsContributed: 1 + int(r, 3) } : {}),
    columns,
    source: { kind: 'postgres', connection: 'test', table: 'public.t', rowOrder: ['seq'], unitBounded: options.unique },
  })
  const units = options.unique ? options.rows : Math.max(1, Math.floor(options.rows / (1 + int(r, 4))))
  const make = (seq: number, snap: number): Row => {
    const row: Row = { seq, snap, uid: options.unique ? `u${seq}` : `u${int(r, units)}` }
    for (const c of spec.columns) {
      if (c.name === 'uid') continue
      if (c.nullable && r() < 0.2) {
        row[c.name] = null
        continue
      }
      if (c.type === 'number') row[c.name] = numberValue(r, c, options.wild)
      else if (c.type === 'integer') row[c.name] = integerValue(r, c, options.wild)
      else if (c.type === 'category')
        row[c.name] = c.categories === undefined ? pick(r, SELECTED_POOL) : pick(r, c.categories)
      else if (c.type === 'boolean') row[c.name] = r() < 0.5
    }
    return row
  }
  const snapshot = 1 + int(r, 5)
  const rows: Row[] = []
  const tableRows: Row[] = []
  for (let seq = 0; seq < options.rows; seq++) {
    const row = make(seq, snapshot)
    rows.push(row)
    tableRows.push(row)
    // Another snapshot's rows in the same table: the statement must never read them.
    if (r() < 0.3) tableRows.push(make(seq, snapshot + 100))
  }
  const types: Record<ColumnSpec['type'], [string, string]> = {
    id: ['text', 'VARCHAR'],
    number: ['double precision', 'DOUBLE'],
    integer: ['bigint', 'BIGINT'],
    category: ['text', 'VARCHAR'],
    boolean: ['boolean', 'BOOLEAN'],
    // Sourced datasets have no date or timestamp columns (the spec refuses them).
    date: ['date', 'DATE'],
    timestamp: ['timestamp', 'TIMESTAMP'],
  }
  return {
    spec,
    rows,
    tableRows,
    snapshot,
    columns: [
      { name: 'seq', pg: 'bigint', duck: 'BIGINT' },
      { name: 'snap', pg: 'integer', duck: 'INTEGER' },
      ...spec.columns.map((c) => ({ name: c.name, pg: types[c.type][0], duck: types[c.type][1] })),
    ],
  }
}

/** The rows as the embedded engine's column arrays, with the contribution bound of the column cache. */
export function embeddedColumns(data: SourcedData): TaskColumns {
  const rows = data.rows
  const columns = new Map<string, ColumnArray>()
  for (const c of data.spec.columns) {
    const values = rows.map((row) => row[c.name] ?? null)
    const nulls = values.some((v) => v === null) ? bitmap(rows.length, (i) => values[i] === null) : null
    if (c.type === 'number') {
      columns.set(c.name, {
        kind: 'f64',
        values: Float64Array.from(values, (v) => (v === null ? 0 : Number(v))),
        nulls,
      })
    } else if (c.type === 'integer') {
      columns.set(c.name, { kind: 'i32', values: Int32Array.from(values, (v) => (v === null ? 0 : Number(v))), nulls })
    } else {
      const dictionary =
        c.type === 'boolean'
          ? ['false', 'true']
          : c.type === 'category'
            ? c.categories === undefined
              ? [...new Set(values.filter((v) => v !== null).map(String))]
              : [...c.categories]
            : [...new Set(values.map(String))]
      const index = new Map(dictionary.map((d, i) => [d, i]))
      columns.set(c.name, {
        kind: 'code',
        values: Uint32Array.from(values, (v) => (v === null ? 0 : index.get(String(v))!)),
        dictionary,
        nulls,
      })
    }
  }
  const units = rows.map((row) => String(row[data.spec.privacyUnit]))
  return { rows: rows.length, columns, keep: keepFirst(units, data.spec.maxRowsPerUnit) }
}

function csvField(v: Value): string {
  if (v === null) return ''
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return 'NaN'
    if (v === Infinity) return 'Infinity'
    if (v === -Infinity) return '-Infinity'
    return Object.is(v, -0) ? '-0' : String(v)
  }
  if (typeof v === 'boolean') return v ? 'true' : 'false'
  return `"${v.replaceAll('"', '""')}"`
}

/** The table's rows as CSV, header first, in a directory PostgreSQL's server user can read. */
export function writeCsv(data: SourcedData, rows: readonly Row[] = data.tableRows): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'veilbox-src-'))
  fs.chmodSync(dir, 0o755)
  const file = path.join(dir, 'rows.csv')
  const names = data.columns.map((c) => c.name)
  const lines = [names.join(','), ...rows.map((row) => names.map((n) => csvField(row[n] ?? null)).join(','))]
  fs.writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o644 })
  return file
}

/** Creates `table` in the database at `url` and copies the rows in (server-side COPY, as the superuser). */
export async function loadPostgres(url: string, table: string, data: SourcedData, csv: string): Promise<void> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query(`DROP TABLE IF EXISTS ${table}`)
    await client.query(`CREATE TABLE ${table} (${data.columns.map((c) => `"${c.name}" ${c.pg}`).join(', ')})`)
    await client.query(`COPY ${table} FROM '${csv}' WITH (FORMAT csv, HEADER true)`)
  } finally {
    await client.end()
  }
}

/** Writes the rows to `file` as Parquet, through a DuckDB of its own (the one under test reads only). */
export async function writeParquet(file: string, data: SourcedData, csv: string): Promise<void> {
  const instance = await DuckDBInstance.create(':memory:')
  const c = await instance.connect()
  try {
    const types = `{${data.columns.map((col) => `'${col.name}': '${col.duck}'`).join(', ')}}`
    await c.run(
      `COPY (SELECT * FROM read_csv('${csv}', header = true, columns = ${types}, quote = '"', escape = '"')) TO '${file}' (FORMAT parquet)`,
    )
  } finally {
    c.closeSync()
    instance.closeSync()
  }
}

export function numeric(spec: DatasetSpec): ColumnSpec[] {
  return spec.columns.filter((c) => c.type === 'number' || c.type === 'integer')
}

export function groupable(spec: DatasetSpec): ColumnSpec[] {
  return spec.columns.filter(hasDeclaredDomain)
}

function sqlLiteral(v: string | number | boolean): string {
  if (typeof v === 'string') return `'${v.replaceAll("'", "''")}'`
  if (typeof v === 'boolean') return v ? 'TRUE' : 'FALSE'
  return String(v)
}

export function randomNumberLiteral(r: () => number, c: ColumnSpec): number {
  const lo = c.lower!
  const hi = c.upper!
  const x = pick(r, [lo, hi, (lo + hi) / 2, lo + (hi - lo) * r(), 0, hi + 1, lo - 1])
  return c.type === 'integer' ? Math.round(x) : Number(x.toPrecision(6))
}

/** A random WHERE in the SQL subset. */
export function sqlWhere(r: () => number, spec: DatasetSpec, depth = 0): string {
  const u = r()
  if (depth < 2 && u < 0.25) {
    const n = 2 + int(r, 2)
    return `(${Array.from({ length: n }, () => sqlWhere(r, spec, depth + 1)).join(pick(r, [' AND ', ' OR ']))})`
  }
  if (depth < 2 && u < 0.32) return `NOT (${sqlWhere(r, spec, depth + 1)})`
  const c = pick(
    r,
    spec.columns.filter((x) => x.type !== 'id'),
  )
  if (r() < 0.12) return `${c.name} IS ${r() < 0.5 ? 'NOT ' : ''}NULL`
  if (c.type === 'number' || c.type === 'integer') {
    const v = r()
    if (v < 0.5) return `${c.name} ${pick(r, ['=', '<>', '<', '<=', '>', '>='])} ${randomNumberLiteral(r, c)}`
    if (v < 0.75) {
      const a = randomNumberLiteral(r, c)
      const b = randomNumberLiteral(r, c)
      return `${c.name} ${r() < 0.3 ? 'NOT ' : ''}BETWEEN ${Math.min(a, b)} AND ${Math.max(a, b)}`
    }
    const list = Array.from({ length: 1 + int(r, 4) }, () => randomNumberLiteral(r, c))
    return `${c.name} ${r() < 0.3 ? 'NOT ' : ''}IN (${list.join(', ')})`
  }
  const domain = c.type === 'category' && c.categories === undefined ? [...SELECTED_POOL, 'absent'] : declaredDomain(c)
  if (r() < 0.6) return `${c.name} ${pick(r, ['=', '<>'])} ${sqlLiteral(pick(r, domain))}`
  const list = Array.from({ length: 1 + int(r, 3) }, () => sqlLiteral(pick(r, domain)))
  return `${c.name} ${r() < 0.3 ? 'NOT ' : ''}IN (${list.join(', ')})`
}

/** BUCKET(col, lower, upper, width) over the column's bounds or a part of them, 1 to 12 buckets. */
export function randomBucket(r: () => number, c: ColumnSpec): string {
  const lo = c.lower!
  const hi = c.upper!
  const from = pick(r, [lo, lo + (hi - lo) * 0.25])
  const to = pick(r, [hi, lo + (hi - lo) * 0.75])
  const count = 1 + int(r, 12)
  return `BUCKET(${c.name}, ${from}, ${to}, ${(to - from) / count})`
}

/** Keys for partition selection: common ones and rare ones, some unicode. */
const SELECTED_POOL = ['C13', 'C13', 'C13', 'F51', 'F51', 'I64', 'I64', 'k-ä', '北京', 'Z99', 'a b', "o'c"]

/** A random query in the SQL subset, planned: the plan's task. */
export function randomSqlTask(r: () => number, spec: DatasetSpec): { task: ExecTask; what: string } {
  const nums = numeric(spec)
  const aggregates = new Set<string>()
  const n = 1 + int(r, 4)
  while (aggregates.size < n) {
    const x = pick(r, nums).name
    aggregates.add(
      pick(r, [
        'COUNT(*)',
        `COUNT(${
          pick(
            r,
            spec.columns.filter((c) => c.type !== 'id'),
          ).name
        })`,
        `SUM(${x})`,
        `AVG(${x})`,
        `VAR(${x})`,
        `STDDEV(${x})`,
        `MEDIAN(${x})`,
        `QUANTILE(${x}, 0.9)`,
        `COUNT(DISTINCT ${spec.privacyUnit})`,
      ]),
    )
  }
  const groups = groupable(spec)
  const selectable = spec.columns.find((c) => c.maxKeys !== undefined)
  const by = groups.length === 0 ? [] : [...new Set(Array.from({ length: int(r, 3) }, () => pick(r, groups).name))]
  // BUCKET keys: equal-width buckets of the declared bounds or a part of them (issue 21).
  if (r() < 0.4) by.push(randomBucket(r, pick(r, nums)))
  // Partition selection: the selected column is the only key.
  if (selectable !== undefined && r() < 0.35) by.splice(0, by.length, selectable.name)
  const where = r() < 0.8 ? ` WHERE ${sqlWhere(r, spec)}` : ''
  const select = [...by, ...aggregates].join(', ')
  const sql = `SELECT ${select} FROM ${spec.id}${where}${by.length > 0 ? ` GROUP BY ${by.join(', ')}` : ''}`
  const p = plan(spec, sql, { epsilon: 1, delta: 1e-6 })
  return { task: { dataset: spec.id, version: 1, ...p.exec }, what: sql }
}
