import { useEffect, useState } from 'preact/hooks'
import { download, ErrorBox } from './ui.js'
import { useApp } from '../context.js'
import { useAction } from '../hooks.js'
import type { MessageKey } from '../i18n/index.js'
import { yuan } from '../money.js'
import type { ApplicationState, Grant, Level, PrincipalRef, ScopeReview } from '../types.js'

/** Pieces the market's screens share: money, levels, scenarios, periods and the scope review. */

/** An amount of fen as yuan and the currency code (the code is a symbol, kept as written). */
export function Money({ fen, currency, testid }: { fen: number; currency: string; testid?: string }) {
  return (
    <span class="money" data-amount={String(fen)} data-testid={testid}>
      {yuan(fen)} <span translate={false}>{currency}</span>
    </span>
  )
}

/** A currency code beside a label: a symbol, kept as written in every language. */
export function Currency({ code }: { code: string }) {
  return (
    <span class="currency" translate={false}>
      ({code})
    </span>
  )
}

const LEVEL_NAMES: Record<Level, MessageKey> = {
  L1: 'level.L1',
  L2: 'level.L2',
  L3: 'level.L3',
  L4: 'level.L4',
}

export function LevelBadge({ level }: { level: Level | undefined }) {
  const { t } = useApp()
  if (!level) return null
  return (
    <span class={`badge level-${level}`} data-level={level} title={t('level.hint')}>
      {level} {t(LEVEL_NAMES[level] ?? 'level.L2')}
    </span>
  )
}

const SCENARIO_NAMES: Record<string, MessageKey> = {
  'public-welfare': 'scenario.publicWelfare',
  research: 'scenario.research',
  industry: 'scenario.industry',
}

/** A scenario category: the three default ones in words, any other as the operator named it. */
export function ScenarioName({ name }: { name: string | null | undefined }) {
  const { t } = useApp()
  if (!name) return <span class="muted">—</span>
  const key = SCENARIO_NAMES[name]
  return key ? (
    <span data-scenario={name}>{t(key)}</span>
  ) : (
    <span data-scenario={name} translate={false}>
      {name}
    </span>
  )
}

/** A scenario's label as text (for select options, which hold no markup). */
export function useScenarioText(): (name: string) => string {
  const { t } = useApp()
  return (name) => {
    const key = SCENARIO_NAMES[name]
    return key ? t(key) : name
  }
}

const STATE_NAMES: Record<ApplicationState, MessageKey> = {
  pending: 'appstate.pending',
  approved: 'appstate.approved',
  denied: 'appstate.denied',
  withdrawn: 'appstate.withdrawn',
  expired: 'appstate.expired',
}

export function ApplicationStateBadge({ state }: { state: ApplicationState }) {
  const { t } = useApp()
  return (
    <span class={`badge appstate-${state}`} data-state={state}>
      {t(STATE_NAMES[state] ?? 'appstate.pending')}
    </span>
  )
}

export function stateLabel(t: (k: MessageKey) => string, state: ApplicationState): string {
  return t(STATE_NAMES[state] ?? 'appstate.pending')
}

/** A principal as the API names it: {id, name}, a bare name from an older service, or nobody (the platform). */
export function principalName(p: PrincipalRef | string | null | undefined): string | null {
  if (p === null || p === undefined) return null
  return typeof p === 'string' ? p : p.name
}

/** A UTC day (YYYY-MM-DD) some days from today. */
function utcDay(offsetDays: number, firstOfMonth = false): string {
  const d = new Date()
  if (firstOfMonth) d.setUTCDate(1)
  d.setUTCDate(d.getUTCDate() + offsetDays)
  return d.toISOString().slice(0, 10)
}

export interface PeriodState {
  from: string
  to: string
  setFrom(v: string): void
  setTo(v: string): void
  /** The period as the API takes it: from inclusive, to exclusive, UTC midnights. */
  query(): { from: string; to: string }
}

