import { useState } from 'preact/hooks'
import { ErrorBox, Hash, Loading, Section } from '../components/ui.js'
import { useApp } from '../context.js'
import { useAction, useLoad } from '../hooks.js'
import type { MessageKey } from '../i18n/index.js'
import type { AuditPage, AuditRecord, VerifyResult } from '../types.js'

/** The actions docs/audit.md lists; a prefix (such as "query") matches every action under it. */
const ACTIONS = [
  'key',
  'key.create',
  'key.revoke',
  'dataset',
  'dataset.create',
  'dataset.version.create',
  'budget.set',
  'grant',
  'grant.create',
  'grant.revoke',
  'query',
  'query.release',
  'query.cached',
  'query.reread',
  'query.refused',
  'query.failed',
  'application',
  'application.submit',
  'application.approve',
  'application.deny',
  'application.withdraw',
  'market',
  'market.policy.set',
  'dataset.owner.set',
  'dataset.levels.set',
  'dataset.prices.set',
  'dataset.certificate.issue',
] as const

export const ACTION_LABELS: Record<(typeof ACTIONS)[number], MessageKey> = {
  key: 'audit.action.key',
  'key.create': 'audit.action.key.create',
  'key.revoke': 'audit.action.key.revoke',
  dataset: 'audit.action.dataset',
  'dataset.create': 'audit.action.dataset.create',
  'dataset.version.create': 'audit.action.dataset.version.create',
  'budget.set': 'audit.action.budget.set',
  grant: 'audit.action.grant',
  'grant.create': 'audit.action.grant.create',
  'grant.revoke': 'audit.action.grant.revoke',
  query: 'audit.action.query',
  'query.release': 'audit.action.query.release',
  'query.cached': 'audit.action.query.cached',
  'query.reread': 'audit.action.query.reread',
  'query.refused': 'audit.action.query.refused',
  'query.failed': 'audit.action.query.failed',
  application: 'audit.action.application',
  'application.submit': 'audit.action.application.submit',
  'application.approve': 'audit.action.application.approve',
  'application.deny': 'audit.action.application.deny',
  'application.withdraw': 'audit.action.application.withdraw',
  market: 'audit.action.market',
  'market.policy.set': 'audit.action.market.policy.set',
  'dataset.owner.set': 'audit.action.dataset.owner.set',
  'dataset.levels.set': 'audit.action.dataset.levels.set',
  'dataset.prices.set': 'audit.action.dataset.prices.set',
  'dataset.certificate.issue': 'audit.action.dataset.certificate.issue',
}

const PAGE = 50

interface Filters {
  dataset: string
  actor: string
  action: string
  from: string
  to: string
}

/** datetime-local (the operator's local time) as the ISO instant the API takes. */
const iso = (local: string) => (local ? new Date(local).toISOString() : undefined)

function Row({ r }: { r: AuditRecord }) {
  const { t, f } = useApp()
  const [open, setOpen] = useState(false)
  const label = ACTION_LABELS[r.action as keyof typeof ACTION_LABELS]
  return (
    <>
      <tr data-seq={r.seq} data-action={r.action} class={open ? 'open' : ''}>
        <td class="num">{r.seq}</td>
        <td>{f.date(r.time)}</td>
        <td>
          <span translate={false}>{r.actor.principal}</span>{' '}
          <span class="small muted">
            {r.actor.role in { operator: 1, analyst: 1, custodian: 1, owner: 1 }
              ? t(`role.${r.actor.role as 'operator'}`)
              : t('audit.system')}
          </span>
        </td>
        <td>
          {label ? t(label) : ''}{' '}
          <code class="small muted" translate={false}>
            {r.action}
          </code>
        </td>
        <td translate={false}>{r.dataset ?? '—'}</td>
        <td class="num">{r.charged ? `ε ${f.eps(Number(r.charged.epsilon))}` : ''}</td>
        <td>{r.outcome === 'ok' ? t('audit.ok') : <code translate={false}>{r.outcome}</code>}</td>
        <td>
          <button type="button" class="link" onClick={() => setOpen(!open)} aria-expanded={open}>
            {open ? t('audit.less') : t('audit.more')}
          </button>
        </td>
      </tr>
      {open && (
        <tr class="detail">
          <td colSpan={8}>
            <dl class="facts">
              {r.grant && (
                <>
                  <dt>{t('grants.id')}</dt>
                  <dd>
                    <Hash value={r.grant} length={18} />
                  </dd>
                </>
              )}
              {r.purpose && (
                <>
                  <dt>{t('grants.purpose')}</dt>
                  <dd translate={false}>{r.purpose}</dd>
                </>
              )}
              {r.queryHash && (
                <>
                  <dt>{t('audit.queryHash')}</dt>
                  <dd>
                    <Hash value={r.queryHash} length={64} />
                  </dd>
                </>
              )}
              <dt>{t('audit.hash')}</dt>
              <dd>
                <Hash value={r.hash} length={64} />
              </dd>
              <dt>{t('audit.prevHash')}</dt>
              <dd>
                <Hash value={r.prevHash} length={64} />
              </dd>
              {r.detail && (
                <>
                  <dt>{t('audit.detail')}</dt>
                  <dd>
                    <pre translate={false}>{JSON.stringify(r.detail, null, 2)}</pre>
                  </dd>
                </>
              )}
            </dl>
          </td>
        </tr>
      )}
    </>
  )
}

