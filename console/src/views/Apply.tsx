import { useEffect, useState } from 'preact/hooks'
import { Currency, LevelBadge, Money, useScenarioText } from '../components/market.js'
import { ErrorBox, Loading, ProtectionBadge, Section } from '../components/ui.js'
import { useApp } from '../context.js'
import { useAction, useLoad } from '../hooks.js'
import { parseYuan } from '../money.js'
import { GRANT_AGGREGATES, type Application, type Dataset, type MarketPolicy } from '../types.js'

/** What the analyst asks for on one dataset; an empty list asks for all of them. */
interface Pick {
  columns: string[]
  aggregates: string[]
}

const list = (v: string | null): string[] => (v ? v.split(',').filter((s) => s !== '') : [])

/**
 * "One scenario, one authorization": an application for one use, which the
 * operator and the owner of each dataset named approve (docs/market.md). A
 * renewal arrives here from a grant's scope review with its fields filled in
 * and narrowed to what the grant's answers used.
 */
export function ApplyView() {
  const { api, t, params, navigate } = useApp()
  const scenarioText = useScenarioText()
  const policy = useLoad(() => api.get<MarketPolicy>('/v1/market/policy'), [])
  const catalog = useLoad(() => api.get<{ datasets: Dataset[] }>('/v1/datasets'), [])
  const [purpose, setPurpose] = useState(params.get('purpose') ?? '')
  const [scenario, setScenario] = useState(params.get('scenario') ?? '')
  const [organization, setOrganization] = useState(params.get('organization') ?? '')
  const [picked, setPicked] = useState<Record<string, Pick>>(() => {
    const d = params.get('dataset')
    return d ? { [d]: { columns: list(params.get('columns')), aggregates: list(params.get('aggregates')) } } : {}
  })
  const [epsilon, setEpsilon] = useState('1')
  const [delta, setDelta] = useState('0')
  const [moneyCap, setMoneyCap] = useState('')
  const [days, setDays] = useState('90')
  const [created, setCreated] = useState<Application | null>(null)

  useEffect(() => {
    if (!scenario && policy.data?.scenarios[0]) setScenario(policy.data.scenarios[0])
  }, [policy.data])

  const capFen = moneyCap.trim() === '' ? null : parseYuan(moneyCap)
  const eps = Number(epsilon)
  const durationDays = Number(days)
  const chosen = Object.keys(picked)
  const problem =
    purpose.trim().length < 3
      ? t('apply.needPurpose')
      : organization.trim() === ''
        ? t('apply.needOrganization')
        : !scenario
          ? t('apply.needScenario')
          : chosen.length === 0
            ? t('apply.needDataset')
            : !(eps > 0)
              ? t('query.needEpsilon')
              : !(Number(delta) >= 0 && Number(delta) < 1)
                ? t('apply.needDelta')
                : moneyCap.trim() !== '' && capFen === null
                  ? t('apply.needMoney')
                  : !(Number.isInteger(durationDays) && durationDays >= 1)
                    ? t('apply.needDays')
                    : null

  const submit = useAction(async () => {
    const app = await api.post<Application>('/v1/applications', {
      purpose: purpose.trim(),
      scenario,
      organization: organization.trim(),
      datasets: chosen.map((dataset) => {
        const p = picked[dataset]!
        return {
          dataset,
          ...(p.columns.length > 0 ? { columns: p.columns } : {}),
          ...(p.aggregates.length > 0 ? { aggregates: p.aggregates } : {}),
        }
      }),
      epsilon: eps,
      delta: Number(delta),
      ...(capFen === null ? {} : { moneyCap: capFen }),
      durationDays,
    })
    setCreated(app)
  })

  const toggleDataset = (id: string) =>
    setPicked((p) => {
      if (p[id]) {
        const { [id]: _, ...rest } = p
        return rest
      }
      return { ...p, [id]: { columns: [], aggregates: [] } }
    })
  const toggle = (id: string, what: keyof Pick, name: string) =>
    setPicked((p) => {
      const cur = p[id]
      if (!cur) return p
      const has = cur[what].includes(name)
      return { ...p, [id]: { ...cur, [what]: has ? cur[what].filter((x) => x !== name) : [...cur[what], name] } }
    })

  if (policy.error && !policy.data) return <ErrorBox error={policy.error} />
  if (!policy.data || (!catalog.data && !catalog.error)) return <Loading />
  const datasets = catalog.data?.datasets ?? []

  return (
    <div>
      <h1>{t('apply.title')}</h1>
      <p class="muted">{t('apply.intro')}</p>
      <ErrorBox error={catalog.error} />
      <Section title={t('apply.use')}>
        <div class="form" data-testid="apply-form">
          <label>
            {t('apply.purpose')}
            <input
              value={purpose}
              onInput={(e) => setPurpose((e.target as HTMLInputElement).value)}
              placeholder={t('apply.purposeHint')}
              data-testid="apply-purpose"
            />
          </label>
          <div class="form-grid">
            <label>
              {t('apply.scenario')}
              <select
                value={scenario}
                onChange={(e) => setScenario((e.target as HTMLSelectElement).value)}
                data-testid="apply-scenario"
              >
                {policy.data.scenarios.map((s) => (
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
                placeholder={t('apply.organizationHint')}
                data-testid="apply-organization"
              />
            </label>
            <label>
              {t('apply.epsilon')}
              <input
                type="number"
                min="0"
                step="any"
                value={epsilon}
                onInput={(e) => setEpsilon((e.target as HTMLInputElement).value)}
                data-testid="apply-epsilon"
              />
            </label>
            <label>
              {t('apply.delta')}
              <input
                type="number"
                min="0"
                step="any"
                value={delta}
                onInput={(e) => setDelta((e.target as HTMLInputElement).value)}
                data-testid="apply-delta"
              />
            </label>
            <label>
              <span>
                {t('apply.moneyCap')} <Currency code={policy.data.currency} />
              </span>
              <input
                inputMode="decimal"
                value={moneyCap}
                onInput={(e) => setMoneyCap((e.target as HTMLInputElement).value)}
                placeholder={t('apply.moneyCapHint')}
                data-testid="apply-money"
              />
            </label>
            <label>
              {t('apply.days')}
              <input
                type="number"
                min="1"
                step="1"
                value={days}
                onInput={(e) => setDays((e.target as HTMLInputElement).value)}
                data-testid="apply-days"
              />
            </label>
          </div>
          {capFen !== null && (
            <p class="small muted">
              {t('apply.moneyCapIs')} <Money fen={capFen} currency={policy.data.currency} />
            </p>
          )}
        </div>
      </Section>

      <Section title={t('apply.datasets')}>
        {datasets.length === 0 && <p class="notice">{t('apply.noDatasets')}</p>}
        <p class="small muted">{t('apply.minimumHint')}</p>
        {datasets.map((d) => {
          const p = picked[d.id]
          return (
            <fieldset key={d.id} data-apply-dataset={d.id}>
              <legend>
                <label class="check">
                  <input
                    type="checkbox"
                    checked={p !== undefined}
                    onChange={() => toggleDataset(d.id)}
                    data-testid={`apply-dataset-${d.id}`}
                  />
                  <span translate={false}>{d.title}</span> <code translate={false}>{d.id}</code>{' '}
                  <LevelBadge level={d.level} />
                </label>
              </legend>
              {p && (
                <>
                  <p class="small muted">{t('apply.columnsHint')}</p>
                  <div class="checks">
                    {d.columns.map((c) => (
                      <label key={c.name} class="check">
                        <input
                          type="checkbox"
                          checked={p.columns.includes(c.name)}
                          onChange={() => toggle(d.id, 'columns', c.name)}
                          data-apply-column={c.name}
                        />
                        <code translate={false}>{c.name}</code> <ProtectionBadge protection={c.protection} />
                        <LevelBadge level={c.level} />
                      </label>
                    ))}
                  </div>
                  <p class="small muted">{t('apply.aggregatesHint')}</p>
                  <div class="checks">
                    {GRANT_AGGREGATES.map((a) => (
                      <label key={a} class="check">
                        <input
                          type="checkbox"
                          checked={p.aggregates.includes(a)}
                          onChange={() => toggle(d.id, 'aggregates', a)}
                          data-apply-aggregate={a}
                        />
                        <code translate={false}>{a.toUpperCase()}</code>
                      </label>
                    ))}
                  </div>
                </>
              )}
            </fieldset>
          )
        })}
        {chosen
          .filter((id) => !datasets.some((d) => d.id === id))
          .map((id) => (
            <p key={id} class="notice warn">
              {t('apply.unknownDataset')} <code translate={false}>{id}</code>
            </p>
          ))}
        <div class="actions">
          <button
            type="button"
            class="primary"
            disabled={problem !== null || submit.pending}
            onClick={() => void submit.run()}
            data-testid="apply-submit"
          >
            {submit.pending ? t('common.saving') : t('apply.submit')}
          </button>
          <span class="muted small">{problem ?? t('apply.ready')}</span>
        </div>
        <ErrorBox error={submit.error} onDismiss={() => submit.setError(null)} />
        {created && !submit.error && (
          <div class="notice ok" role="status" data-testid="application-created" data-application-id={created.id}>
            <p>
              {t('apply.submitted')} <code translate={false}>{created.id}</code>
            </p>
            <button type="button" class="link" onClick={() => navigate('#/applications')}>
              {t('apply.seeApplications')}
            </button>
          </div>
        )}
      </Section>
    </div>
  )
}
