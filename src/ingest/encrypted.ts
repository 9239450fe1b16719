import { DEFAULT_INGEST_LIMITS, readLines, type IngestLimits } from './lines.js'
import type { Readable } from 'node:stream'
import { VeilboxError } from '../errors/index.js'
import type { HeProfile } from '../engine/he/profile.js'
import {
  CiphertextChecker,
  cipherLineSchema,
  columnBatchRows,
  CIPHERTEXT_KINDS,
  endLineSchema,
  ENCRYPTED_CONTENT_TYPE,
  kindContexts,
  MAX_CIPHERTEXT_BYTES,
  uploadHeaderSchema,
  type UploadHeader,
} from '../engine/he/upload.js'
import type { DatasetSpec } from '../schema.js'
import type { AuditActor } from '../store/audit.js'
import type { Sql } from '../store/sql.js'
import { getDataset } from '../store/datasets.js'
import { refuseSourced } from './index.js'
import { heProfileOf } from '../engine/he/material.js'
import { StagedVersion, tooManyRows, type IngestResult } from './index.js'
import { badRow, RowChecker, type CellValue } from './rows.js'

/**
 * Loads a version from an encrypted upload (`veilbox encrypt`'s file, format
 * in src/engine/he/upload.ts), all or nothing, streamed like a CSV upload.
 *
 * Everything is checked before the version exists: the file is for this
 * dataset and its current HE profile; its columns are exactly the dataset's
 * (he columns encrypted, the others plain); every plain cell passes the same
 * RowChecker as a CSV cell; every ciphertext is a fresh encryption under its
 * context (CiphertextChecker), names a batch within the rows, and arrives
 * once; every batch of every he column arrives; the end line's row count
 * agrees. A file cut short has no end line and stores nothing.
 */
export async function ingestEncrypted(
  db: Sql,
  datasetId: string,
  input: Readable,
  actor: AuditActor,
  limits: IngestLimits = DEFAULT_INGEST_LIMITS,
): Promise<IngestResult> {
  const { spec } = await getDataset(db, datasetId)
  refuseSourced(spec)
  if (!spec.columns.some((c) => c.protection === 'he')) {
    throw new VeilboxError(
      'VEILBOX_ERR_INGEST_PROFILE_MISMATCH',
      `dataset ${datasetId} has no encrypted (he) columns; upload it as text/csv or application/x-ndjson`,
      { dataset: datasetId },
    )
  }
  const profile = await heProfileOf(db, datasetId)
  const checker = await CiphertextChecker.open(profile)
  let staged: StagedVersion | null = null
  try {
    const reader = new EncryptedReader(spec, profile, checker, limits.maxFieldChars)
    for await (const { text, line } of readLines(input, limits.maxLineBytes)) {
      if (text.trim() === '') continue
      if (staged === null) {
        reader.header(parseLine(text, line), line)
        staged = await StagedVersion.start(db, spec, profile)
        continue
      }
      reader.line(parseLine(text, line), line, staged)
      if (staged.needsFlush) await staged.flush()
    }
    if (staged === null)
      throw new VeilboxError(
        'VEILBOX_ERR_INGEST_EMPTY',
        'the encrypted upload is empty: it needs a header line, rows, ciphertexts and an end line',
      )
    reader.finish(staged)
    return await staged.commit(actor, 'owner')
  } catch (err) {
    await staged?.discard()
    throw err
  } finally {
    checker.close()
  }
}

function malformed(line: number, detail: string): VeilboxError {
  return new VeilboxError(
    'VEILBOX_ERR_INGEST_MALFORMED',
    `line ${line} of the encrypted upload: ${detail}; nothing was stored`,
    { line },
  )
}

function incomplete(detail: string, extra: Record<string, unknown> = {}): VeilboxError {
  return new VeilboxError(
    'VEILBOX_ERR_INGEST_INCOMPLETE',
    `${detail}; nothing was stored. Upload the whole file that veilbox encrypt wrote.`,
    extra,
  )
}

function parseLine(text: string, line: number): unknown {
  try {
    return JSON.parse(text)
  } catch (err) {
    throw malformed(line, `not valid JSON (${(err as Error).message})`)
  }
}

function issues(error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] }): string {
  return error.issues.map((i) => `${i.path.map(String).join('.') || '(line)'}: ${i.message}`).join('; ')
}

class EncryptedReader {
  private plainOrder: number[] = []
  private readonly rowChecker: RowChecker
  private readonly heNames: readonly string[]
  private readonly seen = new Set<string>()
  private rows = 0
  private ended = false
  private readonly maxBatches: ReadonlyMap<string, number>

  constructor(
    private readonly spec: DatasetSpec,
    private readonly profile: HeProfile,
    private readonly checker: CiphertextChecker,
    maxFieldChars: number,
  ) {
    this.rowChecker = new RowChecker(spec, maxFieldChars)
    this.heNames = spec.columns.filter((c) => c.protection === 'he').map((c) => c.name)
    this.maxBatches = new Map(this.heNames.map((c) => [c, Math.ceil(profile.maxRows / columnBatchRows(profile, c))]))
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
  }

  line(raw: unknown, line: number, staged: StagedVersion): void {
    if (this.ended) throw malformed(line, 'nothing may follow the end line')
    if (Array.isArray(raw)) {
      this.row(raw, line, staged)
      return
    }
    if (raw !== null && typeof raw === 'object' && 'column' in raw) {
      this.ciphertext(raw, line, staged)
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

  private row(cells: unknown[], line: number, staged: StagedVersion): void {
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
    staged.pushRow(values, pos)
  }

  private ciphertext(raw: object, line: number, staged: StagedVersion): void {
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
    const bytes = Buffer.from(c.data, 'base64')
    if (bytes.length > MAX_CIPHERTEXT_BYTES)
      throw malformed(line, `a ciphertext of ${bytes.length} bytes is larger than any this profile makes`)
    this.checker.check(c.context, bytes, `line ${line}: the ${c.kind} of column ${c.column}, batch ${c.batch}`)
    staged.putCiphertext(c.column, c.kind, c.context, c.batch, bytes)
  }

  finish(staged: StagedVersion): void {
    if (!this.ended) throw incomplete('the encrypted upload was cut short: it has no end line')
    if (this.rows === 0) throw new VeilboxError('VEILBOX_ERR_INGEST_EMPTY', 'the encrypted upload holds no data rows')
    for (const column of this.heNames) {
      const batches = staged.batchesOf(column)
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
