import { useState } from 'preact/hooks'
import { ApiError, type UploadProgress } from '../api.js'
import { ClassificationBadge, ErrorBox, Hash, Loading, Section, UploadBar } from '../components/ui.js'
import { useApp } from '../context.js'
import { useAction, useLoad } from '../hooks.js'
import {
  CLASSIFICATIONS,
  COLUMN_TYPES,
  PROTECTIONS,
  type Classification,
  type ColumnType,
  type Dataset,
  type Protection,
  type UploadResult,
} from '../types.js'
import { ColumnsTable } from './Catalog.js'

interface ColumnDraft {
  name: string
  type: ColumnType
  protection: Protection
  lower: string
  upper: string
  categories: string
  nullable: boolean
  description: string
}

const blankColumn = (): ColumnDraft => ({
  name: '',
  type: 'number',
  protection: 'dp',
  lower: '',
  upper: '',
  categories: '',
  nullable: false,
  description: '',
})

interface Draft {
  id: string
  title: string
  description: string
  classification: Classification
  owner: string
  privacyUnit: string
  maxRowsPerUnit: string
  columns: ColumnDraft[]
}

/**
 * The form's values as the JSON body of POST /v1/datasets. Nothing is checked
 * here beyond turning text into numbers: the server's schema check is the one
 * that counts, and its errors name each field.
 */
export function specFromDraft(d: Draft): Record<string, unknown> {
  const num = (s: string) => (s.trim() === '' ? undefined : Number(s))
  return {
    id: d.id.trim(),
    title: d.title.trim(),
    ...(d.description.trim() ? { description: d.description.trim() } : {}),
    classification: d.classification,
    ...(d.owner.trim() ? { owner: d.owner.trim() } : {}),
    privacyUnit: d.privacyUnit,
    maxRowsPerUnit: Number(d.maxRowsPerUnit),
    columns: d.columns.map((c) => {
      const numeric = c.type === 'integer' || c.type === 'number'
      const cats = c.categories
        .split(/[,\n]/)
        .map((s) => s.trim())
        .filter((s) => s !== '')
      return {
        name: c.name.trim(),
        type: c.type,
        protection: c.protection,
        ...(numeric && num(c.lower) !== undefined ? { lower: num(c.lower) } : {}),
        ...(numeric && num(c.upper) !== undefined ? { upper: num(c.upper) } : {}),
        ...(c.type === 'category' && cats.length > 0 ? { categories: cats } : {}),
        ...(c.nullable ? { nullable: true } : {}),
        ...(c.description.trim() ? { description: c.description.trim() } : {}),
      }
    }),
  }
}

