import { Section } from '../components/ui.js'
import { useApp } from '../context.js'

/** A dry run's result as the service sends it (`"dryRun": true`): every value wrapped, nothing charged, no receipt. */
export interface DryRunResult {
  readonly dummy: true
  readonly kind: 'dummy'
  readonly notice: string
  readonly dryRunId: string
  readonly dataset: string
  readonly sql: string | null
  readonly dummyRows: number
  readonly columns: string[]
  readonly rows: { dummy: string | number | boolean | null }[][]
  readonly intervals: ({ dummy: [number, number] } | null)[][]
  readonly confidence: number
  readonly privacy: { readonly epsilon: number; readonly mechanism: string }
}

/** A dry run's numbers, marked as dummy on the section, on the table and on every value: never to pass for an answer. */
export function DryRunView({ result }: { result: DryRunResult }) {
  const { t, f } = useApp()
  const text = (v: string | number | boolean | null): string =>
    v === null
      ? t('common.null')
      : typeof v === 'number'
        ? f.value(v)
        : typeof v === 'boolean'
          ? v
            ? t('common.true')
            : t('common.false')
          : v
  return (
    <Section title={t('dryRun.title')} id="dry-run">
      <div class="answer dry-run" data-testid="dry-run-result" data-dummy="true">
        <p class="notice warn" data-testid="dry-run-notice">
          <strong>{t('dryRun.banner')}</strong> {t('dryRun.notice', { n: result.dummyRows })}
        </p>
        <table class="results" data-testid="dry-run-table">
          <caption class="small muted">{t('dryRun.caption', { level: f.pct(result.confidence) })}</caption>
          <thead>
            <tr>
              {result.columns.map((c) => (
                <th key={c} translate={false}>
                  {c}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {result.rows.map((row, r) => (
              <tr key={r}>
                {row.map((cell, i) => {
                  const iv = result.intervals[r]?.[i]
                  return (
                    <td key={i} data-dummy="true">
                      <span class="badge">{t('dryRun.badge')}</span> {text(cell.dummy)}
                      {iv ? ` [${f.value(iv.dummy[0])}, ${f.value(iv.dummy[1])}]` : ''}
                    </td>
                  )
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Section>
  )
}
