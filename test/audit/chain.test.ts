import t from 'tap'
import { appendAudit, auditHead, verifyChain, type AuditEvent } from '../../src/store/audit.js'
import { immediate, openDb, type Db } from '../../src/store/db.js'
import { mulberry32 } from '../../src/engine/mulberry32.js'
import { tempDir } from '../helpers/app.js'

/** Seeded, for choosing edits (not privacy randomness). */
const rng = mulberry32

function chain(t: Parameters<typeof tempDir>[0], n: number): Db {
  const db = openDb(tempDir(t))
  t.teardown(() => db.close())
  for (let i = 0; i < n; i++) {
    const event: AuditEvent = {
      actor: { principal: `user${i % 3}`, role: i % 2 ? 'analyst' : 'operator' },
      action: i % 4 === 0 ? 'query.release' : 'grant.create',
      outcome: 'ok',
      dataset: 'ds',
      version: 1 + (i % 2),
      grant: `g_${i}`,
      purpose: 'purpose',
      queryHash: i % 4 === 0 ? 'ab'.repeat(32) : null,
      charged: i % 4 === 0 ? { epsilon: '0.1', delta: '0' } : null,
      detail: { i },
    }
    immediate(db, () => appendAudit(db, event))
  }
  return db
}

const FIELDS = ['time', 'actor', 'role', 'action', 'dataset', 'version', 'grant_id', 'purpose', 'query_hash', 'charged_epsilon', 'charged_delta', 'outcome', 'detail', 'prev_hash', 'hash'] as const

t.test('an untouched chain verifies, with its head', async (t) => {
  const db = chain(t, 30)
  const head = auditHead(db)!
  t.same(verifyChain(db), { ok: true, records: 30, head })
  t.same(verifyChain(db, head.hash), { ok: true, records: 30, head })
})

t.test('changing any single field of any record is detected at that record (property test)', async (t) => {
  const db = chain(t, 40)
  const pick = rng(7)
  for (let trial = 0; trial < 200; trial++) {
    const seq = 1 + Math.floor(pick() * 40)
    const field = FIELDS[Math.floor(pick() * FIELDS.length)]!
    const row = db.prepare('SELECT * FROM audit_log WHERE seq = ?').get(seq) as Record<string, unknown>
    const old = row[field]
    const changed =
      field === 'version' ? (old === null ? 5 : Number(old) + 1) : field === 'detail' ? '{"i":-1}' : old === null ? 'x' : `${String(old)}x`
    db.prepare(`UPDATE audit_log SET ${field} = ? WHERE seq = ?`).run(changed, seq)
    const result = verifyChain(db)
    t.equal(result.ok, false, `${field} of ${seq} changed: detected`)
    if (!result.ok) t.equal(result.badSeq, seq, `${field} of ${seq}: names seq ${seq}`)
    db.prepare(`UPDATE audit_log SET ${field} = ? WHERE seq = ?`).run(old, seq)
  }
  t.ok(verifyChain(db).ok, 'restored')
  // An edit that keeps the meaning but not the bytes is an edit too.
  db.prepare("UPDATE audit_log SET detail = '{ \"i\": 3 }' WHERE seq = 4").run()
  const r = verifyChain(db)
  t.equal(r.ok, false)
  if (!r.ok) t.equal(r.badSeq, 4)
  db.prepare("UPDATE audit_log SET detail = 'not json' WHERE seq = 4").run()
  t.match(verifyChain(db), { ok: false, badSeq: 4 })
})

t.test('deleting or swapping records is detected at the first bad seq', async (t) => {
  const db = chain(t, 20)
  const pick = rng(11)
  const all = () => db.prepare('SELECT * FROM audit_log ORDER BY seq').all() as Record<string, unknown>[]
  const snapshot = all()
  const restore = () => {
    db.prepare('DELETE FROM audit_log').run()
    const cols = Object.keys(snapshot[0]!)
    const ins = db.prepare(`INSERT INTO audit_log (${cols.join(',')}) VALUES (${cols.map((c) => '@' + c).join(',')})`)
    for (const r of snapshot) ins.run(r)
  }
  const head = auditHead(db)!
  for (let trial = 0; trial < 40; trial++) {
    const a = 1 + Math.floor(pick() * 20)
    db.prepare('DELETE FROM audit_log WHERE seq = ?').run(a)
    const r = verifyChain(db, head.hash)
    t.equal(r.ok, false, `delete ${a}`)
    if (!r.ok) t.equal(r.badSeq, a, `delete ${a}: names ${a}`)
    restore()
    let b = 1 + Math.floor(pick() * 20)
    if (b === a) b = (a % 20) + 1
    const [lo, hi] = a < b ? [a, b] : [b, a]
    // Swap two records' contents, keeping their seq numbers.
    const rowLo = snapshot[lo - 1]!
    const rowHi = snapshot[hi - 1]!
    const cols = FIELDS.map((f) => `${f} = @${f}`).join(', ')
    db.prepare(`UPDATE audit_log SET ${cols} WHERE seq = @seq`).run({ ...rowHi, seq: lo })
    db.prepare(`UPDATE audit_log SET ${cols} WHERE seq = @seq`).run({ ...rowLo, seq: hi })
    const s = verifyChain(db)
    t.equal(s.ok, false, `swap ${lo} and ${hi}`)
    if (!s.ok) t.equal(s.badSeq, lo, `swap ${lo} and ${hi}: names ${lo}`)
    restore()
  }
  t.ok(verifyChain(db, head.hash).ok)
})

t.test('a chain cut back to an earlier length is detected against a published head', async (t) => {
  const db = chain(t, 25)
  const head = auditHead(db)!
  db.prepare('DELETE FROM audit_log WHERE seq > 20').run()
  t.ok(verifyChain(db).ok, 'without the head, a shorter chain is self-consistent')
  const r = verifyChain(db, head.hash)
  t.equal(r.ok, false)
  if (!r.ok) {
    t.equal(r.badSeq, 21)
    t.match(r.problem, /published head is not in the chain/)
  }
})

t.test('a failure between a change and its audit record leaves neither', async (t) => {
  const db = chain(t, 3)
  const before = auditHead(db)!
  t.throws(() =>
    immediate(db, () => {
      db.prepare("INSERT INTO datasets (id, spec, created_at, created_by) VALUES ('x', '{}', 'now', 'me')").run()
      appendAudit(db, { actor: { principal: 'me', role: 'operator' }, action: 'dataset.create', outcome: 'ok', dataset: 'x' })
      throw new Error('power cut')
    }),
  )
  t.equal(db.prepare("SELECT COUNT(*) FROM datasets WHERE id = 'x'").pluck().get(), 0, 'no change')
  t.same(auditHead(db), before, 'no record')
  t.throws(() => appendAudit(db, { actor: { principal: 'me', role: 'operator' }, action: 'x', outcome: 'ok' }), /inside a write transaction/, 'records are never appended outside a transaction')
})
