import { Fragment } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { Currency, MoneyUse, ScenarioName, ScopeReviewPanel, useScenarioText } from '../components/market.js'
import { parseYuan } from '../money.js'
import { ConfirmButton, ErrorBox, Hash, Loading, ProtectionBadge, Section, StatusBadge } from '../components/ui.js'
import { useApp } from '../context.js'
import { useAction, useLoad } from '../hooks.js'
import { GRANT_AGGREGATES, type Dataset, type Grant, type KeyInfo, type MarketPolicy } from '../types.js'

/** A datetime-local value (local time, minutes) some days from now. */
function localInput(daysAhead: number): string {
  const d = new Date(Date.now() + daysAhead * 86_400_000)
  d.setSeconds(0, 0)
  const pad = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`
}

function CreateGrant({
  datasets,
  analysts,
  policy,
  onCreated,
}: {
  datasets: Dataset[]
  analysts: KeyInfo[]
  /** The market policy, when the service has one: a direct grant names its scenario too. */
  policy: MarketPolicy | undefined
  onCreated: (g: Grant) => void
}) {
  const { api, t } = useApp()
  const scenarioText = useScenarioText()
  const [scenario, setScenario] = useState('public-welfare')
  const [organization, setOrganization] = useState('')
  const [moneyCap, setMoneyCap] = useState('')
  const capFen = moneyCap.trim() === '' ? null : parseYuan(moneyCap)
  const [analyst, setAnalyst] = useState(analysts[0]?.name ?? '')
  const [dataset, setDataset] = useState(datasets[0]?.id ?? '')
  const [purpose, setPurpose] = useState('')
  const [columns, setColumns] = useState<string[]>([])
  const [aggregates, setAggregates] = useState<string[]>([])
  const [epsilon, setEpsilon] = useState('1')
  const [delta, setDelta] = useState('0')
  const [expires, setExpires] = useState(localInput(30))
  const [created, setCreated] = useState<Grant | null>(null)
  useEffect(() => {
    if (!analyst && analysts[0]) setAnalyst(analysts[0].name)
  }, [analysts])
  const ds = datasets.find((d) => d.id === dataset)
  const toggle = (list: string[], set: (v: string[]) => void, v: string) =>
    set(list.includes(v) ? list.filter((x) => x !== v) : [...list, v])
  const create = useAction(async () => {
    const g = await api.post<Grant>('/v1/grants', {
      analyst,
      dataset,
      purpose,
      ...(columns.length > 0 ? { columns } : {}),
      ...(aggregates.length > 0 ? { aggregates } : {}),
      epsilon: Number(epsilon),
      delta: Number(delta),
      // datetime-local is the operator's local time; the API takes an instant.
      expiresAt: new Date(expires).toISOString(),
      ...(policy ? { scenario } : {}),
      ...(policy && organization.trim() ? { organization: organization.trim() } : {}),
      ...(policy && capFen !== null ? { moneyCap: capFen } : {}),
    })
    setCreated(g)
    setPurpose('')
    onCreated(g)
  })
  return (
    <Section title={t('grants.create')}>
      <div class="form" data-testid="grant-form">
        <div class="form-grid">
          <label>
            {t('grants.analyst')}
            <select
              value={analyst}
              onChange={(e) => setAnalyst((e.target as HTMLSelectElement).value)}
              translate={false}
              data-testid="grant-analyst"
            >
              {analysts.length === 0 && <option value="">—</option>}
              {analysts.map((k) => (
                <option key={k.name} value={k.name}>
                  {k.name}
                </option>
              ))}
            </select>
          </label>
          <label>
            {t('grants.dataset')}
            <select
              value={dataset}
              onChange={(e) => {
                setDataset((e.target as HTMLSelectElement).value)
                setColumns([])
              }}
              translate={false}
              data-testid="grant-dataset"
            >
              {datasets.map((d) => (
                <option key={d.id} value={d.id}>
                  {d.id}
                </option>
              ))}
            </select>
          </label>
          <label>
            {t('grants.epsilon')}
            <input
              type="number"
              min="0"
              step="any"
              value={epsilon}
              onInput={(e) => setEpsilon((e.target as HTMLInputElement).value)}
              data-testid="grant-epsilon"
            />
          </label>
          <label>
            {t('grants.delta')}
            <input
              type="number"
              min="0"
              step="any"
              value={delta}
              onInput={(e) => setDelta((e.target as HTMLInputElement).value)}
            />
          </label>
          <label>
            {t('grants.expiresAt')}
            <input
              type="datetime-local"
              value={expires}
              onInput={(e) => setExpires((e.target as HTMLInputElement).value)}
              data-testid="grant-expires"
            />
          </label>
        </div>
        {policy && (
          <div class="form-grid">
            <label>
              {t('apply.scenario')}
              <select
                value={scenario}
                onChange={(e) => setScenario((e.target as HTMLSelectElement).value)}
                data-testid="grant-scenario-select"
              >
                {policy.scenarios.map((s) => (
                  <option key={s} value={s}>
                    {scenarioText(s)}
                  </option>
                ))}
              </select>
            </label>
            <label>
              {t('apply.organization')}
              <input
                value={organization}
                onInput={(e) => setOrganization((e.target as HTMLInputElement).value)}
                data-testid="grant-organization"
              />
            </label>
            <label>
              <span>
                {t('apply.moneyCap')} <Currency code={policy.currency} />
              </span>
              <input
                inputMode="decimal"
                value={moneyCap}
                onInput={(e) => setMoneyCap((e.target as HTMLInputElement).value)}
                placeholder={t('apply.moneyCapHint')}
                data-testid="grant-money"
              />
            </label>
          </div>
        )}
        {policy && <p class="small muted">{t('grants.directHint')}</p>}
        {analysts.length === 0 && <p class="notice warn">{t('grants.noAnalysts')}</p>}
        <label>
          {t('grants.purpose')}
          <input
            value={purpose}
            onInput={(e) => setPurpose((e.target as HTMLInputElement).value)}
            placeholder={t('grants.purposeHint')}
            data-testid="grant-purpose"
          />
        </label>
        {ds && (
          <fieldset>
            <legend>{t('grants.columns')}</legend>
            <p class="small muted">{t('grants.columnsHint')}</p>
            <div class="checks">
              {ds.columns.map((c) => (
                <label key={c.name} class="check">
                  <input
                    type="checkbox"
                    checked={columns.includes(c.name)}
                    onChange={() => toggle(columns, setColumns, c.name)}
                    data-grant-column={c.name}
                  />
                  <code translate={false}>{c.name}</code> <ProtectionBadge protection={c.protection} />
                </label>
              ))}
            </div>
          </fieldset>
        )}
        <fieldset>
          <legend>{t('grants.aggregates')}</legend>
          <p class="small muted">{t('grants.aggregatesHint')}</p>
          <div class="checks">
            {GRANT_AGGREGATES.map((a) => (
              <label key={a} class="check">
                <input
                  type="checkbox"
                  checked={aggregates.includes(a)}
                  onChange={() => toggle(aggregates, setAggregates, a)}
                />
                <code translate={false}>{a.toUpperCase()}</code>
              </label>
            ))}
          </div>
        </fieldset>
        <div class="actions">
          <button
            type="button"
            class="primary"
            disabled={create.pending || (moneyCap.trim() !== '' && capFen === null)}
            onClick={() => void create.run()}
            data-testid="grant-create"
          >
            {create.pending ? t('common.saving') : t('grants.createButton')}
          </button>
        </div>
        <ErrorBox error={create.error} onDismiss={() => create.setError(null)} />
        {created && !create.error && (
          <p class="notice ok" role="status" data-testid="grant-created" data-grant-id={created.id}>
            {t('grants.created', { id: created.id, analyst: created.analyst })}
          </p>
        )}
      </div>
    </Section>
  )
}

export function GrantsView() {
  const { api, t, f } = useApp()
  const [filterDataset, setFilterDataset] = useState('')
  const [filterAnalyst, setFilterAnalyst] = useState('')
  const [reviewing, setReviewing] = useState<string | null>(null)
  const catalog = useLoad(() => api.get<{ datasets: Dataset[] }>('/v1/datasets'), [])
  const keys = useLoad(() => api.get<{ keys: KeyInfo[] }>('/v1/keys'), [])
  const policy = useLoad(() => api.get<MarketPolicy>('/v1/market/policy'), [])
  const grants = useLoad(
    () => api.get<{ grants: Grant[] }>('/v1/grants', { dataset: filterDataset, analyst: filterAnalyst }),
    [filterDataset, filterAnalyst],
  )
  const revoke = useAction(async (id: string) => {
    await api.delete<Grant>(`/v1/grants/${encodeURIComponent(id)}`)
    grants.reload()
  })
  const analysts = (keys.data?.keys ?? []).filter((k) => k.role === 'analyst')

  return (
    <div>
      <h1>{t('grants.title')}</h1>
      <ErrorBox error={catalog.error ?? keys.error} />
      {catalog.data && keys.data && (
        <CreateGrant
          datasets={catalog.data.datasets}
          analysts={analysts}
          policy={policy.data}
          onCreated={grants.reload}
        />
      )}
      <Section
        title={t('grants.list')}
        actions={
          <div class="options">
            <label>
              {t('grants.dataset')}
              <select value={filterDataset} onChange={(e) => setFilterDataset((e.target as HTMLSelectElement).value)}>
                <option value="">{t('common.all')}</option>
                {catalog.data?.datasets.map((d) => (
                  <option key={d.id} value={d.id} translate={false}>
                    {d.id}
                  </option>
                ))}
              </select>
            </label>
            <label>
              {t('grants.analyst')}
              <select value={filterAnalyst} onChange={(e) => setFilterAnalyst((e.target as HTMLSelectElement).value)}>
                <option value="">{t('common.all')}</option>
                {analysts.map((k) => (
                  <option key={k.name} value={k.name} translate={false}>
                    {k.name}
                  </option>
                ))}
              </select>
            </label>
          </div>
        }
      >
        <ErrorBox error={grants.error} />
        <ErrorBox error={revoke.error} onDismiss={() => revoke.setError(null)} />
        {grants.loading && !grants.data && <Loading />}
        {grants.data && grants.data.grants.length === 0 && <p class="notice">{t('grants.none')}</p>}
        {grants.data && grants.data.grants.length > 0 && (
          <table class="grants" data-testid="grants">
            <thead>
              <tr>
                <th>{t('grants.id')}</th>
                <th>{t('grants.analyst')}</th>
                <th>{t('grants.purpose')}</th>
                <th>{t('grants.budget')}</th>
                <th>{t('grants.expiresAt')}</th>
                <th>{t('grants.status')}</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {grants.data.grants.map((g) => (
                <Fragment key={g.id}>
                  <tr data-grant={g.id} data-status={g.status}>
                    <td>
                      <Hash value={g.id} length={18} />
                      <div class="small muted" translate={false}>
                        {g.dataset}
                      </div>
                    </td>
                    <td translate={false}>{g.analyst}</td>
                    <td>
                      <span translate={false}>{g.purpose}</span>
                      <div class="small muted">
                        {t('grants.columns')}:{' '}
                        {g.columns ? <span translate={false}>{g.columns.join(', ')}</span> : t('grants.allColumns')}
                      </div>
                      {g.scenario !== undefined && (
                        <div class="small muted" data-testid="grant-scenario">
                          <ScenarioName name={g.scenario} />
                          {g.organization && (
                            <>
                              {' · '}
                              <span translate={false}>{g.organization}</span>
                            </>
                          )}
                        </div>
                      )}
                      {g.money && (
                        <div class="small" data-testid="grant-money">
                          <MoneyUse money={g.money} />
                        </div>
                      )}
                    </td>
                    <td>
                      <meter min={0} max={g.budget.epsilon.total} value={g.budget.epsilon.remaining} />
                      <div class="small">
                        {t('grants.remainingOf', {
                          remaining: f.eps(g.budget.epsilon.remaining),
                          total: f.eps(g.budget.epsilon.total),
                        })}
                      </div>
                    </td>
                    <td>
                      {f.date(g.expiresAt)}
                      <div class="small muted">{f.relative(g.expiresAt)}</div>
                    </td>
                    <td>
                      <StatusBadge status={g.status} />
                    </td>
                    <td>
                      <div class="actions">
                        <button
                          type="button"
                          onClick={() => setReviewing(reviewing === g.id ? null : g.id)}
                          aria-expanded={reviewing === g.id}
                          data-testid={`scope-${g.id}`}
                        >
                          {t('scope.button')}
                        </button>
                        {g.status === 'active' && (
                          <ConfirmButton
                            label={t('grants.revoke')}
                            confirm={t('grants.revokeConfirm')}
                            onConfirm={() => void revoke.run(g.id)}
                            disabled={revoke.pending}
                            testid={`revoke-${g.id}`}
                          />
                        )}
                      </div>
                    </td>
                  </tr>
                  {reviewing === g.id && (
                    <tr class="detail" data-scope-for={g.id}>
                      <td colSpan={7}>
                        <ScopeReviewPanel grant={g} auto />
                      </td>
                    </tr>
                  )}
                </Fragment>
              ))}
            </tbody>
          </table>
        )}
      </Section>
    </div>
  )
}
