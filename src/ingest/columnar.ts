// Long on purpose: the CSV fast path's per-field conversions sit in one switch, so the call site stays
// monomorphic; each kind's fast case and its fall-back to the row checker belong side by side.
import { createHash } from 'node:crypto'
import type { ColumnSpec, DatasetSpec } from '../schema.js'
import { CHUNK_ROWS } from '../store/encoding.js'
import { ByteKeys } from './byte-keys.js'
import { booleanAt, DeclaredIndex, dictionaryJson, FingerprintBytes, plainJsonString } from './fast-bytes.js'
import { ChunkColumn, pastMaxKeys, storesDictionary, type PackedChunk } from './columns.js'
import { VeilboxError } from '../errors/index.js'
import { type CsvScanner, FIELD_ESCAPED, fieldText, type RecordSink } from './csv-scan.js'
import type { Utf8Checker } from './lines.js'
import { headerOrder } from './header.js'
import { PublicKeys } from './public-table.js'
import { NestedUnits } from './references.js'
import { badRow, RowChecker, type CellValue, type RowPosition } from './rows.js'

/**
 * The CSV fast path's sink: records as byte offsets (csv-scan.ts) checked
 * and packed straight into column chunks, and the fingerprint's canonical
 * rows written as bytes and hashed in blocks.
 *
 * Each field has a fast case that reads its bytes (a short decimal, a
 * declared category, a boolean, a key seen before) and a fall-back that
 * makes the field a string and asks the row checker (rows.ts), the single
 * authority on what a value may be. A fast case only accepts what the
 * checker accepts, gives the same number (a decimal of at most 15 digits is
 * an exact integer over an exact power of ten, so one division rounds it as
 * `Number()` does), and writes the same canonical JSON (a short decimal
 * without redundant zeros is its own shortest form); anything else, and
 * every refusal, goes through the checker. test/ingest/fast.test.ts holds
 * the two paths to the same versions, fingerprints and refusals.
 */

enum Kind {
  Integer,
  Number,
  Boolean,
  Declared,
  Coded,
  /** A coded column without maxKeys, whose keys the caller codes (coding cannot refuse): bytes handed on. */
  Deferred,
  /** A date or timestamp: every value read by the checker (src/dates.ts), its number stored. */
  Temporal,
}

const MAX_FAST_DIGITS = 15
const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k)
const TRUE_JSON = Buffer.from('true')
const FALSE_JSON = Buffer.from('false')
const EMPTY = Buffer.alloc(0)

/** One column's packer: its chunk arrays, and for coded columns the keys seen (as raw bytes) and their order. */
class FastColumn extends ChunkColumn {
  readonly kind: Kind
  readonly lower: number
  readonly upper: number
  /** A key's UTF-8 bytes -> its code (coded columns, and declared ones no single byte tells apart). */
  readonly keys = new ByteKeys()
  /** Declared categories found by one byte, when one does. */
  readonly declared: DeclaredIndex | null = null
  /** Declared categories: each code's canonical JSON bytes. */
  readonly json: Buffer[] = []
  readonly limit: number
  /** Deferred: this chunk's keys end to end, and where each row's ends. */
  raw = Buffer.alloc(0)
  rawLen = 0
  readonly rawEnds: Int32Array | null = null

  constructor(column: ColumnSpec, defer: boolean) {
    super(column)
    this.lower = column.lower ?? Number.NEGATIVE_INFINITY
    this.upper = column.upper ?? Number.POSITIVE_INFINITY
    this.limit = column.maxKeys ?? Number.POSITIVE_INFINITY
    switch (column.type) {
      case 'integer':
        this.kind = Kind.Integer
        break
      case 'number':
        this.kind = Kind.Number
        break
      case 'boolean':
        this.kind = Kind.Boolean
        break
      case 'date':
      case 'timestamp':
        this.kind = Kind.Temporal
        break
      case 'category':
      case 'id':
        this.kind = storesDictionary(column) ? Kind.Coded : Kind.Declared
        for (const c of column.categories ?? []) {
          const bytes = Buffer.from(c, 'utf8')
          this.keys.code(bytes, 0, bytes.length)
          this.json.push(Buffer.from(JSON.stringify(c), 'utf8'))
        }
        if (column.categories) this.declared = DeclaredIndex.of(column.categories)
        if (this.kind === Kind.Coded && defer && column.maxKeys === undefined) {
          this.kind = Kind.Deferred
          this.raw = Buffer.alloc(1 << 20)
          this.rawEnds = new Int32Array(CHUNK_ROWS)
        }
    }
  }

