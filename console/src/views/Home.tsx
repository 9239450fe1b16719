import { useApp } from '../context.js'
import type { MessageKey } from '../i18n/index.js'
import type { Role } from '../types.js'

/** What each role may do: the same split the API enforces on its routes (a route refuses any other role). */
const CAN: Record<Role, readonly MessageKey[]> = {
  analyst: ['can.catalog', 'can.apply', 'can.preview', 'can.run', 'can.history', 'can.ownGrants', 'can.statements'],
  operator: [
    'can.catalog',
    'can.datasets',
    'can.budgets',
    'can.grants',
    'can.approveAll',
    'can.market',
    'can.settlements',
    'can.keys',
    'can.audit',
    'can.allAnswers',
  ],
  owner: ['can.catalog', 'can.approveOwn', 'can.income'],
  custodian: ['can.catalog', 'can.custodianCli'],
}
const CANNOT: Record<Role, readonly MessageKey[]> = {
  analyst: ['cannot.rows', 'cannot.othersGrants', 'cannot.admin'],
  operator: ['cannot.rows', 'cannot.query'],
  owner: ['cannot.rows', 'cannot.query', 'cannot.othersData'],
  custodian: ['cannot.rows', 'cannot.query', 'cannot.admin'],
}

export function HomeView() {
  const { t, session } = useApp()
  return (
    <div class="home">
      <section class="card" data-testid="capabilities">
        <h1>{t('home.title', { role: t(`role.${session.role}`) })}</h1>
        <p class="muted">{t(`home.intro.${session.role}`)}</p>
        {session.role === 'analyst' && (
          <p class="actions">
            <a class="button primary" href="#/query" data-testid="start-query">
              {t('home.startQuery')}
            </a>
            <a class="button" href="#/apply" data-testid="start-apply">
              {t('home.startApply')}
            </a>
          </p>
        )}
        {(session.role === 'owner' || session.role === 'operator') && (
          <p>
            <a class="button primary" href="#/approvals" data-testid="start-approvals">
              {t('home.startApprovals')}
            </a>
          </p>
        )}
        <div class="two-col">
          <div>
            <h2>{t('home.can')}</h2>
            <ul class="checklist">
              {CAN[session.role].map((k) => (
                <li key={k} class="yes">
                  {t(k)}
                </li>
              ))}
            </ul>
          </div>
          <div>
            <h2>{t('home.cannot')}</h2>
            <ul class="checklist">
              {CANNOT[session.role].map((k) => (
                <li key={k} class="no">
                  {t(k)}
                </li>
              ))}
            </ul>
          </div>
        </div>
      </section>
    </div>
  )
}
