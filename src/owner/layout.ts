import { VeilboxError } from '../errors/index.js'
import type { RowPosition } from '../ingest/rows.js'

/**
 * Where the owner's CSV keeps its columns, from its header: the he columns'
 * positions and the plain ones', in order. And the usual row read where it
 * lies: a quote-free line with exactly the header's number of fields and
 * nothing JSON would escape (no backslash, no control character, no
 * surrogate) has its he fields sliced out and its plain fields written as
 * the JSON array `JSON.stringify` would make of them (`["a","b"]`: each run
 * of adjacent plain fields is the line's text with its commas made `","`),
 * with no array of fields and no stringify per row. Anything else is split
 * into fields and goes the general way (encrypt.ts), which also makes the
 * refusals.
 */
export class Layout {
  readonly width: number
  readonly heAt: readonly number[]
  readonly plainAt: readonly number[]
  readonly plainNames: readonly string[]
  /** Runs of adjacent plain fields, first and last. */
  private readonly runs: readonly (readonly [number, number])[]
  private readonly commas: Int32Array
  private text = ''

  constructor(names: readonly string[], heNames: readonly string[]) {
    this.width = names.length
    if (new Set(names).size !== names.length)
      throw new VeilboxError('VEILBOX_ERR_INGEST_BAD_HEADER', 'the CSV header names a column twice')
    this.heAt = heNames.map((name) => {
      const i = names.indexOf(name)
      if (i < 0)
        throw new VeilboxError('VEILBOX_ERR_INGEST_BAD_HEADER', `the CSV header lacks the he column ${name}`, {
          column: name,
        })
      return i
    })
    this.plainAt = names.map((_, i) => i).filter((i) => !this.heAt.includes(i))
    this.plainNames = this.plainAt.map((i) => names[i]!)
    const runs: [number, number][] = []
    for (const i of this.plainAt) {
      const last = runs.at(-1)
      if (last !== undefined && last[1] === i - 1) last[1] = i
      else runs.push([i, i])
    }
    this.runs = runs
    this.commas = new Int32Array(Math.max(0, this.width - 1))
  }

  checkWidth(fields: number, pos: RowPosition): void {
    if (fields !== this.width)
      throw new VeilboxError(
        'VEILBOX_ERR_INGEST_BAD_ROW',
        `data row ${pos.row} (line ${pos.line}) has ${fields} fields; the header has ${this.width}`,
        { row: pos.row, line: pos.line },
      )
  }

  /** The line, when it is the usual row (see above); null when it must go the general way. */
  read(text: string): this | null {
    if (text.length === 0) return null
    let n = 0
    for (let i = text.indexOf(','); i !== -1; i = text.indexOf(',', i + 1)) {
      if (n === this.commas.length) return null
      this.commas[n++] = i
    }
    if (n !== this.commas.length) return null
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i)
      if (c === 92 || c < 32 || (c >= 0xd800 && c <= 0xdfff)) return null
    }
    this.text = text
    return this
  }

  private start(field: number): number {
    return field === 0 ? 0 : this.commas[field - 1]! + 1
  }

  private end(field: number): number {
    return field === this.width - 1 ? this.text.length : this.commas[field]!
  }

  /** The k-th he field of the line read. */
  he(k: number): string {
    const field = this.heAt[k]!
    return this.text.slice(this.start(field), this.end(field))
  }

  /** The plain fields of the line read, as JSON.stringify writes the array of them. */
  plainJson(): string {
    if (this.runs.length === 0) return '[]'
    let json = '["'
    for (let r = 0; r < this.runs.length; r++) {
      const [a, b] = this.runs[r]!
      if (r > 0) json += '","'
      json += this.text.slice(this.start(a), this.end(b)).replaceAll(',', '","')
    }
    return `${json}"]`
  }
}
