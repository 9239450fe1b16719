/** Helpers for report tests: what a report shows as numbers, and what the answer holds. */

function leaves(value: unknown, strings: string[], numbers: number[]): void {
  if (typeof value === 'string') strings.push(value)
  else if (typeof value === 'number') numbers.push(value)
  else if (Array.isArray(value)) for (const v of value) leaves(v, strings, numbers)
  else if (value !== null && typeof value === 'object')
    for (const v of Object.values(value)) leaves(v, strings, numbers)
}

const ENTITIES: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'" }

/** The report's visible text: no style, no tags, entities decoded, without the receipt hash (derived, not a number). */
export function visibleText(html: string): string {
  return html
    .replace(/<style>[\s\S]*?<\/style>/g, ' ')
    .replace(/<p class="hash" id="receipt-hash">[0-9a-f]{64}<\/p>/, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&(amp|lt|gt|quot|#39);/g, (e) => ENTITIES[e] ?? e)
}

/**
 * Every numeric token of the report's text that is not part of a text the answer holds (ids, dates, names,
 * category values), each with whether the answer holds it: a number as the answer writes it (a value, or a
 * literal of its SQL), or a percentage of one (the confidence level).
 */
export function reportNumbers(html: string, answer: unknown): { token: string; inAnswer: boolean }[] {
  const strings: string[] = []
  const numbers: number[] = []
  leaves(answer, strings, numbers)
  let text = visibleText(html)
  for (const s of [...new Set(strings)].filter((s) => s.length > 1).sort((a, b) => b.length - a.length))
    text = text.replaceAll(s, ' ')
  // A literal of the answer's SQL, which the question in words quotes.
  const sql = typeof answer === 'object' && answer !== null && 'sql' in answer ? answer.sql : null
  if (typeof sql === 'string') for (const n of sql.match(/\d+(\.\d+)?/g) ?? []) numbers.push(Number(n))
  const tokens = text.match(/-?\d+(\.\d+)?(e[-+]?\d+)?%?/g) ?? []
  return tokens.map((token) => {
    const pct = token.endsWith('%')
    const n = Number(pct ? token.slice(0, -1) : token)
    const inAnswer = numbers.some((v) => (pct ? Math.abs(v * 100 - n) < 1e-9 : v === n))
    return { token, inAnswer }
  })
}
