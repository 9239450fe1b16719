import { mulberry32 } from '../../../src/engine/mulberry32.js'
import type { CodeArray, ColumnArray, NullBitmap } from '../../../src/engine/exec/types.js'

/**
 * Test data builders. The PRNG is mulberry32, seeded: test data must be
 * reproducible, and nothing here is privacy noise.
 */
export const rng = mulberry32

export function int(r: () => number, n: number): number {
  return Math.floor(r() * n)
}

export function pick<T>(r: () => number, items: readonly T[]): T {
  return items[int(r, items.length)]!
}

export function bitmap(rows: number, isNull: (row: number) => boolean): NullBitmap {
  const b = new Uint8Array(Math.ceil(rows / 8))
  for (let i = 0; i < rows; i++) if (isNull(i)) b[i >> 3]! |= 1 << (i & 7)
  return b
}

export function isNullAt(col: ColumnArray, row: number): boolean {
  return col.nulls !== null && ((col.nulls[row >> 3]! >> (row & 7)) & 1) === 1
}

export function f64(values: ArrayLike<number>, nulls: NullBitmap | null = null): ColumnArray & { kind: 'f64' } {
  return { kind: 'f64', values: Float64Array.from(values), nulls }
}

export function i32(values: ArrayLike<number>, nulls: NullBitmap | null = null): ColumnArray & { kind: 'i32' } {
  return { kind: 'i32', values: Int32Array.from(values), nulls }
}

export function codeColumn(
  values: CodeArray,
  dictionary: readonly string[],
  nulls: NullBitmap | null = null,
): ColumnArray & { kind: 'code' } {
  return { kind: 'code', values, dictionary, nulls }
}

/** A selection where each row is kept with probability `keep`. */
export function selectionOf(r: () => number, rows: number, keep: number): Uint8Array {
  const s = new Uint8Array(rows)
  for (let i = 0; i < rows; i++) s[i] = r() < keep ? 1 : 0
  return s
}
