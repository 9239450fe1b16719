import { useEffect, useState } from 'preact/hooks'
import { aggregateColumns, type Bin, bucketKey, histogramBins } from '../buckets.js'
import { BarChart, type BarDatum, Histogram, PeriodLine } from '../components/charts.js'
import { periodKey, periodPoints } from '../periods.js'
import { Money, ScenarioName } from '../components/market.js'
import { download, ErrorBox, Hash, Loading, Section } from '../components/ui.js'
import { useApp } from '../context.js'
import { useLoad } from '../hooks.js'
import { answerCsv, checkReceipt, type ReceiptCheck } from '../receipt.js'
import type { Answer, AnswerSummary, Cell, ReceiptKey } from '../types.js'

export function useCellText() {
  const { t, f } = useApp()
  return (v: Cell): string => {
    if (v === null) return t('common.null')
    if (typeof v === 'boolean') return v ? t('common.true') : t('common.false')
    if (typeof v === 'number') return f.value(v)
    return v
  }
}

/** Which aggregate a chart draws, when the answer has several. */
function ChartColumn(props: { answer: Answer; columns: number[]; value: number; onChange: (i: number) => void }) {
  const { t } = useApp()
  return (
    <label>
      {t('answer.chartOf')}{' '}
      <select
        value={props.value}
        onChange={(e) => props.onChange(Number((e.target as HTMLSelectElement).value))}
        translate={false}
        data-testid="chart-column"
      >
        {props.columns.map((i) => (
          <option key={i} value={i}>
            {props.answer.columns[i]}
          </option>
        ))}
      </select>
    </label>
  )
}

