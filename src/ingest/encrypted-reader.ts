import { VeilboxError } from '../errors/index.js'
import type { HeProfile } from '../engine/he/profile.js'
import {
  type CiphertextChecker,
  cipherLineSchema,
  columnBatchRows,
  CIPHERTEXT_KINDS,
  endLineSchema,
  ENCRYPTED_CONTENT_TYPE,
  kindContexts,
  MAX_CIPHERTEXT_BYTES,
  uploadHeaderSchema,
  type CiphertextKind,
  type UploadHeader,
} from '../engine/he/upload.js'
import type { DatasetSpec } from '../schema.js'
import { badRow, RowChecker, type CellValue, type RowPosition } from './rows.js'

/**
 * Reading an encrypted upload (format in src/engine/he/upload.ts), line by
 * line, in whichever thread parses it (encrypted.ts here, or its worker,
 * encrypted-worker.ts): the header checked against the dataset and its HE
 * profile; each row's plain cells through the same RowChecker as a CSV
 * cell; each ciphertext decoded (canonical base64 only), bounded, checked to
 * be a fresh encryption under its context (CiphertextChecker), within the
 * rows, and seen once; the end line's count. What passes goes to a
 * `ReaderSink` in file order: the StagedVersion itself, or the worker's
 * messages to it. `finish` checks that every batch of every he column came.
 */

/** Where checked rows and ciphertexts go, in file order (StagedVersion has this shape). */
export interface ReaderSink {
  pushRow(values: readonly CellValue[], pos: RowPosition): void
  putCiphertext(column: string, kind: CiphertextKind, context: number, batch: number, bytes: Uint8Array): void
}

export function malformed(line: number, detail: string): VeilboxError {
  return new VeilboxError(
    'VEILBOX_ERR_INGEST_MALFORMED',
    `line ${line} of the encrypted upload: ${detail}; nothing was stored`,
    { line },
  )
}

/** As ingest's own (index.ts), for the thread that reads. */
function tooManyRows(profile: HeProfile): VeilboxError {
  return new VeilboxError(
    'VEILBOX_ERR_HE_CAPACITY_EXCEEDED',
    `the upload has more than ${profile.maxRows} rows, the most the dataset's HE keys were made for (an encrypted sum over more could wrap); a custodian makes keys with a larger maxRows for a new dataset`,
    { maxRows: profile.maxRows },
  )
}

export function emptyUpload(): VeilboxError {
  return new VeilboxError(
    'VEILBOX_ERR_INGEST_EMPTY',
    'the encrypted upload is empty: it needs a header line, rows, ciphertexts and an end line',
  )
}

/** A ciphertext line's bytes, checked: canonical base64, no larger than any profile makes, fresh under its context. */
function readCiphertext(checker: CiphertextChecker, context: number, data: string, what: string, line: number) {
  const bytes = Buffer.from(data, 'base64')
  // Node's decoder skips what is not base64; encoding back must give the very text.
  if (bytes.toString('base64') !== data) throw malformed(line, 'a bad ciphertext line (data: must be base64)')
  if (bytes.length > MAX_CIPHERTEXT_BYTES)
    throw malformed(line, `a ciphertext of ${bytes.length} bytes is larger than any this profile makes`)
  checker.check(context, bytes, what)
  return bytes
}

function incomplete(detail: string, extra: Record<string, unknown> = {}): VeilboxError {
  return new VeilboxError(
    'VEILBOX_ERR_INGEST_INCOMPLETE',
    `${detail}; nothing was stored. Upload the whole file that veilbox encrypt wrote.`,
    extra,
  )
}

/**
 * A row line as JSON.parse reads it. The usual row, ["p1","north","true"]
 * with no backslash and no control character, is split at its `","`: with no
 * escapes, every quote is a string's end or start, so that is what JSON.parse
 * would make of it, at a third of the cost. Anything else (spaces, escapes,
 * numbers, a quote inside a piece) is JSON.parse's.
 */
function parseRow(text: string): string[] | null {
  const n = text.length
  if (n < 4 || text.charCodeAt(0) !== 91 || text.charCodeAt(1) !== 34) return null
  if (text.charCodeAt(n - 1) !== 93 || text.charCodeAt(n - 2) !== 34) return null
  for (let i = 2; i < n - 2; i++) {
    const c = text.charCodeAt(i)
    // A backslash or a control character: escapes, or what JSON refuses.
    if (c === 92 || c < 32) return null
  }
  const cells = text.slice(2, n - 2).split('","')
  for (const c of cells) if (c.includes('"')) return null
  return cells
}

