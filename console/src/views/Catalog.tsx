import { LevelBadge, Money, principalName, ScenarioName } from '../components/market.js'
import { ClassificationBadge, download, ErrorBox, Hash, Loading, ProtectionBadge } from '../components/ui.js'
import { useApp } from '../context.js'
import { useAction, useLoad } from '../hooks.js'
import type { Column, Dataset, MarketPolicy } from '../types.js'

export function ColumnBounds({ column }: { column: Column }) {
  const { t, f } = useApp()
  if (column.lower !== undefined && column.upper !== undefined) {
    return <span>{t('catalog.bounds', { lower: f.value(column.lower), upper: f.value(column.upper) })}</span>
  }
  if (column.categories) {
    const shown = column.categories.slice(0, 8)
    return (
      <span>
        <span class="muted">{t('catalog.categories', { n: f.num(column.categories.length) })}</span>{' '}
        <span translate={false}>{shown.join(', ')}</span>
        {column.categories.length > shown.length && <span> …</span>}
      </span>
    )
  }
  return <span class="muted">{column.type === 'id' ? t('catalog.idColumn') : '—'}</span>
}

export function ColumnsTable({ dataset }: { dataset: Dataset }) {
  const { t } = useApp()
  return (
    <table class="columns">
      <thead>
        <tr>
          <th>{t('catalog.column')}</th>
          <th>{t('catalog.type')}</th>
          <th>{t('catalog.protection')}</th>
          <th>{t('catalog.level')}</th>
          <th>{t('catalog.domain')}</th>
          <th>{t('catalog.description')}</th>
        </tr>
      </thead>
      <tbody>
        {dataset.columns.map((c) => (
          <tr key={c.name} data-column={c.name}>
            <td>
              <code translate={false}>{c.name}</code>
              {c.name === dataset.privacyUnit && (
                <span class="badge unit">{dataset.public ? t('catalog.key') : t('catalog.privacyUnit')}</span>
              )}
              {c.nullable && <span class="muted small"> {t('catalog.nullable')}</span>}
            </td>
            <td>{t(`type.${c.type}`)}</td>
            <td>
              <ProtectionBadge protection={c.protection} />
            </td>
            <td>{c.level ? <LevelBadge level={c.level} /> : <span class="muted">—</span>}</td>
            <td>
              <ColumnBounds column={c} />
            </td>
            <td class="small" translate={false}>
              {c.description ?? ''}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  )
}

/** A version's registration certificate, saved as the service signed it (verify it with veilbox certificate verify). */
function CertificateButton({ dataset, version }: { dataset: string; version: number }) {
  const { api, t } = useApp()
  const save = useAction(async () => {
    const text = await api.text(`/v1/datasets/${encodeURIComponent(dataset)}/versions/${version}/certificate`)
    download(`${dataset}-v${version}.certificate.json`, text, 'application/json;charset=utf-8')
  })
  return (
    <>
      <button
        type="button"
        class="link"
        disabled={save.pending}
        onClick={() => void save.run()}
        data-testid="download-certificate"
      >
        {t('catalog.certificate')}
      </button>
      <ErrorBox error={save.error} onDismiss={() => save.setError(null)} />
    </>
  )
}

/** A dataset's price list: per scenario category, a price per epsilon and per answer; a category not listed is free. */
function Prices({ prices, currency }: { prices: NonNullable<Dataset['prices']>; currency: string }) {
  const { t } = useApp()
  const entries = Object.entries(prices)
  if (entries.length === 0) return <span class="muted">{t('catalog.free')}</span>
  return (
    <ul class="plain">
      {entries.map(([scenario, p]) => (
        <li key={scenario} data-price-scenario={scenario}>
          <ScenarioName name={scenario} />: <Money fen={p.perEpsilon} currency={currency} /> {t('catalog.perEpsilon')} +{' '}
          <Money fen={p.perAnswer} currency={currency} /> {t('catalog.perAnswer')}
        </li>
      ))}
      <li class="small muted">{t('catalog.otherFree')}</li>
    </ul>
  )
}

export function CatalogView() {
  const { api, t, f, session } = useApp()
  const catalog = useLoad(() => api.get<{ datasets: Dataset[] }>('/v1/datasets'), [])
  // The dataset view names no currency: the market policy's is used (CNY when a service has no market).
  const policy = useLoad(() => api.get<MarketPolicy>('/v1/market/policy'), [])
  const currency = policy.data?.currency ?? 'CNY'
  return (
    <div>
      <h1>{t('catalog.title')}</h1>
      <p class="muted">{t('catalog.intro')}</p>
      <ErrorBox error={catalog.error} />
      {catalog.loading && !catalog.data && <Loading />}
      {/* Public reference tables are everyone's: with only those, there is still nothing to query. */}
      {catalog.data && catalog.data.datasets.every((d) => d.public === true) && (
        <p class="notice" data-testid="catalog-empty">
          {t(
            session.role === 'operator'
              ? 'catalog.empty'
              : session.role === 'analyst'
                ? 'catalog.emptyAnalyst'
                : 'catalog.emptyCustodian',
          )}
        </p>
      )}
      {catalog.data?.datasets.map((d) => {
        const latest = d.versions[d.versions.length - 1]
        return (
          <section class="card dataset" key={d.id} data-dataset={d.id}>
            <header class="card-head">
              <h2>
                <span translate={false}>{d.title}</span>{' '}
                <code class="muted" translate={false}>
                  {d.id}
                </code>
              </h2>
              <div class="card-actions">
                <ClassificationBadge classification={d.classification} />
                <LevelBadge level={d.level} />
                {d.public && (
                  <span class="badge public-table" title={t('catalog.publicTableHint')}>
                    {t('catalog.publicTable')}
                  </span>
                )}
                {session.role === 'analyst' && !d.public && (
                  <a class="button primary" href={`#/query?dataset=${encodeURIComponent(d.id)}`}>
                    {t('catalog.query')}
                  </a>
                )}
              </div>
            </header>
            {d.description && (
              <p translate={false} class="description">
                {d.description}
              </p>
            )}
            <dl class="facts">
              <dt>{t('catalog.owner')}</dt>
              <dd data-testid="dataset-owner">
                {principalName(d.owner) === null ? (
                  <span class="muted">{t('catalog.platform')}</span>
                ) : (
                  <strong translate={false}>{principalName(d.owner)}</strong>
                )}
                {d.ownerLabel && d.ownerLabel !== principalName(d.owner) && (
                  <span translate={false}> · {d.ownerLabel}</span>
                )}
              </dd>
              {d.prices && (
                <>
                  <dt>{t('catalog.prices')}</dt>
                  <dd data-testid="dataset-prices">
                    <Prices prices={d.prices} currency={currency} />
                  </dd>
                </>
              )}
              <dt>{t('catalog.privacyUnit')}</dt>
              <dd>
                <code translate={false}>{d.privacyUnit}</code> · {t('catalog.maxRows', { n: f.num(d.maxRowsPerUnit) })}
              </dd>
              <dt>{t('catalog.latestVersion')}</dt>
              <dd>
                {latest ? (
                  <>
                    {t('catalog.versionN', { n: latest.version })} · {f.date(latest.createdAt)} ·{' '}
                    <Hash value={latest.commitment} />
                    {latest.rows !== undefined && <> · {t('catalog.rows', { n: f.num(latest.rows) })}</>}
                    {d.level !== undefined && (
                      <>
                        {' · '}
                        <CertificateButton dataset={d.id} version={latest.version} />
                      </>
                    )}
                  </>
                ) : (
                  t('catalog.noVersion')
                )}
              </dd>
            </dl>
            <ColumnsTable dataset={d} />
          </section>
        )
      })}
    </div>
  )
}
