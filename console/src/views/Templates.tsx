import { useState } from 'preact/hooks'
import { ErrorBox, Loading } from '../components/ui.js'
import { useApp } from '../context.js'
import { useAction, useLoad } from '../hooks.js'
import type { Dataset, MyUsage } from '../types.js'

/** A template as GET /v1/templates lists it (docs/queries.md, Templates). */
interface TemplateParam {
  name: string
  type: 'integer' | 'number' | 'category'
  min?: number
  max?: number
  column?: string
}

interface Template {
  id: string
  dataset: string
  name: string
  sql: string
  params: TemplateParam[]
  epsilon: number
  mechanism: string
}

/** Approved templates the analyst's grants cover, each with a small form to run it. */
export function TemplatesView() {
  const { api, t } = useApp()
  const list = useLoad(() => api.get<{ templates: Template[] }>('/v1/templates'), [])
  const usage = useLoad(() => api.get<MyUsage>('/v1/me/usage'), [])
  const catalog = useLoad(() => api.get<{ datasets: Dataset[] }>('/v1/datasets'), [])
  if (list.error && !list.data) return <ErrorBox error={list.error} />
  if (!list.data || !usage.data || !catalog.data) return <Loading />
  return (
    <div>
      <h1>{t('templates.title')}</h1>
      <p class="muted">{t('templates.intro')}</p>
      {list.data.templates.length === 0 && <p class="notice">{t('templates.none')}</p>}
      {list.data.templates.map((tpl) => (
        <TemplateCard
          key={tpl.id}
          template={tpl}
          dataset={catalog.data!.datasets.find((d) => d.id === tpl.dataset)}
          grants={usage.data!.grants.filter(
            (g) => g.status === 'active' && (g.datasets ?? [g.dataset]).includes(tpl.dataset),
          )}
        />
      ))}
    </div>
  )
}

function TemplateCard({
  template,
  dataset,
  grants,
}: {
  template: Template
  dataset: Dataset | undefined
  grants: MyUsage['grants']
}) {
  const { api, t, f } = useApp()
  const [grant, setGrant] = useState(grants[0]?.id ?? '')
  const [values, setValues] = useState<Record<string, string>>({})
  const run = useAction(async () => {
    const params = Object.fromEntries(
      template.params.map((p) => [p.name, p.type === 'category' ? (values[p.name] ?? '') : Number(values[p.name])]),
    )
    const answer = await api.post<{ queryId: string }>(`/v1/templates/${encodeURIComponent(template.id)}/run`, {
      grant,
      params,
    })
    window.location.hash = `#/history/${answer.queryId}`
  })
  const categories = (column?: string) => dataset?.columns.find((c) => c.name === column)?.categories ?? []
  return (
    <section class="card" data-template={template.id}>
      <header class="card-head">
        <h2 translate={false}>{template.name}</h2>
      </header>
      <pre translate={false}>{template.sql}</pre>
      <p class="muted">{t('templates.cost', { epsilon: f.num(template.epsilon), mechanism: template.mechanism })}</p>
      <div class="form">
        <div class="options">
          <label>
            {t('templates.grant')}
            <select value={grant} onChange={(e) => setGrant((e.target as HTMLSelectElement).value)}>
              {grants.map((g) => (
                <option key={g.id} value={g.id}>
                  {g.id} ({g.purpose})
                </option>
              ))}
            </select>
          </label>
          {template.params.map((p) => (
            <label key={p.name} for={`tpl-${template.id}-${p.name}`}>
              <code translate={false}>:{p.name}</code>{' '}
              {p.type === 'category' ? (
                <select
                  id={`tpl-${template.id}-${p.name}`}
                  value={values[p.name] ?? ''}
                  onChange={(e) => setValues({ ...values, [p.name]: (e.target as HTMLSelectElement).value })}
                >
                  <option value="">{t('templates.choose')}</option>
                  {categories(p.column).map((c) => (
                    <option key={c} value={c}>
                      {c}
                    </option>
                  ))}
                </select>
              ) : (
                <input
                  id={`tpl-${template.id}-${p.name}`}
                  type="number"
                  min={p.min}
                  max={p.max}
                  step={p.type === 'integer' ? 1 : 'any'}
                  value={values[p.name] ?? ''}
                  placeholder={t('templates.range', { min: String(p.min), max: String(p.max) })}
                  onInput={(e) => setValues({ ...values, [p.name]: (e.target as HTMLInputElement).value })}
                />
              )}
            </label>
          ))}
          <button type="button" class="primary" disabled={run.pending || grant === ''} onClick={() => void run.run()}>
            {t('templates.run')}
          </button>
        </div>
        {grants.length === 0 && <p class="notice">{t('templates.noGrant')}</p>}
        <ErrorBox error={run.error} />
      </div>
    </section>
  )
}