  /** Row i's key, for the caller to code. */
  pushRaw(i: number, buf: Uint8Array, s: number, e: number): void {
    const n = e - s
    if (this.rawLen + n > this.raw.length) {
      const bigger = Buffer.alloc(Math.max(this.raw.length * 2, this.rawLen + n))
      this.raw.copy(bigger, 0, 0, this.rawLen)
      this.raw = bigger
    }
    const raw = this.raw
    let at = this.rawLen
    for (let p = s; p < e; p++) raw[at++] = buf[p]!
    this.rawLen = at
    this.rawEnds![i] = at
  }

  /** The chunk's keys, copied out (memory that may move to another thread); the column starts afresh. */
  takeRaw(rows: number): { bytes: Uint8Array; ends: Int32Array } {
    const bytes = new Uint8Array(this.rawLen)
    bytes.set(this.raw.subarray(0, this.rawLen))
    this.rawLen = 0
    return { bytes, ends: this.rawEnds!.slice(0, rows) }
  }
}

export interface ChunkOut {
  readonly column: string
  readonly chunk: number
  readonly rows: number
  /** For a deferred column, its null bitmap only: the codes come from `raw`. */
  readonly chunkData: PackedChunk
  /** A deferred column's keys: row i's bytes end at ends[i] (a null row's are empty). */
  readonly raw?: { readonly bytes: Uint8Array; readonly ends: Int32Array }
}

export class ColumnarSink implements RecordSink {
  rows = 0
  private inChunk = 0
  private chunk = 0
  private order: number[] | null = null
  private readonly columns: FastColumn[]
  private readonly checker: RowChecker
  private readonly hash = createHash('sha256')
  private readonly fp = new FingerprintBytes(this.hash)
  private readonly publicKeys: PublicKeys | null
  private readonly nested: NestedUnits | null
  /** Values of the row being read, for the row rules that need them (public keys, foreign keys). */
  private readonly values: CellValue[] | null
  /** Full chunks waiting to be taken by the caller. */
  ready: ChunkOut[] = []

  constructor(
    readonly spec: DatasetSpec,
    private readonly maxFieldChars: number,
    /**
     * Hand ids and undeclared categories without maxKeys on as bytes, for the
     * caller to code on its own thread (fast.ts: the parser's thread is the
     * busier one); their dictionaries are then the caller's to make.
     */
    defer = false,
  ) {
    this.columns = spec.columns.map((c) => new FastColumn(c, defer))
    this.checker = new RowChecker(spec, maxFieldChars)
    this.publicKeys = PublicKeys.for(spec)
    this.nested = NestedUnits.for(spec)
    this.values = this.publicKeys || this.nested ? new Array<CellValue>(spec.columns.length) : null
  }

  get headerSeen(): boolean {
    return this.order !== null
  }

  record(buf: Buffer, fields: number, starts: Int32Array, ends: Int32Array, flags: Uint8Array, line: number): void {
    const order = this.order
    if (order === null) {
      const names: string[] = []
      for (let f = 0; f < fields; f++) names.push(fieldText(buf, starts[f]!, ends[f]!, flags[f]!))
      this.order = headerOrder(this.spec, names)
      return
    }
    const row = this.rows + 1
    if (fields !== this.columns.length) {
      throw badRow({ row, line }, null, `the row has ${fields} fields; the header has ${this.columns.length}`)
    }
    const fp = this.fp
    fp.byte(0x5b)
    for (let c = 0; c < this.columns.length; c++) {
      if (c > 0) fp.byte(0x2c)
      const f = order[c]!
      this.field(this.columns[c]!, c, buf, starts[f]!, ends[f]!, flags[f]!, row, line)
    }
    fp.byte(0x5d)
    fp.byte(0x0a)
    if (this.values !== null) {
      const pos = { row, line }
      this.publicKeys?.row(this.values, pos)
      this.nested?.row(this.values, pos)
    }
    this.rows = row
    if (++this.inChunk === CHUNK_ROWS) this.takeChunk()
  }

