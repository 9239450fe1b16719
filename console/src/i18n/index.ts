import { en, type MessageKey } from './en.js'
import { errorsEn, type ErrorText } from './errors-en.js'
import { errorsZh } from './errors-zh.js'
import { zh } from './zh.js'

/**
 * Two languages, one key set: zh is typed as Record<MessageKey, string>, so a
 * label missing in Chinese does not compile, and the end-to-end test also
 * scans the rendered Chinese screens for English left over.
 */
export type Lang = 'en' | 'zh'
export const LANGS: readonly Lang[] = ['en', 'zh']

const dictionaries: Record<Lang, Record<MessageKey, string>> = { en, zh }
const errorDictionaries: Record<Lang, Record<string, ErrorText>> = { en: errorsEn, zh: errorsZh }

/** BCP 47 tags for Intl: Chinese as written in mainland China (the bureau's users). */
export const LOCALES: Record<Lang, string> = { en: 'en-GB', zh: 'zh-CN' }

export type Params = Record<string, string | number>
export type Translate = (key: MessageKey, params?: Params) => string

export function translator(lang: Lang): Translate {
  const dict = dictionaries[lang]
  return (key, params) => {
    const text = dict[key] ?? en[key] ?? key
    return params ? text.replace(/\{(\w+)\}/g, (m, name: string) => (name in params ? String(params[name]) : m)) : text
  }
}

export function errorText(lang: Lang, code: string): ErrorText | undefined {
  return errorDictionaries[lang][code]
}

export interface Formatter {
  /** A number with up to `digits` fraction digits. */
  num(n: number, digits?: number): string
  /** An epsilon or delta: up to 6 significant fraction digits, as the ledgers keep micro-units. */
  eps(n: number): string
  /** A released value: precision chosen from its size, so 93,719 and 0.0312 both read well. */
  value(n: number): string
  /** A share 0..1 as a percentage. */
  pct(share: number): string
  bytes(n: number): string
  date(iso: string): string
  day(iso: string): string
  /** Date and time, short: for chart axes. */
  short(iso: string): string
  /** A relative time for expiries: "in 3 days". */
  relative(iso: string, now?: number): string
}

export function formatter(lang: Lang): Formatter {
  const locale = LOCALES[lang]
  const cache = new Map<string, Intl.NumberFormat>()
  const nf = (opts: Intl.NumberFormatOptions) => {
    const k = JSON.stringify(opts)
    let f = cache.get(k)
    if (!f) {
      f = new Intl.NumberFormat(locale, opts)
      cache.set(k, f)
    }
    return f
  }
  const dtf = new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'medium' })
  const df = new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeZone: 'UTC' })
  const sf = new Intl.DateTimeFormat(locale, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' })
  const rtf = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' })
  return {
    num: (n, digits = 2) => nf({ maximumFractionDigits: digits }).format(n),
    eps: (n) =>
      n !== 0 && Math.abs(n) < 1e-4
        ? nf({ maximumSignificantDigits: 3, notation: 'scientific' }).format(n)
        : nf({ maximumFractionDigits: 6 }).format(n),
    value: (n) => {
      const a = Math.abs(n)
      if (a >= 1000) return nf({ maximumFractionDigits: 0 }).format(n)
      if (a >= 1) return nf({ maximumFractionDigits: 2 }).format(n)
      if (a === 0) return nf({}).format(0)
      return nf({ maximumSignificantDigits: 3 }).format(n)
    },
    pct: (share) => nf({ style: 'percent', maximumFractionDigits: 1 }).format(share),
    bytes: (n) => {
      const units = ['byte', 'kilobyte', 'megabyte', 'gigabyte'] as const
      let i = 0
      let v = n
      while (v >= 1024 && i < units.length - 1) {
        v /= 1024
        i++
      }
      return nf({
        style: 'unit',
        unit: units[i]!,
        unitDisplay: 'short',
        maximumFractionDigits: i === 0 ? 0 : 1,
      }).format(v)
    },
    date: (iso) => dtf.format(new Date(iso)),
    // Usage days are UTC days (the server groups by UTC day).
    day: (iso) => df.format(new Date(iso.length === 10 ? `${iso}T00:00:00Z` : iso)),
    short: (iso) => sf.format(new Date(iso)),
    relative: (iso, now = Date.now()) => {
      const s = (Date.parse(iso) - now) / 1000
      const a = Math.abs(s)
      if (a < 60) return rtf.format(Math.round(s), 'second')
      if (a < 3600) return rtf.format(Math.round(s / 60), 'minute')
      if (a < 86400) return rtf.format(Math.round(s / 3600), 'hour')
      if (a < 86400 * 60) return rtf.format(Math.round(s / 86400), 'day')
      if (a < 86400 * 730) return rtf.format(Math.round(s / (86400 * 30)), 'month')
      return rtf.format(Math.round(s / (86400 * 365)), 'year')
    },
  }
}

export function initialLang(): Lang {
  try {
    const saved = localStorage.getItem('veilbox.console.lang')
    if (saved === 'en' || saved === 'zh') return saved
  } catch {
    // storage blocked: fall through to the browser's language
  }
  return navigator.language.toLowerCase().startsWith('zh') ? 'zh' : 'en'
}

export function saveLang(lang: Lang): void {
  try {
    localStorage.setItem('veilbox.console.lang', lang)
  } catch {
    // not kept across reloads then; the switch still works
  }
}

export type { MessageKey }
