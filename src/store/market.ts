import { appendAudit, type AuditActor } from './audit.js'
import { getDataset } from './datasets.js'
import type { Param, Sql } from './sql.js'

/**
 * The data market's rows: platform settings, a dataset's owner and market
 * settings, certificates, answers' scopes and the money ledger. The store
 * keeps what the engine wrote (JSON it does not look inside, integers in
 * minor units of money) and knows nothing of policy, prices or signatures.
 */

// ---------------------------------------------------------------- settings

export interface StoredSetting {
  readonly value: string
  readonly updatedAt: string
  readonly updatedBy: string
}

export async function getSetting(db: Sql, name: string): Promise<StoredSetting | null> {
  const row = await db.get<{ value: string; updated_at: string; updated_by: string }>(
    'SELECT value, updated_at, updated_by FROM settings WHERE name = $1',
    [name],
  )
  return row ? { value: row.value, updatedAt: row.updated_at, updatedBy: row.updated_by } : null
}

/** Writes a setting with its audit record (`action`, `detail`), in one transaction. */
export async function putSetting(
  db: Sql,
  name: string,
  value: string,
  actor: AuditActor,
  audit: { action: string; detail: Readonly<Record<string, unknown>> },
): Promise<void> {
  await db.transaction(async (tx) => {
    const now = new Date().toISOString()
    const updated = await tx.run('UPDATE settings SET value = $2, updated_at = $3, updated_by = $4 WHERE name = $1', [
      name,
      value,
      now,
      actor.principal,
    ])
    if (updated === 0)
      await tx.run('INSERT INTO settings (name, value, updated_at, updated_by) VALUES ($1, $2, $3, $4)', [
        name,
        value,
        now,
        actor.principal,
      ])
    await appendAudit(tx, { actor, action: audit.action, outcome: 'ok', detail: audit.detail })
  })
}

// ---------------------------------------------------------------- owners and datasets

/** The principal holding the active owner key named `name`, or null. */
export async function findOwnerPrincipal(db: Sql, name: string): Promise<{ id: string; name: string } | null> {
  const id = await db.value<string>(
    "SELECT principal_id FROM api_keys WHERE name = $1 AND role = 'owner' AND revoked_at IS NULL",
    [name],
  )
  return id === undefined ? null : { id, name }
}

/** A principal's name by id (owners named in views and settlements), or null. */
export async function principalName(db: Sql, id: string): Promise<string | null> {
  return (await db.value<string>('SELECT name FROM principals WHERE id = $1', [id])) ?? null
}

/** Sets a dataset's owner principal (null: the platform's), with its audit record. */
export async function setDatasetOwner(
  db: Sql,
  dataset: string,
  owner: { id: string; name: string } | null,
  actor: AuditActor,
): Promise<void> {
  await db.transaction(async (tx) => {
    await getDataset(tx, dataset)
    await tx.run('UPDATE datasets SET owner_id = $2 WHERE id = $1', [dataset, owner?.id ?? null])
    await appendAudit(tx, {
      actor,
      action: 'dataset.owner.set',
      outcome: 'ok',
      dataset,
      detail: { owner: owner?.name ?? null, ownerId: owner?.id ?? null },
    })
  })
}

/**
 * Rewrites a dataset's market settings (the engine's JSON) from what they
 * are now, under the dataset's row lock, with its audit record.
 */
export async function setDatasetMarket(
  db: Sql,
  dataset: string,
  update: (current: string | null) => string,
  actor: AuditActor,
  audit: { action: string; detail: Readonly<Record<string, unknown>> },
): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.run('SELECT id FROM datasets WHERE id = $1 FOR UPDATE', [dataset])
    const current = (await getDataset(tx, dataset)).market
    await tx.run('UPDATE datasets SET market = $2 WHERE id = $1', [dataset, update(current)])
    await appendAudit(tx, { actor, action: audit.action, outcome: 'ok', dataset, detail: audit.detail })
  })
}

// ---------------------------------------------------------------- certificates

export async function findCertificate(db: Sql, dataset: string, version: number): Promise<string | null> {
  return (
    (await db.value<string>('SELECT body FROM certificates WHERE dataset_id = $1 AND version = $2', [
      dataset,
      version,
    ])) ?? null
  )
}

/**
 * Stores a version's certificate once, with its audit record; a certificate
 * already there (another node issued it first) is kept and returned.
 */
export async function storeCertificate(
  db: Sql,
  dataset: string,
  version: number,
  body: string,
  actor: AuditActor,
  detail: Readonly<Record<string, unknown>>,
): Promise<string> {
  return db.transaction(async (tx) => {
    await tx.run('SELECT id FROM datasets WHERE id = $1 FOR UPDATE', [dataset])
    const existing = await findCertificate(tx, dataset, version)
    if (existing !== null) return existing
    await tx.run('INSERT INTO certificates (dataset_id, version, body) VALUES ($1, $2, $3)', [dataset, version, body])
    await appendAudit(tx, { actor, action: 'dataset.certificate.issue', outcome: 'ok', dataset, version, detail })
    return body
  })
}

