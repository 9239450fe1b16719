import type { ComponentChildren } from 'preact'
import { useState } from 'preact/hooks'
import type { ApiError, UploadProgress } from '../api.js'
import { useApp } from '../context.js'
import { errorText, type Lang, type Translate } from '../i18n/index.js'
import type { Classification, Protection } from '../types.js'

/** What to tell a person about an error: the mapped words for its code, or the server's own. */
export function describeError(lang: Lang, t: Translate, err: ApiError): { what: string; next: string; known: boolean } {
  const known = errorText(lang, err.code)
  if (known) return { ...known, known: true }
  return { what: err.problem.title || t('error.unknown'), next: t('error.unknownNext'), known: false }
}

/**
 * Every API error is shown, in plain words with what to do next, and with the
 * server's own detail and request id beneath (the detail names the exact
 * field, row or amount; the request id finds the server's log line).
 */
export function ErrorBox({ error, onDismiss }: { error: ApiError | null | undefined; onDismiss?: () => void }) {
  const { lang, t } = useApp()
  if (!error) return null
  return <ErrorView lang={lang} t={t} error={error} {...(onDismiss ? { onDismiss } : {})} />
}

/** The same box outside the signed-in console (the sign-in form). */
export function ErrorView({
  lang,
  t,
  error,
  onDismiss,
}: {
  lang: Lang
  t: Translate
  error: ApiError
  onDismiss?: () => void
}) {
  const d = describeError(lang, t, error)
  const p = error.problem
  const position = p.position as { line?: number; column?: number } | undefined
  // Validation codes list each field and rule: shown as given, they name the exact place to fix.
  const fieldErrors = Array.isArray(p.errors)
    ? (p.errors as { path?: unknown; message?: unknown }[]).map((e) => ({
        path: String(e.path ?? ''),
        message: String(e.message ?? ''),
      }))
    : []
  return (
    <div class="error" role="alert" data-code={error.code}>
      <div class="error-head">
        <strong class="error-what" translate={d.known ? undefined : false}>
          {d.what}
        </strong>
        {onDismiss && (
          <button type="button" class="link" onClick={onDismiss} aria-label={t('action.dismiss')}>
            ×
          </button>
        )}
      </div>
      <p class="error-next">{d.next}</p>
      {position?.line !== undefined && (
        <p class="error-pos">{t('error.position', { line: position.line, column: position.column ?? 1 })}</p>
      )}
      {p.detail && (
        <p class="error-detail">
          <span class="muted">{t('error.serverSays')}</span> <span translate={false}>{p.detail}</span>
        </p>
      )}
      {fieldErrors.length > 0 && (
        <ul class="error-fields" translate={false}>
          {fieldErrors.map((e, i) => (
            <li key={i}>
              <code>{e.path}</code>: {e.message}
            </li>
          ))}
        </ul>
      )}
      <p class="error-meta muted">
        <code translate={false}>{error.code}</code>
        {p.status > 0 && <> · HTTP {p.status}</>}
        {p.instance && (
          <>
            {' · '}
            {t('error.requestId')} <code translate={false}>{p.instance}</code>
          </>
        )}
      </p>
    </div>
  )
}

export function ProtectionBadge({ protection }: { protection: Protection }) {
  const { t } = useApp()
  const label = { public: t('protection.public'), dp: t('protection.dp'), he: t('protection.he') }[protection]
  const hint = { public: t('protection.publicHint'), dp: t('protection.dpHint'), he: t('protection.heHint') }[
    protection
  ]
  return (
    <span class={`badge prot-${protection}`} title={hint} data-protection={protection}>
      {label}
    </span>
  )
}

export function ClassificationBadge({ classification }: { classification: Classification }) {
  const { t } = useApp()
  const label = {
    public: t('class.public'),
    internal: t('class.internal'),
    sensitive: t('class.sensitive'),
    core: t('class.core'),
  }[classification]
  return <span class={`badge class-${classification}`}>{label}</span>
}

export function StatusBadge({ status }: { status: 'active' | 'expired' | 'revoked' }) {
  const { t } = useApp()
  const label = { active: t('status.active'), expired: t('status.expired'), revoked: t('status.revoked') }[status]
  return (
    <span class={`badge status-${status}`} data-status={status}>
      {label}
    </span>
  )
}

export function Loading({ what }: { what?: string }) {
  const { t } = useApp()
  return (
    <p class="loading" aria-busy="true">
      {what ?? t('common.loading')}
    </p>
  )
}

export function UploadBar({ progress }: { progress: UploadProgress }) {
  const { t, f } = useApp()
  const share = progress.total > 0 ? progress.loaded / progress.total : 1
  return (
    <div class="upload-progress" data-phase={progress.phase}>
      <progress max={progress.total || 1} value={progress.loaded} aria-label={t('upload.progress')} />
      <span class="upload-text">
        {progress.phase === 'sending'
          ? t('upload.sending', { sent: f.bytes(progress.loaded), total: f.bytes(progress.total), pct: f.pct(share) })
          : t('upload.checking', { total: f.bytes(progress.total) })}
      </span>
    </div>
  )
}

/** A button that asks once more before it does something that cannot be undone. */
export function ConfirmButton(props: {
  label: string
  confirm: string
  onConfirm: () => void
  disabled?: boolean
  testid?: string
}) {
  const { t } = useApp()
  const [asking, setAsking] = useState(false)
  if (!asking) {
    return (
      <button
        type="button"
        class="danger"
        disabled={props.disabled}
        onClick={() => setAsking(true)}
        data-testid={props.testid}
      >
        {props.label}
      </button>
    )
  }
  return (
    <span class="confirm">
      <span>{props.confirm}</span>
      <button
        type="button"
        class="danger"
        data-testid={props.testid ? `${props.testid}-yes` : undefined}
        onClick={() => {
          setAsking(false)
          props.onConfirm()
        }}
      >
        {t('action.yes')}
      </button>
      <button type="button" onClick={() => setAsking(false)}>
        {t('action.no')}
      </button>
    </span>
  )
}

export function Section(props: {
  title: ComponentChildren
  children: ComponentChildren
  actions?: ComponentChildren
  id?: string
}) {
  return (
    <section class="card" id={props.id}>
      <header class="card-head">
        <h2>{props.title}</h2>
        {props.actions && <div class="card-actions">{props.actions}</div>}
      </header>
      {props.children}
    </section>
  )
}

/** A hash shown short, whole on hover and when copied. */
export function Hash({ value, length = 12 }: { value: string; length?: number }) {
  return (
    <code class="hash" title={value} translate={false}>
      {value.length > length ? `${value.slice(0, length)}…` : value}
    </code>
  )
}

/** Saves text as a file without a round trip to the server. */
export function download(filename: string, text: string, type: string): void {
  const blob = new Blob([text], { type })
  const url = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = url
  a.download = filename
  document.body.append(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 10_000)
}
