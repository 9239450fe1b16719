/**
 * Money in the console: the API counts integer fen (docs/market.md) and the
 * console never turns an amount into a float. Yuan are written and read with
 * integer and string arithmetic only, so 0.1 + 0.2 never shows up as a price.
 */

/** Digits grouped by threes, as both of the console's locales write them. */
function group(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',')
}

/** An integer amount of fen as yuan with exactly two decimals: 123456 -> "1,234.56", -5 -> "-0.05". */
export function yuan(fen: number): string {
  if (!Number.isSafeInteger(fen)) return String(fen)
  const sign = fen < 0 ? '-' : ''
  const abs = Math.abs(fen)
  const whole = Math.trunc(abs / 100)
  const cents = abs % 100
  return `${sign}${group(String(whole))}.${String(cents).padStart(2, '0')}`
}

/**
 * Yuan as typed by a person ("12", "12.3", "12.34", "1,200.50") to integer
 * fen; null when it is not an amount of at most two decimals.
 */
export function parseYuan(text: string): number | null {
  const m = /^\s*(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{0,2}))?\s*$/.exec(text)
  if (!m) return null
  const whole = Number(m[1]!.replace(/,/g, ''))
  const cents = Number((m[2] ?? '').padEnd(2, '0'))
  const fen = whole * 100 + cents
  return Number.isSafeInteger(fen) ? fen : null
}

/** Fen back to what parseYuan reads, for an input's starting value ("" for none). */
export function yuanInput(fen: number | null | undefined): string {
  if (fen === null || fen === undefined) return ''
  return yuan(fen).replace(/,/g, '')
}

/** Basis points as a percentage with integer arithmetic: 1000 -> "10", 125 -> "1.25". */
export function bpsPercent(bps: number): string {
  const whole = Math.trunc(bps / 100)
  const rest = Math.abs(bps % 100)
  return rest === 0 ? String(whole) : `${whole}.${String(rest).padStart(2, '0').replace(/0$/, '')}`
}
