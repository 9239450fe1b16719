import fs from 'node:fs'
import t from 'tap'
import { ERROR_CODES } from '../../src/errors/index.js'

const doc = fs.readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8')
const rows = [...doc.matchAll(/^\|\s*`(VEILBOX_ERR_[A-Z0-9_]+)`\s*\|\s*(\d{3})\s*\|\s*(.+?)\s*\|\s*$/gm)].map((m) => ({
  code: m[1]!,
  status: Number(m[2]),
  text: m[3]!,
}))

t.test('every registered code is documented in docs/errors.md with its status', async (t) => {
  const documented = new Map(rows.map((r) => [r.code, r]))
  for (const [code, def] of Object.entries(ERROR_CODES)) {
    const row = documented.get(code)
    t.ok(row, `${code} is documented`)
    if (row) t.equal(row.status, def.status, `${code} has status ${def.status} in the docs`)
  }
})

t.test('docs/errors.md names no code that does not exist, and none twice', async (t) => {
  const seen = new Set<string>()
  for (const r of rows) {
    t.ok(r.code in ERROR_CODES, `${r.code} exists in src/errors/codes.ts`)
    t.notOk(seen.has(r.code), `${r.code} is listed once`)
    seen.add(r.code)
    t.ok(r.text.length > 10, `${r.code} says when and what to do`)
  }
  const mentioned = new Set(doc.match(/VEILBOX_ERR_[A-Z0-9_]+/g) ?? [])
  for (const m of mentioned) t.ok(m in ERROR_CODES, `${m} mentioned in the docs exists`)
})

t.test('codes follow VEILBOX_ERR_<AREA>_<WHAT> and map to 4xx/5xx statuses', async (t) => {
  for (const [code, def] of Object.entries(ERROR_CODES)) {
    // VEILBOX_ERR_INTERNAL is the one code without a WHAT: it means "not the caller's fault".
    if (code !== 'VEILBOX_ERR_INTERNAL') t.match(code, /^VEILBOX_ERR_[A-Z]+_[A-Z0-9_]+$/)
    t.ok(def.status >= 400 && def.status < 600, `${code} status ${def.status}`)
    t.ok(def.title.length > 0)
  }
})