/** This month so far, today included: from the 1st (UTC) to tomorrow. */
export function usePeriod(): PeriodState {
  const [from, setFrom] = useState(() => utcDay(0, true))
  const [to, setTo] = useState(() => utcDay(1))
  return {
    from,
    to,
    setFrom,
    setTo,
    query: () => ({ from: `${from}T00:00:00.000Z`, to: `${to}T00:00:00.000Z` }),
  }
}

export function PeriodPicker({ period }: { period: PeriodState }) {
  const { t } = useApp()
  return (
    <>
      <label>
        {t('period.from')}
        <input
          type="date"
          value={period.from}
          onInput={(e) => period.setFrom((e.target as HTMLInputElement).value)}
          data-testid="period-from"
        />
      </label>
      <label>
        {t('period.to')}
        <input
          type="date"
          value={period.to}
          onInput={(e) => period.setTo((e.target as HTMLInputElement).value)}
          data-testid="period-to"
        />
      </label>
    </>
  )
}

/**
 * Buttons that fetch a signed document (statement or settlement) in CSV or
 * JSON and save it exactly as the service sent it: the signature covers
 * those bytes.
 */
export function SignedDownloads({
  path,
  query,
  name,
}: {
  path: string
  query: () => Record<string, string | undefined>
  name: string
}) {
  const { api, t } = useApp()
  const save = useAction(async (format: 'csv' | 'json') => {
    const q = query()
    const text = await api.text(path, { ...q, format })
    const stem = `${name}-${(q.from ?? '').slice(0, 10)}-${(q.to ?? '').slice(0, 10)}`
    download(`${stem}.${format}`, text, format === 'csv' ? 'text/csv;charset=utf-8' : 'application/json;charset=utf-8')
  })
  return (
    <>
      <button type="button" disabled={save.pending} onClick={() => void save.run('csv')} data-testid="download-csv">
        {t('market.downloadCsv')}
      </button>
      <button type="button" disabled={save.pending} onClick={() => void save.run('json')} data-testid="download-json">
        {t('market.downloadJson')}
      </button>
      <ErrorBox error={save.error} onDismiss={() => save.setError(null)} />
    </>
  )
}

/** The grant's market facts: scenario, organization and money spent against its cap. */
export function GrantMarketFacts({ grant }: { grant: Grant }) {
  const { t } = useApp()
  if (grant.scenario === undefined && grant.money === undefined) return null
  return (
    <>
      <dt>{t('grantmarket.scenario')}</dt>
      <dd data-testid="grant-scenario">
        <ScenarioName name={grant.scenario} />
      </dd>
      <dt>{t('grantmarket.organization')}</dt>
      <dd translate={grant.organization ? false : undefined}>{grant.organization ?? '—'}</dd>
      {grant.money && (
        <>
          <dt>{t('grantmarket.money')}</dt>
          <dd data-testid="grant-money">
            <MoneyUse money={grant.money} />
          </dd>
        </>
      )}
      {grant.application && (
        <>
          <dt>{t('grantmarket.application')}</dt>
          <dd>
            <code translate={false}>{grant.application}</code>
          </dd>
        </>
      )}
    </>
  )
}

export function MoneyUse({ money }: { money: NonNullable<Grant['money']> }) {
  const { t } = useApp()
  return (
    <span>
      <Money fen={money.spent} currency={money.currency} /> {t('grantmarket.spent')}
      {money.cap === null ? (
        <span class="muted"> · {t('grantmarket.noCap')}</span>
      ) : (
        <>
          {' '}
          · {t('grantmarket.cap')} <Money fen={money.cap} currency={money.currency} />
        </>
      )}
    </span>
  )
}

/** What a scope review needs of a grant (an owner knows its grants only from its datasets' usage). */
export type ScopedGrant = Pick<Grant, 'id' | 'dataset' | 'purpose'> &
  Partial<Pick<Grant, 'scenario' | 'organization' | 'columns' | 'aggregates'>>

