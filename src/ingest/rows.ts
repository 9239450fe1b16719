import { VeilboxError } from '../errors/index.js'
import { formatTemporal, parseTemporal, type TemporalType, temporalForm } from '../dates.js'
import type { ColumnSpec, DatasetSpec } from '../schema.js'

/**
 * Checks one data row against the dataset's schema and turns it into typed
 * values. The first broken rule fails the row, and with it the whole upload.
 */

export type CellValue = number | string | boolean | null

export interface RowPosition {
  /** 1-based data row, header not counted. */
  readonly row: number
  /** 1-based line of the input where the row ends. */
  readonly line: number
}

export function badRow(pos: RowPosition, column: string | null, reason: string): VeilboxError {
  const where =
    column === null
      ? `data row ${pos.row} (line ${pos.line})`
      : `data row ${pos.row} (line ${pos.line}), column "${column}"`
  return new VeilboxError(
    'VEILBOX_ERR_INGEST_BAD_ROW',
    `${where}: ${reason}. Nothing from this upload was stored; fix the row and upload the whole file again.`,
    { row: pos.row, line: pos.line, column, reason },
  )
}

function fieldTooLong(pos: RowPosition, column: string, max: number): VeilboxError {
  return new VeilboxError(
    'VEILBOX_ERR_INGEST_FIELD_TOO_LONG',
    `data row ${pos.row} (line ${pos.line}), column "${column}": the value is longer than ${max} characters (VEILBOX_INGEST_MAX_FIELD_KB). Nothing from this upload was stored`,
    { row: pos.row, line: pos.line, column, maxChars: max },
  )
}

const INTEGER_TEXT = /^[+-]?\d+$/
// Decimal or scientific notation; excludes NaN, Infinity, hex, empty.
const NUMBER_TEXT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/
const TRUE_TEXT = new Set(['true', 'TRUE', 'True', '1'])
const FALSE_TEXT = new Set(['false', 'FALSE', 'False', '0'])

export class RowChecker {
  private readonly columns: readonly ColumnSpec[]
  private readonly categorySets: ReadonlyMap<string, ReadonlySet<string>>

  constructor(
    spec: DatasetSpec,
    /** Characters of one field (VEILBOX_INGEST_MAX_FIELD_KB). */
    private readonly maxFieldChars = 64 * 1024,
  ) {
    this.columns = spec.columns
    const sets = new Map<string, ReadonlySet<string>>()
    for (const c of spec.columns) if (c.categories) sets.set(c.name, new Set(c.categories))
    this.categorySets = sets
  }

  /** A CSV cell (always text; the empty string is null). */
  fromText(col: ColumnSpec, text: string, pos: RowPosition): CellValue {
    if (text === '') return this.nullFor(col, pos)
    if (text.length > this.maxFieldChars) throw fieldTooLong(pos, col.name, this.maxFieldChars)
    switch (col.type) {
      case 'integer': {
        if (!INTEGER_TEXT.test(text)) {
          // "12.0" is a whole number written as a decimal: accept it, refuse "12.5".
          const n = NUMBER_TEXT.test(text) ? Number(text) : Number.NaN
          if (!Number.isInteger(n)) throw badRow(pos, col.name, `"${clip(text)}" is not a whole number`)
          return this.checkNumber(col, n, pos)
        }
        return this.checkNumber(col, Number(text), pos)
      }
      case 'number':
        if (!NUMBER_TEXT.test(text)) throw badRow(pos, col.name, `"${clip(text)}" is not a finite decimal number`)
        return this.checkNumber(col, Number(text), pos)
      case 'boolean':
        if (TRUE_TEXT.has(text)) return true
        if (FALSE_TEXT.has(text)) return false
        throw badRow(pos, col.name, `"${clip(text)}" is not a boolean (use true/false or 1/0)`)
      case 'category':
        return this.checkCategory(col, text, pos)
      case 'id':
        return text
      case 'date':
      case 'timestamp':
        return this.checkTemporal(col, col.type, text, pos)
    }
  }