function CreateDataset({ onCreated }: { onCreated: (d: Dataset) => void }) {
  const { api, t } = useApp()
  const [mode, setMode] = useState<'form' | 'json'>('form')
  const [draft, setDraft] = useState<Draft>({
    id: '',
    title: '',
    description: '',
    classification: 'internal',
    owner: '',
    privacyUnit: 'person_id',
    maxRowsPerUnit: '1',
    columns: [{ ...blankColumn(), name: 'person_id', type: 'id', protection: 'public' }, blankColumn()],
  })
  const [json, setJson] = useState('')
  const [created, setCreated] = useState<Dataset | null>(null)
  const create = useAction(async () => {
    let body: unknown
    if (mode === 'json') {
      try {
        body = JSON.parse(json)
      } catch (err) {
        throw new ApiError({
          type: '',
          title: '',
          status: 0,
          detail: (err as Error).message,
          code: 'CONSOLE_BAD_JSON',
          instance: '',
        })
      }
    } else {
      body = specFromDraft(draft)
    }
    const d = await api.post<Dataset>('/v1/datasets', body)
    setCreated(d)
    onCreated(d)
  })
  const set = <K extends keyof Draft>(k: K, v: Draft[K]) => setDraft((d) => ({ ...d, [k]: v }))
  const setCol = (i: number, patch: Partial<ColumnDraft>) =>
    setDraft((d) => ({ ...d, columns: d.columns.map((c, j) => (j === i ? { ...c, ...patch } : c)) }))
  const idColumns = draft.columns.filter((c) => c.type === 'id' && c.name.trim() !== '')
  const input = (
    k: 'id' | 'title' | 'description' | 'owner' | 'maxRowsPerUnit',
    label: string,
    extra: Record<string, unknown> = {},
  ) => (
    <label>
      {label}
      <input value={draft[k]} onInput={(e) => set(k, (e.target as HTMLInputElement).value)} data-field={k} {...extra} />
    </label>
  )

  return (
    <Section
      title={t('datasets.create')}
      actions={
        <div class="tabs" role="tablist">
          <button
            type="button"
            role="tab"
            aria-selected={mode === 'form'}
            class={mode === 'form' ? 'on' : ''}
            onClick={() => setMode('form')}
          >
            {t('datasets.fromForm')}
          </button>
          <button
            type="button"
            role="tab"
            aria-selected={mode === 'json'}
            class={mode === 'json' ? 'on' : ''}
            onClick={() => {
              // Carry the form over, so switching to JSON starts from what was typed.
              if (json.trim() === '') setJson(JSON.stringify(specFromDraft(draft), null, 2))
              setMode('json')
            }}
            data-testid="json-mode"
          >
            {t('datasets.fromJson')}
          </button>
        </div>
      }
    >
      {mode === 'form' ? (
        <div class="form" data-testid="dataset-form">
          <div class="form-grid">
            {input('id', t('datasets.id'), { placeholder: 'city_survey', translate: false, spellcheck: false })}
            {input('title', t('datasets.titleField'))}
            <label>
              {t('datasets.classification')}
              <select
                value={draft.classification}
                onChange={(e) => set('classification', (e.target as HTMLSelectElement).value as Classification)}
              >
                {CLASSIFICATIONS.map((c) => (
                  <option key={c} value={c}>
                    {t(`class.${c}`)}
                  </option>
                ))}
              </select>
            </label>
            {input('owner', t('datasets.owner'))}
            <label>
              {t('catalog.privacyUnit')}
              <select
                value={draft.privacyUnit}
                onChange={(e) => set('privacyUnit', (e.target as HTMLSelectElement).value)}
                translate={false}
              >
                {idColumns.length === 0 && <option value="">—</option>}
                {idColumns.map((c) => (
                  <option key={c.name} value={c.name.trim()}>
                    {c.name}
                  </option>
                ))}
              </select>
            </label>
            {input('maxRowsPerUnit', t('datasets.maxRows'), { type: 'number', min: 1, max: 1000 })}
          </div>
          {input('description', t('catalog.description'))}
          <table class="column-editor">
            <thead>
              <tr>
                <th>{t('catalog.column')}</th>
                <th>{t('catalog.type')}</th>
                <th>{t('catalog.protection')}</th>
                <th>{t('datasets.lower')}</th>
                <th>{t('datasets.upper')}</th>
                <th>{t('datasets.categories')}</th>
                <th>{t('catalog.nullable')}</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {draft.columns.map((c, i) => {
                const numeric = c.type === 'integer' || c.type === 'number'
                return (
                  <tr key={i} data-column-row={i}>
                    <td>
                      <input
                        value={c.name}
                        onInput={(e) => setCol(i, { name: (e.target as HTMLInputElement).value })}
                        translate={false}
                        spellcheck={false}
                        aria-label={t('catalog.column')}
                        data-col="name"
                      />
                    </td>
                    <td>
                      <select
                        value={c.type}
                        onChange={(e) => setCol(i, { type: (e.target as HTMLSelectElement).value as ColumnType })}
                        aria-label={t('catalog.type')}
                        data-col="type"
                      >
                        {COLUMN_TYPES.map((ty) => (
                          <option key={ty} value={ty}>
                            {t(`type.${ty}`)}
                          </option>
                        ))}
                      </select>
                    </td>
                    <td>
                      <select
                        value={c.protection}
                        onChange={(e) => setCol(i, { protection: (e.target as HTMLSelectElement).value as Protection })}
                        aria-label={t('catalog.protection')}
                        data-col="protection"
                      >
                        {PROTECTIONS.map((p) => (
                          <option key={p} value={p}>
                            {t(`protection.${p}`)}
                          </option>
                        ))}
                      </select>
                    </td>
                    <td>
                      <input
                        type="number"
                        value={c.lower}
                        disabled={!numeric}
                        onInput={(e) => setCol(i, { lower: (e.target as HTMLInputElement).value })}
                        aria-label={t('datasets.lower')}
                        data-col="lower"
                      />
                    </td>
                    <td>
                      <input
                        type="number"
                        value={c.upper}
                        disabled={!numeric}
                        onInput={(e) => setCol(i, { upper: (e.target as HTMLInputElement).value })}
                        aria-label={t('datasets.upper')}
                        data-col="upper"
                      />
                    </td>
                    <td>
                      <input
                        value={c.categories}
                        disabled={c.type !== 'category'}
                        placeholder={c.type === 'category' ? t('datasets.categoriesHint') : ''}
                        onInput={(e) => setCol(i, { categories: (e.target as HTMLInputElement).value })}
                        aria-label={t('datasets.categories')}
                        data-col="categories"
                      />
                    </td>
                    <td>
                      <input
                        type="checkbox"
                        checked={c.nullable}
                        onChange={(e) => setCol(i, { nullable: (e.target as HTMLInputElement).checked })}
                        aria-label={t('catalog.nullable')}
                      />
                    </td>
                    <td>
                      <button
                        type="button"
                        class="link"
                        onClick={() => setDraft((d) => ({ ...d, columns: d.columns.filter((_, j) => j !== i) }))}
                        aria-label={t('datasets.removeColumn')}
                      >
                        ×
                      </button>
                    </td>
                  </tr>
                )
              })}
            </tbody>
          </table>
          <button
            type="button"
            onClick={() => setDraft((d) => ({ ...d, columns: [...d.columns, blankColumn()] }))}
            data-testid="add-column"
          >
            {t('datasets.addColumn')}
          </button>
        </div>
      ) : (
        <div class="form">
          <p class="small muted">{t('datasets.jsonHint')}</p>
          <textarea
            class="json"
            rows={16}
            value={json}
            onInput={(e) => setJson((e.target as HTMLTextAreaElement).value)}
            spellcheck={false}
            translate={false}
            data-testid="dataset-json"
            aria-label={t('datasets.fromJson')}
          />
        </div>
      )}
      <div class="actions">
        <button
          type="button"
          class="primary"
          onClick={() => void create.run()}
          disabled={create.pending}
          data-testid="create-dataset"
        >
          {create.pending ? t('common.saving') : t('datasets.createButton')}
        </button>
      </div>
      <ErrorBox error={create.error} onDismiss={() => create.setError(null)} />
      {created && !create.error && (
        <p class="notice ok" role="status" data-testid="dataset-created">
          {t('datasets.created', { id: created.id })}
        </p>
      )}
    </Section>
  )
}

