import { useEffect, useMemo, useRef, useState } from 'preact/hooks'
import { ApiError } from '../api.js'
import { Gauge } from '../components/charts.js'
import { Money, ScenarioName } from '../components/market.js'
import { ErrorBox, Loading, ProtectionBadge, Section } from '../components/ui.js'
import { useApp } from '../context.js'
import { useAction, useLoad } from '../hooks.js'
import type { MessageKey } from '../i18n/index.js'
import type { Answer, Dataset, Grant, MyUsage, Preview } from '../types.js'
import { AnswerView } from './History.js'
import { type DryRunResult, DryRunView } from './DryRun.js'

/** A first query for a dataset, so that a person new to SQL sees the shape of one: a public grouping and a private aggregate. */
export function exampleSql(d: Dataset, granted: readonly string[] | null): string {
  const ok = (name: string) => granted === null || granted.includes(name)
  const group = d.columns.find(
    (c) => c.protection === 'public' && ((c.type === 'category' && c.categories) || c.type === 'boolean') && ok(c.name),
  )
  const measure = d.columns.find(
    (c) =>
      c.protection !== 'public' && (c.type === 'number' || c.type === 'integer') && c.lower !== undefined && ok(c.name),
  )
  const items = [
    ...(group ? [group.name] : []),
    'COUNT(*) AS n',
    ...(measure ? [`AVG(${measure.name}) AS avg_${measure.name}`] : []),
  ]
  return `SELECT ${items.join(', ')}\nFROM ${d.id}${group ? `\nGROUP BY ${group.name}` : ''}`
}

const AGGREGATE_SNIPPETS: Record<string, (col: string) => string> = {
  count: () => 'COUNT(*)',
  sum: (c) => `SUM(${c})`,
  avg: (c) => `AVG(${c})`,
  var: (c) => `VAR(${c})`,
  stddev: (c) => `STDDEV(${c})`,
  median: (c) => `MEDIAN(${c})`,
  quantile: (c) => `QUANTILE(${c}, 0.9)`,
}

export function GrantGauge({ grant }: { grant: Grant }) {
  const { t, f } = useApp()
  return (
    <Gauge
      total={grant.budget.epsilon.total}
      remaining={grant.budget.epsilon.remaining}
      format={f.eps}
      caption={t('gauge.caption', {
        remaining: f.eps(grant.budget.epsilon.remaining),
        total: f.eps(grant.budget.epsilon.total),
      })}
      label={
        <>
          <strong>{t('gauge.label')}</strong>
          <span class="small muted">
            {' '}
            {t('gauge.spent', { spent: f.eps(grant.budget.epsilon.spent) })} ·{' '}
            {t('grants.expires', { when: f.relative(grant.expiresAt) })}
          </span>
        </>
      }
    />
  )
}

