import type { ColumnSpec } from '../schema.js'

/**
 * How a column is stored: one typed array per chunk of rows (little-endian, as
 * the platform writes it), plus a null bitmap for chunks that hold a null.
 * Codes index the column's dictionary: the declared categories, ['false',
 * 'true'] for booleans, or the values in order of first appearance for
 * undeclared categories and ids.
 */
export type Encoding = 'f64' | 'i32' | 'u8' | 'u16' | 'u32'

export const CHUNK_ROWS = 65_536

const INT32_MIN = -(2 ** 31)
const INT32_MAX = 2 ** 31 - 1

export function encodingFor(col: ColumnSpec): Encoding {
  switch (col.type) {
    case 'number':
    case 'timestamp':
      // Milliseconds since 1970 (src/dates.ts): whole numbers, exact in an f64.
      return 'f64'
    case 'date':
      // Days since 1970-01-01: years 0001 to 9999 fit.
      return 'i32'
    case 'integer':
      return col.lower !== undefined && col.upper !== undefined && col.lower >= INT32_MIN && col.upper <= INT32_MAX
        ? 'i32'
        : 'f64'
    case 'boolean':
      return 'u8'
    case 'category':
      if (col.categories === undefined) return 'u32'
      return col.categories.length <= 256 ? 'u8' : 'u16'
    case 'id':
      return 'u32'
  }
}

export type TypedArrayFor<E extends Encoding> = E extends 'f64'
  ? Float64Array
  : E extends 'i32'
    ? Int32Array
    : E extends 'u8'
      ? Uint8Array
      : E extends 'u16'
        ? Uint16Array
        : Uint32Array

export function allocate(
  encoding: Encoding,
  length: number,
): Float64Array | Int32Array | Uint8Array | Uint16Array | Uint32Array {
  switch (encoding) {
    case 'f64':
      return new Float64Array(length)
    case 'i32':
      return new Int32Array(length)
    case 'u8':
      return new Uint8Array(length)
    case 'u16':
      return new Uint16Array(length)
    case 'u32':
      return new Uint32Array(length)
  }
}

export function bytesPerValue(encoding: Encoding): number {
  return encoding === 'f64' ? 8 : encoding === 'i32' || encoding === 'u32' ? 4 : encoding === 'u16' ? 2 : 1
}

/** A view of a stored chunk blob as its typed array (copied to an aligned buffer). */
export function decodeChunk(
  encoding: Encoding,
  blob: Buffer,
  rows: number,
): Float64Array | Int32Array | Uint8Array | Uint16Array | Uint32Array {
  const out = allocate(encoding, rows)
  new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(blob.subarray(0, rows * bytesPerValue(encoding)))
  return out
}
