import { GrantMarketFacts, ScopeReviewPanel } from '../components/market.js'
import { ErrorBox, Hash, Loading, StatusBadge } from '../components/ui.js'
import { useApp } from '../context.js'
import { useLoad } from '../hooks.js'
import type { MyUsage } from '../types.js'
import { GrantGauge } from './Query.js'

export function MyGrantsView() {
  const { api, t, f } = useApp()
  const usage = useLoad(() => api.get<MyUsage>('/v1/me/usage'), [])
  if (usage.error && !usage.data) return <ErrorBox error={usage.error} />
  if (!usage.data) return <Loading />
  const q = usage.data.queries
  return (
    <div>
      <h1>{t('mygrants.title')}</h1>
      <p class="muted">
        {t('mygrants.totals', { released: f.num(q.released), cached: f.num(q.cached), refused: f.num(q.refused) })}
      </p>
      {usage.data.grants.length === 0 && <p class="notice">{t('query.noGrants')}</p>}
      <div class="grant-cards">
        {usage.data.grants.map((g) => (
          <section class="card" key={g.id} data-grant={g.id}>
            <header class="card-head">
              <h2>
                <code translate={false}>{g.dataset}</code>
              </h2>
              <StatusBadge status={g.status} />
            </header>
            <GrantGauge grant={g} />
            <dl class="facts">
              <dt>{t('grants.purpose')}</dt>
              <dd translate={false}>{g.purpose}</dd>
              <dt>{t('grants.id')}</dt>
              <dd>
                <Hash value={g.id} length={18} />
              </dd>
              <dt>{t('grants.columns')}</dt>
              <dd translate={g.columns ? false : undefined}>
                {g.columns ? g.columns.join(', ') : t('grants.allColumns')}
              </dd>
              <dt>{t('grants.aggregates')}</dt>
              <dd translate={g.aggregates ? false : undefined}>
                {g.aggregates ? g.aggregates.join(', ') : t('grants.allAggregates')}
              </dd>
              <dt>{t('grants.expiresAt')}</dt>
              <dd>
                {f.date(g.expiresAt)} ({f.relative(g.expiresAt)})
              </dd>
              <GrantMarketFacts grant={g} />
              <dt>{t('mygrants.queries')}</dt>
              <dd>
                {t('mygrants.counts', {
                  released: f.num(g.queries.released),
                  cached: f.num(g.queries.cached),
                  refused: f.num(g.queries.refused),
                })}
              </dd>
            </dl>
            {g.status === 'active' && (
              <a class="button primary" href={`#/query?grant=${encodeURIComponent(g.id)}`}>
                {t('mygrants.query')}
              </a>
            )}
            <ScopeReviewPanel grant={g} />
          </section>
        ))}
      </div>
    </div>
  )
}
