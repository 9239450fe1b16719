import { VeilboxError } from '../errors/index.js'
import type { Db } from './db.js'
import { stmt } from './statements.js'

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
  epsilon_micro: number
  delta_femto: number
  created_at: string
}

/** A stored answer's row without its body: what finding one needs (the body is read once, by answerBody). */
export type AnswerRef = Omit<AnswerRow, 'body'>

const REF_COLUMNS = 'query_id, grant_id, analyst, analyst_id, dataset_id, version, cache_key, query_hash, epsilon_micro, delta_femto, created_at'

export function findAnswer(db: Db, grantId: string, cacheKey: string): AnswerRef | null {
  return (stmt(db, `SELECT ${REF_COLUMNS} FROM answers WHERE grant_id = ? AND cache_key = ?`).get(grantId, cacheKey) as AnswerRef | undefined) ?? null
}

export function getAnswerRow(db: Db, queryId: string): AnswerRef {
  const row = stmt(db, `SELECT ${REF_COLUMNS} FROM answers WHERE query_id = ?`).get(queryId) as AnswerRef | undefined
  if (!row) throw new VeilboxError('VEILBOX_ERR_ANSWER_NOT_FOUND', `no answer ${queryId}; GET /v1/queries lists yours`, { queryId })
  return row
}

/** The stored answer's JSON. */
export function answerBody(db: Db, queryId: string): string {
  const body = stmt(db, 'SELECT body FROM answers WHERE query_id = ?', 'pluck').get(queryId) as string | undefined
  if (body === undefined) throw new VeilboxError('VEILBOX_ERR_ANSWER_NOT_FOUND', `no answer ${queryId}; GET /v1/queries lists yours`, { queryId })
  return body
}

export function insertAnswer(db: Db, row: AnswerRow): void {
  stmt(db, 
    `INSERT INTO answers (query_id, grant_id, analyst, analyst_id, dataset_id, version, cache_key, query_hash, body, epsilon_micro, delta_femto, created_at)
     VALUES (@query_id, @grant_id, @analyst, @analyst_id, @dataset_id, @version, @cache_key, @query_hash, @body, @epsilon_micro, @delta_femto, @created_at)`,
  ).run(row)
}

export interface AnswerSummary {
  readonly queryId: string
  readonly grant: string
  readonly dataset: string
  readonly version: number
  readonly queryHash: string
  readonly epsilon: number
  readonly createdAt: string
}

/** Answers newest first: every one (analystId null, operators) or one principal's. */
export function listAnswers(db: Db, analystId: string | null, limit: number): AnswerSummary[] {
  const rows = stmt(db, `SELECT ${REF_COLUMNS} FROM answers WHERE (@analystId IS NULL OR analyst_id = @analystId) ORDER BY created_at DESC, query_id LIMIT @limit`)
    .all({ analystId, limit }) as AnswerRef[]
  return rows.map((r) => ({
    queryId: r.query_id,
    grant: r.grant_id,
    dataset: r.dataset_id,
    version: r.version,
    queryHash: r.query_hash,
    epsilon: r.epsilon_micro / 1e6,
    createdAt: r.created_at,
  }))
}
