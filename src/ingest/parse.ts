import type { Readable } from 'node:stream'
import { CsvError, parse as csvParse } from 'csv-parse'
import { VeilboxError } from '../errors/index.js'
import type { DatasetSpec } from '../schema.js'
import { DEFAULT_INGEST_LIMITS, lineTooLong, readLines, utf8Guard, type IngestLimits } from './lines.js'
import { headerOrder } from './header.js'
import { badRow, RowChecker, type CellValue, type RowPosition } from './rows.js'

export const INGEST_FORMATS = ['text/csv', 'application/x-ndjson'] as const
export type IngestFormat = (typeof INGEST_FORMATS)[number]

export interface CheckedRow {
  readonly pos: RowPosition
  /** Values in schema column order. */
  readonly values: readonly CellValue[]
}

/** Parses a streamed upload into checked rows, one at a time (never the whole body), within the limits (lines.ts). */
export function checkedRows(
  spec: DatasetSpec,
  format: IngestFormat,
  input: Readable,
  limits: IngestLimits = DEFAULT_INGEST_LIMITS,
): AsyncGenerator<CheckedRow> {
  return format === 'text/csv' ? csvRows(spec, input, limits) : ndjsonRows(spec, input, limits)
}

async function* csvRows(spec: DatasetSpec, input: Readable, limits: IngestLimits): AsyncGenerator<CheckedRow> {
  const checker = new RowChecker(spec, limits.maxFieldChars)
  // max_record_size bounds the parser's record buffer (characters): a field or record with no end in sight is refused, not grown.
  const parser = csvParse({
    bom: true,
    relax_column_count: true,
    skip_empty_lines: true,
    info: true,
    max_record_size: limits.maxLineBytes,
  })
  const guard = utf8Guard()
  // A stream that failed before reading began (over the upload limit, the client gone, while the store was
  // asked for the dataset) emits no error again: its stored error is the refusal.
  if (input.errored) throw input.errored
  input.on('error', (err) => guard.destroy(err))
  guard.on('error', (err) => parser.destroy(err))
  input.pipe(guard).pipe(parser)
  let order: number[] | null = null
  let row = 0
  try {
    for await (const item of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      const { record, info } = item
      if (order === null) {
        order = headerOrder(spec, record)
        continue
      }
      row += 1
      const pos = { row, line: info.lines }
      if (record.length !== spec.columns.length) {
        throw badRow(pos, null, `the row has ${record.length} fields; the header has ${spec.columns.length}`)
      }
      const values = new Array<CellValue>(spec.columns.length)
      for (let c = 0; c < spec.columns.length; c++) {
        values[c] = checker.fromText(spec.columns[c]!, record[order[c]!]!, pos)
      }
      yield { pos, values }
    }
  } catch (err) {
    if (err instanceof VeilboxError) throw err
    const e = err as { code?: string; lines?: number; message?: string }
    if (e.code === 'CSV_MAX_RECORD_SIZE') throw lineTooLong(e.lines ?? row + 1, limits.maxLineBytes)
    // Every refusal of the CSV parser is a CsvError; not all of their codes start with CSV_ (INVALID_OPENING_QUOTE does not).
    if (err instanceof CsvError || (typeof e.code === 'string' && e.code.startsWith('CSV_'))) {
      throw new VeilboxError(
        'VEILBOX_ERR_INGEST_MALFORMED',
        `the CSV cannot be parsed near line ${e.lines ?? '?'}: ${e.message ?? e.code}`,
        { line: e.lines ?? null },
      )
    }
    throw err
  } finally {
    input.unpipe(guard)
    guard.unpipe(parser)
    guard.destroy()
    parser.destroy()
  }
  if (order === null)
    throw new VeilboxError(
      'VEILBOX_ERR_INGEST_EMPTY',
      'the CSV is empty: it needs a header row and at least one data row',
    )
}

async function* ndjsonRows(spec: DatasetSpec, input: Readable, limits: IngestLimits): AsyncGenerator<CheckedRow> {
  const checker = new RowChecker(spec, limits.maxFieldChars)
  const names = spec.columns.map((c) => c.name)
  const known = new Set(names)
  let row = 0
  for await (const { text, line } of readLines(input, limits.maxLineBytes)) {
    if (text.trim() === '') continue
    row += 1
    const pos = { row, line }
    let obj: unknown
    try {
      obj = JSON.parse(text)
    } catch (err) {
      throw new VeilboxError(
        'VEILBOX_ERR_INGEST_MALFORMED',
        `line ${line} is not valid JSON: ${(err as Error).message}`,
        { row, line },
      )
    }
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
      throw badRow(pos, null, 'each line must be one JSON object')
    }
    const record = obj as Record<string, unknown>
    for (const key of Object.keys(record)) {
      if (!known.has(key)) throw badRow(pos, key, 'the dataset has no such column')
    }
    const values = new Array<CellValue>(names.length)
    for (let c = 0; c < names.length; c++) {
      const name = names[c]!
      if (!Object.hasOwn(record, name)) throw badRow(pos, name, 'the column is missing (send null for an empty value)')
      values[c] = checker.fromJson(spec.columns[c]!, record[name], pos)
    }
    yield { pos, values }
  }
}
