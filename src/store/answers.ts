import { VeilboxError } from '../errors/index.js'
import type { Db } from './db.js'
import { stmt } from './statements.js'

/** Released answers, as stored: the body is the JSON sent the first time. */
export interface AnswerRow {
  query_id: string
  grant_id: string
  analyst: string
  dataset_id: string
  version: number
  cache_key: string
  query_hash: string
  body: string
  epsilon_micro: number
  delta_femto: number
  created_at: string
}

export function findAnswer(db: Db, grantId: string, cacheKey: string): AnswerRow | null {
  return (stmt(db, 'SELECT * FROM answers WHERE grant_id = ? AND cache_key = ?').get(grantId, cacheKey) as AnswerRow | undefined) ?? null
}

export function getAnswerRow(db: Db, queryId: string): AnswerRow {
  const row = stmt(db, 'SELECT * FROM answers WHERE query_id = ?').get(queryId) as AnswerRow | undefined
  if (!row) throw new VeilboxError('VEILBOX_ERR_ANSWER_NOT_FOUND', `no answer ${queryId}; GET /v1/queries lists yours`, { queryId })
  return row
}

export function insertAnswer(db: Db, row: AnswerRow): void {
  stmt(db, 
    `INSERT INTO answers (query_id, grant_id, analyst, dataset_id, version, cache_key, query_hash, body, epsilon_micro, delta_femto, created_at)
     VALUES (@query_id, @grant_id, @analyst, @dataset_id, @version, @cache_key, @query_hash, @body, @epsilon_micro, @delta_femto, @created_at)`,
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

export function listAnswers(db: Db, analyst: string | null, limit: number): AnswerSummary[] {
  const rows = stmt(db, 'SELECT * FROM answers WHERE (@analyst IS NULL OR analyst = @analyst) ORDER BY created_at DESC, query_id LIMIT @limit')
    .all({ analyst, limit }) as AnswerRow[]
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