// ---------------------------------------------------------------- scopes

/** What each fresh answer of a grant used (the engine's JSON), oldest first. */
export async function answerScopes(db: Sql, grantId: string): Promise<string[]> {
  const rows = await db.all<{ scope: string | null }>(
    'SELECT scope FROM answers WHERE grant_id = $1 ORDER BY created_at, query_id',
    [grantId],
  )
  return rows.flatMap((r) => (r.scope === null ? [] : [r.scope]))
}

// ---------------------------------------------------------------- money

export type MoneyLineKind = 'price' | 'fee' | 'share'

/** One line of the money ledger, in integer minor units. */
export interface MoneyLine {
  readonly queryId: string
  readonly line: number
  readonly kind: MoneyLineKind
  readonly time: string
  readonly grant: string
  readonly analystId: string
  readonly analyst: string
  readonly organization: string | null
  readonly scenario: string
  /** The dataset priced (price lines) or shared (share lines); null on a fee line. */
  readonly dataset: string | null
  /** Who a share goes to (null: the platform's own dataset); null on price and fee lines. */
  readonly ownerId: string | null
  readonly epsilonMicro: bigint
  readonly amount: bigint
  readonly currency: string
}

/**
 * Spends `amount` of a grant's money cap with one guarded statement (a grant
 * without a cap takes any amount). False, and nothing changed, when it does
 * not fit. Run it inside the release transaction, the grant's row held.
 */
export async function guardedSpend(db: Sql, grantId: string, amount: bigint): Promise<boolean> {
  return (
    (await db.run(
      `UPDATE grants SET money_spent = money_spent + $2
        WHERE id = $1 AND (money_cap IS NULL OR money_spent + $2 <= money_cap)`,
      [grantId, amount],
    )) === 1
  )
}

/** Rows per INSERT: 14 parameters each, under both stores' limits on parameters per statement. */
const MONEY_INSERT_ROWS = 500

/** A release's money lines, in one multi-row statement (a release has a few: price, fee, owners' shares). */
export async function insertMoneyLines(db: Sql, lines: readonly MoneyLine[]): Promise<void> {
  for (let i = 0; i < lines.length; i += MONEY_INSERT_ROWS) {
    const part = lines.slice(i, i + MONEY_INSERT_ROWS)
    const params: Param[] = []
    const rows = part.map((l) => {
      const at = params.length
      params.push(
        l.queryId,
        l.line,
        l.kind,
        l.time,
        l.grant,
        l.analystId,
        l.analyst,
        l.organization,
        l.scenario,
        l.dataset,
        l.ownerId,
        l.epsilonMicro,
        l.amount,
        l.currency,
      )
      return `(${Array.from({ length: 14 }, (_, k) => `$${at + k + 1}`).join(', ')})`
    })
    await db.run(
      `INSERT INTO money_lines (query_id, line, kind, time, grant_id, analyst_id, analyst, organization, scenario, dataset_id, owner_id, epsilon_micro, amount, currency)
       VALUES ${rows.join(', ')}`,
      params,
    )
  }
}

interface MoneyRow {
  query_id: string
  line: number
  kind: MoneyLineKind
  time: string
  grant_id: string
  analyst_id: string
  analyst: string
  organization: string | null
  scenario: string
  dataset_id: string | null
  owner_id: string | null
  epsilon_micro: number | bigint
  amount: number | bigint
  currency: string
}

/** The money lines of answers released in [from, to), oldest first, optionally of one analyst principal. */
export async function moneyLines(
  db: Sql,
  period: { from: string; to: string },
  filter: { analystId?: string } = {},
): Promise<MoneyLine[]> {
  const rows = await db.all<MoneyRow>(
    `SELECT * FROM money_lines WHERE time >= $1 AND time < $2 AND ($3::text IS NULL OR analyst_id = $3)
      ORDER BY time, query_id, line`,
    [period.from, period.to, filter.analystId ?? null],
  )
  return rows.map((r) => ({
    queryId: r.query_id,
    line: Number(r.line),
    kind: r.kind,
    time: r.time,
    grant: r.grant_id,
    analystId: r.analyst_id,
    analyst: r.analyst,
    organization: r.organization,
    scenario: r.scenario,
    dataset: r.dataset_id,
    ownerId: r.owner_id,
    epsilonMicro: BigInt(r.epsilon_micro),
    amount: BigInt(r.amount),
    currency: r.currency,
  }))
}
