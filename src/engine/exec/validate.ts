import { badArgument as bad, describe } from './contract.js'
import { tsLoops } from './loops.js'
import { checkBounds, checkQuantum } from './quantum.js'
import {
  MAX_GROUPS,
  type AggregateRequest,
  type CodeArray,
  type ColumnArray,
  type Grouping,
  type Measure,
} from './types.js'

/**
 * The guard in front of every kernel. It runs in JavaScript before the call, so
 * that the native kernel can trust its arguments (a wrong length or group code
 * there is an out-of-bounds access, not an exception) and so that both kernels
 * refuse exactly the same requests with exactly the same messages.
 *
 * Everything here is O(measures) except the group-code scan, which is one pass
 * over the codes. It is skipped when the code type cannot hold a value >= count
 * (a Uint8Array with 256 groups or more), or when grouping.ts built the
 * grouping and vouched for its codes (see `vouchForGrouping`).
 */

/** Histogram cells (groups x bins) one request may allocate: 2^24 doubles, 128 MiB. */
export const MAX_HISTOGRAM_CELLS = 2 ** 24

/** Measures per request: each one is a pass over a column. */
export const MAX_MEASURES = 256

/**
 * Typed arrays hold fewer than 2^32 elements; so does a request. It also keeps
 * any total below 2^32 * 2^31 = 2^63, so an int64 total cannot overflow.
 */
export const MAX_ROWS = 2 ** 32 - 1

const vouched = new WeakSet<Grouping>()

/**
 * Marks a grouping whose every code grouping.ts wrote itself after checking
 * its inputs, so the validator may skip the scan. Only exec code calls this;
 * whoever then writes into `codes` breaks the contract, which is why the native
 * loader can ask for the scan regardless (`scanVouchedGroupings`).
 */
export function vouchForGrouping(grouping: Grouping): void {
  vouched.add(grouping)
}

export interface ValidateOptions {
  /** Scan group codes even for a grouping grouping.ts vouched for. Default false. */
  readonly scanVouchedGroupings?: boolean
}

export function validateRequest(request: AggregateRequest, options: ValidateOptions = {}): void {
  if (request === null || typeof request !== 'object') throw bad('the request must be an object')
  const rows = request.rows
  if (typeof rows !== 'number' || !Number.isInteger(rows) || rows < 0 || rows > MAX_ROWS) {
    throw bad(`rows must be an integer in [0, ${MAX_ROWS}], got ${String(rows)}`)
  }
  const selection = request.selection
  if (selection !== null) {
    if (!(selection instanceof Uint8Array))
      throw bad(`selection must be a Uint8Array or null, got ${describe(selection)}`)
    if (selection.length !== rows) throw bad(`selection has ${selection.length} bytes, expected rows = ${rows}`)
  }
  const groups = request.grouping === null ? 1 : validateGrouping(request.grouping, rows, options)
  const measures = request.measures
  if (!Array.isArray(measures)) throw bad(`measures must be an array, got ${describe(measures)}`)
  if (measures.length > MAX_MEASURES) throw bad(`at most ${MAX_MEASURES} measures per request, got ${measures.length}`)
  measures.forEach((m, i) => {
    validateMeasure(m, `measures[${i}]`, rows, groups)
  })
}

function validateGrouping(grouping: Grouping, rows: number, options: ValidateOptions): number {
  if (grouping === null || typeof grouping !== 'object')
    throw bad(`grouping must be an object or null, got ${describe(grouping)}`)
  const { codes, count } = grouping
  if (!isCodeArray(codes))
    throw bad(`grouping.codes must be a Uint8Array, Uint16Array or Uint32Array, got ${describe(codes)}`)
  if (codes.length !== rows) throw bad(`grouping.codes has ${codes.length} elements, expected rows = ${rows}`)
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > MAX_GROUPS) {
    throw bad(`grouping.count must be an integer in [1, ${MAX_GROUPS}], got ${String(count)}`)
  }
  const representable = codes instanceof Uint8Array ? 256 : codes instanceof Uint16Array ? 65536 : 2 ** 32
  const mustScan = count < representable && (options.scanVouchedGroupings === true || !vouched.has(grouping))
  if (mustScan) {
    const max = tsLoops.maxCode(codes)
    if (max >= count) throw bad(`grouping.codes holds code ${max}, not below grouping.count = ${count}`)
  }
  return count
}

