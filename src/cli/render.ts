/**
 * How `veilbox query` and `veilbox preview` print (src/cli/query.ts): an
 * answer as an aligned table, as RFC 4180 CSV; a preview; a refusal with the
 * query line and a caret under the offending token. Pure functions of the
 * service's JSON, so the output is tested without a terminal.
 */

export type Cell = string | number | boolean | null
export interface Charge {
  readonly epsilon: number
  readonly delta: number
}

/** The mechanism and the query's own budget, as answers and previews state them. */
export interface PrivacyHead {
  readonly mechanism: string
  readonly epsilon: number
  readonly delta: number
  readonly rho?: number
}

/** The fields of an answer (the OpenAPI `Answer`) the terminal shows. */
export interface AnswerView {
  readonly queryId: string
  readonly grant: string
  readonly dataset: string
  readonly datasets?: readonly string[]
  readonly columns: readonly string[]
  readonly rows: readonly (readonly Cell[])[]
  readonly intervals: readonly (readonly (readonly [number, number] | null)[])[]
  readonly confidence: number
  readonly cached: boolean
  readonly privacy: PrivacyHead & {
    readonly perAggregate: readonly { readonly name: string }[]
    readonly charged: {
      readonly grant: Charge
      readonly dataset: Charge
      readonly datasets?: Readonly<Record<string, Charge>>
    }
  }
  readonly budget: { readonly remaining: Charge }
  readonly price?: { readonly text: string }
}

/** The fields of a preview (the OpenAPI `Preview`) the terminal shows. */
export interface PreviewView {
  readonly dataset: string
  readonly grant: string
  readonly confidence: number
  readonly cached: boolean
  readonly privacy: PrivacyHead & {
    readonly perAggregate: readonly {
      readonly name: string
      readonly aggregate: string
      readonly column: string | null
      readonly epsilon?: number
      readonly rho?: number
      readonly halfWidth: number | null
    }[]
  }
  readonly charge: { readonly grant: Charge; readonly dataset: Charge }
  readonly budget: {
    readonly remaining: Charge
    readonly remainingAfter: Charge
    readonly dataset: { readonly remaining: Charge; readonly remainingAfter: Charge }
  }
  readonly price?: { readonly text: string }
  readonly affordable: boolean
  readonly refusal?: { readonly code: string; readonly detail: string; readonly scope: string }
}

/** A problem+json refusal (docs/errors.md): the fields every one has, and those some carry. */
export interface ProblemView {
  readonly status: number
  readonly title: string
  readonly detail: string
  readonly code: string
  readonly position?: { readonly offset?: number; readonly line: number; readonly column: number }
  readonly path?: string
  readonly scope?: string
  readonly requested?: Charge
  readonly remaining?: Charge
  readonly [field: string]: unknown
}

// ---- widths ----------------------------------------------------------------

/** East Asian Wide and Fullwidth ranges (UAX #11), and the emoji blocks terminals draw two columns wide. */
const WIDE: readonly (readonly [number, number])[] = [
  [0x1100, 0x115f],
  [0x2e80, 0x303e],
  [0x3041, 0x33ff],
  [0x3400, 0x4dbf],
  [0x4e00, 0x9fff],
  [0xa000, 0xa4cf],
  [0xa960, 0xa97f],
  [0xac00, 0xd7a3],
  [0xf900, 0xfaff],
  [0xfe10, 0xfe19],
  [0xfe30, 0xfe6f],
  [0xff00, 0xff60],
  [0xffe0, 0xffe6],
  [0x1f300, 0x1f64f],
  [0x1f900, 0x1f9ff],
  [0x20000, 0x2fffd],
  [0x30000, 0x3fffd],
]

/** Columns one code point takes in a terminal: 0 for controls and combining marks, 2 for wide ones, else 1. */
export function charWidth(cp: number): number {
  if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) return 0
  if ((cp >= 0x0300 && cp <= 0x036f) || (cp >= 0x200b && cp <= 0x200f) || (cp >= 0xfe00 && cp <= 0xfe0f)) return 0
  for (const [lo, hi] of WIDE) if (cp >= lo && cp <= hi) return 2
  return 1
}