  private field(
    col: FastColumn,
    c: number,
    buf: Buffer,
    s: number,
    e: number,
    flags: number,
    row: number,
    line: number,
  ): void {
    const i = this.inChunk
    if (s === e) {
      this.slow(col, c, '', row, line)
      return
    }
    if (e - s > this.maxFieldChars || (flags & FIELD_ESCAPED) !== 0) {
      this.slow(col, c, fieldText(buf, s, e, flags), row, line)
      return
    }
    switch (col.kind) {
      case Kind.Integer:
      case Kind.Number: {
        const v = this.decimal(col, buf, s, e)
        if (v === null) {
          this.slow(col, c, buf.toString('latin1', s, e), row, line)
          return
        }
        col.values[i] = v
        if (this.values !== null) this.values[c] = v
        return
      }
      case Kind.Boolean: {
        const v = booleanAt(buf, s, e)
        if (v < 0) {
          this.slow(col, c, buf.toString('utf8', s, e), row, line)
          return
        }
        col.values[i] = v
        if (this.values !== null) this.values[c] = v === 1
        const word = v === 1 ? TRUE_JSON : FALSE_JSON
        this.fp.copy(word, 0, word.length)
        return
      }
      case Kind.Declared: {
        const code = col.declared !== null ? col.declared.find(buf, s, e) : col.keys.find(buf, s, e)
        if (code === -1) {
          this.slow(col, c, buf.toString('utf8', s, e), row, line)
          return
        }
        col.values[i] = code
        if (this.values !== null) this.values[c] = col.column.categories![code]!
        const json = col.json[code]!
        this.fp.copy(json, 0, json.length)
        return
      }
      case Kind.Coded: {
        // Not empty and within maxFieldChars bytes, so within as many characters: the checker would take it as it is.
        let code = col.keys.find(buf, s, e)
        if (code === -1) {
          if (col.keys.size >= col.limit) throw badRow({ row, line }, col.column.name, pastMaxKeys(col.column))
          code = col.keys.add(buf, s, e)
        }
        col.values[i] = code
        if (this.values !== null) this.values[c] = buf.toString('utf8', s, e)
        if (col.keys.isPlain(code)) this.fp.quoted(buf, s, e)
        else this.fp.text(JSON.stringify(buf.toString('utf8', s, e)))
        return
      }
      case Kind.Temporal:
        this.slow(col, c, buf.toString('utf8', s, e), row, line)
        return
      case Kind.Deferred: {
        col.pushRaw(i, buf, s, e)
        if (this.values !== null) this.values[c] = buf.toString('utf8', s, e)
        if (plainJsonString(buf, s, e)) this.fp.quoted(buf, s, e)
        else this.fp.text(JSON.stringify(buf.toString('utf8', s, e)))
        return
      }
    }
  }

  /**
   * A short decimal read from its bytes, checked against the column's type
   * and bounds, its canonical JSON written; null when the checker must decide.
   */
  private decimal(col: FastColumn, buf: Buffer, s: number, e: number): number | null {
    let p = s
    const negative = buf[p] === 0x2d
    if (negative) p++
    const intStart = p
    let m = 0
    while (p < e) {
      const d = buf[p]! - 0x30
      if (d < 0 || d > 9) break
      m = m * 10 + d
      p++
    }
    const intDigits = p - intStart
    if (intDigits === 0) return null
    let frac = 0
    let lastFrac = 0
    if (p < e) {
      if (col.kind === Kind.Integer || buf[p] !== 0x2e) return null
      p++
      while (p < e) {
        const d = buf[p]! - 0x30
        if (d < 0 || d > 9) return null
        m = m * 10 + d
        lastFrac = d
        frac++
        p++
      }
      if (frac === 0) return null
    }
    if (intDigits + frac > MAX_FAST_DIGITS) return null
    let v = frac === 0 ? m : m / POW10[frac]!
    if (negative) v = -v
    if (v < col.lower || v > col.upper) return null
    if (v === 0) {
      this.fp.byte(0x30)
      return 0
    }
    // Canonical when it is the shortest form: no leading zero, no trailing fractional zero, and not so small
    // that JavaScript writes it with an exponent (below 1e-6; at most 15 digits stay far under 1e21).
    const leadingZero = intDigits > 1 && buf[intStart] === 0x30
    const canonical = !leadingZero && (frac === 0 || lastFrac !== 0) && Math.abs(v) >= 1e-6
    if (canonical) this.fp.copy(buf, s, e)
    else this.fp.text(String(v))
    return v
  }