  /** An NDJSON value (already a JSON value). */
  fromJson(col: ColumnSpec, value: unknown, pos: RowPosition): CellValue {
    if (value === null) return this.nullFor(col, pos)
    switch (col.type) {
      case 'integer':
        if (typeof value !== 'number' || !Number.isInteger(value)) {
          throw badRow(pos, col.name, `${describe(value)} is not a whole number`)
        }
        return this.checkNumber(col, value, pos)
      case 'number':
        if (typeof value !== 'number') throw badRow(pos, col.name, `${describe(value)} is not a number`)
        return this.checkNumber(col, value, pos)
      case 'boolean':
        if (typeof value !== 'boolean') throw badRow(pos, col.name, `${describe(value)} is not true or false`)
        return value
      case 'category':
        if (typeof value !== 'string') throw badRow(pos, col.name, `${describe(value)} is not a string`)
        if (value.length > this.maxFieldChars) throw fieldTooLong(pos, col.name, this.maxFieldChars)
        return this.checkCategory(col, value, pos)
      case 'id':
        if (typeof value === 'string' && value.length > this.maxFieldChars)
          throw fieldTooLong(pos, col.name, this.maxFieldChars)
        if (typeof value === 'string' && value !== '') return value
        if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value)
        throw badRow(pos, col.name, `${describe(value)} is not an id (a non-empty string or a whole number)`)
      case 'date':
      case 'timestamp':
        if (typeof value !== 'string')
          throw badRow(pos, col.name, `${describe(value)} is not a ${col.type} (a string ${temporalForm(col.type)})`)
        if (value.length > this.maxFieldChars) throw fieldTooLong(pos, col.name, this.maxFieldChars)
        return this.checkTemporal(col, col.type, value, pos)
    }
  }

  /** A date or timestamp: its stored number (src/dates.ts), within the declared bounds. */
  private checkTemporal(col: ColumnSpec, type: TemporalType, text: string, pos: RowPosition): number {
    const v = parseTemporal(type, text)
    if (v === null) throw badRow(pos, col.name, `"${clip(text)}" is not a ${type} (${temporalForm(type)})`)
    if (v < col.lower! || v > col.upper!)
      throw badRow(
        pos,
        col.name,
        `${text} is outside the declared range [${formatTemporal(type, col.lower!)}, ${formatTemporal(type, col.upper!)}]`,
      )
    return v
  }

  private nullFor(col: ColumnSpec, pos: RowPosition): null {
    if (col.type === 'id') throw badRow(pos, col.name, 'the privacy unit / id is missing')
    if (!col.nullable) throw badRow(pos, col.name, 'the value is missing and the column is not nullable')
    return null
  }

  private checkNumber(col: ColumnSpec, n: number, pos: RowPosition): number {
    if (!Number.isFinite(n)) throw badRow(pos, col.name, `${n} is not finite (NaN and Infinity are refused)`)
    if (col.type === 'integer' && !Number.isSafeInteger(n)) {
      throw badRow(pos, col.name, `${n} is beyond the exactly representable integers (±2^53)`)
    }
    if (col.lower !== undefined && n < col.lower)
      throw badRow(pos, col.name, `${n} is below the declared lower bound ${col.lower}`)
    if (col.upper !== undefined && n > col.upper)
      throw badRow(pos, col.name, `${n} is above the declared upper bound ${col.upper}`)
    // -0 and 0 are one value; keep one spelling so the fingerprint is stable.
    return n === 0 ? 0 : n
  }

  private checkCategory(col: ColumnSpec, text: string, pos: RowPosition): string {
    const set = this.categorySets.get(col.name)
    if (set && !set.has(text)) {
      throw badRow(
        pos,
        col.name,
        `"${clip(text)}" is not one of the declared categories (${[...set].slice(0, 10).join(', ')}${set.size > 10 ? ', ...' : ''})`,
      )
    }
    return text
  }

  get schemaColumns(): readonly ColumnSpec[] {
    return this.columns
  }
}

function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}...` : text
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `the string "${clip(value)}"`
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'object') return 'an object'
  return String(value)
}
