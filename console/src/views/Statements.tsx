import { Fragment } from 'preact'
import { useState } from 'preact/hooks'
import {
  Money,
  PeriodPicker,
  principalName,
  ScenarioName,
  ScopeReviewPanel,
  SignedDownloads,
  usePeriod,
  type PeriodState,
} from '../components/market.js'
import { ErrorBox, Hash, Loading, Section } from '../components/ui.js'
import { useApp } from '../context.js'
import { useLoad } from '../hooks.js'
import { bpsPercent } from '../money.js'
import type { Dataset, DatasetUsage, Settlement, SettlementOwner, Statement } from '../types.js'

/**
 * Statements (what analysts' organizations owe) and settlements (what each
 * owner earns), for a period: shown as tables and downloaded as the signed
 * CSV or JSON the service issues (docs/market.md).
 */

/** A period and filters, applied when the person asks (Show), so typing a date does not fetch at every key. */
function useApplied(period: PeriodState, extra: Record<string, string>) {
  const [applied, setApplied] = useState(() => ({ ...period.query(), ...extra }))
  return { applied, apply: () => setApplied({ ...period.query(), ...extra }) }
}

function Signed({ doc }: { doc: { issuedAt: string; keyId: string } }) {
  const { t, f } = useApp()
  return (
    <p class="small muted">
      {t('statements.signed', { when: f.date(doc.issuedAt) })} <Hash value={doc.keyId} />
    </p>
  )
}

function Filters({
  period,
  children,
  onShow,
  path,
  name,
  query,
}: {
  period: PeriodState
  children?: preact.ComponentChildren
  onShow: () => void
  path: string
  name: string
  query: () => Record<string, string | undefined>
}) {
  const { t } = useApp()
  return (
    <div class="options" data-testid="period">
      <PeriodPicker period={period} />
      {children}
      <button type="button" class="primary" onClick={onShow} data-testid="period-show">
        {t('statements.show')}
      </button>
      <SignedDownloads path={path} query={query} name={name} />
    </div>
  )
}