  /** The checker's verdict on a field the fast cases do not take: a value stored, or the refusal thrown. */
  private slow(col: FastColumn, c: number, text: string, row: number, line: number): void {
    const pos: RowPosition = { row, line }
    const v = this.checker.fromText(col.column, text, pos)
    if (this.values !== null) this.values[c] = v
    const i = this.inChunk
    if (v === null) {
      col.setNull(i)
      if (col.kind === Kind.Deferred) col.pushRaw(i, EMPTY, 0, 0)
      this.fp.text('null')
      return
    }
    switch (col.kind) {
      case Kind.Integer:
      case Kind.Number:
      case Kind.Temporal:
      case Kind.Boolean:
        col.values[i] = typeof v === 'boolean' ? (v ? 1 : 0) : (v as number)
        break
      case Kind.Declared:
        col.values[i] = col.column.categories!.indexOf(v as string)
        break
      case Kind.Deferred: {
        const bytes = Buffer.from(v as string, 'utf8')
        col.pushRaw(i, bytes, 0, bytes.length)
        break
      }
      case Kind.Coded: {
        const bytes = Buffer.from(v as string, 'utf8')
        let code = col.keys.find(bytes, 0, bytes.length)
        if (code === -1) {
          if (col.keys.size >= col.limit) throw badRow(pos, col.column.name, pastMaxKeys(col.column))
          code = col.keys.add(bytes, 0, bytes.length)
        }
        col.values[i] = code
      }
    }
    this.fp.text(JSON.stringify(v))
  }

  private takeChunk(): void {
    for (const col of this.columns) {
      const raw = col.kind === Kind.Deferred ? col.takeRaw(this.inChunk) : undefined
      this.ready.push({
        column: col.column.name,
        chunk: this.chunk,
        rows: this.inChunk,
        chunkData: col.take(raw === undefined ? this.inChunk : 0, this.inChunk),
        ...(raw === undefined ? {} : { raw }),
      })
    }
    this.chunk += 1
    this.inChunk = 0
  }

  /** The last, partial chunk, the fingerprint, and the dictionaries (as JSON text) of coded columns. */
  finish(): { sha256: string; dictionaries: { column: string; json: string }[] } {
    if (this.inChunk > 0) this.takeChunk()
    this.fp.flush()
    return {
      sha256: this.hash.digest('hex'),
      dictionaries: this.columns
        .filter((c) => c.kind === Kind.Coded)
        .map((c) => ({ column: c.column.name, json: dictionaryJson(c.keys) })),
    }
  }
}

/**
 * The end of a CSV upload for the fast path, wherever it is parsed (fast.ts,
 * csv-worker.ts): the last bytes scanned, an empty file or one with a
 * header alone refused, then the sink's last chunk, fingerprint and
 * dictionaries.
 */
export function endOfCsv(
  scanner: CsvScanner,
  utf8: Utf8Checker,
  sink: ColumnarSink,
): { sha256: string; dictionaries: { column: string; json: string }[] } {
  scanner.push(utf8.end())
  scanner.end()
  if (!sink.headerSeen)
    throw new VeilboxError(
      'VEILBOX_ERR_INGEST_EMPTY',
      'the CSV is empty: it needs a header row and at least one data row',
    )
  if (sink.rows === 0) throw new VeilboxError('VEILBOX_ERR_INGEST_EMPTY', 'the upload holds no data rows')
  return sink.finish()
}
