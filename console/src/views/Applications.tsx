import type { ComponentChildren } from 'preact'
import { useState } from 'preact/hooks'
import { ApplicationStateBadge, Currency, Money, ScenarioName, stateLabel } from '../components/market.js'
import { ConfirmButton, ErrorBox, Hash, Loading } from '../components/ui.js'
import { useApp } from '../context.js'
import { useAction, useLoad } from '../hooks.js'
import { parseYuan } from '../money.js'
import {
  APPLICATION_STATES,
  GRANT_AGGREGATES,
  type Application,
  type ApplicationScope,
  type ApplicationState,
  type Dataset,
  type MarketPolicy,
  type Party,
} from '../types.js'

function ScopeTable({ scopes }: { scopes: ApplicationScope[] }) {
  const { t } = useApp()
  return (
    <table class="scope-table">
      <thead>
        <tr>
          <th>{t('grants.dataset')}</th>
          <th>{t('grants.columns')}</th>
          <th>{t('grants.aggregates')}</th>
        </tr>
      </thead>
      <tbody>
        {scopes.map((s) => (
          <tr key={s.dataset} data-scope-dataset={s.dataset}>
            <td>
              <code translate={false}>{s.dataset}</code>
            </td>
            <td translate={s.columns ? false : undefined}>
              {s.columns ? s.columns.join(', ') : t('grants.allColumns')}
            </td>
            <td translate={s.aggregates ? false : undefined}>
              {s.aggregates ? s.aggregates.join(', ') : t('grants.allAggregates')}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  )
}

function PartyName({ party }: { party: Party }) {
  const { t } = useApp()
  if (party.party === 'operator') return <span>{t('party.operator')}</span>
  return (
    <span>
      {t('party.owner')}{' '}
      {party.owner ? <strong translate={false}>{party.owner.name}</strong> : <span class="muted">—</span>}
    </span>
  )
}

function Decision({ party }: { party: Party }) {
  const { t } = useApp()
  const d = party.decision
  return (
    <span class={`badge decision-${d ?? 'waiting'}`} data-decision={d ?? 'waiting'}>
      {d === 'approve' ? t('decision.approve') : d === 'deny' ? t('decision.deny') : t('decision.waiting')}
    </span>
  )
}

/** One application: what was asked, each party's decision and reason, what was approved and granted. */
export function ApplicationCard({
  app,
  currency,
  children,
}: {
  app: Application
  currency: string
  children?: ComponentChildren
}) {
  const { t, f, session } = useApp()
  const cap = (fen: number | null) =>
    fen === null ? (
      t('apply.noCap')
    ) : (
      <>
        {t('applications.cap')} <Money fen={fen} currency={currency} />
      </>
    )
  return (
    <section class="card application" data-application={app.id} data-state={app.state}>
      <header class="card-head">
        <h2>
          <ScenarioName name={app.scenario} /> · <span translate={false}>{app.organization}</span>
        </h2>
        <div class="card-actions">
          <ApplicationStateBadge state={app.state} />
          <Hash value={app.id} length={20} />
        </div>
      </header>
      <dl class="facts">
        <dt>{t('apply.purpose')}</dt>
        <dd translate={false}>{app.purpose}</dd>
        {session.role !== 'analyst' && (
          <>
            <dt>{t('grants.analyst')}</dt>
            <dd translate={false}>{app.analyst.name}</dd>
          </>
        )}
        <dt>{t('applications.asked')}</dt>
        <dd>
          ε {f.eps(app.epsilon)}
          {app.delta > 0 && <> · δ {f.eps(app.delta)}</>} · {cap(app.moneyCap)} ·{' '}
          {t('applications.days', { n: f.num(app.durationDays) })}
        </dd>
        <dt>{t('applications.submitted')}</dt>
        <dd>{f.date(app.submittedAt)}</dd>
        {app.state === 'pending' && (
          <>
            <dt>{t('applications.deadline')}</dt>
            <dd>
              {f.date(app.expiresAt)} ({f.relative(app.expiresAt)})
            </dd>
          </>
        )}
        {app.decidedAt && (
          <>
            <dt>{t('applications.decided')}</dt>
            <dd>{f.date(app.decidedAt)}</dd>
          </>
        )}
      </dl>
      <h3>{t('applications.requested')}</h3>
      <ScopeTable scopes={app.datasets} />
      <h3>{t('applications.parties')}</h3>
      <table class="parties" data-testid="parties">
        <thead>
          <tr>
            <th>{t('applications.party')}</th>
            <th>{t('grants.dataset')}</th>
            <th>{t('applications.decision')}</th>
            <th>{t('applications.reason')}</th>
            <th>{t('applications.when')}</th>
          </tr>
        </thead>
        <tbody>
          {app.parties.map((p, i) => (
            <tr key={i} data-party={p.party} data-owner={p.owner?.name ?? ''} data-decision={p.decision ?? 'waiting'}>
              <td>
                <PartyName party={p} />
              </td>
              <td translate={false}>{p.datasets.join(', ')}</td>
              <td>
                <Decision party={p} />
              </td>
              <td translate={p.reason ? false : undefined} data-testid="party-reason">
                {p.reason ?? '—'}
                {p.by && (
                  <div class="small muted" translate={false}>
                    {p.by}
                  </div>
                )}
              </td>
              <td>{p.at ? f.date(p.at) : '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {app.approved && (
        <>
          <h3>{t('applications.approved')}</h3>
          <p class="small" data-testid="approved-budget">
            ε {f.eps(app.approved.epsilon)}
            {app.approved.delta > 0 && <> · δ {f.eps(app.approved.delta)}</>} · {cap(app.approved.moneyCap)}
          </p>
          <ScopeTable scopes={app.approved.datasets} />
        </>
      )}
      {app.grants.length > 0 && (
        <p data-testid="application-grants">
          {t('applications.grants')}{' '}
          {app.grants.map((g) => (
            <span key={g} data-grant-id={g}>
              {session.role === 'analyst' ? (
                <a href={`#/query?grant=${encodeURIComponent(g)}`}>
                  <Hash value={g} length={18} />
                </a>
              ) : (
                <Hash value={g} length={18} />
              )}{' '}
            </span>
          ))}
        </p>
      )}
      {children}
    </section>
  )
}

function StateFilter({ value, onChange }: { value: string; onChange: (v: string) => void }) {
  const { t } = useApp()
  return (
    <label>
      {t('applications.state')}
      <select
        value={value}
        onChange={(e) => onChange((e.target as HTMLSelectElement).value)}
        data-testid="state-filter"
      >
        <option value="">{t('common.all')}</option>
        {APPLICATION_STATES.map((s) => (
          <option key={s} value={s}>
            {stateLabel(t, s)}
          </option>
        ))}
      </select>
    </label>
  )
}

function useApplications(state: string) {
  const { api } = useApp()
  return useLoad(
    () => api.get<{ applications: Application[] }>('/v1/applications', { state: state || undefined }),
    [state],
  )
}

function usePolicy() {
  const { api } = useApp()
  return useLoad(() => api.get<MarketPolicy>('/v1/market/policy'), [])
}

/** The analyst's applications: where each stands, who decided what and why; withdraw while it is open or in use. */
export function MyApplicationsView() {
  const { api, t } = useApp()
  const [state, setState] = useState('')
  const apps = useApplications(state)
  const policy = usePolicy()
  const withdraw = useAction(async (id: string) => {
    await api.post<Application>(`/v1/applications/${encodeURIComponent(id)}/withdraw`, {})
    apps.reload()
  })
  const currency = policy.data?.currency ?? 'CNY'
  return (
    <div>
      <h1>{t('applications.title')}</h1>
      <div class="options">
        <StateFilter value={state} onChange={setState} />
        <a class="button primary" href="#/apply">
          {t('applications.new')}
        </a>
      </div>
      <ErrorBox error={apps.error} />
      <ErrorBox error={withdraw.error} onDismiss={() => withdraw.setError(null)} />
      {apps.loading && !apps.data && <Loading />}
      {apps.data && apps.data.applications.length === 0 && (
        <p class="notice" data-testid="applications-empty">
          {t('applications.none')}
        </p>
      )}
      <div data-testid="applications">
        {apps.data?.applications.map((a) => (
          <ApplicationCard key={a.id} app={a} currency={currency}>
            {(a.state === 'pending' || a.state === 'approved') && (
              <div class="actions">
                <ConfirmButton
                  label={t('applications.withdraw')}
                  confirm={
                    a.state === 'approved' ? t('applications.withdrawApproved') : t('applications.withdrawPending')
                  }
                  onConfirm={() => void withdraw.run(a.id)}
                  disabled={withdraw.pending}
                  testid={`withdraw-${a.id}`}
                />
              </div>
            )}
          </ApplicationCard>
        ))}
      </div>
    </div>
  )
}

/** Whether the signed-in party still has to decide: the operator its own line, an owner any owner line. */
function awaitsMe(app: Application, role: string): boolean {
  if (app.state !== 'pending') return false
  return app.parties.some((p) => p.decision === null && p.party === (role === 'operator' ? 'operator' : 'owner'))
}

/** What an approval keeps of one dataset's requested columns and aggregates. */
interface Keep {
  columns: string[]
  aggregates: string[]
  /** What was asked for (all of them when the application asked for every one). */
  askedColumns: string[]
  askedAggregates: string[]
}

function initialKeep(app: Application, catalog: Dataset[], role: string): Record<string, Keep> {
  // An owner narrows only its own datasets: those named on an owner's line.
  const narrowable = new Set(
    role === 'operator'
      ? app.datasets.map((d) => d.dataset)
      : app.parties.flatMap((p) => (p.party === 'owner' ? p.datasets : [])),
  )
  const out: Record<string, Keep> = {}
  for (const s of app.datasets) {
    if (!narrowable.has(s.dataset)) continue
    const askedColumns = s.columns ?? catalog.find((d) => d.id === s.dataset)?.columns.map((c) => c.name) ?? []
    const askedAggregates = s.aggregates ?? [...GRANT_AGGREGATES]
    out[s.dataset] = { columns: askedColumns, aggregates: askedAggregates, askedColumns, askedAggregates }
  }
  return out
}

/** The narrowing of columns and aggregates to send: only the datasets where something was left out. */
function narrowedScopes(keep: Record<string, Keep>): { dataset: string; columns?: string[]; aggregates?: string[] }[] {
  return Object.entries(keep).flatMap(([dataset, k]) => {
    const columns = k.columns.length < k.askedColumns.length ? { columns: k.columns } : {}
    const aggregates = k.aggregates.length < k.askedAggregates.length ? { aggregates: k.aggregates } : {}
    return Object.keys(columns).length + Object.keys(aggregates).length > 0
      ? [{ dataset, ...columns, ...aggregates }]
      : []
  })
}

function NarrowScope({ keep, onChange }: { keep: Record<string, Keep>; onChange: (k: Record<string, Keep>) => void }) {
  const { t } = useApp()
  const toggle = (dataset: string, what: 'columns' | 'aggregates', name: string) => {
    const k = keep[dataset]!
    const has = k[what].includes(name)
    onChange({ ...keep, [dataset]: { ...k, [what]: has ? k[what].filter((x) => x !== name) : [...k[what], name] } })
  }
  return (
    <details class="narrow" data-testid="narrow-scope">
      <summary>{t('approvals.narrowScope')}</summary>
      <p class="small muted">{t('approvals.narrowScopeHint')}</p>
      {Object.entries(keep).map(([dataset, k]) => (
        <fieldset key={dataset} data-narrow-dataset={dataset}>
          <legend>
            <code translate={false}>{dataset}</code>
          </legend>
          <div class="checks">
            {k.askedColumns.map((c) => (
              <label key={c} class="check">
                <input
                  type="checkbox"
                  checked={k.columns.includes(c)}
                  onChange={() => toggle(dataset, 'columns', c)}
                  data-narrow-column={c}
                />
                <code translate={false}>{c}</code>
              </label>
            ))}
          </div>
          <div class="checks">
            {k.askedAggregates.map((a) => (
              <label key={a} class="check">
                <input
                  type="checkbox"
                  checked={k.aggregates.includes(a)}
                  onChange={() => toggle(dataset, 'aggregates', a)}
                  data-narrow-aggregate={a}
                />
                <code translate={false}>{a.toUpperCase()}</code>
              </label>
            ))}
          </div>
        </fieldset>
      ))}
    </details>
  )
}

function DecisionForm({
  app,
  currency,
  catalog,
  onDone,
}: {
  app: Application
  currency: string
  catalog: Dataset[]
  onDone: () => void
}) {
  const { api, t, f, session } = useApp()
  const [reason, setReason] = useState('')
  const [epsilon, setEpsilon] = useState('')
  const [moneyCap, setMoneyCap] = useState('')
  const [keep, setKeep] = useState<Record<string, Keep>>(() => initialKeep(app, catalog, session.role))
  const narrowEps = epsilon.trim() === '' ? null : Number(epsilon)
  const narrowCap = moneyCap.trim() === '' ? null : parseYuan(moneyCap)
  const scopes = narrowedScopes(keep)
  const badNarrow =
    (narrowEps !== null && !(narrowEps > 0 && narrowEps <= app.epsilon)) ||
    (moneyCap.trim() !== '' && (narrowCap === null || (app.moneyCap !== null && narrowCap > app.moneyCap))) ||
    Object.values(keep).some((k) => k.columns.length === 0 || k.aggregates.length === 0)
  const decide = useAction(async (what: 'approve' | 'deny') => {
    const narrow = {
      ...(scopes.length > 0 ? { datasets: scopes } : {}),
      ...(narrowEps !== null ? { epsilon: narrowEps } : {}),
      ...(narrowCap !== null ? { moneyCap: narrowCap } : {}),
    }
    await api.post<Application>(
      `/v1/applications/${encodeURIComponent(app.id)}/${what}`,
      what === 'approve' && Object.keys(narrow).length > 0
        ? { reason: reason.trim(), narrow }
        : { reason: reason.trim() },
    )
    setReason('')
    onDone()
  })
  // The service takes a reason of at least 3 characters.
  const noReason = reason.trim().length < 3
  return (
    <div class="decide" data-testid="decide">
      <h3>{t('approvals.decide')}</h3>
      <label>
        {t('approvals.reason')}
        <textarea
          rows={2}
          value={reason}
          onInput={(e) => setReason((e.target as HTMLTextAreaElement).value)}
          placeholder={t('approvals.reasonHint')}
          data-testid="decide-reason"
        />
      </label>
      <div class="options">
        <label>
          {t('approvals.narrowEpsilon')}
          <input
            type="number"
            min="0"
            step="any"
            value={epsilon}
            onInput={(e) => setEpsilon((e.target as HTMLInputElement).value)}
            placeholder={t('approvals.keep', { value: f.eps(app.epsilon) })}
            data-testid="decide-epsilon"
          />
        </label>
        <label>
          <span>
            {t('approvals.narrowMoney')} <Currency code={currency} />
          </span>
          <input
            inputMode="decimal"
            value={moneyCap}
            onInput={(e) => setMoneyCap((e.target as HTMLInputElement).value)}
            placeholder={t('approvals.keepCap')}
            data-testid="decide-money"
          />
        </label>
      </div>
      {Object.keys(keep).length > 0 && <NarrowScope keep={keep} onChange={setKeep} />}
      {badNarrow && <p class="notice warn">{t('approvals.badNarrow')}</p>}
      <div class="actions">
        <button
          type="button"
          class="primary"
          disabled={noReason || badNarrow || decide.pending}
          onClick={() => void decide.run('approve')}
          data-testid="approve"
        >
          {t('approvals.approve')}
        </button>
        <button
          type="button"
          class="danger"
          disabled={noReason || decide.pending}
          onClick={() => void decide.run('deny')}
          data-testid="deny"
        >
          {t('approvals.deny')}
        </button>
        {noReason && <span class="muted small">{t('approvals.needReason')}</span>}
      </div>
      <ErrorBox error={decide.error} onDismiss={() => decide.setError(null)} />
    </div>
  )
}

/** Operators and owners: the applications that wait for them, with approve and deny, each with a reason. */
export function ApprovalsView() {
  const { api, t, session } = useApp()
  const [state, setState] = useState<ApplicationState | ''>('pending')
  const apps = useApplications(state)
  const policy = usePolicy()
  const catalog = useLoad(() => api.get<{ datasets: Dataset[] }>('/v1/datasets'), [])
  const currency = policy.data?.currency ?? 'CNY'
  return (
    <div>
      <h1>{t('approvals.title')}</h1>
      <p class="muted">{t(session.role === 'operator' ? 'approvals.introOperator' : 'approvals.introOwner')}</p>
      <div class="options">
        <StateFilter value={state} onChange={(v) => setState(v as ApplicationState | '')} />
      </div>
      <ErrorBox error={apps.error} />
      {apps.loading && !apps.data && <Loading />}
      {apps.data && apps.data.applications.length === 0 && (
        <p class="notice" data-testid="applications-empty">
          {t('approvals.none')}
        </p>
      )}
      <div data-testid="applications">
        {apps.data?.applications.map((a) => (
          <ApplicationCard key={a.id} app={a} currency={currency}>
            {awaitsMe(a, session.role) && (
              <DecisionForm app={a} currency={currency} catalog={catalog.data?.datasets ?? []} onDone={apps.reload} />
            )}
          </ApplicationCard>
        ))}
      </div>
    </div>
  )
}
