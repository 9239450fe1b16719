import { VeilboxError } from '../../errors/index.js'
import { moneyLines, principalName, type MoneyLine } from '../../store/market.js'
import type { Sql } from '../../store/sql.js'
import { toText, units } from '../dp/budget.js'
import { csvLines, signCsv, signDocument, type Signed, type Signer } from './documents.js'
import { moneyNumber } from './money.js'

/**
 * Statements (what analysts' organizations owe) and settlements (what each
 * owner earns), read from the money ledger that fresh answers write in
 * their transactions (charge.ts). Both are signed; over one period they
 * reconcile exactly: the statements' amounts sum to the settlements'
 * gross, and the owners' totals to gross minus the platform's fee.
 */

export interface Period {
  readonly from: string
  readonly to: string
}

export interface StatementLine {
  readonly time: string
  readonly queryId: string
  readonly grant: string
  readonly analyst: string
  readonly organization: string | null
  readonly dataset: string
  readonly scenario: string
  readonly epsilon: string
  readonly amount: number
}

export interface StatementBody {
  readonly kind: 'veilbox.statement'
  readonly period: Period
  readonly currency: string
  readonly organization: string | null
  readonly analyst: { readonly id: string; readonly name: string } | null
  readonly lines: StatementLine[]
  readonly totals: { readonly answers: number; readonly epsilon: string; readonly amount: number }
  readonly issuedAt: string
}

export interface SettlementOwner {
  readonly owner: { readonly id: string; readonly name: string } | null
  readonly lines: { time: string; queryId: string; dataset: string; amount: number }[]
  readonly total: number
}

export interface SettlementBody {
  readonly kind: 'veilbox.settlement'
  readonly period: Period
  readonly currency: string
  readonly feeBps: number
  readonly owners: SettlementOwner[]
  readonly totals: { readonly answers: number; readonly gross: number; readonly fee: number; readonly net: number }
  readonly issuedAt: string
}

function oneCurrency(lines: readonly MoneyLine[], fallback: string): string {
  const currencies = new Set(lines.map((l) => l.currency))
  if (currencies.size > 1)
    throw new VeilboxError(
      'VEILBOX_ERR_MARKET_BAD_POLICY',
      `the period spans a change of currency (${[...currencies].join(', ')}); ask for the periods before and after it`,
      { field: 'period', currencies: [...currencies] },
    )
  return currencies.values().next().value ?? fallback
}

function epsilonText(micro: bigint): string {
  return toText('epsilon', units('epsilon', micro))
}

/** A statement: every priced answer of the period, of one organization (or all), or of one analyst principal. */
export async function statement(
  db: Sql,
  period: Period,
  scope: { organization?: string; analyst?: { id: string; name: string } },
  currency: string,
  now: Date,
): Promise<StatementBody> {
  const all = await moneyLines(db, period, scope.analyst ? { analystId: scope.analyst.id } : {})
  const priced = all.filter(
    (l) => l.kind === 'price' && (scope.organization === undefined || l.organization === scope.organization),
  )
  let epsilon = 0n
  let amount = 0n
  for (const l of priced) {
    epsilon += l.epsilonMicro
    amount += l.amount
  }
  return {
    kind: 'veilbox.statement',
    period,
    currency: oneCurrency(priced, currency),
    organization: scope.organization ?? null,
    analyst: scope.analyst ?? null,
    lines: priced.map((l) => ({
      time: l.time,
      queryId: l.queryId,
      grant: l.grant,
      analyst: l.analyst,
      organization: l.organization,
      dataset: l.dataset!,
      scenario: l.scenario,
      epsilon: epsilonText(l.epsilonMicro),
      amount: moneyNumber(l.amount),
    })),
    totals: {
      answers: new Set(priced.map((l) => l.queryId)).size,
      epsilon: epsilonText(epsilon),
      amount: moneyNumber(amount),
    },
    issuedAt: now.toISOString(),
  }
}