export function QueryView() {
  const { api, t, f, params } = useApp()
  const usage = useLoad(() => api.get<MyUsage>('/v1/me/usage'), [])
  const catalog = useLoad(() => api.get<{ datasets: Dataset[] }>('/v1/datasets'), [])
  const [grantId, setGrantId] = useState<string>(params.get('grant') ?? '')
  const [sql, setSql] = useState('')
  // Whether the analyst has written SQL since choosing the grant. A ref, not state: the example below is set
  // in an effect that runs after paint, and an edit made between the choice and that effect must win.
  const touched = useRef(false)
  const [epsilon, setEpsilon] = useState('0.1')
  const [mechanism, setMechanism] = useState<'laplace' | 'gaussian'>('laplace')
  const [confidence, setConfidence] = useState('0.95')
  const [preview, setPreview] = useState<{ key: string; data: Preview } | null>(null)
  const [answer, setAnswer] = useState<Answer | null>(null)
  // Try on dummy data: Run sends dryRun and shows the result marked as dummy (free; no preview needed).
  const [dummy, setDummy] = useState(false)
  const [dryRun, setDryRun] = useState<DryRunResult | null>(null)
  const editor = useRef<HTMLTextAreaElement>(null)

  const grants = usage.data?.grants ?? []
  const active = grants.filter((g) => g.status === 'active')
  // Pick a grant once the analyst's grants are known: the one asked for, else one on the dataset asked for, else the first usable.
  useEffect(() => {
    if (grantId || active.length === 0) return
    const wanted = params.get('dataset')
    setGrantId((active.find((g) => g.dataset === wanted) ?? active[0]!).id)
  }, [usage.data])

  const grant = grants.find((g) => g.id === grantId)
  const dataset = catalog.data?.datasets.find((d) => d.id === grant?.dataset)
  useEffect(() => {
    if (dataset && grant && !touched.current) setSql(exampleSql(dataset, grant.columns))
  }, [dataset?.id, grant?.id])

  const eps = Number(epsilon)
  const request = useMemo(
    () => ({ sql, grant: grantId, epsilon: eps, mechanism, confidence: Number(confidence) }),
    [sql, grantId, eps, mechanism, confidence],
  )
  const requestKey = JSON.stringify(request)
  const inputProblem = !grantId
    ? t('query.needGrant')
    : sql.trim() === ''
      ? t('query.needSql')
      : !(eps > 0)
        ? t('query.needEpsilon')
        : null

  const previewAction = useAction(async () => {
    const data = await api.post<Preview>('/v1/queries/preview', request)
    setPreview({ key: requestKey, data })
  })
  const runAction = useAction(async () => {
    if (dummy) {
      setDryRun(await api.post<DryRunResult>('/v1/queries', { ...request, dryRun: true }))
      setAnswer(null)
      return
    }
    const data = await api.post<Answer>('/v1/queries', request)
    setAnswer(data)
    setDryRun(null)
    usage.reload()
  })
  const previewed = preview !== null && preview.key === requestKey
  const canRun = dummy
    ? inputProblem === null && !runAction.pending
    : previewed && preview.data.affordable && !runAction.pending

  const insert = (text: string) => {
    const el = editor.current
    const start = el?.selectionStart ?? sql.length
    const end = el?.selectionEnd ?? sql.length
    const next = sql.slice(0, start) + text + sql.slice(end)
    setSql(next)
    touched.current = true
    requestAnimationFrame(() => {
      el?.focus()
      el?.setSelectionRange(start + text.length, start + text.length)
    })
  }

  if (usage.error && !usage.data) return <ErrorBox error={usage.error} />
  if (!usage.data || (!catalog.data && !catalog.error)) return <Loading />
  if (grants.length === 0) return <p class="notice">{t('query.noGrants')}</p>

  const granted = (name: string) => grant?.columns == null || grant.columns.includes(name)
  const aggregates = grant?.aggregates ?? Object.keys(AGGREGATE_SNIPPETS)

  return (
    <div class="query-page">
      <h1>{t('query.title')}</h1>
      <ErrorBox error={catalog.error} />
      <div class="query-grid">
        <div class="query-main">
          <Section title={t('query.grant')}>
            <div class="grant-row">
              <label class="grow">
                {t('query.grant')}
                <select
                  value={grantId}
                  onChange={(e) => {
                    setGrantId((e.target as HTMLSelectElement).value)
                    touched.current = false
                  }}
                  translate={false}
                  data-testid="grant-select"
                >
                  {grants.map((g) => (
                    // Dataset and purpose are the operator's words, shown as written; only usable grants can be picked.
                    <option key={g.id} value={g.id} disabled={g.status !== 'active'}>
                      {`${(g.datasets ?? [g.dataset]).join(' + ')} · ${g.purpose.slice(0, 60)}`}
                    </option>
                  ))}
                </select>
              </label>
              {grant && <GrantGauge grant={grant} />}
            </div>
            {grant && (
              <p class="small muted">
                {t('query.purpose')} <span translate={false}>{grant.purpose}</span>
              </p>
            )}
          </Section>

          <Section title={t('query.sql')}>
            <textarea
              ref={editor}
              class="sql"
              rows={7}
              spellcheck={false}
              translate={false}
              value={sql}
              onInput={(e) => {
                setSql((e.target as HTMLTextAreaElement).value)
                touched.current = true
              }}
              aria-label={t('query.sql')}
              data-testid="sql"
            />
            <div class="options">
              <label>
                {t('query.epsilon')}
                <input
                  type="number"
                  min="0"
                  step="0.01"
                  value={epsilon}
                  onInput={(e) => setEpsilon((e.target as HTMLInputElement).value)}
                  data-testid="epsilon"
                />
              </label>
              <label>
                {t('query.mechanism')}
                <select
                  value={mechanism}
                  onChange={(e) => setMechanism((e.target as HTMLSelectElement).value as 'laplace' | 'gaussian')}
                >
                  <option value="laplace">{t('query.laplace')}</option>
                  <option value="gaussian">{t('query.gaussian')}</option>
                </select>
              </label>
              <label>
                {t('query.confidence')}
                <select value={confidence} onChange={(e) => setConfidence((e.target as HTMLSelectElement).value)}>
                  {['0.9', '0.95', '0.99'].map((c) => (
                    <option key={c} value={c}>
                      {f.pct(Number(c))}
                    </option>
                  ))}
                </select>
              </label>
            </div>
            <div class="actions">
              <button
                type="button"
                onClick={() => void previewAction.run()}
                disabled={inputProblem !== null || previewAction.pending}
                data-testid="preview"
              >
                {previewAction.pending ? t('query.previewing') : t('query.preview')}
              </button>
              <button
                type="button"
                class="primary"
                onClick={() => void runAction.run()}
                disabled={!canRun}
                data-testid="run"
              >
                {runAction.pending ? t('query.running') : t('query.run')}
              </button>
              <label class="small" title={t('query.tryDummyHint')}>
                <input
                  type="checkbox"
                  checked={dummy}
                  onChange={(e) => setDummy((e.target as HTMLInputElement).checked)}
                  data-testid="try-dummy"
                />{' '}
                {t('query.tryDummy')}
              </label>
              <span class="muted small">
                {inputProblem ??
                  (dummy
                    ? t('query.dummyReady')
                    : previewed
                      ? preview.data.affordable
                        ? t('query.readyToRun')
                        : t('query.cannotAfford')
                      : t('query.previewFirst'))}
              </span>
            </div>
            <ErrorBox error={previewAction.error} onDismiss={() => previewAction.setError(null)} />
            <ErrorBox error={runAction.error} onDismiss={() => runAction.setError(null)} />
          </Section>

          {preview && previewed && <PreviewPanel preview={preview.data} />}
          {dryRun && <DryRunView result={dryRun} />}
          {answer && <AnswerView answer={answer} />}
        </div>

        <aside class="query-side card">
          <h2>{t('query.columns')}</h2>
          {dataset ? (
            <>
              <p class="small muted">
                {t('query.from')} <code translate={false}>{dataset.id}</code> · {t('query.clickToInsert')}
              </p>
              <ul class="column-list">
                {dataset.columns.map((c) => (
                  <li key={c.name} class={granted(c.name) ? '' : 'not-granted'}>
                    <button
                      type="button"
                      class="link"
                      disabled={!granted(c.name)}
                      onClick={() => insert(c.name)}
                      data-insert={c.name}
                    >
                      <code translate={false}>{c.name}</code>
                    </button>{' '}
                    <ProtectionBadge protection={c.protection} /> <span class="small muted">{t(`type.${c.type}`)}</span>
                    {!granted(c.name) && <span class="small muted"> · {t('query.notGranted')}</span>}
                  </li>
                ))}
              </ul>
              <h3>{t('query.aggregates')}</h3>
              <div class="chips">
                {aggregates.map((a) => {
                  const col =
                    dataset.columns.find(
                      (c) =>
                        c.protection !== 'public' && (c.type === 'number' || c.type === 'integer') && granted(c.name),
                    )?.name ?? 'col'
                  const snippet = (AGGREGATE_SNIPPETS[a] ?? (() => a.toUpperCase()))(col)
                  return (
                    <button type="button" class="chip" key={a} onClick={() => insert(snippet)} translate={false}>
                      {snippet}
                    </button>
                  )
                })}
              </div>
              <p class="small muted">{t('query.groupHint')}</p>
            </>
          ) : (
            <Loading />
          )}
        </aside>
      </div>
    </div>
  )
}

