import type { ColumnSpec } from '../schema.js'
import { allocate, CHUNK_ROWS, encodingFor, type Encoding } from '../store/encoding.js'
import type { CellValue } from './rows.js'

/** One column's chunk, packed, as the store keeps it. */
export interface PackedChunk {
  readonly encoding: Encoding
  readonly data: Buffer
  readonly nulls: Buffer | null
}

/** A column's values for the chunk being filled: a typed array and a null bitmap, taken when the chunk is full. */
export class ChunkColumn {
  readonly encoding: Encoding
  values: Float64Array | Int32Array | Uint8Array | Uint16Array | Uint32Array
  nulls = new Uint8Array(CHUNK_ROWS / 8)
  hasNull = false

  constructor(readonly column: ColumnSpec) {
    this.encoding = encodingFor(column)
    this.values = allocate(this.encoding, CHUNK_ROWS)
  }

  setNull(i: number): void {
    this.nulls[i >> 3]! |= 1 << (i & 7)
    this.hasNull = true
    this.values[i] = 0
  }

  /**
   * The chunk's first `rows` values, copied out (`values` of them: none when
   * another thread fills them in), with the null bitmap of its `bitmapRows`
   * rows; the column starts a fresh chunk.
   */
  take(rows: number, bitmapRows = rows): PackedChunk {
    // Buffer.alloc, never a pooled Buffer: a chunk's memory may be transferred to another thread whole.
    const data = Buffer.alloc(rows * this.values.BYTES_PER_ELEMENT)
    data.set(new Uint8Array(this.values.buffer, 0, data.length))
    let nulls: Buffer | null = null
    if (this.hasNull) {
      nulls = Buffer.alloc(Math.ceil(bitmapRows / 8))
      nulls.set(this.nulls.subarray(0, nulls.length))
    }
    const out = { encoding: this.encoding, data, nulls }
    this.values.fill(0)
    this.nulls.fill(0)
    this.hasNull = false
    return out
  }
}

/** Packs one column's checked values (the row-at-a-time path: NDJSON, and uploads with he columns). */
export class ColumnBuilder extends ChunkColumn {
  private readonly codes: Map<string, number> | null
  private readonly ordered: string[] = []

  constructor(column: ColumnSpec) {
    super(column)
    if (column.type === 'category' && column.categories) {
      this.codes = new Map(column.categories.map((c, i) => [c, i]))
    } else if (column.type === 'category' || column.type === 'id') {
      this.codes = new Map()
    } else {
      this.codes = null
    }
  }

  /** Stores one value; false (and nothing stored) when it would be a distinct value past the column's maxKeys. */
  push(i: number, v: CellValue): boolean {
    if (v === null) {
      this.setNull(i)
      return true
    }
    switch (this.column.type) {
      case 'integer':
      case 'number':
      case 'date':
      case 'timestamp':
        this.values[i] = v as number
        return true
      case 'boolean':
        this.values[i] = v ? 1 : 0
        return true
      case 'category':
      case 'id': {
        const s = v as string
        let code = this.codes!.get(s)
        if (code === undefined) {
          // Only undeclared domains grow: declared categories were checked already.
          if (this.column.maxKeys !== undefined && this.codes!.size >= this.column.maxKeys) return false
          code = this.codes!.size
          this.codes!.set(s, code)
          this.ordered.push(s)
        }
        this.values[i] = code
        return true
      }
    }
  }

  /** The dictionary stored with the version, when it is not the declared one. */
  dictionary(): string[] | null {
    return storesDictionary(this.column) ? this.ordered : null
  }
}

/** Whether a version stores the column's dictionary: ids and undeclared categories, coded in order of first appearance. */
export function storesDictionary(column: ColumnSpec): boolean {
  return column.type === 'id' || (column.type === 'category' && !column.categories)
}

/** The reason a distinct value past maxKeys is refused (both paths say the same). */
export function pastMaxKeys(column: ColumnSpec): string {
  return `the value is the column's ${column.maxKeys! + 1}th distinct value, more than its declared maxKeys of ${column.maxKeys}; the operator can raise maxKeys in the dataset's declaration`
}