/** A settlement: each owner's shares of the period's answers (one owner's, or all), the fee and the totals. */
export async function settlement(
  db: Sql,
  period: Period,
  scope: { ownerId?: string },
  policy: { currency: string; feeBps: number },
  now: Date,
): Promise<SettlementBody> {
  const all = await moneyLines(db, period)
  const shares = all.filter((l) => l.kind === 'share' && (scope.ownerId === undefined || l.ownerId === scope.ownerId))
  // The answers a settlement covers: every answer of the period, or those the owner has a share of.
  const covered = new Set(scope.ownerId === undefined ? all.map((l) => l.queryId) : shares.map((l) => l.queryId))
  let gross = 0n
  let fee = 0n
  for (const l of all) {
    if (!covered.has(l.queryId)) continue
    if (l.kind === 'price') gross += l.amount
    else if (l.kind === 'fee') fee += l.amount
  }
  const byOwner = new Map<string | null, MoneyLine[]>()
  for (const l of shares) byOwner.set(l.ownerId, [...(byOwner.get(l.ownerId) ?? []), l])
  const owners: SettlementOwner[] = []
  let net = 0n
  for (const [ownerId, lines] of [...byOwner].sort(([a], [b]) => (a ?? '').localeCompare(b ?? ''))) {
    const total = lines.reduce((s, l) => s + l.amount, 0n)
    net += total
    owners.push({
      owner: ownerId === null ? null : { id: ownerId, name: (await principalName(db, ownerId)) ?? ownerId },
      lines: lines.map((l) => ({
        time: l.time,
        queryId: l.queryId,
        dataset: l.dataset!,
        amount: moneyNumber(l.amount),
      })),
      total: moneyNumber(total),
    })
  }
  return {
    kind: 'veilbox.settlement',
    period,
    currency: oneCurrency(
      all.filter((l) => covered.has(l.queryId)),
      policy.currency,
    ),
    feeBps: policy.feeBps,
    owners,
    totals: { answers: covered.size, gross: moneyNumber(gross), fee: moneyNumber(fee), net: moneyNumber(net) },
    issuedAt: now.toISOString(),
  }
}

export function signedStatement(body: StatementBody, signer: Signer): Signed<StatementBody> {
  return signDocument(body, signer)
}

export function signedSettlement(body: SettlementBody, signer: Signer): Signed<SettlementBody> {
  return signDocument(body, signer)
}

/** A statement as signed CSV: a header line naming it, one row per line, the totals, the signature. */
export function statementCsv(body: StatementBody, signer: Signer): string {
  const rows: (string | number | null)[][] = [
    ['time', 'query', 'grant', 'analyst', 'organization', 'dataset', 'scenario', 'epsilon', 'amount'],
    ...body.lines.map((l) => [
      l.time,
      l.queryId,
      l.grant,
      l.analyst,
      l.organization,
      l.dataset,
      l.scenario,
      l.epsilon,
      l.amount,
    ]),
    ['total', null, null, null, body.organization, null, null, body.totals.epsilon, body.totals.amount],
  ]
  const head = `# veilbox.statement,from=${body.period.from},to=${body.period.to},currency=${body.currency},amounts in minor units,issued=${body.issuedAt}\n`
  return signCsv(head + csvLines(rows), signer)
}

/** A settlement as signed CSV: one row per owner's share, each owner's total, the fee and the totals. */
export function settlementCsv(body: SettlementBody, signer: Signer): string {
  const rows: (string | number | null)[][] = [['owner', 'time', 'query', 'dataset', 'amount']]
  for (const o of body.owners) {
    const name = o.owner?.name ?? '(platform)'
    for (const l of o.lines) rows.push([name, l.time, l.queryId, l.dataset, l.amount])
    rows.push([name, 'total', null, null, o.total])
  }
  rows.push(['(platform fee)', 'total', null, null, body.totals.fee])
  rows.push(['(gross)', 'total', null, null, body.totals.gross])
  const head = `# veilbox.settlement,from=${body.period.from},to=${body.period.to},currency=${body.currency},feeBps=${body.feeBps},amounts in minor units,issued=${body.issuedAt}\n`
  return signCsv(head + csvLines(rows), signer)
}