/** The released quantities the planner names in `noise` (src/engine/query/planner.ts). */
const NOISE_LABELS: Record<string, MessageKey> = {
  count: 'noise.count',
  sum: 'noise.sum',
  sumOfSquares: 'noise.sumOfSquares',
  histogramBin: 'noise.histogramBin',
}

function PreviewPanel({ preview }: { preview: Preview }) {
  const { t, f } = useApp()
  const refusal = preview.refusal
    ? new ApiError({
        type: '',
        title: preview.refusal.code,
        status: 403,
        detail: preview.refusal.detail,
        code: preview.refusal.code,
        instance: '',
      })
    : null
  return (
    <Section title={t('preview.title')} id="preview">
      <div class="preview" data-testid="preview-panel" data-affordable={String(preview.affordable)}>
        {preview.cached && <p class="notice ok">{t('preview.cached')}</p>}
        <dl class="facts">
          <dt>{t('preview.charge')}</dt>
          <dd data-testid="preview-charge">
            {t('preview.chargeText', {
              grant: f.eps(preview.charge.grant.epsilon),
              dataset: f.eps(preview.charge.dataset.epsilon),
            })}
            {preview.charge.grant.delta > 0 && <> · δ {f.eps(preview.charge.grant.delta)}</>}
          </dd>
          {preview.price && (
            <>
              <dt>{t('preview.price')}</dt>
              <dd data-testid="preview-price" data-amount={String(preview.price.amount)}>
                <strong>
                  <Money fen={preview.price.amount} currency={preview.price.currency} />
                </strong>{' '}
                <span class="small muted">
                  (<ScenarioName name={preview.price.scenario} />
                  {preview.price.amount === 0 ? (
                    <> · {t('preview.free')}</>
                  ) : (
                    <>
                      {' · '}
                      {t('preview.priceParts')}{' '}
                      <Money fen={preview.price.perAnswer} currency={preview.price.currency} /> +{' '}
                      <Money fen={preview.price.perEpsilon} currency={preview.price.currency} /> × ε
                    </>
                  )}
                  )
                </span>
              </dd>
            </>
          )}
          <dt>{t('preview.grantBudget')}</dt>
          <dd data-testid="preview-after">
            {t('preview.before')} {f.eps(preview.budget.remaining.epsilon)} → {t('preview.after')}{' '}
            <strong>{f.eps(preview.budget.remainingAfter.epsilon)}</strong>
          </dd>
          <dt>{t('preview.datasetBudget')}</dt>
          <dd>
            {t('preview.before')} {f.eps(preview.budget.dataset.remaining.epsilon)} → {t('preview.after')}{' '}
            <strong>{f.eps(preview.budget.dataset.remainingAfter.epsilon)}</strong>
          </dd>
          <dt>{t('preview.mechanism')}</dt>
          <dd>
            {preview.privacy.mechanism === 'laplace' ? t('query.laplace') : t('query.gaussian')} ·{' '}
            {t('preview.version', { n: preview.version })}
          </dd>
        </dl>
        <table class="aggregates">
          <thead>
            <tr>
              <th>{t('preview.output')}</th>
              <th>{t('preview.aggregate')}</th>
              <th>{t('preview.part')}</th>
              <th>{t('preview.noise')}</th>
              <th>{t('preview.expectedError', { level: f.pct(preview.confidence) })}</th>
            </tr>
          </thead>
          <tbody>
            {preview.privacy.perAggregate.map((a) => (
              <tr key={a.name} data-aggregate={a.name}>
                <td>
                  <code translate={false}>{a.name}</code>
                </td>
                <td translate={false}>
                  {a.aggregate.toUpperCase()}({a.column ?? '*'})
                  {a.bounds?.source === 'analyst' && (
                    <div class="small muted" data-testid="analyst-bounds" translate>
                      {t('preview.analystBounds', { lower: f.value(a.bounds.lower), upper: f.value(a.bounds.upper) })}
                    </div>
                  )}
                </td>
                <td>
                  {a.epsilon !== undefined ? `ε ${f.eps(a.epsilon)}` : a.rho !== undefined ? `ρ ${f.eps(a.rho)}` : '—'}
                </td>
                <td class="small">
                  {Object.entries(a.noise).map(([k, v]) => (
                    <span key={k} class="noise">
                      {k in NOISE_LABELS ? t(NOISE_LABELS[k]!) : <span translate={false}>{k}</span>} {f.value(v)}
                    </span>
                  ))}
                </td>
                <td data-testid="expected-error">
                  {a.halfWidth === null ? (
                    <span class="muted">{t('preview.dependsOnData')}</span>
                  ) : (
                    `± ${f.value(a.halfWidth)}`
                  )}
                </td>
              </tr>
            ))}
            {preview.privacy.selection && (
              <tr data-aggregate="selection" data-testid="selection-row">
                <td colSpan={2}>{t('preview.selection', { column: preview.privacy.selection.column })}</td>
                <td>ε {f.eps(preview.privacy.selection.epsilon)}</td>
                <td class="small">{f.value(preview.privacy.selection.noise)}</td>
                <td class="small">
                  {t('preview.selectionThreshold', {
                    n: f.value(preview.privacy.selection.threshold),
                    delta: f.eps(preview.privacy.selection.delta),
                    l0: String(preview.privacy.selection.maxGroupsContributed),
                  })}
                </td>
              </tr>
            )}
          </tbody>
        </table>
        {refusal && <ErrorBox error={refusal} />}
      </div>
    </Section>
  )
}
