import { randomBytes } from 'node:crypto'
import { VeilboxError } from '../errors/index.js'
import { appendAudit, type AuditActor } from './audit.js'
import { getDataset } from './datasets.js'
import type { Sql } from './sql.js'

/**
 * Query templates (issue 24): a parameterized query an owner or operator
 * approved, with its declared parameters (JSON the engine reads) and the
 * fixed epsilon (micro-units) and mechanism of every run.
 */
export interface TemplateRecord {
  readonly id: string
  readonly dataset: string
  readonly name: string
  readonly sql: string
  /** The declared parameters, as the engine wrote them (engine/templates.ts reads them). */
  readonly params: unknown
  readonly epsilon: bigint
  readonly mechanism: string
  readonly createdAt: string
  readonly createdBy: string
}

interface TemplateRow {
  id: string
  dataset_id: string
  name: string
  sql: string
  params: string
  epsilon: number | bigint
  mechanism: string
  created_at: string
  created_by: string
}

function toTemplate(r: TemplateRow): TemplateRecord {
  return {
    id: r.id,
    dataset: r.dataset_id,
    name: r.name,
    sql: r.sql,
    params: JSON.parse(r.params),
    epsilon: BigInt(r.epsilon),
    mechanism: r.mechanism,
    createdAt: r.created_at,
    createdBy: r.created_by,
  }
}

export interface NewTemplate {
  readonly dataset: string
  readonly name: string
  readonly sql: string
  readonly params: readonly unknown[]
  readonly epsilon: bigint
  readonly mechanism: string
}

export async function createTemplate(db: Sql, input: NewTemplate, actor: AuditActor): Promise<TemplateRecord> {
  const id = `t_${randomBytes(8).toString('hex')}`
  return db.transaction(async (db) => {
    await getDataset(db, input.dataset)
    await db.run(
      `INSERT INTO templates (id, dataset_id, name, sql, params, epsilon, mechanism, created_at, created_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [
        id,
        input.dataset,
        input.name,
        input.sql,
        JSON.stringify(input.params),
        input.epsilon,
        input.mechanism,
        new Date().toISOString(),
        actor.principal,
      ],
    )
    await appendAudit(db, {
      actor,
      action: 'template.create',
      outcome: 'ok',
      dataset: input.dataset,
      detail: {
        template: id,
        name: input.name,
        sql: input.sql,
        params: input.params,
        epsilon: input.epsilon.toString(),
        mechanism: input.mechanism,
      },
    })
    return (await findTemplate(db, id))!
  })
}

export async function findTemplate(db: Sql, id: string): Promise<TemplateRecord | null> {
  const row = await db.get<TemplateRow>('SELECT * FROM templates WHERE id = $1', [id])
  return row ? toTemplate(row) : null
}

/** A template, or the refusal for an unknown id (also what one the caller may not see gets). */
export async function getTemplate(db: Sql, id: string): Promise<TemplateRecord> {
  const t = await findTemplate(db, id)
  if (!t) throw templateNotFound(id)
  return t
}

export function templateNotFound(id: string): VeilboxError {
  return new VeilboxError(
    'VEILBOX_ERR_POLICY_TEMPLATE_NOT_FOUND',
    `no template "${id}" you may run; GET /v1/templates lists yours`,
    {
      template: id,
    },
  )
}

/** Templates, those of the given datasets when `datasets` is given, oldest first. */
export async function listTemplates(db: Sql, datasets: ReadonlySet<string> | null = null): Promise<TemplateRecord[]> {
  const rows = await db.all<TemplateRow>('SELECT * FROM templates ORDER BY created_at, id')
  return rows.map(toTemplate).filter((t) => datasets === null || datasets.has(t.dataset))
}
