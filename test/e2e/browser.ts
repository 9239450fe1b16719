import fs from 'node:fs'
import path from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import { ROOT } from '../../benchmarks/lib.js'

/**
 * Headless Chromium for the console's end-to-end tests: Debian's `chromium`
 * package driven by playwright-core (no browser download: the machines reach
 * no CDN). `.ci/run` installs the package when it is missing.
 */

export const CHROMIUM = process.env.VEILBOX_CHROMIUM ?? '/usr/bin/chromium'

/**
 * Without the background-networking flags Chromium keeps trying to reach
 * Google's services, and on a closed network those attempts stall start-up.
 * Playwright gives every launch a fresh temporary profile (--user-data-dir)
 * of its own, so no state leaks between runs.
 */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

export async function launch(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(
      `no Chromium at ${CHROMIUM}: install it with \`apt-get install -y chromium\` (or set VEILBOX_CHROMIUM)`,
    )
  }
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true, timeout: 60_000 })
}

/** Screenshots go to an ignored folder by default; `npm run docs:screenshots` writes the ones docs/console.md shows. */
export const SHOT_DIR = path.resolve(ROOT, process.env.VEILBOX_SCREENSHOTS ?? path.join('dist', 'e2e-screenshots'))

export async function shot(page: Page, name: string, fullPage = true): Promise<string> {
  fs.mkdirSync(SHOT_DIR, { recursive: true })
  const file = path.join(SHOT_DIR, `${name}.png`)
  await page.screenshot({ path: file, fullPage })
  return file
}

/**
 * Problems the page reports: script errors, failed loads and Content
 * Security Policy refusals (Chromium logs those as console errors). The
 * console must run under its CSP without a single refusal.
 */
export function watch(page: Page): string[] {
  const problems: string[] = []
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`))
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return
    const text = msg.text()
    // A refused API call is logged by Chromium as "Failed to load resource: ... 4xx"; the console shows those itself.
    if (/Failed to load resource: the server responded with a status of 4\d\d/.test(text)) return
    problems.push(`console: ${text}`)
  })
  return problems
}

/**
 * Latin words a Chinese screen may show: names a user types or reads in
 * other tools (SQL keywords, file formats, the product and its commands),
 * and the name of the other language on the language switch. Anything else
 * in Latin letters outside an element marked translate="no" (data values,
 * identifiers, hashes, the server's own detail) is an untranslated label.
 */
export const LATIN_ALLOWED = new Set([
  'veilbox',
  'vbx',
  'SQL',
  'CSV',
  'JSON',
  'NDJSON',
  'API',
  'SHA',
  'HTTP',
  'zCDP',
  'docs',
  'datasets',
  'md',
  'query',
  'language',
  'SELECT',
  'FROM',
  'WHERE',
  'GROUP',
  'BY',
  'ORDER',
  'AS',
  'IN',
  'JOIN',
  'TRUE',
  'FALSE',
  'COUNT',
  'SUM',
  'AVG',
  'VAR',
  'STDDEV',
  'MEDIAN',
  'QUANTILE',
  'receipt',
  'verify',
  'custodian',
  'npm',
  'rebuild',
  'constructor',
  'proto',
])

/** Runs in the page: every Latin word in visible text and labelling attributes outside translate="no". */
export async function untranslated(page: Page, allowed: ReadonlySet<string> = LATIN_ALLOWED): Promise<string[]> {
  // Browser code as text: this project's type check has no DOM library, and this runs only in the page.
  const found = await page.evaluate<string[]>(`(() => {
    const out = []
    const raw = (el) => el != null && el.closest('[translate="no"], script, style, noscript') != null
    const words = (text, where) => {
      for (const m of text.matchAll(/[A-Za-z]{2,}(?:_[A-Za-z]+)*/g)) out.push(m[0] + '\\t' + where + ': ' + text.trim().slice(0, 80))
    }
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT)
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      if (!raw(n.parentElement) && n.textContent) words(n.textContent, '<' + (n.parentElement ? n.parentElement.tagName.toLowerCase() : '?') + '>')
    }
    for (const el of document.body.querySelectorAll('[placeholder], [title], [aria-label]')) {
      if (raw(el)) continue
      for (const attr of ['placeholder', 'title', 'aria-label']) {
        const v = el.getAttribute(attr)
        if (v) words(v, el.tagName.toLowerCase() + '[' + attr + ']')
      }
    }
    words(document.title, 'title')
    return out
  })()`)
  return found.filter((line) => !allowed.has(line.split('\t')[0]!))
}