/** Columns `text` takes in a terminal (滨城区 takes 6). */
export function displayWidth(text: string): number {
  let w = 0
  for (const ch of text) w += charWidth(ch.codePointAt(0)!)
  return w
}

function pad(text: string, width: number, align: 'left' | 'right'): string {
  const fill = ' '.repeat(Math.max(0, width - displayWidth(text)))
  return align === 'left' ? text + fill : fill + text
}

/** Control characters (other than tab and newline) as \u escapes: text from the service never moves the cursor. */
export function clean(text: string): string {
  let out = ''
  for (const ch of text) {
    const c = ch.codePointAt(0)!
    const control = (c < 0x20 && c !== 0x09 && c !== 0x0a) || (c >= 0x7f && c < 0xa0)
    out += control ? `\\u${c.toString(16).padStart(4, '0')}` : ch
  }
  return out
}

// ---- numbers ---------------------------------------------------------------

/** A number for people: integers whole, others to 4 significant digits but never fewer than their integer digits. */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x) || Number.isInteger(x)) return String(x)
  const digits = Math.floor(Math.log10(Math.abs(x)))
  const decimals = Math.min(8, Math.max(0, 3 - digits))
  return String(Number(x.toFixed(decimals)))
}

function formatCell(v: Cell): string {
  if (v === null) return 'null'
  if (typeof v === 'number') return formatNumber(v)
  return oneLine(String(v))
}

/** Text for one table cell: clean, with newlines as \n and tabs as spaces. */
function oneLine(text: string): string {
  return clean(text).replaceAll('\n', '\\n').replaceAll('\t', ' ')
}

// ---- answers ---------------------------------------------------------------

/** Which columns are aggregates (they carry intervals) rather than GROUP BY keys. */
export function aggregateColumns(a: AnswerView): boolean[] {
  const names = new Set(a.privacy.perAggregate.map((p) => p.name))
  return a.columns.map((c, j) => names.has(c) || a.intervals.some((row) => row[j] != null))
}

function budgetText(c: Charge): string {
  return c.delta === 0 ? `ε ${c.epsilon}` : `ε ${c.epsilon}, δ ${c.delta}`
}

function percent(confidence: number): string {
  return `${Number((confidence * 100).toFixed(4))}%`
}

/**
 * The answer as an aligned table: GROUP BY keys, then each aggregate as
 * `value [lo, hi]` with values and bounds aligned, then what it cost and the
 * grant's remaining budget.
 */
export function renderTable(a: AnswerView): string {
  const agg = aggregateColumns(a)
  // Per column: the value, and for aggregates the two bounds, each aligned on its own.
  const parts = a.rows.map((row, i) =>
    a.columns.map((_, j) => {
      const v = row[j] ?? null
      const iv = a.intervals[i]?.[j] ?? null
      return {
        v: formatCell(v),
        lo: iv ? formatNumber(iv[0]) : '',
        hi: iv ? formatNumber(iv[1]) : '',
        num: typeof v === 'number' || v === null,
      }
    }),
  )
  const widths = a.columns.map((_, j) => {
    const col = parts.map((r) => r[j]!)
    return {
      v: Math.max(0, ...col.map((c) => displayWidth(c.v))),
      lo: Math.max(0, ...col.map((c) => displayWidth(c.lo))),
      hi: Math.max(0, ...col.map((c) => displayWidth(c.hi))),
    }
  })
  const cellText = (j: number, c: (typeof parts)[number][number]): string => {
    const w = widths[j]!
    if (!agg[j] || w.lo === 0) return pad(c.v, w.v, c.num ? 'right' : 'left')
    const interval =
      c.lo === '' ? ' '.repeat(w.lo + w.hi + 4) : `[${pad(c.lo, w.lo, 'right')}, ${pad(c.hi, w.hi, 'right')}]`
    return `${pad(c.v, w.v, 'right')} ${interval}`
  }
  const body = parts.map((r) => r.map((c, j) => cellText(j, c)))
  const headers = a.columns.map(oneLine)
  const colWidth = headers.map((h, j) => Math.max(displayWidth(h), ...body.map((r) => displayWidth(r[j]!))))
  const line = (cells: readonly string[], aligns: readonly ('left' | 'right')[]) =>
    cells
      .map((c, j) => pad(c, colWidth[j]!, aligns[j]!))
      .join('  ')
      .trimEnd()
  const headAlign = a.columns.map((_, j): 'left' | 'right' => (agg[j] ? 'right' : 'left'))
  const cellAlign = a.columns.map((): 'left' | 'right' => 'left')
  const out = [line(headers, headAlign), colWidth.map((w) => '─'.repeat(w)).join('  ')]
  for (const r of body) out.push(line(r, cellAlign))
  out.push('')
  out.push(...answerFooter(a))
  return `${out.join('\n')}\n`
}