export function AuditView() {
  const { api, t, f } = useApp()
  const empty: Filters = { dataset: '', actor: '', action: '', from: '', to: '' }
  const [draft, setDraft] = useState<Filters>(empty)
  const [filters, setFilters] = useState<Filters>(empty)
  // The `after` of each page shown so far, so Back returns exactly to the previous page.
  const [cursor, setCursor] = useState<number[]>([])
  const after = cursor[cursor.length - 1]
  const page = useLoad(
    () =>
      api.get<AuditPage>('/v1/audit', {
        dataset: filters.dataset,
        actor: filters.actor,
        action: filters.action,
        from: iso(filters.from),
        to: iso(filters.to),
        after,
        limit: PAGE,
      }),
    [filters, after],
  )
  const [verified, setVerified] = useState<VerifyResult | null>(null)
  const verify = useAction(async () => setVerified(await api.get<VerifyResult>('/v1/audit/verify')))
  const set = (k: keyof Filters, v: string) => setDraft((d) => ({ ...d, [k]: v }))

  return (
    <div>
      <h1>{t('audit.title')}</h1>
      <Section
        title={t('audit.chain')}
        actions={
          <button
            type="button"
            class="primary"
            onClick={() => void verify.run()}
            disabled={verify.pending}
            data-testid="verify"
          >
            {verify.pending ? t('audit.verifying') : t('audit.verify')}
          </button>
        }
      >
        <p class="small muted">{t('audit.chainIntro')}</p>
        <ErrorBox error={verify.error} />
        {verified && (
          <div
            class={`notice ${verified.ok ? 'ok' : 'bad'}`}
            role="status"
            data-testid="verify-result"
            data-ok={String(verified.ok)}
          >
            <strong>
              {verified.ok
                ? t('audit.verifiedOk', { n: f.num(verified.records) })
                : t('audit.verifiedBad', { seq: verified.badSeq ?? '?' })}
            </strong>
            {verified.head && (
              <p class="small">
                {t('audit.head', { seq: verified.head.seq })} <Hash value={verified.head.hash} length={64} />
              </p>
            )}
            {verified.problem && (
              <p class="small">
                <span translate={false}>{verified.problem}</span>
              </p>
            )}
            <p class="small muted">{t('audit.publishHead')}</p>
          </div>
        )}
      </Section>
      <Section title={t('audit.records')}>
        <form
          class="options filters"
          onSubmit={(e) => {
            e.preventDefault()
            setCursor([])
            setFilters(draft)
          }}
        >
          <label>
            {t('audit.dataset')}
            <input
              value={draft.dataset}
              onInput={(e) => set('dataset', (e.target as HTMLInputElement).value)}
              translate={false}
              spellcheck={false}
              data-filter="dataset"
            />
          </label>
          <label>
            {t('audit.actor')}
            <input
              value={draft.actor}
              onInput={(e) => set('actor', (e.target as HTMLInputElement).value)}
              translate={false}
              spellcheck={false}
              data-filter="actor"
            />
          </label>
          <label>
            {t('audit.action')}
            <select
              value={draft.action}
              onChange={(e) => set('action', (e.target as HTMLSelectElement).value)}
              data-filter="action"
            >
              <option value="">{t('common.all')}</option>
              {ACTIONS.map((a) => (
                <option key={a} value={a}>
                  {t(ACTION_LABELS[a])}
                </option>
              ))}
            </select>
          </label>
          <label>
            {t('audit.from')}
            <input
              type="datetime-local"
              value={draft.from}
              onInput={(e) => set('from', (e.target as HTMLInputElement).value)}
            />
          </label>
          <label>
            {t('audit.to')}
            <input
              type="datetime-local"
              value={draft.to}
              onInput={(e) => set('to', (e.target as HTMLInputElement).value)}
            />
          </label>
          <button type="submit" data-testid="audit-filter">
            {t('audit.apply')}
          </button>
          <button
            type="button"
            onClick={() => {
              setDraft(empty)
              setFilters(empty)
              setCursor([])
            }}
          >
            {t('audit.clear')}
          </button>
        </form>
        <ErrorBox error={page.error} />
        {page.loading && !page.data && <Loading />}
        {page.data && page.data.records.length === 0 && <p class="notice">{t('audit.none')}</p>}
        {page.data && page.data.records.length > 0 && (
          <table class="audit" data-testid="audit">
            <thead>
              <tr>
                <th class="num">{t('audit.seq')}</th>
                <th>{t('audit.time')}</th>
                <th>{t('audit.actor')}</th>
                <th>{t('audit.action')}</th>
                <th>{t('audit.dataset')}</th>
                <th class="num">{t('audit.charged')}</th>
                <th>{t('audit.outcome')}</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {page.data.records.map((r) => (
                <Row key={r.seq} r={r} />
              ))}
            </tbody>
          </table>
        )}
        <div class="actions pager">
          <button
            type="button"
            disabled={cursor.length === 0}
            onClick={() => setCursor((c) => c.slice(0, -1))}
            data-testid="audit-prev"
          >
            {t('audit.prev')}
          </button>
          <span class="small muted">{t('audit.pageN', { n: cursor.length + 1 })}</span>
          <button
            type="button"
            disabled={!page.data || page.data.next === null}
            onClick={() => page.data?.next != null && setCursor((c) => [...c, page.data!.next!])}
            data-testid="audit-next"
          >
            {t('audit.next')}
          </button>
        </div>
      </Section>
    </div>
  )
}