export function parseLine(text: string, line: number): unknown {
  const row = parseRow(text)
  if (row !== null) return row
  try {
    return JSON.parse(text)
  } catch (err) {
    throw malformed(line, `not valid JSON (${(err as Error).message})`)
  }
}

function issues(error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] }): string {
  return error.issues.map((i) => `${i.path.map(String).join('.') || '(line)'}: ${i.message}`).join('; ')
}

export class EncryptedReader {
  private plainOrder: number[] = []
  private readonly rowChecker: RowChecker
  private readonly heNames: readonly string[]
  private readonly seen = new Set<string>()
  private rows = 0
  private headerSeen = false
  private ended = false
  private readonly maxBatches: ReadonlyMap<string, number>

  constructor(
    private readonly spec: DatasetSpec,
    private readonly profile: HeProfile,
    /** The SEAL checker, asked for at the first ciphertext (a worker loads SEAL meanwhile). */
    private readonly checker: () => CiphertextChecker,
    maxFieldChars: number,
  ) {
    this.rowChecker = new RowChecker(spec, maxFieldChars)
    this.heNames = spec.columns.filter((c) => c.protection === 'he').map((c) => c.name)
    this.maxBatches = new Map(this.heNames.map((c) => [c, Math.ceil(profile.maxRows / columnBatchRows(profile, c))]))
  }

  get hasHeader(): boolean {
    return this.headerSeen
  }

  get rowCount(): number {
    return this.rows
  }

  header(raw: unknown, line: number): void {
    const parsed = uploadHeaderSchema.safeParse(raw)
    if (!parsed.success) {
      throw malformed(
        line,
        `the first line must be the header of a ${ENCRYPTED_CONTENT_TYPE} file (${issues(parsed.error)}); write the file with veilbox encrypt`,
      )
    }
    const h: UploadHeader = parsed.data
    if (h.dataset !== this.spec.id) {
      throw new VeilboxError(
        'VEILBOX_ERR_INGEST_PROFILE_MISMATCH',
        `the file was encrypted for dataset ${h.dataset}, not ${this.spec.id}`,
        { dataset: this.spec.id, fileDataset: h.dataset },
      )
    }
    if (h.profileId !== this.profile.id) {
      throw new VeilboxError(
        'VEILBOX_ERR_INGEST_PROFILE_MISMATCH',
        `the file was encrypted under HE profile ${h.profileId.slice(0, 12)}, but dataset ${this.spec.id}'s keys are profile ${this.profile.id.slice(0, 12)}; encrypt again with the custodian's current key directory`,
        { dataset: this.spec.id, profileId: this.profile.id, fileProfileId: h.profileId },
      )
    }
    const he = new Set(this.heNames)
    const sameSet = (a: readonly string[], b: ReadonlySet<string>) => a.length === b.size && a.every((x) => b.has(x))
    if (!sameSet(h.he, he)) {
      throw new VeilboxError(
        'VEILBOX_ERR_INGEST_BAD_HEADER',
        `the file encrypts columns ${h.he.join(', ')}; dataset ${this.spec.id}'s encrypted columns are ${[...he].join(', ')}`,
      )
    }
    const plain = this.spec.columns.filter((c) => c.protection !== 'he').map((c) => c.name)
    if (!sameSet(h.columns, new Set(plain))) {
      throw new VeilboxError(
        'VEILBOX_ERR_INGEST_BAD_HEADER',
        `the file's plain columns are ${h.columns.join(', ')}; dataset ${this.spec.id}'s are ${plain.join(', ')}, each once`,
      )
    }
    const index = new Map(this.spec.columns.map((c, i) => [c.name, i]))
    this.plainOrder = h.columns.map((c) => index.get(c)!)
    this.headerSeen = true
  }

  /** One line after the header. */
  line(raw: unknown, line: number, sink: ReaderSink): void {
    if (this.ended) throw malformed(line, 'nothing may follow the end line')
    if (Array.isArray(raw)) {
      this.row(raw, line, sink)
      return
    }
    if (raw !== null && typeof raw === 'object' && 'column' in raw) {
      this.ciphertext(raw, line, sink)
      return
    }
    if (raw !== null && typeof raw === 'object' && 'end' in raw) {
      const end = endLineSchema.safeParse(raw)
      if (!end.success) throw malformed(line, `a bad end line (${issues(end.error)})`)
      if (end.data.rows !== this.rows)
        throw incomplete(`the end line counts ${end.data.rows} rows, but the file holds ${this.rows}`, {
          rows: this.rows,
          declared: end.data.rows,
        })
      this.ended = true
      return
    }
    throw malformed(
      line,
      'each line after the header is a row (a JSON array), a ciphertext ({"column", ...}) or the end line ({"end": true, ...})',
    )
  }

