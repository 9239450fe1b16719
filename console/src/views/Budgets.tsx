import { useEffect, useState } from 'preact/hooks'
import { BurnDown, Gauge, type Series } from '../components/charts.js'
import { ErrorBox, Hash, Loading, Section } from '../components/ui.js'
import { useApp } from '../context.js'
import { useAction, useLoad } from '../hooks.js'
import type { Dataset, DatasetBudget, DatasetUsage, Grant } from '../types.js'

type By = 'grant' | 'purpose' | 'dataset'

/**
 * Remaining budget over time. The usage view sums charges per UTC day (from
 * the audit chain); each day's spend is drawn as one step at the end of that
 * day (or now, for today), starting from the full budget when the grant (or
 * dataset) was made.
 */
export function burnDownSeries(
  by: By,
  usage: DatasetUsage,
  grants: readonly Grant[],
  dataset: Dataset,
  budgetTotal: number | null,
  now: number,
): Series[] {
  const stepAt = (day: string) => Math.min(Date.parse(`${day}T00:00:00Z`) + 86_400_000, now)
  const build = (name: string, start: number, total: number, spends: { day: string; amount: number }[]): Series => {
    const perDay = new Map<string, number>()
    for (const s of spends) perDay.set(s.day, (perDay.get(s.day) ?? 0) + s.amount)
    const points = [{ t: start, v: total }]
    let left = total
    for (const day of [...perDay.keys()].sort()) {
      left -= perDay.get(day)!
      points.push({ t: Math.max(start, stepAt(day)), v: Math.max(0, left) })
    }
    return { name, points }
  }
  if (by === 'dataset') {
    if (budgetTotal === null) return []
    return [
      build(
        dataset.id,
        Date.parse(dataset.createdAt),
        budgetTotal,
        usage.timeline.map((e) => ({ day: e.day, amount: e.datasetEpsilon })),
      ),
    ]
  }
  if (by === 'grant') {
    return grants.map((g) =>
      build(
        `${g.analyst} · ${g.id.slice(2, 8)}`,
        Date.parse(g.createdAt),
        g.budget.epsilon.total,
        usage.timeline.filter((e) => e.grant === g.id).map((e) => ({ day: e.day, amount: e.epsilon })),
      ),
    )
  }
  const purposes = new Map<string, Grant[]>()
  for (const g of grants) purposes.set(g.purpose, [...(purposes.get(g.purpose) ?? []), g])
  return [...purposes.entries()].map(([purpose, gs]) =>
    build(
      purpose,
      Math.min(...gs.map((g) => Date.parse(g.createdAt))),
      gs.reduce((s, g) => s + g.budget.epsilon.total, 0),
      usage.timeline.filter((e) => e.purpose === purpose).map((e) => ({ day: e.day, amount: e.epsilon })),
    ),
  )
}

function SetBudget({
  dataset,
  current,
  onSaved,
}: {
  dataset: string
  current: DatasetBudget | null
  onSaved: () => void
}) {
  const { api, t } = useApp()
  const [epsilon, setEpsilon] = useState(current ? String(current.epsilon.total) : '10')
  const [delta, setDelta] = useState(current ? String(current.delta.total) : '0')
  useEffect(() => {
    if (current) {
      setEpsilon(String(current.epsilon.total))
      setDelta(String(current.delta.total))
    }
  }, [current?.epsilon.total, current?.delta.total])
  const save = useAction(async () => {
    await api.put<DatasetBudget>(`/v1/datasets/${encodeURIComponent(dataset)}/budget`, {
      epsilon: Number(epsilon),
      delta: Number(delta),
    })
    onSaved()
  })
  return (
    <div class="form">
      <div class="options">
        <label>
          {t('budgets.epsilonTotal')}
          <input
            type="number"
            min="0"
            step="any"
            value={epsilon}
            onInput={(e) => setEpsilon((e.target as HTMLInputElement).value)}
            data-testid="budget-epsilon"
          />
        </label>
        <label>
          {t('budgets.deltaTotal')}
          <input
            type="number"
            min="0"
            step="any"
            value={delta}
            onInput={(e) => setDelta((e.target as HTMLInputElement).value)}
          />
        </label>
        <button
          type="button"
          class="primary"
          disabled={save.pending || epsilon.trim() === ''}
          onClick={() => void save.run()}
          data-testid="budget-save"
        >
          {save.pending ? t('common.saving') : t('budgets.save')}
        </button>
      </div>
      <p class="small muted">{t('budgets.saveHint')}</p>
      <ErrorBox error={save.error} onDismiss={() => save.setError(null)} />
    </div>
  )
}

