import { randomBytes } from 'node:crypto'
import { VeilboxError } from '../errors/index.js'
import { appendAudit, type AuditActor } from './audit.js'
import { getDataset } from './datasets.js'
import { ledgerOf, type Ledger, type LedgerRow } from './ledger.js'
import type { Sql } from './sql.js'

export interface GrantRecord {
  readonly id: string
  /** The analyst's name, as the grant was made (a label). */
  readonly analyst: string
  /** The analyst principal the grant belongs to: a name issued again later is another principal. */
  readonly analystId: string
  /** The first of `datasets`: the grant's dataset when it covers one. */
  readonly dataset: string
  /** Every dataset the grant covers, `dataset` first (issue 21: joins read several). */
  readonly datasets: readonly string[]
  readonly purpose: string
  /** null: every column the dataset has. */
  readonly columns: readonly string[] | null
  /** null: every aggregate. */
  readonly aggregates: readonly string[] | null
  readonly ledger: Ledger
  readonly expiresAt: string
  readonly createdAt: string
  readonly createdBy: string
  readonly revokedAt: string | null
  /** The application it was made from; null for a direct grant. */
  readonly applicationId: string | null
  /** The scenario category of use (its prices and level policy). */
  readonly scenario: string
  readonly organization: string | null
  /** The money ledger in integer minor units: cap null means no cap. */
  readonly moneyCap: bigint | null
  readonly moneySpent: bigint
  /** Partition selection's per-unit key bound for this grant's queries; null: the dataset's. */
  readonly maxGroupsContributed: number | null
  /** The largest epsilon one answer may spend, in micro-units; null: no cap (issue 24). */
  readonly maxEpsilonPerAnswer: bigint | null
  /** The refresh window and its cap; null: none. */
  readonly window: GrantWindow | null
  /** The grant answers approved templates only: ad-hoc SQL is refused (issue 24). */
  readonly templatesOnly: boolean
}

/** A grant's budget window: its terms, and the spend of the window it last charged. */
export interface GrantWindow {
  /** 'month' (calendar months, UTC) or 'd<n>' (n days, counted from the grant's creation). */
  readonly every: string
  /** The cap per window, epsilon micro-units. */
  readonly epsilon: bigint
  /** The start of the window `spent` counts in; null before the first charge. */
  readonly start: string | null
  readonly spent: bigint
}

interface GrantRow extends LedgerRow {
  id: string
  analyst: string
  analyst_id: string
  dataset_id: string
  datasets: string | null
  purpose: string
  columns: string | null
  aggregates: string | null
  expires_at: string
  created_at: string
  created_by: string
  revoked_at: string | null
  application_id: string | null
  scenario: string
  organization: string | null
  money_cap: number | bigint | null
  money_spent: number | bigint
  max_groups_contributed: number | bigint | null
  max_epsilon_per_answer: number | bigint | null
  window_every: string | null
  window_epsilon: number | bigint | null
  window_start: string | null
  window_spent: number | bigint
  templates_only: number | bigint | boolean
}

function toGrant(r: GrantRow): GrantRecord {
  return {
    id: r.id,
    analyst: r.analyst,
    analystId: r.analyst_id,
    dataset: r.dataset_id,
    datasets: r.datasets === null ? [r.dataset_id] : (JSON.parse(r.datasets) as string[]),
    purpose: r.purpose,
    columns: r.columns === null ? null : (JSON.parse(r.columns) as string[]),
    aggregates: r.aggregates === null ? null : (JSON.parse(r.aggregates) as string[]),
    ledger: ledgerOf(r),
    expiresAt: r.expires_at,
    createdAt: r.created_at,
    createdBy: r.created_by,
    revokedAt: r.revoked_at,
    applicationId: r.application_id,
    scenario: r.scenario,
    organization: r.organization,
    moneyCap: r.money_cap === null ? null : BigInt(r.money_cap),
    moneySpent: BigInt(r.money_spent),
    maxGroupsContributed: r.max_groups_contributed === null ? null : Number(r.max_groups_contributed),
    maxEpsilonPerAnswer: r.max_epsilon_per_answer === null ? null : BigInt(r.max_epsilon_per_answer),
    window:
      r.window_every === null || r.window_epsilon === null
        ? null
        : {
            every: r.window_every,
            epsilon: BigInt(r.window_epsilon),
            start: r.window_start,
            spent: BigInt(r.window_spent),
          },
    templatesOnly: Number(r.templates_only) === 1,
  }
}