  private row(cells: unknown[], line: number, sink: ReaderSink): void {
    this.rows += 1
    const pos = { row: this.rows, line }
    if (this.rows > this.profile.maxRows) throw tooManyRows(this.profile)
    if (cells.length !== this.plainOrder.length)
      throw badRow(
        pos,
        null,
        `the row has ${cells.length} cells; the header names ${this.plainOrder.length} plain columns`,
      )
    const values = new Array<CellValue>(this.spec.columns.length).fill(null)
    for (let i = 0; i < cells.length; i++) {
      const col = this.spec.columns[this.plainOrder[i]!]!
      const cell = cells[i]
      if (typeof cell !== 'string')
        throw badRow(pos, col.name, 'plain cells of an encrypted upload are CSV text (a JSON string; "" for null)')
      values[this.plainOrder[i]!] = this.rowChecker.fromText(col, cell, pos)
    }
    sink.pushRow(values, pos)
  }

  private ciphertext(raw: object, line: number, sink: ReaderSink): void {
    const parsed = cipherLineSchema.safeParse(raw)
    if (!parsed.success) throw malformed(line, `a bad ciphertext line (${issues(parsed.error)})`)
    const c = parsed.data
    if (!this.heNames.includes(c.column))
      throw malformed(line, `column ${c.column} is not an encrypted column of the dataset`)
    const contexts = kindContexts(this.profile, c.column, c.kind)
    if (contexts.length === 0)
      throw malformed(line, `column ${c.column} has no encrypted squares: its keys were made without variance`)
    if (!contexts.includes(c.context))
      throw malformed(
        line,
        `the ${c.kind} of column ${c.column} are encrypted under contexts ${contexts.join(', ')}, not ${c.context}`,
      )
    const max = this.maxBatches.get(c.column)!
    if (c.batch >= max)
      throw incomplete(
        `batch ${c.batch} of column ${c.column} lies beyond the ${this.profile.maxRows} rows the keys were made for`,
        { column: c.column, batch: c.batch },
      )
    const key = `${c.column}\t${c.kind}\t${c.context}\t${c.batch}`
    if (this.seen.has(key))
      throw incomplete(
        `the ${c.kind} of column ${c.column}, context ${c.context}, batch ${c.batch}, appear twice (line ${line})`,
        { column: c.column, kind: c.kind, batch: c.batch },
      )
    this.seen.add(key)
    const what = `line ${line}: the ${c.kind} of column ${c.column}, batch ${c.batch}`
    sink.putCiphertext(
      c.column,
      c.kind,
      c.context,
      c.batch,
      readCiphertext(this.checker(), c.context, c.data, what, line),
    )
  }

  /** After the last line: the end line came, and every batch of every he column, none beyond the rows. */
  finish(): void {
    if (!this.headerSeen) throw emptyUpload()
    if (!this.ended) throw incomplete('the encrypted upload was cut short: it has no end line')
    if (this.rows === 0) throw new VeilboxError('VEILBOX_ERR_INGEST_EMPTY', 'the encrypted upload holds no data rows')
    for (const column of this.heNames) {
      const batches = Math.ceil(this.rows / columnBatchRows(this.profile, column))
      for (const kind of CIPHERTEXT_KINDS) {
        for (const context of kindContexts(this.profile, column, kind)) {
          for (let b = 0; b < batches; b++) {
            if (!this.seen.has(`${column}\t${kind}\t${context}\t${b}`)) {
              throw incomplete(
                `the ${kind} of column ${column}, context ${context}, batch ${b} (rows ${b * columnBatchRows(this.profile, column) + 1}...) are missing`,
                { column, kind, batch: b },
              )
            }
          }
        }
      }
      const extra = [...this.seen].find((k) => k.startsWith(`${column}\t`) && Number(k.split('\t')[3]) >= batches)
      if (extra !== undefined) {
        const [, kind, , batch] = extra.split('\t')
        throw incomplete(
          `the ${kind} of column ${column}, batch ${batch}, lie beyond the file's ${this.rows} rows (${batches} batches)`,
          { column, batch: Number(batch) },
        )
      }
    }
  }
}