export function BudgetsView() {
  const { api, t, f, params } = useApp()
  const catalog = useLoad(() => api.get<{ datasets: Dataset[] }>('/v1/datasets'), [])
  const [id, setId] = useState(params.get('dataset') ?? '')
  const [by, setBy] = useState<By>('grant')
  useEffect(() => {
    if (!id && catalog.data?.datasets[0]) setId(catalog.data.datasets[0].id)
  }, [catalog.data])
  const dataset = catalog.data?.datasets.find((d) => d.id === id)
  // A dataset without a budget answers 409 VEILBOX_ERR_BUDGET_NOT_SET: that is a state to show, not an error.
  const budget = useLoad(async () => {
    if (!id) return null
    try {
      return await api.get<DatasetBudget>(`/v1/datasets/${encodeURIComponent(id)}/budget`)
    } catch (err) {
      if ((err as { code?: string }).code === 'VEILBOX_ERR_BUDGET_NOT_SET') return null
      throw err
    }
  }, [id])
  const usage = useLoad(
    () => (id ? api.get<DatasetUsage>(`/v1/datasets/${encodeURIComponent(id)}/usage`) : Promise.resolve(null)),
    [id],
  )
  const grants = useLoad(
    () => (id ? api.get<{ grants: Grant[] }>('/v1/grants', { dataset: id }) : Promise.resolve(null)),
    [id],
  )

  if (catalog.error && !catalog.data) return <ErrorBox error={catalog.error} />
  if (!catalog.data) return <Loading />
  const now = Date.now()
  const series =
    dataset && usage.data && grants.data
      ? burnDownSeries(by, usage.data, grants.data.grants, dataset, budget.data?.epsilon.total ?? null, now)
      : []

  return (
    <div>
      <h1>{t('budgets.title')}</h1>
      <label class="inline">
        {t('budgets.dataset')}
        <select
          value={id}
          onChange={(e) => setId((e.target as HTMLSelectElement).value)}
          translate={false}
          data-testid="budget-dataset"
        >
          {catalog.data.datasets.map((d) => (
            <option key={d.id} value={d.id}>
              {d.id}
            </option>
          ))}
        </select>
      </label>
      {catalog.data.datasets.length === 0 && <p class="notice">{t('catalog.empty')}</p>}
      {id && (
        <>
          <Section title={t('budgets.total')}>
            <ErrorBox error={budget.error} />
            {budget.loading && budget.data === undefined && <Loading />}
            {budget.data === null && <p class="notice warn">{t('budgets.notSet')}</p>}
            {budget.data && (
              <div class="grant-row">
                <Gauge
                  total={budget.data.epsilon.total}
                  remaining={budget.data.epsilon.remaining}
                  format={f.eps}
                  caption={t('gauge.caption', {
                    remaining: f.eps(budget.data.epsilon.remaining),
                    total: f.eps(budget.data.epsilon.total),
                  })}
                  label={<strong>{t('budgets.datasetGauge')}</strong>}
                />
                <dl class="facts">
                  <dt>{t('budgets.spent')}</dt>
                  <dd>ε {f.eps(budget.data.epsilon.spent)}</dd>
                  <dt>{t('budgets.remaining')}</dt>
                  <dd>ε {f.eps(budget.data.epsilon.remaining)}</dd>
                  <dt>δ</dt>
                  <dd>
                    {f.eps(budget.data.delta.spent)} / {f.eps(budget.data.delta.total)}
                  </dd>
                </dl>
              </div>
            )}
            {budget.data !== undefined && <SetBudget dataset={id} current={budget.data} onSaved={budget.reload} />}
          </Section>

          <Section
            title={t('budgets.burnDown')}
            actions={
              <div class="tabs" role="tablist">
                {(['grant', 'purpose', 'dataset'] as const).map((b) => (
                  <button
                    type="button"
                    role="tab"
                    key={b}
                    aria-selected={by === b}
                    class={by === b ? 'on' : ''}
                    onClick={() => setBy(b)}
                    data-by={b}
                  >
                    {t(`budgets.by.${b}`)}
                  </button>
                ))}
              </div>
            }
          >
            <ErrorBox error={usage.error ?? grants.error} />
            {(usage.loading || grants.loading) && !usage.data && <Loading />}
            {series.length === 0 && usage.data && <p class="notice">{t('budgets.noSeries')}</p>}
            {series.length > 0 && (
              <BurnDown
                series={series}
                now={now}
                formatY={(v) => `ε ${f.num(v, 2)}`}
                // Within two days the hours tell the steps apart; over longer spans the day is enough.
                formatX={(ms) =>
                  now - Math.min(...series.map((s) => s.points[0]!.t)) < 2 * 86_400_000
                    ? f.short(new Date(ms).toISOString())
                    : f.day(new Date(ms).toISOString())
                }
                title={t('budgets.burnDownTitle', { dataset: id })}
              />
            )}
            <p class="small muted">{t('budgets.burnDownNote')}</p>
            {usage.data && usage.data.byGrant.length > 0 && (
              <table class="usage" data-testid="usage-by-grant">
                <thead>
                  <tr>
                    <th>{t('grants.id')}</th>
                    <th>{t('grants.analyst')}</th>
                    <th>{t('grants.purpose')}</th>
                    <th class="num">{t('budgets.queries')}</th>
                    <th class="num">{t('budgets.grantEpsilon')}</th>
                    <th class="num">{t('budgets.datasetEpsilon')}</th>
                  </tr>
                </thead>
                <tbody>
                  {usage.data.byGrant.map((g) => (
                    <tr key={String(g.grant)}>
                      <td>{g.grant ? <Hash value={g.grant} length={18} /> : '—'}</td>
                      <td translate={false}>{g.analyst ?? '—'}</td>
                      <td translate={false}>{g.purpose ?? '—'}</td>
                      <td class="num">{f.num(g.queries)}</td>
                      <td class="num">{f.eps(g.epsilon)}</td>
                      <td class="num">{f.eps(g.datasetEpsilon)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </Section>
        </>
      )}
    </div>
  )
}
