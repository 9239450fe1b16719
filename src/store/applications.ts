import { appendAudit, type AuditActor } from './audit.js'
import type { Sql } from './sql.js'

/**
 * Applications for a use of data, and each party's decision on one. The
 * request, the parties and the approved scope are the engine's JSON; the
 * store keeps them, their state and the decisions, each write with its
 * audit record.
 */

export type ApplicationState = 'pending' | 'approved' | 'denied' | 'withdrawn'

export interface DecisionRecord {
  /** 'operator', or the owner principal's id. */
  readonly party: string
  readonly decision: 'approve' | 'deny'
  readonly reason: string
  readonly narrow: string | null
  readonly decidedBy: string
  readonly decidedAt: string
}

export interface ApplicationRecord {
  readonly id: string
  readonly analystId: string
  readonly analyst: string
  readonly organization: string
  readonly scenario: string
  readonly purpose: string
  readonly request: string
  readonly parties: string
  readonly state: ApplicationState
  readonly approved: string | null
  readonly grants: readonly string[]
  readonly submittedAt: string
  readonly expiresAt: string
  readonly decidedAt: string | null
  readonly decisions: readonly DecisionRecord[]
}

interface ApplicationRow {
  id: string
  analyst_id: string
  analyst: string
  organization: string
  scenario: string
  purpose: string
  request: string
  parties: string
  state: ApplicationState
  approved: string | null
  grants: string | null
  submitted_at: string
  expires_at: string
  decided_at: string | null
}

interface DecisionRow {
  application_id: string
  party: string
  decision: 'approve' | 'deny'
  reason: string
  narrow: string | null
  decided_by: string
  decided_at: string
}

export interface NewApplication {
  readonly id: string
  readonly analystId: string
  readonly analyst: string
  readonly organization: string
  readonly scenario: string
  readonly purpose: string
  readonly request: string
  readonly parties: string
  readonly submittedAt: string
  readonly expiresAt: string
}

interface Audit {
  readonly actor: AuditActor
  readonly action: string
  readonly detail: Readonly<Record<string, unknown>>
}

export async function insertApplication(db: Sql, a: NewApplication, audit: Audit): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.run(
      `INSERT INTO applications (id, analyst_id, analyst, organization, scenario, purpose, request, parties, state, submitted_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $10)`,
      [
        a.id,
        a.analystId,
        a.analyst,
        a.organization,
        a.scenario,
        a.purpose,
        a.request,
        a.parties,
        a.submittedAt,
        a.expiresAt,
      ],
    )
    await appendAudit(tx, { ...audit, outcome: 'ok', purpose: a.purpose })
  })
}

export async function findApplication(
  db: Sql,
  id: string,
  options: { forUpdate?: boolean } = {},
): Promise<ApplicationRecord | null> {
  const row = await db.get<ApplicationRow>(
    `SELECT * FROM applications WHERE id = $1${options.forUpdate ? ' FOR UPDATE' : ''}`,
    [id],
  )
  if (row === undefined) return null
  const decisions = await db.all<DecisionRow>(
    'SELECT * FROM application_decisions WHERE application_id = $1 ORDER BY decided_at, party',
    [id],
  )
  return toRecord(row, decisions)
}

/** Applications, newest first: every one, or one analyst principal's, optionally in one state. */
export async function listApplications(
  db: Sql,
  filter: { analystId?: string; state?: ApplicationState } = {},
): Promise<ApplicationRecord[]> {
  const rows = await db.all<ApplicationRow>(
    `SELECT * FROM applications WHERE ($1::text IS NULL OR analyst_id = $1) AND ($2::text IS NULL OR state = $2)
      ORDER BY submitted_at DESC, id`,
    [filter.analystId ?? null, filter.state ?? null],
  )
  if (rows.length === 0) return []
  const decisions = await db.all<DecisionRow>(
    `SELECT d.* FROM application_decisions d JOIN applications a ON a.id = d.application_id
      WHERE ($1::text IS NULL OR a.analyst_id = $1) AND ($2::text IS NULL OR a.state = $2)
      ORDER BY d.decided_at, d.party`,
    [filter.analystId ?? null, filter.state ?? null],
  )
  const by = new Map<string, DecisionRow[]>()
  for (const d of decisions) by.set(d.application_id, [...(by.get(d.application_id) ?? []), d])
  return rows.map((r) => toRecord(r, by.get(r.id) ?? []))
}

/** A party's decision, with its audit record. Run inside the transaction that holds the application's row. */
export async function insertDecision(tx: Sql, applicationId: string, d: DecisionRecord, audit: Audit): Promise<void> {
  await tx.run(
    `INSERT INTO application_decisions (application_id, party, decision, reason, narrow, decided_by, decided_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [applicationId, d.party, d.decision, d.reason, d.narrow, d.decidedBy, d.decidedAt],
  )
  await appendAudit(tx, { ...audit, outcome: 'ok' })
}

/** Moves a pending application to its final state. Run inside the transaction that holds its row. */
export async function closeApplication(
  tx: Sql,
  id: string,
  close: { state: Exclude<ApplicationState, 'pending'>; at: string; approved?: string; grants?: readonly string[] },
): Promise<void> {
  await tx.run('UPDATE applications SET state = $2, decided_at = $3, approved = $4, grants = $5 WHERE id = $1', [
    id,
    close.state,
    close.at,
    close.approved ?? null,
    close.grants === undefined ? null : JSON.stringify(close.grants),
  ])
}

/** Records a withdrawal (the application keeps its decisions and grants), with its audit record. */
export async function withdrawApplication(tx: Sql, id: string, at: string, audit: Audit): Promise<void> {
  await tx.run("UPDATE applications SET state = 'withdrawn', decided_at = COALESCE(decided_at, $2) WHERE id = $1", [
    id,
    at,
  ])
  await appendAudit(tx, { ...audit, outcome: 'ok' })
}

function toRecord(r: ApplicationRow, decisions: readonly DecisionRow[]): ApplicationRecord {
  return {
    id: r.id,
    analystId: r.analyst_id,
    analyst: r.analyst,
    organization: r.organization,
    scenario: r.scenario,
    purpose: r.purpose,
    request: r.request,
    parties: r.parties,
    state: r.state,
    approved: r.approved,
    grants: r.grants === null ? [] : (JSON.parse(r.grants) as string[]),
    submittedAt: r.submitted_at,
    expiresAt: r.expires_at,
    decidedAt: r.decided_at,
    decisions: decisions.map((d) => ({
      party: d.party,
      decision: d.decision,
      reason: d.reason,
      narrow: d.narrow,
      decidedBy: d.decided_by,
      decidedAt: d.decided_at,
    })),
  }
}