/** What the answer cost and what is left, under the table. */
export function answerFooter(a: AnswerView): string[] {
  const n = a.rows.length
  const lines = [
    `${n} row${n === 1 ? '' : 's'}, ${percent(a.confidence)} intervals, ${a.privacy.mechanism}${a.cached ? ', the stored answer (cached)' : ''} · query ${a.queryId}`,
  ]
  const c = a.privacy.charged
  if (a.cached) lines.push('charged   nothing: a repeat of a released answer is free')
  else {
    const datasets = c.datasets
      ? Object.entries(c.datasets).map(([d, ch]) => `${budgetText(ch)} to dataset ${d}`)
      : [`${budgetText(c.dataset)} to dataset ${a.dataset}`]
    lines.push(`charged   ${budgetText(c.grant)} to grant ${a.grant}; ${datasets.join('; ')}`)
  }
  if (a.price) lines.push(`price     ${clean(a.price.text)}`)
  lines.push(`remaining ${budgetText(a.budget.remaining)} in grant ${a.grant}`)
  return lines
}

/** RFC 4180 field: quoted when it holds a comma, a quote, CR or LF, or leading or trailing space; quotes doubled. */
export function csvField(v: Cell): string {
  if (v === null) return ''
  const s = String(v)
  return /[",\r\n]|^\s|\s$/.test(s) ? `"${s.replaceAll('"', '""')}"` : s
}

/** The answer as CSV (CRLF line ends): each aggregate followed by `<name>_lo` and `<name>_hi`; null is an empty field. */
export function renderCsv(a: AnswerView): string {
  const agg = aggregateColumns(a)
  const header = a.columns.flatMap((c, j) => (agg[j] ? [c, `${c}_lo`, `${c}_hi`] : [c]))
  const lines = [header.map(csvField).join(',')]
  a.rows.forEach((row, i) => {
    const cells = a.columns.flatMap((_, j): Cell[] => {
      const v = row[j] ?? null
      if (!agg[j]) return [v]
      const iv = a.intervals[i]?.[j] ?? null
      return [v, iv ? iv[0] : null, iv ? iv[1] : null]
    })
    lines.push(cells.map(csvField).join(','))
  })
  return `${lines.join('\r\n')}\r\n`
}

// ---- previews --------------------------------------------------------------

/** A preview: the charge, each aggregate's part and expected error (± half-width), the budget now and after. */
export function renderPreview(p: PreviewView): string {
  const rows = p.privacy.perAggregate.map((a) => [
    oneLine(a.name),
    a.epsilon !== undefined ? `ε ${a.epsilon}` : a.rho !== undefined ? `ρ ${a.rho}` : '',
    a.halfWidth === null ? 'depends on the data' : `± ${formatNumber(a.halfWidth)}`,
  ])
  const head = ['aggregate', 'part', `expected error (${percent(p.confidence)})`]
  const w = head.map((h, j) => Math.max(displayWidth(h), ...rows.map((r) => displayWidth(r[j]!))))
  const line = (cells: readonly string[]) =>
    cells
      .map((c, j) => pad(c, w[j]!, j === 0 ? 'left' : 'right'))
      .join('  ')
      .trimEnd()
  const out = [line(head), w.map((n) => '─'.repeat(n)).join('  '), ...rows.map(line), '']
  const rho = p.privacy.rho === undefined ? '' : `, ρ ${p.privacy.rho}`
  out.push(`${p.privacy.mechanism}, ε ${p.privacy.epsilon}${p.privacy.delta ? `, δ ${p.privacy.delta}` : ''}${rho}`)
  if (p.cached) out.push('would charge nothing: the same query was answered before, and a repeat is free')
  else
    out.push(
      `would charge ${budgetText(p.charge.grant)} to grant ${p.grant}; ${budgetText(p.charge.dataset)} to dataset ${p.dataset}`,
    )
  if (p.price) out.push(`price     ${clean(p.price.text)}`)
  out.push(
    `remaining ${budgetText(p.budget.remaining)} in grant ${p.grant}, ${budgetText(p.budget.remainingAfter)} after`,
  )
  out.push(
    `          ${budgetText(p.budget.dataset.remaining)} in dataset ${p.dataset}, ${budgetText(p.budget.dataset.remainingAfter)} after`,
  )
  if (!p.affordable && p.refusal)
    out.push(`would be refused: ${clean(p.refusal.detail)} (${p.refusal.code}, ${p.refusal.scope})`)
  return `${out.join('\n')}\n`
}

// ---- refusals --------------------------------------------------------------

const TAB = '    '

/** The length in code points of the token at `rest`'s start: a word, a quoted string or name, or one character. */
function tokenLength(rest: string): number {
  const chars = [...rest]
  if (chars.length === 0) return 0
  const first = chars[0]!
  if (first === "'" || first === '"') {
    for (let i = 1; i < chars.length; i++) if (chars[i] === first) return i + 1
    return chars.length
  }
  if (!/[\p{L}\p{N}_]/u.test(first)) return 1
  let i = 1
  while (i < chars.length && /[\p{L}\p{N}_]/u.test(chars[i]!)) i++
  return i
}

/**
 * The line of `sql` a position names, and under it carets under the token
 * there, aligned by display width (a Chinese literal before it counts two
 * columns a character). `column` counts code points from 1, as the service
 * reports it; tabs print as four spaces.
 */
export function caret(sql: string, position: { line: number; column: number }): [string, string] | null {
  const lines = sql.split(/\r\n|\n|\r/)
  const text = lines[position.line - 1]
  if (text === undefined) return null
  const chars = [...text]
  const col = Math.min(Math.max(position.column - 1, 0), chars.length)
  const shown = (s: string) => clean(s.replaceAll('\t', TAB))
  const before = displayWidth(shown(chars.slice(0, col).join('')))
  const token = chars.slice(col, col + tokenLength(chars.slice(col).join(''))).join('')
  const marks = Math.max(1, displayWidth(shown(token)))
  return [shown(text), `${' '.repeat(before)}${'^'.repeat(marks)}`]
}

/** A refusal for people: title, detail and code, the budget figures a budget refusal carries, the caret. */
export function renderRefusal(p: ProblemView, sql: string | undefined): string {
  const out = [`refused: ${clean(p.title)} (${clean(p.code)}, HTTP ${p.status})`, clean(p.detail)]
  if (p.requested && p.remaining)
    out.push(
      `requested ${budgetText(p.requested)}, remaining ${budgetText(p.remaining)}${p.scope ? ` (${clean(p.scope)})` : ''}`,
    )
  if (p.position && sql !== undefined) {
    const c = caret(sql, p.position)
    if (c) {
      const label = `line ${p.position.line}, column ${p.position.column}: `
      out.push('', `  ${label}${c[0]}`, `  ${' '.repeat(displayWidth(label))}${c[1]}`)
    }
  }
  return `${out.join('\n')}\n`
}