function StatementView({ statement }: { statement: Statement }) {
  const { t, f, session } = useApp()
  const c = statement.currency
  return (
    <div data-testid="statement" data-lines={String(statement.lines.length)}>
      <dl class="facts">
        <dt>{t('statements.period')}</dt>
        <dd>
          {f.date(statement.period.from)} – {f.date(statement.period.to)}
        </dd>
        {statement.organization !== null && (
          <>
            <dt>{t('apply.organization')}</dt>
            <dd translate={false}>{statement.organization}</dd>
          </>
        )}
        <dt>{t('statements.answers')}</dt>
        <dd data-testid="statement-answers">{f.num(statement.totals.answers)}</dd>
        <dt>{t('statements.epsilon')}</dt>
        <dd>ε {statement.totals.epsilon}</dd>
        <dt>{t('statements.total')}</dt>
        <dd>
          <strong>
            <Money fen={statement.totals.amount} currency={c} testid="statement-total" />
          </strong>
        </dd>
      </dl>
      <Signed doc={statement} />
      {statement.lines.length === 0 ? (
        <p class="notice">{t('statements.noLines')}</p>
      ) : (
        <table class="statement-lines">
          <thead>
            <tr>
              <th>{t('statements.time')}</th>
              <th>{t('statements.query')}</th>
              {session.role !== 'analyst' && <th>{t('grants.analyst')}</th>}
              {session.role !== 'analyst' && <th>{t('apply.organization')}</th>}
              <th>{t('grants.dataset')}</th>
              <th>{t('market.scenario')}</th>
              <th class="num">ε</th>
              <th class="num">{t('statements.amount')}</th>
            </tr>
          </thead>
          <tbody>
            {statement.lines.map((l) => (
              <tr key={l.queryId} data-query={l.queryId}>
                <td>{f.date(l.time)}</td>
                <td>
                  <a href={`#/history/${encodeURIComponent(l.queryId)}`}>
                    <Hash value={l.queryId} />
                  </a>
                </td>
                {session.role !== 'analyst' && <td translate={false}>{principalName(l.analyst)}</td>}
                {session.role !== 'analyst' && <td translate={false}>{l.organization ?? '—'}</td>}
                <td>
                  <code translate={false}>{l.dataset}</code>
                </td>
                <td>
                  <ScenarioName name={l.scenario} />
                </td>
                <td class="num">{l.epsilon}</td>
                <td class="num">
                  <Money fen={l.amount} currency={c} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  )
}

/** Analysts: their own statement. Operators: any organization's, or all. */
export function StatementsView() {
  const { api, t, session } = useApp()
  const period = usePeriod()
  const [organization, setOrganization] = useState('')
  const { applied, apply } = useApplied(period, { organization })
  const statement = useLoad(() => api.get<Statement>('/v1/statements', applied), [JSON.stringify(applied)])
  return (
    <div>
      <h1>{t('statements.title')}</h1>
      <p class="muted">{t(session.role === 'analyst' ? 'statements.introAnalyst' : 'statements.introOperator')}</p>
      <Section title={t('statements.choose')}>
        <Filters
          period={period}
          onShow={apply}
          path="/v1/statements"
          name="statement"
          query={() => ({ ...period.query(), organization: organization.trim() || undefined })}
        >
          {session.role === 'operator' && (
            <label>
              {t('apply.organization')}
              <input
                value={organization}
                onInput={(e) => setOrganization((e.target as HTMLInputElement).value)}
                placeholder={t('common.all')}
                data-testid="statement-organization"
              />
            </label>
          )}
        </Filters>
      </Section>
      <ErrorBox error={statement.error} />
      {statement.loading && !statement.data && <Loading />}
      {statement.data && (
        <Section title={t('statements.statement')}>
          <StatementView statement={statement.data} />
        </Section>
      )}
    </div>
  )
}

function OwnerLines({ owner, currency }: { owner: SettlementOwner; currency: string }) {
  const { t, f } = useApp()
  const name = principalName(owner.owner)
  return (
    <section class="owner-share" data-owner={name ?? ''} data-total={String(owner.total)}>
      <h3>
        {name === null ? t('settlements.platform') : <span translate={false}>{name}</span>} ·{' '}
        <Money fen={owner.total} currency={currency} testid="owner-total" />
      </h3>
      {owner.lines.length > 0 && (
        <table class="statement-lines">
          <thead>
            <tr>
              <th>{t('statements.time')}</th>
              <th>{t('statements.query')}</th>
              <th>{t('grants.dataset')}</th>
              <th class="num">{t('settlements.share')}</th>
            </tr>
          </thead>
          <tbody>
            {owner.lines.map((l) => (
              <tr key={`${l.queryId}:${l.dataset}`}>
                <td>{f.date(l.time)}</td>
                <td>
                  <Hash value={l.queryId} />
                </td>
                <td>
                  <code translate={false}>{l.dataset}</code>
                </td>
                <td class="num">
                  <Money fen={l.amount} currency={currency} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  )
}

function SettlementView({ settlement }: { settlement: Settlement }) {
  const { t, f, session } = useApp()
  const c = settlement.currency
  return (
    <div data-testid="settlement" data-owners={String(settlement.owners.length)}>
      <dl class="facts">
        <dt>{t('statements.period')}</dt>
        <dd>
          {f.date(settlement.period.from)} – {f.date(settlement.period.to)}
        </dd>
        <dt>{t('statements.answers')}</dt>
        <dd>{f.num(settlement.totals.answers)}</dd>
        {session.role === 'operator' && (
          <>
            <dt>{t('settlements.gross')}</dt>
            <dd>
              <Money fen={settlement.totals.gross} currency={c} testid="settlement-gross" />
            </dd>
            <dt>{t('settlements.fee', { pct: bpsPercent(settlement.feeBps) })}</dt>
            <dd>
              <Money fen={settlement.totals.fee} currency={c} testid="settlement-fee" />
            </dd>
            <dt>{t('settlements.net')}</dt>
            <dd>
              <strong>
                <Money fen={settlement.totals.net} currency={c} testid="settlement-net" />
              </strong>
            </dd>
          </>
        )}
      </dl>
      <Signed doc={settlement} />
      {settlement.owners.length === 0 && <p class="notice">{t('statements.noLines')}</p>}
      {settlement.owners.map((o, i) => (
        <OwnerLines key={principalName(o.owner) ?? `platform-${i}`} owner={o} currency={c} />
      ))}
    </div>
  )
}

/** Operators: every owner's share of a period, the platform fee and the totals. */
export function SettlementsView() {
  const { api, t } = useApp()
  const period = usePeriod()
  const [owner, setOwner] = useState('')
  const { applied, apply } = useApplied(period, { owner })
  const settlement = useLoad(() => api.get<Settlement>('/v1/settlements', applied), [JSON.stringify(applied)])
  return (
    <div>
      <h1>{t('settlements.title')}</h1>
      <p class="muted">{t('settlements.intro')}</p>
      <Section title={t('statements.choose')}>
        <Filters
          period={period}
          onShow={apply}
          path="/v1/settlements"
          name="settlement"
          query={() => ({ ...period.query(), owner: owner.trim() || undefined })}
        >
          <label>
            {t('market.owner')}
            <input
              value={owner}
              onInput={(e) => setOwner((e.target as HTMLInputElement).value)}
              placeholder={t('common.all')}
              translate={false}
              data-testid="settlement-owner"
            />
          </label>
        </Filters>
      </Section>
      <ErrorBox error={settlement.error} />
      {settlement.loading && !settlement.data && <Loading />}
      {settlement.data && (
        <Section title={t('settlements.settlement')}>
          <SettlementView settlement={settlement.data} />
        </Section>
      )}
    </div>
  )
}

/** A dataset's use by grant and purpose, for its owner (shown only where the service answers). */
function DatasetUse({ dataset }: { dataset: Dataset }) {
  const { api, t, f } = useApp()
  const [reviewing, setReviewing] = useState<string | null>(null)
  const usage = useLoad(
    () => api.get<DatasetUsage>(`/v1/datasets/${encodeURIComponent(dataset.id)}/usage`),
    [dataset.id],
  )
  if (!usage.data) return null
  return (
    <Section
      title={
        <>
          {t('income.usageOf')} <code translate={false}>{dataset.id}</code>
        </>
      }
    >
      <div data-testid="dataset-usage" data-dataset={dataset.id}>
        {usage.data.byGrant.length === 0 ? (
          <p class="notice">{t('income.noUse')}</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th>{t('grants.id')}</th>
                <th>{t('grants.analyst')}</th>
                <th>{t('grants.purpose')}</th>
                <th class="num">{t('budgets.queries')}</th>
                <th class="num">{t('budgets.datasetEpsilon')}</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {usage.data.byGrant.map((g, i) => (
                <Fragment key={g.grant ?? i}>
                  <tr data-grant={g.grant ?? ''}>
                    <td>{g.grant ? <Hash value={g.grant} length={18} /> : '—'}</td>
                    <td translate={false}>{g.analyst ?? '—'}</td>
                    <td translate={false}>{g.purpose ?? '—'}</td>
                    <td class="num">{f.num(g.queries)}</td>
                    <td class="num">{f.eps(g.datasetEpsilon)}</td>
                    <td>
                      {g.grant && (
                        <button
                          type="button"
                          onClick={() => setReviewing(reviewing === g.grant ? null : g.grant)}
                          aria-expanded={reviewing === g.grant}
                          data-testid={`scope-${g.grant}`}
                        >
                          {t('scope.button')}
                        </button>
                      )}
                    </td>
                  </tr>
                  {g.grant && reviewing === g.grant && (
                    <tr class="detail" data-scope-for={g.grant}>
                      <td colSpan={6}>
                        <ScopeReviewPanel grant={{ id: g.grant, dataset: dataset.id, purpose: g.purpose ?? '' }} auto />
                      </td>
                    </tr>
                  )}
                </Fragment>
              ))}
            </tbody>
          </table>
        )}
      </div>
    </Section>
  )
}

/** Owners: their income over a period (their settlement) and how their datasets are used. */
export function IncomeView() {
  const { api, t } = useApp()
  const period = usePeriod()
  const { applied, apply } = useApplied(period, {})
  const settlement = useLoad(() => api.get<Settlement>('/v1/settlements', applied), [JSON.stringify(applied)])
  const catalog = useLoad(() => api.get<{ datasets: Dataset[] }>('/v1/datasets'), [])
  const s = settlement.data
  const mine = s?.owners ?? []
  const total = mine.reduce((sum, o) => sum + o.total, 0)
  return (
    <div>
      <h1>{t('income.title')}</h1>
      <p class="muted">{t('income.intro')}</p>
      <Section title={t('statements.choose')}>
        <Filters period={period} onShow={apply} path="/v1/settlements" name="settlement" query={period.query} />
      </Section>
      <ErrorBox error={settlement.error} />
      {settlement.loading && !s && <Loading />}
      {s && (
        <Section title={t('income.income')}>
          <p class="big-number">
            {t('income.total')}{' '}
            <strong>
              <Money fen={total} currency={s.currency} testid="income-total" />
            </strong>
          </p>
          <SettlementView settlement={s} />
        </Section>
      )}
      <ErrorBox error={catalog.error} />
      {catalog.data?.datasets.map((d) => (
        <DatasetUse key={d.id} dataset={d} />
      ))}
    </div>
  )
}
