import { VeilboxError } from '../errors/index.js'
import type { Sql } from './sql.js'

/** Released answers, as stored: the body is the JSON sent the first time. */
export interface AnswerRow {
  query_id: string
  grant_id: string
  analyst: string
  /** The principal the answer was released to. */
  analyst_id: string
  dataset_id: string
  version: number
  cache_key: string
  query_hash: string
  body: string
  /** The grant's charge in the ledger's integer units (epsilon micro, delta femto); read back as numbers. */
  epsilon_micro: number | bigint
  delta_femto: number | bigint
  created_at: string
  /** What the answer used of its grant (the engine's JSON): scope reviews read it. */
  scope?: string | null
}

/** A stored answer's row without its body: what finding one needs (the body is read once, by answerBody). */
export type AnswerRef = Omit<AnswerRow, 'body'>

const REF_COLUMNS =
  'query_id, grant_id, analyst, analyst_id, dataset_id, version, cache_key, query_hash, epsilon_micro, delta_femto, created_at'

export async function findAnswer(db: Sql, grantId: string, cacheKey: string): Promise<AnswerRef | null> {
  return (
    (await db.get<AnswerRef>(`SELECT ${REF_COLUMNS} FROM answers WHERE grant_id = $1 AND cache_key = $2`, [
      grantId,
      cacheKey,
    ])) ?? null
  )
}

/**
 * findAnswer and the dataset's latest version number in one statement: what
 * a repeat that names no version checks (the answer it remembers must still
 * be the one its request selects). The version is null when none is loaded.
 */
export async function findAnswerAtLatest(
  db: Sql,
  grantId: string,
  cacheKey: string,
  dataset: string,
): Promise<{ latest: number | null; ref: AnswerRef | null }> {
  const row = await db.get<AnswerRef & { latest_version: number | null }>(
    `SELECT (SELECT MAX(version) FROM dataset_versions WHERE dataset_id = $3) AS latest_version,
       ${REF_COLUMNS.split(', ')
         .map((c) => `a.${c}`)
         .join(', ')}
     FROM (SELECT 1 AS one) o LEFT JOIN answers a ON a.grant_id = $1 AND a.cache_key = $2`,
    [grantId, cacheKey, dataset],
  )
  if (row === undefined) return { latest: null, ref: null }
  const { latest_version: latest, ...ref } = row
  return { latest: latest ?? null, ref: ref.query_id === null ? null : ref }
}

export async function getAnswerRow(db: Sql, queryId: string): Promise<AnswerRef> {
  const row = await db.get<AnswerRef>(`SELECT ${REF_COLUMNS} FROM answers WHERE query_id = $1`, [queryId])
  if (!row)
    throw new VeilboxError('VEILBOX_ERR_ANSWER_NOT_FOUND', `no answer ${queryId}; GET /v1/queries lists yours`, {
      queryId,
    })
  return row
}

/** The stored answer's JSON. */
export async function answerBody(db: Sql, queryId: string): Promise<string> {
  const body = await db.value<string>('SELECT body FROM answers WHERE query_id = $1', [queryId])
  if (body === undefined)
    throw new VeilboxError('VEILBOX_ERR_ANSWER_NOT_FOUND', `no answer ${queryId}; GET /v1/queries lists yours`, {
      queryId,
    })
  return body
}

export async function insertAnswer(db: Sql, r: AnswerRow): Promise<void> {
  await db.run(
    `INSERT INTO answers (query_id, grant_id, analyst, analyst_id, dataset_id, version, cache_key, query_hash, body, epsilon_micro, delta_femto, created_at, scope)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
    [
      r.query_id,
      r.grant_id,
      r.analyst,
      r.analyst_id,
      r.dataset_id,
      r.version,
      r.cache_key,
      r.query_hash,
      r.body,
      r.epsilon_micro,
      r.delta_femto,
      r.created_at,
      r.scope ?? null,
    ],
  )
}

export interface AnswerSummary {
  readonly queryId: string
  readonly grant: string
  readonly dataset: string
  readonly version: number
  readonly queryHash: string
  /** What the answer charged its grant, in the ledger's integer units (epsilon micro). */
  readonly epsilonCharged: bigint
  readonly createdAt: string
}

/** Answers newest first: every one (analystId null, operators) or one principal's. */
export async function listAnswers(db: Sql, analystId: string | null, limit: number): Promise<AnswerSummary[]> {
  const rows = await db.all<AnswerRef>(
    `SELECT ${REF_COLUMNS} FROM answers WHERE ($1::text IS NULL OR analyst_id = $1) ORDER BY created_at DESC, query_id LIMIT $2`,
    [analystId, limit],
  )
  return rows.map((r) => ({
    queryId: r.query_id,
    grant: r.grant_id,
    dataset: r.dataset_id,
    version: r.version,
    queryHash: r.query_hash,
    epsilonCharged: BigInt(r.epsilon_micro),
    createdAt: r.created_at,
  }))
}