function validateMeasure(m: Measure, at: string, rows: number, groups: number): void {
  if (m === null || typeof m !== 'object') throw bad(`${at} must be an object, got ${describe(m)}`)
  switch (m.kind) {
    case 'moments':
      validateColumn(m.column, `${at}.column`, rows, true)
      checkBounds(m.lower, m.upper, at)
      if (m.quantum === null || typeof m.quantum !== 'object')
        throw bad(`${at}.quantum must be an object, got ${describe(m.quantum)}`)
      checkQuantum(m.lower, m.upper, m.quantum, at)
      if (typeof m.squares !== 'boolean') throw bad(`${at}.squares must be a boolean, got ${describe(m.squares)}`)
      return
    case 'nonNull':
      validateColumn(m.column, `${at}.column`, rows, false)
      return
    case 'histogram': {
      validateColumn(m.column, `${at}.column`, rows, true)
      checkBounds(m.lower, m.upper, at)
      if (!Number.isFinite(m.upper - m.lower))
        throw bad(`${at} needs upper - lower to be finite, got [${m.lower}, ${m.upper}]`)
      const bins = m.bins
      if (typeof bins !== 'number' || !Number.isInteger(bins) || bins < 1)
        throw bad(`${at}.bins must be a positive integer, got ${String(bins)}`)
      if (groups * bins > MAX_HISTOGRAM_CELLS) {
        throw bad(
          `${at} needs ${groups} groups x ${bins} bins = ${groups * bins} cells, more than ${MAX_HISTOGRAM_CELLS}`,
        )
      }
      return
    }
    default:
      throw bad(
        `${at}.kind must be 'moments', 'nonNull' or 'histogram', got ${describe((m as { kind: unknown }).kind)}`,
      )
  }
}

export function validateColumn(col: ColumnArray, at: string, rows: number, numeric: boolean): void {
  if (col === null || typeof col !== 'object') throw bad(`${at} must be a column, got ${describe(col)}`)
  switch (col.kind) {
    case 'f64':
      if (!(col.values instanceof Float64Array))
        throw bad(`${at}.values must be a Float64Array for an f64 column, got ${describe(col.values)}`)
      break
    case 'i32':
      if (!(col.values instanceof Int32Array))
        throw bad(`${at}.values must be an Int32Array for an i32 column, got ${describe(col.values)}`)
      break
    case 'code':
      if (numeric) throw bad(`${at} must be an f64 or i32 column, got a code column`)
      if (!isCodeArray(col.values))
        throw bad(
          `${at}.values must be a Uint8Array, Uint16Array or Uint32Array for a code column, got ${describe(col.values)}`,
        )
      if (!Array.isArray(col.dictionary) && !isPackedShape(col.dictionary))
        throw bad(
          `${at}.dictionary must be an array of strings or packed ids ({ kind: 'ids', length, bytes, offsets }), got ${describe(col.dictionary)}`,
        )
      break
    default:
      throw bad(`${at}.kind must be 'f64', 'i32' or 'code', got ${describe((col as { kind: unknown }).kind)}`)
  }
  if (col.values.length !== rows) throw bad(`${at}.values has ${col.values.length} elements, expected rows = ${rows}`)
  const nulls = col.nulls
  if (nulls !== null) {
    if (!(nulls instanceof Uint8Array)) throw bad(`${at}.nulls must be a Uint8Array or null, got ${describe(nulls)}`)
    const need = Math.ceil(rows / 8)
    if (nulls.length < need)
      throw bad(`${at}.nulls has ${nulls.length} bytes, expected at least ceil(rows / 8) = ${need}`)
  }
}

export function isCodeArray(a: unknown): a is CodeArray {
  return a instanceof Uint8Array || a instanceof Uint16Array || a instanceof Uint32Array
}

/** A packed id dictionary's shape (types.ts IdDictionary): offsets one past the entries, each within the bytes. */
function isPackedShape(d: unknown): boolean {
  if (d === null || typeof d !== 'object') return false
  const p = d as { kind?: unknown; length?: unknown; bytes?: unknown; offsets?: unknown; special?: unknown }
  if (p.kind !== 'ids' || !Number.isInteger(p.length) || !(p.bytes instanceof Uint8Array)) return false
  if (!(p.offsets instanceof Uint32Array) || p.offsets.length < (p.length as number) + 1) return false
  if (p.special !== null && !(p.special instanceof Map)) return false
  return p.offsets[p.length as number]! <= p.bytes.length
}