/** A released answer: table with intervals, chart with error bars (a histogram for buckets), receipt, downloads. */
export function AnswerView({ answer, reopened = false }: { answer: Answer; reopened?: boolean }) {
  const { t, f, api, lang } = useApp()
  const text = useCellText()
  const aggregateCols = aggregateColumns(answer)
  // GROUP BY BUCKET(...) alone: the buckets are drawn as a histogram, above the table.
  const bucket = bucketKey(answer)
  const groupCols = answer.columns.map((_, i) => i).filter((i) => !aggregateCols.includes(i))
  const [chartCol, setChartCol] = useState<number>(aggregateCols[0] ?? 0)
  const [check, setCheck] = useState<ReceiptCheck | 'checking'>('checking')

  useEffect(() => {
    setChartCol(aggregateCols[0] ?? 0)
    setCheck('checking')
    // The signing keys are public (no key needed); the check runs here, in the browser.
    api
      .get<{ keys: ReceiptKey[] }>('/v1/receipts/keys')
      .then((r) => checkReceipt(answer, r.keys))
      .then(setCheck, () => setCheck('unsupported'))
  }, [answer.queryId])

  const label = (row: Cell[]) =>
    groupCols.length === 0 ? t('answer.allRows') : groupCols.map((i) => text(row[i] ?? null)).join(' · ')
  const data: BarDatum[] = answer.rows.map((row, r) => ({
    label: label(row),
    value: typeof row[chartCol] === 'number' ? (row[chartCol] as number) : 0,
    interval: answer.intervals[r]?.[chartCol] ?? null,
  }))
  const level = f.pct(answer.confidence)
  const describe = (group: string, value: number | null, interval: [number, number] | null) =>
    t('answer.barText', {
      group,
      value: value === null ? t('common.null') : f.value(value),
      lo: interval ? f.value(interval[0]) : '—',
      hi: interval ? f.value(interval[1]) : '—',
      level,
    })
  const range = (lo: number, hi: number) => `${f.value(lo)}–${f.value(hi)}`
  // Until the effect above resets it, a new answer may find the previous answer's column chosen.
  const histCol = aggregateCols.includes(chartCol) ? chartCol : (aggregateCols[0] ?? 0)
  const bins: Bin[] = bucket ? histogramBins(answer, bucket.key, histCol) : []
  // GROUP BY MONTH(d) (or YEAR, WEEK, DAY) alone: the periods are drawn as a line with an error band.
  const period = bucket ? null : periodKey(answer)
  const points = period ? periodPoints(answer, period.key, histCol) : []
  const top = bins.reduce<Bin | null>(
    (best, b) => (b.value !== null && (best === null || b.value > best.value!) ? b : best),
    null,
  )
  const base = `${answer.queryId}`

  return (
    <Section
      title={t('answer.title')}
      id="answer"
      actions={
        <>
          <button
            type="button"
            onClick={() => download(`${base}.csv`, answerCsv(answer), 'text/csv;charset=utf-8')}
            data-testid="download-csv"
          >
            {t('answer.downloadCsv')}
          </button>
          <button
            type="button"
            onClick={() => download(`${base}.json`, `${JSON.stringify(answer, null, 2)}\n`, 'application/json')}
            data-testid="download-json"
          >
            {t('answer.downloadJson')}
          </button>
          <button
            type="button"
            onClick={() =>
              download(`${base}.receipt.json`, `${JSON.stringify(answer.receipt, null, 2)}\n`, 'application/json')
            }
            data-testid="download-receipt"
          >
            {t('answer.downloadReceipt')}
          </button>
          <button
            type="button"
            title={t('answer.reportHint')}
            onClick={() =>
              // A self-contained page with a print stylesheet: opened from the file, printed to PDF.
              api
                .text(`/v1/queries/${answer.queryId}/report`, { lang })
                .then((html) => download(`${base}.report.${lang}.html`, html, 'text/html;charset=utf-8'))
            }
            data-testid="download-report"
          >
            {t('answer.report')}
          </button>
        </>
      }
    >
      <div class="answer" data-testid="answer" data-query-id={answer.queryId}>
        {reopened && <p class="notice ok">{t('answer.reopened')}</p>}
        {answer.cached && !reopened && <p class="notice ok">{t('answer.cached')}</p>}
        <dl class="facts">
          <dt>{t('answer.query')}</dt>
          <dd>
            <Hash value={answer.queryId} length={30} /> · <code translate={false}>{answer.dataset}</code> ·{' '}
            {t('preview.version', { n: answer.version })} · {f.date(answer.createdAt)}
          </dd>
          {answer.sql && (
            <>
              <dt>{t('query.sql')}</dt>
              <dd>
                <code class="sql-inline" translate={false}>
                  {answer.sql}
                </code>
              </dd>
            </>
          )}
          <dt>{t('answer.charged')}</dt>
          <dd data-testid="answer-charged">
            {t('preview.chargeText', {
              grant: f.eps(answer.privacy.charged.grant.epsilon),
              dataset: f.eps(answer.privacy.charged.dataset.epsilon),
            })}{' '}
            · {answer.privacy.mechanism === 'laplace' ? t('query.laplace') : t('query.gaussian')}, ε{' '}
            {f.eps(answer.privacy.epsilon)}
          </dd>
          {answer.price && (
            <>
              <dt>{t('answer.price')}</dt>
              <dd data-testid="answer-price" data-amount={String(answer.price.amount)}>
                <Money fen={answer.price.amount} currency={answer.price.currency} /> ·{' '}
                <ScenarioName name={answer.price.scenario} />
                {answer.cached && <> · {t('answer.priceRepeat')}</>}
              </dd>
            </>
          )}
          {!reopened && (
            <>
              <dt>{t('answer.remaining')}</dt>
              <dd>ε {f.eps(answer.budget.remaining.epsilon)}</dd>
            </>
          )}
        </dl>

        {bucket && bins.length > 0 && (
          <div class="chart-box" data-testid="histogram">
            {aggregateCols.length > 1 && (
              <ChartColumn answer={answer} columns={aggregateCols} value={histCol} onChange={setChartCol} />
            )}
            <Histogram
              bins={bins}
              range={range}
              format={f.value}
              xTitle={answer.columns[bucket.key] ?? ''}
              yTitle={answer.columns[histCol] ?? ''}
              title={t('answer.histogramTitle', {
                column: answer.columns[histCol] ?? '',
                n: bins.length,
                lo: f.value(bins[0]!.lo),
                hi: f.value(bins[bins.length - 1]!.hi),
                top: top ? f.value(top.value!) : '—',
                range: top ? range(top.lo, top.hi) : '—',
                level,
              })}
              describe={(b, r) => describe(r, b.value, b.interval)}
            />
            <p class="small muted">{t('answer.histogramNote', { level })}</p>
          </div>
        )}

        {period && points.length > 0 && (
          <div class="chart-box" data-testid="periods">
            {aggregateCols.length > 1 && (
              <ChartColumn answer={answer} columns={aggregateCols} value={histCol} onChange={setChartCol} />
            )}
            <PeriodLine
              points={points}
              format={f.value}
              xTitle={answer.columns[period.key] ?? ''}
              yTitle={answer.columns[histCol] ?? ''}
              title={t('answer.periodsTitle', {
                column: answer.columns[histCol] ?? '',
                n: points.length,
                first: points[0]!.label,
                last: points[points.length - 1]!.label,
                level,
              })}
              describe={(p) => describe(p.label, p.value, p.interval)}
            />
            <p class="small muted">{t('answer.periodsNote', { level })}</p>
          </div>
        )}

        <table class="results" data-testid="results">
          <thead>
            <tr>
              {answer.columns.map((c, i) => (
                <th key={c} translate={false} class={aggregateCols.includes(i) ? 'num' : ''}>
                  {c}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {answer.rows.map((row, r) => (
              <tr key={r}>
                {row.map((v, i) => {
                  const iv = answer.intervals[r]?.[i] ?? null
                  return (
                    <td key={i} class={iv ? 'num' : ''}>
                      {typeof v === 'string' ? <span translate={false}>{v}</span> : text(v)}
                      {iv && (
                        <span class="interval" data-testid="interval">
                          {' '}
                          [{f.value(iv[0])}, {f.value(iv[1])}]
                        </span>
                      )}
                    </td>
                  )
                })}
              </tr>
            ))}
          </tbody>
        </table>
        <p class="small muted">{t('answer.intervalNote', { level })}</p>

        {!bucket && !period && aggregateCols.length > 0 && (
          <div class="chart-box">
            <ChartColumn answer={answer} columns={aggregateCols} value={chartCol} onChange={setChartCol} />
            <BarChart
              data={data}
              format={f.value}
              title={t('answer.chartTitle', { column: answer.columns[chartCol] ?? '', level })}
              describe={(d) => describe(d.label, d.value, d.interval)}
            />
            <p class="small muted">{t('answer.chartNote', { level })}</p>
          </div>
        )}

        <details class="receipt" data-testid="receipt" data-check={check}>
          <summary>
            {t('answer.receipt')}: <span class={`badge check-${check}`}>{t(`receipt.${check}`)}</span>
          </summary>
          <dl class="facts">
            <dt>{t('receipt.key')}</dt>
            <dd>
              <Hash value={answer.receipt.keyId} length={16} />
            </dd>
            <dt>{t('receipt.auditRecord')}</dt>
            <dd>
              <Hash value={answer.receipt.auditRecord} />
            </dd>
            <dt>{t('receipt.datasetCommitment')}</dt>
            <dd>
              <Hash value={answer.receipt.datasetCommitment} />
            </dd>
            <dt>{t('receipt.resultHash')}</dt>
            <dd>
              <Hash value={answer.receipt.resultHash} />
            </dd>
            <dt>{t('receipt.signature')}</dt>
            <dd>
              <Hash value={answer.receipt.signature} length={24} />
            </dd>
          </dl>
          <p class="small muted">{t('receipt.offline')}</p>
        </details>
      </div>
    </Section>
  )
}

export function HistoryView() {
  const { api, t, f, session } = useApp()
  const list = useLoad(() => api.get<{ answers: AnswerSummary[] }>('/v1/queries', { limit: 200 }), [])
  return (
    <div>
      <h1>{t('history.title')}</h1>
      <p class="muted">{session.role === 'operator' ? t('history.introOperator') : t('history.intro')}</p>
      <ErrorBox error={list.error} />
      {list.loading && !list.data && <Loading />}
      {list.data && list.data.answers.length === 0 && <p class="notice">{t('history.empty')}</p>}
      {list.data && list.data.answers.length > 0 && (
        <table class="history" data-testid="history">
          <thead>
            <tr>
              <th>{t('history.when')}</th>
              <th>{t('history.dataset')}</th>
              <th>{t('history.grant')}</th>
              <th class="num">{t('history.epsilon')}</th>
              <th>{t('history.answer')}</th>
            </tr>
          </thead>
          <tbody>
            {list.data.answers.map((a) => (
              <tr key={a.queryId}>
                <td>{f.date(a.createdAt)}</td>
                <td>
                  <code translate={false}>{a.dataset}</code> · {t('preview.version', { n: a.version })}
                </td>
                <td>
                  <Hash value={a.grant} length={18} />
                </td>
                <td class="num">{f.eps(a.epsilon)}</td>
                <td>
                  <a href={`#/history/${a.queryId}`} data-open={a.queryId}>
                    {t('history.open')}
                  </a>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  )
}

export function AnswerPage({ queryId }: { queryId: string }) {
  const { api, t } = useApp()
  const answer = useLoad(() => api.get<Answer>(`/v1/queries/${encodeURIComponent(queryId)}`), [queryId])
  return (
    <div>
      <p>
        <a href="#/history">← {t('history.back')}</a>
      </p>
      <ErrorBox error={answer.error} />
      {answer.loading && !answer.data && <Loading />}
      {answer.data && <AnswerView answer={answer.data} reopened />}
    </div>
  )
}