export interface NewGrant {
  readonly analyst: string
  /** The analyst principal, when known (an application's): the name is then only its label. */
  readonly analystId?: string
  readonly dataset: string
  /** Every dataset it covers, `dataset` first; absent: `dataset` alone. */
  readonly datasets?: readonly string[]
  readonly purpose: string
  readonly columns: readonly string[] | null
  readonly aggregates: readonly string[] | null
  /** The grant's totals in the ledger's integer units (epsilon micro, delta femto). */
  readonly epsilonTotal: bigint
  readonly deltaTotal: bigint
  readonly expiresAt: string
  /** Default public-welfare. */
  readonly scenario?: string
  readonly organization?: string | null
  /** The application it comes from (null, the default: an operator's direct grant). */
  readonly applicationId?: string | null
  /** Money cap in integer minor units; null, the default: none. */
  readonly moneyCap?: bigint | null
  /** Partition selection's per-unit key bound; null, the default: the dataset's. */
  readonly maxGroupsContributed?: number | null
  /** Epsilon micro-units one answer may spend at most; null, the default: no cap. */
  readonly maxEpsilonPerAnswer?: bigint | null
  /** A refresh window ('month' or 'd<n>') and its cap in epsilon micro-units; null, the default: none. */
  readonly window?: { readonly every: string; readonly epsilon: bigint } | null
  /** Templates only; false, the default: ad-hoc SQL too. */
  readonly templatesOnly?: boolean
}

export const DEFAULT_SCENARIO = 'public-welfare'

export async function createGrant(
  db: Sql,
  input: NewGrant,
  actor: AuditActor,
  display: { epsilon: string; delta: string },
): Promise<GrantRecord> {
  const id = `g_${randomBytes(8).toString('hex')}`
  const g = {
    ...input,
    scenario: input.scenario ?? DEFAULT_SCENARIO,
    organization: input.organization ?? null,
    applicationId: input.applicationId ?? null,
    moneyCap: input.moneyCap ?? null,
  }
  const datasets = input.datasets ?? [input.dataset]
  if (datasets[0] !== input.dataset || new Set(datasets).size !== datasets.length)
    throw new Error('createGrant: datasets must start with dataset and name each dataset once')
  return db.transaction(async (db) => {
    for (const d of datasets) await getDataset(db, d)
    // The grant belongs to the principal holding the name's active key now, not to the name.
    const analyst =
      g.analystId !== undefined
        ? await db.value<string>("SELECT id FROM principals WHERE id = $1 AND role = 'analyst'", [g.analystId])
        : await db.value<string>(
            "SELECT principal_id FROM api_keys WHERE name = $1 AND role = 'analyst' AND revoked_at IS NULL",
            [g.analyst],
          )
    if (analyst === undefined) {
      throw new VeilboxError(
        'VEILBOX_ERR_POLICY_UNKNOWN_ANALYST',
        `no analyst named "${g.analyst}" holds an active key; create one first (POST /v1/keys with role analyst)`,
        { analyst: g.analyst },
      )
    }
    await db.run(
      `INSERT INTO grants (id, analyst, analyst_id, dataset_id, purpose, columns, aggregates, epsilon_total, delta_total, expires_at, created_at, created_by,
                           application_id, scenario, organization, money_cap, datasets, max_groups_contributed,
                           max_epsilon_per_answer, window_every, window_epsilon, templates_only)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)`,
      [
        id,
        g.analyst,
        analyst,
        g.dataset,
        g.purpose,
        g.columns === null ? null : JSON.stringify(g.columns),
        g.aggregates === null ? null : JSON.stringify(g.aggregates),
        g.epsilonTotal,
        g.deltaTotal,
        g.expiresAt,
        new Date().toISOString(),
        actor.principal,
        g.applicationId,
        g.scenario,
        g.organization,
        g.moneyCap,
        datasets.length === 1 ? null : JSON.stringify(datasets),
        input.maxGroupsContributed ?? null,
        input.maxEpsilonPerAnswer ?? null,
        input.window?.every ?? null,
        input.window?.epsilon ?? null,
        input.templatesOnly === true ? 1 : 0,
      ],
    )
    await appendAudit(db, {
      actor,
      action: 'grant.create',
      outcome: 'ok',
      dataset: g.dataset,
      grant: id,
      purpose: g.purpose,
      detail: {
        analyst: g.analyst,
        analystId: analyst,
        ...(datasets.length === 1 ? {} : { datasets }),
        ...(input.maxGroupsContributed == null ? {} : { maxGroupsContributed: input.maxGroupsContributed }),
        ...(input.maxEpsilonPerAnswer == null ? {} : { maxEpsilonPerAnswer: input.maxEpsilonPerAnswer.toString() }),
        ...(input.window == null
          ? {}
          : { window: { every: input.window.every, epsilon: input.window.epsilon.toString() } }),
        ...(input.templatesOnly === true ? { templatesOnly: true } : {}),
        epsilon: display.epsilon,
        delta: display.delta,
        expiresAt: g.expiresAt,
        columns: g.columns,
        aggregates: g.aggregates,
        via: g.applicationId === null ? 'direct' : 'application',
        ...(g.applicationId === null ? {} : { application: g.applicationId }),
        scenario: g.scenario,
        organization: g.organization,
        moneyCap: g.moneyCap === null ? null : g.moneyCap.toString(),
      },
    })
    return await getGrant(db, id)
  })
}

