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
  uploadHeaderSchema,
  type CiphertextKind,
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
import { CiphertextChecks, malformed, POOL_PENDING } from './cipher-checks.js'

/** A check under way: settled, with the bytes or the refusal. `done` never rejects. */
interface Job {
  settled: boolean
  bytes: Uint8Array | null
  error: unknown
  done: Promise<void>
}

function track(check: Promise<Uint8Array>): Job {
  const job: Job = { settled: false, bytes: null, error: null, done: Promise.resolve() }
  job.done = check.then(
    (bytes) => {
      job.bytes = bytes
      job.settled = true
    },
    (e: unknown) => {
      job.error = e
      job.settled = true
    },
  )
  return job
}

interface Checking {
  readonly column: string
  readonly kind: CiphertextKind
  readonly context: number
  readonly batch: number
  readonly job: Job
}

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
  const reader = new EncryptedReader(spec, profile, new CiphertextChecks(profile, checker), limits.maxFieldChars)
  try {
    let lastTurn = performance.now()
    let lines = 0
    for await (const { text, line } of readLines(input, limits.maxLineBytes)) {
      if (text.trim() === '') continue
      if (staged === null) {
        reader.header(parseLine(text, line), line)
        staged = await StagedVersion.start(db, spec, profile)
        continue
      }
      const wait = reader.line(parseLine(text, line), line, staged)
      if (wait !== undefined) await wait
      if (staged.needsFlush) await staged.flush()
      // A turn of the event loop every few milliseconds: a fast client keeps the body buffered, and the
      // loop would otherwise run from one end of the upload to the other without one.
      if (++lines % 64 === 0 && performance.now() - lastTurn >= TURN_MS) {
        await nextTurn()
        lastTurn = performance.now()
      }
    }
    if (staged === null)
      throw new VeilboxError(
        'VEILBOX_ERR_INGEST_EMPTY',
        'the encrypted upload is empty: it needs a header line, rows, ciphertexts and an end line',
      )
    await reader.finish(staged)
    return await staged.commit(actor, 'owner')
  } catch (err) {
    // A ciphertext before the failing line may have failed its check: the first refusal in the file is the one reported.
    const earlier = await reader.abandon()
    await staged?.discard()
    throw earlier ?? err
  } finally {
    checker.close()
  }
}

/** Milliseconds of work between two turns of the event loop. */
const TURN_MS = 5

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

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

function parseLine(text: string, line: number): unknown {
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

class EncryptedReader {
  private plainOrder: number[] = []
  private readonly rowChecker: RowChecker
  private readonly heNames: readonly string[]
  private readonly seen = new Set<string>()
  private rows = 0
  private ended = false
  private readonly maxBatches: ReadonlyMap<string, number>

  /** Ciphertexts being checked, in file order; each is staged once its check and those before it are done. */
  private readonly checking: Checking[] = []
  /** A refused ciphertext has been reported. */
  private refused = false

  constructor(
    private readonly spec: DatasetSpec,
    private readonly profile: HeProfile,
    private readonly checks: CiphertextChecks,
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

  /** One line after the header; a promise when it has to wait for ciphertext checks. */
  line(raw: unknown, line: number, staged: StagedVersion): void | Promise<void> {
    if (this.ended) throw malformed(line, 'nothing may follow the end line')
    if (Array.isArray(raw)) {
      this.row(raw, line, staged)
      return
    }
    if (raw !== null && typeof raw === 'object' && 'column' in raw) return this.ciphertext(raw, line, staged)
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

  private ciphertext(raw: object, line: number, staged: StagedVersion): Promise<void> {
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
    const job = track(
      this.checks.check({
        context: c.context,
        data: c.data,
        what: `line ${line}: the ${c.kind} of column ${c.column}, batch ${c.batch}`,
        line,
      }),
    )
    this.checking.push({ column: c.column, kind: c.kind, context: c.context, batch: c.batch, job })
    return this.stageChecked(staged, POOL_PENDING)
  }

  /** Stages the checked ciphertexts at the front; waits for the oldest while more than `keep` are out. */
  private async stageChecked(staged: StagedVersion, keep: number): Promise<void> {
    for (;;) {
      const head = this.checking[0]
      if (head === undefined) return
      if (!head.job.settled) {
        if (this.checking.length <= keep) return
        await head.job.done
      }
      this.checking.shift()
      if (head.job.bytes === null) {
        this.refused = true
        throw head.job.error
      }
      staged.putCiphertext(head.column, head.kind, head.context, head.batch, head.job.bytes)
    }
  }

  /**
   * Waits for every check still out. Unless the upload already failed on a
   * refused ciphertext (the first in the file: those before it passed), the
   * first refusal among them, which comes before the line that failed, or null.
   */
  async abandon(): Promise<unknown> {
    const out = this.checking.splice(0)
    await Promise.all(out.map((c) => c.job.done))
    return this.refused ? null : (out.find((c) => c.job.bytes === null)?.job.error ?? null)
  }

  async finish(staged: StagedVersion): Promise<void> {
    await this.stageChecked(staged, 0)
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
