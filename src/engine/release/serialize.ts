import { createHash } from 'node:crypto'
import type { ReleasedTable } from './answer.js'

/**
 * A release's JSON, made ahead of the commit a slice of rows at a time. For
 * 100,000 values, serializing the answer and hashing it for the receipt took
 * well over 100 ms of the main thread inside the commit; here the event loop
 * gets a turn every ROWS_PER_TURN rows, and the commit only splices strings.
 *
 * The rows and intervals are arrays of arrays of numbers, strings, booleans
 * and nulls, for which JSON.stringify and the canonical JSON of the audit
 * chain write the same bytes; so one pass gives the answer's JSON and the
 * receipt's result hash (receipts.ts, resultHash), byte for byte.
 */
export interface SerializedRelease {
  readonly columns: string
  readonly rows: string
  readonly intervals: string
  /** sha256 of canonicalJson({columns, rows, intervals, confidence}): receipts.ts resultHash. */
  readonly resultHash: string
  /** Every number released, value and interval, is finite. */
  readonly finite: boolean
}

const ROWS_PER_TURN = 2000

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

async function arrayJson(
  items: readonly unknown[],
  check: (item: unknown) => boolean,
): Promise<{ json: string; finite: boolean }> {
  const parts: string[] = []
  let finite = true
  for (let i = 0; i < items.length; i++) {
    const item = items[i]
    if (!check(item)) finite = false
    parts.push(JSON.stringify(item))
    if ((i + 1) % ROWS_PER_TURN === 0) await nextTurn()
  }
  return { json: `[${parts.join(',')}]`, finite }
}

const finiteCells = (row: unknown): boolean =>
  (row as unknown[]).every((c) => typeof c !== 'number' || Number.isFinite(c))
const finiteIntervals = (row: unknown): boolean =>
  (row as ([number, number] | null)[]).every((iv) => iv === null || (Number.isFinite(iv[0]) && Number.isFinite(iv[1])))

export async function serializeRelease(released: ReleasedTable, confidence: number): Promise<SerializedRelease> {
  const columns = JSON.stringify(released.columns)
  const rows = await arrayJson(released.rows, finiteCells)
  const intervals = await arrayJson(released.intervals, finiteIntervals)
  const hash = createHash('sha256')
  hash.update(`{"columns":${columns},"confidence":${JSON.stringify(confidence)},"intervals":`)
  hash.update(intervals.json)
  hash.update(',"rows":')
  hash.update(rows.json)
  hash.update('}')
  return {
    columns,
    rows: rows.json,
    intervals: intervals.json,
    resultHash: hash.digest('hex'),
    finite: rows.finite && intervals.finite,
  }
}

/** Placeholders a body is stringified with, then spliced with the serialized parts (control characters: no escaped analyst text can contain them). */
export const ROWS_SLOT = '\u0001rows\u0001'
export const INTERVALS_SLOT = '\u0001intervals\u0001'

/** JSON.stringify(body) where body.rows and body.intervals are the slots: the answer's JSON with the serialized parts put in. */
export function spliceRelease(json: string, s: SerializedRelease): string {
  return json
    .replace(JSON.stringify(ROWS_SLOT), () => s.rows)
    .replace(JSON.stringify(INTERVALS_SLOT), () => s.intervals)
}