/** Upload formats the versions route takes, by the extension a file usually has; the operator can override the guess. */
const FORMATS = {
  csv: { type: 'text/csv', label: 'CSV' },
  ndjson: { type: 'application/x-ndjson', label: 'NDJSON' },
  encrypted: { type: 'application/vnd.veilbox.encrypted+ndjson', label: 'veilbox encrypted NDJSON' },
} as const
type Format = keyof typeof FORMATS
const guessFormat = (name: string): Format =>
  /\.(ndjson|jsonl)$/i.test(name) ? 'ndjson' : /\.(vbx|enc)(\.ndjson)?$/i.test(name) ? 'encrypted' : 'csv'

function UploadVersion({ dataset, onUploaded }: { dataset: Dataset; onUploaded: () => void }) {
  const { api, t, f } = useApp()
  const [file, setFile] = useState<File | null>(null)
  const [progress, setProgress] = useState<UploadProgress | null>(null)
  const [result, setResult] = useState<UploadResult | null>(null)
  const [controller, setController] = useState<AbortController | null>(null)
  const [format, setFormat] = useState<Format>('csv')
  const type = FORMATS[format].type
  const upload = useAction(async () => {
    if (!file) return
    setResult(null)
    const c = new AbortController()
    setController(c)
    try {
      const r = await api.upload<UploadResult>(
        `/v1/datasets/${encodeURIComponent(dataset.id)}/versions`,
        file,
        type,
        setProgress,
        c.signal,
      )
      setResult(r)
      onUploaded()
    } finally {
      setController(null)
    }
  })
  return (
    <div class="upload" data-testid={`upload-${dataset.id}`}>
      <h3>{t('datasets.upload')}</h3>
      <p class="small muted">{t('datasets.uploadHint')}</p>
      <div class="actions">
        <input
          type="file"
          accept=".csv,.ndjson,.jsonl,.vbx,.enc,text/csv,application/x-ndjson"
          onChange={(e) => {
            const chosen = (e.target as HTMLInputElement).files?.[0] ?? null
            setFile(chosen)
            if (chosen) setFormat(guessFormat(chosen.name))
            setProgress(null)
            setResult(null)
            upload.setError(null)
          }}
          aria-label={t('datasets.chooseFile')}
          data-testid="upload-file"
        />
        {file && <span class="small muted">{f.bytes(file.size)}</span>}
        <label class="inline">
          {t('datasets.format')}
          <select
            value={format}
            onChange={(e) => setFormat((e.target as HTMLSelectElement).value as Format)}
            translate={false}
            data-testid="upload-format"
          >
            {(Object.keys(FORMATS) as Format[]).map((k) => (
              <option key={k} value={k}>
                {FORMATS[k].label}
              </option>
            ))}
          </select>
        </label>
        <button
          type="button"
          class="primary"
          disabled={!file || upload.pending}
          onClick={() => void upload.run()}
          data-testid="upload-start"
        >
          {t('datasets.uploadButton')}
        </button>
        {controller && (
          <button type="button" onClick={() => controller.abort()}>
            {t('action.cancel')}
          </button>
        )}
      </div>
      {progress && upload.pending && <UploadBar progress={progress} />}
      <ErrorBox error={upload.error} onDismiss={() => upload.setError(null)} />
      {result && (
        <p class="notice ok" role="status" data-testid="upload-done">
          {t('datasets.uploaded', { version: result.version, rows: f.num(result.rows) })}{' '}
          <Hash value={result.sha256} length={64} />
        </p>
      )}
    </div>
  )
}