/** Where a renewal starts: a new application for the same use, narrowed to what the grant's answers used. */
export function renewalHash(grant: ScopedGrant, scope: ScopeReview): string {
  const q = new URLSearchParams({ dataset: grant.dataset, purpose: grant.purpose })
  if (grant.scenario) q.set('scenario', grant.scenario)
  if (grant.organization) q.set('organization', grant.organization)
  // An application cannot ask for no column at all: when no answer used one, the grant's own list stays.
  const used = (xs: ScopeReview['columns'], granted: string[] | null | undefined) => {
    const names = xs.filter((x) => x.used).map((x) => x.name)
    return (names.length > 0 ? names : (granted ?? [])).join(',')
  }
  q.set('columns', used(scope.columns, grant.columns))
  q.set('aggregates', used(scope.aggregates, grant.aggregates))
  return `#/apply?${q.toString()}`
}

/**
 * "Minimum necessary, measured": what the grant allows against what its
 * fresh answers used, loaded when asked for.
 */
export function ScopeReviewPanel({ grant, auto = false }: { grant: ScopedGrant; auto?: boolean }) {
  const { api, t, f, session } = useApp()
  const [scope, setScope] = useState<ScopeReview | null>(null)
  const load = useAction(async () => {
    setScope(await api.get<ScopeReview>(`/v1/grants/${encodeURIComponent(grant.id)}/scope`))
  })
  useEffect(() => {
    if (auto) void load.run()
  }, [grant.id])
  if (!scope) {
    return (
      <div class="scope">
        <button type="button" onClick={() => void load.run()} disabled={load.pending} data-testid="scope-open">
          {load.pending ? t('common.loading') : t('scope.open')}
        </button>
        <ErrorBox error={load.error} onDismiss={() => load.setError(null)} />
      </div>
    )
  }
  const unusedCount = scope.unused.columns.length + scope.unused.aggregates.length
  return (
    <div class="scope" data-testid="scope" data-unused={String(unusedCount)}>
      <h3>{t('scope.title')}</h3>
      <p class="small muted">{t('scope.answers', { n: f.num(scope.answers) })}</p>
      <table class="scope-table">
        <thead>
          <tr>
            <th>{t('scope.item')}</th>
            <th>{t('scope.used')}</th>
            <th class="num">{t('scope.inAnswers')}</th>
          </tr>
        </thead>
        <tbody>
          {[
            ...scope.columns.map((c) => ({ ...c, kind: 'column' })),
            ...scope.aggregates.map((a) => ({ ...a, kind: 'aggregate' })),
          ].map((u) => (
            <tr key={`${u.kind}:${u.name}`} data-scope-item={u.name} data-used={String(u.used)}>
              <td>
                <code translate={false}>{u.kind === 'aggregate' ? u.name.toUpperCase() : u.name}</code>{' '}
                <span class="small muted">{u.kind === 'aggregate' ? t('scope.aggregate') : t('scope.column')}</span>
              </td>
              <td>{u.used ? t('common.true') : <strong class="warn">{t('common.false')}</strong>}</td>
              <td class="num">{f.num(u.answers)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {scope.answers === 0 ? (
        <p class="notice" data-testid="scope-suggestion">
          {t('scope.noAnswers')}
        </p>
      ) : unusedCount === 0 ? (
        <p class="notice ok" data-testid="scope-suggestion">
          {t('scope.allUsed')}
        </p>
      ) : (
        <div class="notice warn" data-testid="scope-suggestion">
          <p>{t('scope.unusedIntro')}</p>
          {scope.unused.columns.length > 0 && (
            <p>
              {t('scope.unusedColumns')} <code translate={false}>{scope.unused.columns.join(', ')}</code>
            </p>
          )}
          {scope.unused.aggregates.length > 0 && (
            <p>
              {t('scope.unusedAggregates')}{' '}
              <code translate={false}>{scope.unused.aggregates.map((a) => a.toUpperCase()).join(', ')}</code>
            </p>
          )}
          <p>{t('scope.suggestion')}</p>
          {session.role === 'analyst' && (
            <a class="button" href={renewalHash(grant, scope)} data-testid="scope-renew">
              {t('scope.renew')}
            </a>
          )}
        </div>
      )}
    </div>
  )
}
