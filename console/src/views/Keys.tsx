import { useState } from 'preact/hooks'
import { ConfirmButton, ErrorBox, Loading, Section } from '../components/ui.js'
import { useApp } from '../context.js'
import { useAction, useLoad } from '../hooks.js'
import { ROLES, type CreatedKey, type KeyInfo, type Role } from '../types.js'

export function KeysView() {
  const { api, t, f } = useApp()
  const keys = useLoad(() => api.get<{ keys: KeyInfo[] }>('/v1/keys'), [])
  const [name, setName] = useState('')
  const [role, setRole] = useState<Role>('analyst')
  // The secret is held in this component's state only, shown once, and dropped when dismissed or when the page is left.
  const [fresh, setFresh] = useState<CreatedKey | null>(null)
  const [copied, setCopied] = useState(false)
  const create = useAction(async () => {
    const k = await api.post<CreatedKey>('/v1/keys', { name: name.trim(), role })
    setFresh(k)
    setCopied(false)
    setName('')
    keys.reload()
  })
  const revoke = useAction(async (who: string) => {
    await api.delete(`/v1/keys/${encodeURIComponent(who)}`)
    keys.reload()
  })
  return (
    <div>
      <h1>{t('keys.title')}</h1>
      <Section title={t('keys.create')}>
        <div class="options">
          <label>
            {t('keys.name')}
            <input
              value={name}
              onInput={(e) => setName((e.target as HTMLInputElement).value)}
              placeholder={t('keys.namePlaceholder')}
              translate={false}
              spellcheck={false}
              data-testid="key-name"
            />
          </label>
          <label>
            {t('keys.role')}
            <select
              value={role}
              onChange={(e) => setRole((e.target as HTMLSelectElement).value as Role)}
              data-testid="key-role"
            >
              {ROLES.map((r) => (
                <option key={r} value={r}>
                  {t(`role.${r}`)}
                </option>
              ))}
            </select>
          </label>
          <button
            type="button"
            class="primary"
            disabled={create.pending || name.trim() === ''}
            onClick={() => void create.run()}
            data-testid="key-create"
          >
            {create.pending ? t('common.saving') : t('keys.createButton')}
          </button>
        </div>
        <ErrorBox error={create.error} onDismiss={() => create.setError(null)} />
        {fresh && (
          <div class="notice warn once" role="status" data-testid="new-key">
            <p>
              <strong>{t('keys.onceTitle', { name: fresh.name })}</strong>
            </p>
            <p>{t('keys.onceText')}</p>
            <code class="secret" translate={false} data-testid="new-key-value">
              {fresh.key}
            </code>
            <div class="actions">
              <button
                type="button"
                onClick={() =>
                  navigator.clipboard?.writeText(fresh.key).then(
                    () => setCopied(true),
                    () => setCopied(false),
                  )
                }
              >
                {copied ? t('keys.copied') : t('keys.copy')}
              </button>
              <button type="button" onClick={() => setFresh(null)} data-testid="new-key-done">
                {t('keys.saved')}
              </button>
            </div>
          </div>
        )}
      </Section>
      <Section title={t('keys.list')}>
        <ErrorBox error={keys.error} />
        <ErrorBox error={revoke.error} onDismiss={() => revoke.setError(null)} />
        {keys.loading && !keys.data && <Loading />}
        {keys.data && (
          <table class="keys" data-testid="keys">
            <thead>
              <tr>
                <th>{t('keys.name')}</th>
                <th>{t('keys.role')}</th>
                <th>{t('keys.keyId')}</th>
                <th>{t('keys.created')}</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {keys.data.keys.map((k) => (
                <tr key={k.keyId} data-key={k.name}>
                  <td translate={false}>{k.name}</td>
                  <td>
                    <span class={`badge role-${k.role}`}>{t(`role.${k.role}`)}</span>
                  </td>
                  <td>
                    <code translate={false}>{k.keyId}</code>
                  </td>
                  <td>
                    {f.date(k.createdAt)} · <span translate={false}>{k.createdBy}</span>
                  </td>
                  <td>
                    <ConfirmButton
                      label={t('keys.revoke')}
                      confirm={t('keys.revokeConfirm', { name: k.name })}
                      onConfirm={() => void revoke.run(k.name)}
                      disabled={revoke.pending}
                      testid={`revoke-key-${k.name}`}
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
    </div>
  )
}