export function DatasetsView() {
  const { api, t, f } = useApp()
  const catalog = useLoad(() => api.get<{ datasets: Dataset[] }>('/v1/datasets'), [])
  const [open, setOpen] = useState<string | null>(null)
  return (
    <div>
      <h1>{t('datasets.title')}</h1>
      <ErrorBox error={catalog.error} />
      {catalog.loading && !catalog.data && <Loading />}
      {catalog.data?.datasets.map((d) => (
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
              <button type="button" onClick={() => setOpen(open === d.id ? null : d.id)}>
                {open === d.id ? t('datasets.hideColumns') : t('datasets.showColumns')}
              </button>
            </div>
          </header>
          {open === d.id && <ColumnsTable dataset={d} />}
          <h3>{t('datasets.versions')}</h3>
          {d.versions.length === 0 ? (
            <p class="notice warn">{t('catalog.noVersion')}</p>
          ) : (
            <table class="versions">
              <thead>
                <tr>
                  <th>{t('datasets.version')}</th>
                  <th>{t('datasets.loadedAt')}</th>
                  <th class="num">{t('datasets.rowsCol')}</th>
                  <th>{t('datasets.fingerprint')}</th>
                </tr>
              </thead>
              <tbody>
                {d.versions.map((v) => (
                  <tr key={v.version} data-version={v.version}>
                    <td>{v.version}</td>
                    <td>{f.date(v.createdAt)}</td>
                    <td class="num">{v.rows === undefined ? '—' : f.num(v.rows)}</td>
                    <td>
                      <Hash value={v.sha256 ?? v.commitment} length={64} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <UploadVersion dataset={d} onUploaded={catalog.reload} />
        </section>
      ))}
      <CreateDataset onCreated={catalog.reload} />
    </div>
  )
}
