import { useCallback, useEffect, useMemo, useState } from 'preact/hooks'
import { Api, asApiError, type ApiError } from './api.js'
import { ErrorView } from './components/ui.js'
import { AppContext, type AppCtx, type Session } from './context.js'
import {
  formatter,
  initialLang,
  LANGS,
  saveLang,
  translator,
  type Lang,
  type MessageKey,
  type Translate,
} from './i18n/index.js'
import { forgetKey, probeRole, storedKey, storeKey } from './session.js'
import type { Role } from './types.js'
import { AnswerPage, HistoryView } from './views/History.js'
import { ApplyView } from './views/Apply.js'
import { ApprovalsView, MyApplicationsView } from './views/Applications.js'
import { AuditView } from './views/Audit.js'
import { BudgetsView } from './views/Budgets.js'
import { CatalogView } from './views/Catalog.js'
import { DatasetsView } from './views/Datasets.js'
import { GrantsView } from './views/Grants.js'
import { HomeView } from './views/Home.js'
import { KeysView } from './views/Keys.js'
import { MarketView } from './views/Market.js'
import { MyGrantsView } from './views/MyGrants.js'
import { QueryView } from './views/Query.js'
import { TemplatesView } from './views/Templates.js'
import { IncomeView, SettlementsView, StatementsView } from './views/Statements.js'

interface Page {
  readonly path: string
  readonly label: MessageKey
  readonly roles: readonly Role[]
  readonly view: () => preact.JSX.Element
}

/** The screens, and which roles see them: the same roles the API allows on the routes each screen calls. */
export const PAGES: readonly Page[] = [
  { path: '', label: 'nav.home', roles: ['analyst', 'operator', 'owner', 'custodian'], view: () => <HomeView /> },
  {
    path: 'catalog',
    label: 'nav.catalog',
    roles: ['analyst', 'operator', 'owner', 'custodian'],
    view: () => <CatalogView />,
  },
  { path: 'query', label: 'nav.query', roles: ['analyst'], view: () => <QueryView /> },
  { path: 'history', label: 'nav.history', roles: ['analyst', 'operator'], view: () => <HistoryView /> },
  { path: 'mygrants', label: 'nav.myGrants', roles: ['analyst'], view: () => <MyGrantsView /> },
  { path: 'templates', label: 'nav.templates', roles: ['analyst'], view: () => <TemplatesView /> },
  { path: 'apply', label: 'nav.apply', roles: ['analyst'], view: () => <ApplyView /> },
  { path: 'applications', label: 'nav.applications', roles: ['analyst'], view: () => <MyApplicationsView /> },
  { path: 'statements', label: 'nav.statements', roles: ['analyst', 'operator'], view: () => <StatementsView /> },
  { path: 'approvals', label: 'nav.approvals', roles: ['owner', 'operator'], view: () => <ApprovalsView /> },
  { path: 'income', label: 'nav.income', roles: ['owner'], view: () => <IncomeView /> },
  { path: 'datasets', label: 'nav.datasets', roles: ['operator'], view: () => <DatasetsView /> },
  { path: 'budgets', label: 'nav.budgets', roles: ['operator'], view: () => <BudgetsView /> },
  { path: 'grants', label: 'nav.grants', roles: ['operator'], view: () => <GrantsView /> },
  { path: 'market', label: 'nav.market', roles: ['operator'], view: () => <MarketView /> },
  { path: 'settlements', label: 'nav.settlements', roles: ['operator'], view: () => <SettlementsView /> },
  { path: 'keys', label: 'nav.keys', roles: ['operator'], view: () => <KeysView /> },
  { path: 'audit', label: 'nav.audit', roles: ['operator'], view: () => <AuditView /> },
]