/** A grant's columns in a fixed order: read as an array, which better-sqlite3 builds faster than an object (this runs on every query). */
const GRANT_COLUMNS =
  'id, analyst, dataset_id, purpose, columns, aggregates, epsilon_total, epsilon_spent, delta_total, delta_spent, rho_spent, expires_at, created_at, created_by, revoked_at, analyst_id, application_id, scenario, organization, money_cap, money_spent, datasets, max_groups_contributed, max_epsilon_per_answer, window_every, window_epsilon, window_start, window_spent, templates_only'

export async function findGrant(
  db: Sql,
  id: string,
  options: { forUpdate?: boolean } = {},
): Promise<GrantRecord | null> {
  const r = (
    await db.rows(`SELECT ${GRANT_COLUMNS} FROM grants WHERE id = $1${options.forUpdate ? ' FOR UPDATE' : ''}`, [id])
  )[0]
  if (r === undefined) return null
  return toGrant({
    id: r[0] as string,
    analyst: r[1] as string,
    dataset_id: r[2] as string,
    purpose: r[3] as string,
    columns: r[4] as string | null,
    aggregates: r[5] as string | null,
    epsilon_total: r[6] as number,
    epsilon_spent: r[7] as number,
    delta_total: r[8] as number,
    delta_spent: r[9] as number,
    rho_spent: r[10] as number,
    expires_at: r[11] as string,
    created_at: r[12] as string,
    created_by: r[13] as string,
    revoked_at: r[14] as string | null,
    analyst_id: r[15] as string,
    application_id: r[16] as string | null,
    scenario: r[17] as string,
    organization: r[18] as string | null,
    money_cap: r[19] as number | bigint | null,
    money_spent: r[20] as number | bigint,
    datasets: r[21] as string | null,
    max_groups_contributed: r[22] as number | bigint | null,
    max_epsilon_per_answer: r[23] as number | bigint | null,
    window_every: r[24] as string | null,
    window_epsilon: r[25] as number | bigint | null,
    window_start: r[26] as string | null,
    window_spent: r[27] as number | bigint,
    templates_only: r[28] as number | bigint,
  })
}

/** A grant, or the refusal for an unknown id. `forUpdate` holds its row to the end of the caller's transaction (the release's first lock). */
export async function getGrant(db: Sql, id: string, options: { forUpdate?: boolean } = {}): Promise<GrantRecord> {
  const g = await findGrant(db, id, options)
  if (!g)
    throw new VeilboxError('VEILBOX_ERR_POLICY_GRANT_NOT_FOUND', `no grant "${id}"; GET /v1/grants lists yours`, {
      grant: id,
    })
  return g
}

/** Grants, filtered by the analyst's principal id (`analystId`), the analyst's name as granted (`analyst`, operators' filter) and dataset. */
export async function listGrants(
  db: Sql,
  filter: { analystId?: string; analyst?: string; dataset?: string } = {},
): Promise<GrantRecord[]> {
  // A grant covers a dataset as its first or as one of its others (the JSON list, read here, not matched in SQL).
  const rows = await db.all<GrantRow>(
    `SELECT * FROM grants WHERE ($1::text IS NULL OR analyst_id = $1) AND ($2::text IS NULL OR analyst = $2) AND ($3::text IS NULL OR dataset_id = $3 OR datasets IS NOT NULL) ORDER BY created_at, id`,
    [filter.analystId ?? null, filter.analyst ?? null, filter.dataset ?? null],
  )
  const grants = rows.map(toGrant)
  return filter.dataset === undefined ? grants : grants.filter((g) => g.datasets.includes(filter.dataset!))
}

export async function revokeGrant(
  db: Sql,
  id: string,
  actor: AuditActor,
  detail: Readonly<Record<string, unknown>> = {},
): Promise<GrantRecord> {
  return db.transaction(async (db) => {
    const g = await getGrant(db, id, { forUpdate: true })
    if (g.revokedAt !== null) {
      throw new VeilboxError(
        'VEILBOX_ERR_POLICY_GRANT_REVOKED',
        `grant "${id}" was revoked at ${g.revokedAt} already`,
        { grant: id, revokedAt: g.revokedAt },
      )
    }
    await db.run('UPDATE grants SET revoked_at = $1 WHERE id = $2', [new Date().toISOString(), id])
    await appendAudit(db, {
      actor,
      action: 'grant.revoke',
      outcome: 'ok',
      dataset: g.dataset,
      grant: id,
      purpose: g.purpose,
      detail: { analyst: g.analyst, ...detail },
    })
    return await getGrant(db, id)
  })
}
