import { createHash } from 'node:crypto'
import { z } from 'zod'
import { canonicalJson } from '../../store/audit.js'
import { WORDS, type ReportLang } from './words.js'

/**
 * A release report (issue 24, point 7): one released answer in plain words,
 * as one self-contained HTML page (inline style, no script, no external
 * asset) that prints to PDF from the browser. Its numbers are the stored
 * answer's, written as the answer writes them, and nothing else; every text
 * that comes from the answer or the grant (category values, purpose) is
 * escaped.
 */

const cell = z.union([z.string(), z.number(), z.boolean(), z.null()])

/** What a report reads of a stored answer (its JSON as served by GET /v1/queries/{id}). */
export const reportAnswerSchema = z.looseObject({
  queryId: z.string(),
  grant: z.string(),
  dataset: z.string(),
  version: z.number(),
  sql: z.string().nullable(),
  columns: z.array(z.string()),
  rows: z.array(z.array(cell)),
  intervals: z.array(z.array(z.tuple([z.number(), z.number()]).nullable())),
  confidence: z.number(),
  privacy: z.looseObject({
    mechanism: z.string(),
    epsilon: z.number(),
    delta: z.number(),
    perAggregate: z.array(z.looseObject({ name: z.string(), aggregate: z.string(), column: z.string().nullable() })),
  }),
  createdAt: z.string(),
  receipt: z.record(z.string(), z.unknown()),
})

export type ReportAnswer = z.infer<typeof reportAnswerSchema>

export interface ReportGrant {
  readonly purpose: string
  readonly scenario: string
  readonly organization: string | null
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c)
}

/** sha256 of the canonical JSON of the receipt's signed fields: the digest its release record carries (engine/receipts.ts). */
export function receiptHash(receipt: Record<string, unknown>): string {
  const body = Object.fromEntries(Object.entries(receipt).filter(([k]) => k !== 'signature'))
  return createHash('sha256').update(canonicalJson(body)).digest('hex')
}

/** The WHERE condition of the query as written, or null (the words around it say what it selects). */
function whereOf(sql: string | null): string | null {
  if (sql === null) return null
  const m = /\bwhere\b([\s\S]*?)(?=\bgroup\s+by\b|\border\s+by\b|\blimit\b|\bhaving\b|;|$)/i.exec(sql)
  const text = m?.[1]?.trim() ?? ''
  return text === '' ? null : text
}

function cellHtml(v: z.infer<typeof cell>): string {
  if (v === null) return '<td class="null">—</td>'
  if (typeof v === 'number') return `<td class="num">${escapeHtml(String(v))}</td>`
  return `<td>${escapeHtml(String(v))}</td>`
}

/** A percentage for people: 0.95 -> "95%" (12 significant digits, so no binary tail shows). */
function percent(p: number): string {
  return `${Number((p * 100).toPrecision(12))}%`
}

const STYLE = `
body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC","PingFang SC",sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a;line-height:1.5}
h1{font-size:1.6rem;border-bottom:2px solid #333;padding-bottom:.3rem}
h2{font-size:1.15rem;margin-top:1.6rem}
table{border-collapse:collapse;margin:.5rem 0}
th,td{border:1px solid #999;padding:.25rem .6rem;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.null{color:#777}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}
dt{font-weight:600}
code,.hash{font-family:ui-monospace,Menlo,Consolas,monospace;word-break:break-all}
.note{color:#555;font-size:.9rem}
@media print{body{margin:0;max-width:none;font-size:11pt}.note.print{display:none}h2{break-after:avoid}table{break-inside:avoid}}
`

/** The report page. */
export function reportHtml(answer: ReportAnswer, grant: ReportGrant, lang: ReportLang): string {
  const w = WORDS[lang]
  const aggregateNames = new Set(answer.privacy.perAggregate.map((a) => a.name))
  const groups = answer.columns.filter((c) => !aggregateNames.has(c))
  const aggs = answer.privacy.perAggregate.map((a) => escapeHtml(w.aggregate(a.aggregate, a.column)))
  const where = whereOf(answer.sql)
  const sentence = w.sentence(aggs, groups.map(escapeHtml), where === null ? null : `<code>${escapeHtml(where)}</code>`)
  const head = answer.columns
    .map((c, i) => {
      const interval = answer.intervals.some((r) => r[i] !== null && r[i] !== undefined)
      return `<th>${escapeHtml(c)}</th>${interval ? `<th>${escapeHtml(`${c} ${w.interval}`)}</th>` : ''}`
    })
    .join('')
  const body = answer.rows
    .map((row, r) => {
      const cells = row.map((v, i) => {
        const hasInterval = answer.intervals.some((x) => x[i] !== null && x[i] !== undefined)
        if (!hasInterval) return cellHtml(v)
        const iv = answer.intervals[r]?.[i]
        const ivText = iv === null || iv === undefined ? '' : `[${iv[0]}, ${iv[1]}]`
        return `${cellHtml(v)}<td class="num">${escapeHtml(ivText)}</td>`
      })
      return `<tr>${cells.join('')}</tr>`
    })
    .join('\n')
  const field = (label: string, value: string) => `<dt>${escapeHtml(label)}</dt><dd>${value}</dd>`
  return `<!doctype html>
<html lang="${lang === 'zh' ? 'zh-CN' : 'en'}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(`${w.title}: ${answer.queryId}`)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${escapeHtml(w.title)}</h1>
<p class="note print">${escapeHtml(w.print)}</p>
<dl>
${field(w.purpose, escapeHtml(grant.purpose))}
${field(w.grant, `<code>${escapeHtml(answer.grant)}</code>`)}
${field(w.scenario, escapeHtml(grant.scenario))}
${field(w.organization, escapeHtml(grant.organization ?? w.none))}
${field(w.dataset, `<code>${escapeHtml(answer.dataset)}</code> v${escapeHtml(String(answer.version))}`)}
${field(w.queryId, `<code>${escapeHtml(answer.queryId)}</code>`)}
${field(w.released, `<time>${escapeHtml(answer.createdAt)}</time>`)}
</dl>
<h2>${escapeHtml(w.question)}</h2>
<p class="question">${sentence}</p>
${answer.sql === null ? '' : `<p class="note">${escapeHtml(w.asWritten)}: <code class="sql">${escapeHtml(answer.sql)}</code></p>`}
<h2>${escapeHtml(w.numbers)}</h2>
<table>
<thead><tr>${head}</tr></thead>
<tbody>
${body}
</tbody>
</table>
<h2>${escapeHtml(w.noise)}</h2>
<p>${escapeHtml(w.noiseText(answer.privacy.mechanism, percent(answer.confidence)))}</p>
<h2>${escapeHtml(w.privacy)}</h2>
<dl>
${field(w.epsilon, escapeHtml(String(answer.privacy.epsilon)))}
${field(w.delta, escapeHtml(String(answer.privacy.delta)))}
</dl>
<h2>${escapeHtml(w.receipt)}</h2>
<p class="hash" id="receipt-hash">${escapeHtml(receiptHash(answer.receipt))}</p>
<p class="note">${escapeHtml(w.receiptText)}</p>
</body>
</html>
`
}

/** The report's own policy: nothing but its inline style; no script, no fetch, no frame, no form. */
export const REPORT_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