function parseHash(hash: string): { path: string; sub: string; params: URLSearchParams } {
  const raw = hash.replace(/^#\/?/, '')
  const [pathPart = '', query = ''] = raw.split('?')
  const [path = '', ...rest] = pathPart.split('/')
  return { path, sub: rest.join('/'), params: new URLSearchParams(query) }
}

function useHash(): string {
  const [hash, setHash] = useState(location.hash)
  useEffect(() => {
    const on = () => setHash(location.hash)
    addEventListener('hashchange', on)
    return () => removeEventListener('hashchange', on)
  }, [])
  return hash
}

type SignedOutReason = 'expired' | 'signedOut' | null

export function App() {
  const [lang, setLangState] = useState<Lang>(initialLang)
  const t = useMemo(() => translator(lang), [lang])
  const f = useMemo(() => formatter(lang), [lang])
  const [key, setKey] = useState<string | null>(storedKey)
  const [session, setSession] = useState<Session | null>(null)
  const [checking, setChecking] = useState<boolean>(() => storedKey() !== null)
  const [reason, setReason] = useState<SignedOutReason>(null)
  const [signInError, setSignInError] = useState<ApiError | null>(null)
  const hash = useHash()

  useEffect(() => {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en'
    document.title = t('app.title')
  }, [lang, t])

  const setLang = (l: Lang) => {
    saveLang(l)
    setLangState(l)
  }

  const signOut = useCallback((why: SignedOutReason) => {
    forgetKey()
    setKey(null)
    setSession(null)
    setReason(why)
  }, [])

  // A key kept from earlier in this tab: find its role again (it may have been revoked since).
  useEffect(() => {
    const k = storedKey()
    if (k === null) return
    probeRole(k).then(
      (s) => {
        setSession(s)
        setChecking(false)
      },
      (err: unknown) => {
        const e = asApiError(err)
        setChecking(false)
        if (e.status === 401) signOut('expired')
        else setSignInError(e)
      },
    )
  }, [signOut])

  const api = useMemo(() => (key ? new Api(key, () => signOut('expired')) : null), [key, signOut])

  const signIn = async (candidate: string) => {
    setSignInError(null)
    setReason(null)
    try {
      const s = await probeRole(candidate)
      storeKey(candidate)
      setKey(candidate)
      setSession(s)
      if (location.hash === '' || location.hash === '#/') location.hash = '#/'
    } catch (err) {
      setSignInError(asApiError(err))
    }
  }

  const langSwitch = (
    // biome-ignore lint/a11y/useSemanticElements: a segmented control of two buttons, not a form's fieldset (no legend; the label is aria-label)
    <div class="lang-switch" role="group" aria-label={t('lang.label')}>
      {LANGS.map((l) => (
        <button
          type="button"
          key={l}
          class={l === lang ? 'on' : ''}
          aria-pressed={l === lang}
          onClick={() => setLang(l)}
          data-lang={l}
          lang={l === 'en' ? 'en' : 'zh-CN'}
          translate={false}
        >
          {l === 'en' ? t('lang.en') : t('lang.zh')}
        </button>
      ))}
    </div>
  )

  if (!session || !api || !key) {
    return (
      <div class="signin-page">
        <header class="topbar">
          <span class="brand">{t('app.name')}</span>
          {langSwitch}
        </header>
        <main>
          {checking ? (
            <p class="loading">{t('signin.checking')}</p>
          ) : (
            <SignIn t={t} lang={lang} reason={reason} error={signInError} onSignIn={signIn} />
          )}
        </main>
      </div>
    )
  }

  const route = parseHash(hash)
  const page = PAGES.find((p) => p.path === route.path)
  const allowed = PAGES.filter((p) => p.roles.includes(session.role))
  const ctx: AppCtx = {
    lang,
    t,
    f,
    api,
    session,
    params: route.params,
    navigate: (h: string) => {
      location.hash = h
    },
  }
  let body: preact.JSX.Element
  if (route.path === 'history' && route.sub && session.role !== 'custodian') body = <AnswerPage queryId={route.sub} />
  else if (!page) body = <p class="notice">{t('nav.notFound')}</p>
  else if (!page.roles.includes(session.role))
    body = (
      <p class="notice" data-testid="forbidden-page">
        {t('nav.notForRole')}
      </p>
    )
  else body = page.view()

  return (
    <AppContext.Provider value={ctx}>
      <div class="shell">
        <header class="topbar">
          <span class="brand">{t('app.name')}</span>
          <nav aria-label={t('nav.label')}>
            {allowed.map((p) => (
              <a
                key={p.path}
                href={`#/${p.path}`}
                class={p.path === route.path ? 'on' : ''}
                data-nav={p.path || 'home'}
              >
                {t(p.label)}
              </a>
            ))}
          </nav>
          <div class="who">
            <span class={`badge role-${session.role}`} data-testid="role">
              {t(`role.${session.role}`)}
            </span>
            {session.name && (
              <span class="muted" translate={false}>
                {session.name}
              </span>
            )}
            {langSwitch}
            <button type="button" onClick={() => signOut('signedOut')} data-testid="sign-out">
              {t('signin.signOut')}
            </button>
          </div>
        </header>
        <main key={route.path}>{body}</main>
      </div>
    </AppContext.Provider>
  )
}

function SignIn(props: {
  t: Translate
  lang: Lang
  reason: SignedOutReason
  error: ApiError | null
  onSignIn: (key: string) => Promise<void>
}) {
  const { t } = props
  const [value, setValue] = useState('')
  const [busy, setBusy] = useState(false)
  return (
    // method=post and no action: even if script failed, the key would never be put in a URL.
    <form
      class="card signin"
      method="post"
      autocomplete="off"
      onSubmit={async (e) => {
        e.preventDefault()
        if (!value.trim()) return
        setBusy(true)
        await props.onSignIn(value.trim())
        setBusy(false)
      }}
      data-testid="signin-form"
    >
      <h1>{t('signin.title')}</h1>
      <p class="muted">{t('signin.intro')}</p>
      {props.reason === 'expired' && (
        <p class="notice warn" role="status" data-testid="signed-out-expired">
          {t('signin.expired')}
        </p>
      )}
      {props.reason === 'signedOut' && (
        <p class="notice" role="status">
          {t('signin.signedOut')}
        </p>
      )}
      <label>
        {t('signin.keyLabel')}
        <input
          type="password"
          name="apikey"
          value={value}
          onInput={(e) => setValue((e.target as HTMLInputElement).value)}
          placeholder={t('signin.keyPlaceholder')}
          autocomplete="off"
          spellcheck={false}
          required
          data-testid="api-key"
        />
      </label>
      <p class="muted small">{t('signin.storage')}</p>
      <button type="submit" class="primary" disabled={busy || value.trim() === ''} data-testid="sign-in">
        {busy ? t('signin.checking') : t('signin.submit')}
      </button>
      {props.error && <ErrorView lang={props.lang} t={t} error={props.error} />}
    </form>
  )
}
