import t from 'tap'
import { appendAudit, auditHead, verifyChain, type AuditEvent } from '../../src/store/audit.js'
import { openStore, type Store } from '../../src/store/db.js'
import type { Param } from '../../src/store/sql.js'
import { mulberry32 } from '../../src/engine/mulberry32.js'
import { TEST_STORE, tempDir, testDatabaseUrl } from '../helpers/app.js'

/** Seeded, for choosing edits (not privacy randomness). */
const rng = mulberry32

/** A chain of n records in a fresh store: SQLite in a temporary directory, or a fresh PostgreSQL database (VEILBOX_TEST_STORE=postgres). */
async function chain(t: Parameters<typeof tempDir>[0], n: number): Promise<Store> {
  const db = await openStore({
    dataDir: tempDir(t),
    databaseUrl: TEST_STORE === 'postgres' ? await testDatabaseUrl() : null,
  })
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
    await db.transaction((tx) => appendAudit(tx, event))
  }
  return db
}

const FIELDS = [
  'time',
  'actor',
  'role',
  'action',
  'dataset',
  'version',
  'grant_id',
  'purpose',
  'query_hash',
  'charged_epsilon',
  'charged_delta',
  'outcome',
  'detail',
  'prev_hash',
  'hash',
] as const
const HASHES: readonly string[] = ['prev_hash', 'hash']

/** Every stored column of every record, as the driver returns it (hashes text on SQLite, bytea on PostgreSQL): what restore() writes back. */
async function storedRows(db: Store): Promise<Record<string, Param>[]> {
  return db.all<Record<string, Param>>('SELECT * FROM audit_log ORDER BY seq')
}

async function restoreRows(db: Store, rows: readonly Record<string, Param>[]): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.run('DELETE FROM audit_log')
    const cols = Object.keys(rows[0]!)
    for (const r of rows)
      await tx.run(
        `INSERT INTO audit_log (${cols.join(',')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(',')})`,
        cols.map((c) => r[c]!),
      )
  })
}

t.test('an untouched chain verifies, with its head', async (t) => {
  const db = await chain(t, 30)
  const head = (await auditHead(db))!
  t.same(await verifyChain(db), { ok: true, records: 30, head })
  t.same(await verifyChain(db, head.hash), { ok: true, records: 30, head })
})

t.test('changing any single field of any record is detected at that record (property test)', async (t) => {
  const db = await chain(t, 40)
  const pick = rng(7)
  for (let trial = 0; trial < 200; trial++) {
    const seq = 1 + Math.floor(pick() * 40)
    const field = FIELDS[Math.floor(pick() * FIELDS.length)]!
    const hash = HASHES.includes(field)
    // Hashes read as hex and written back through hashParam (text on SQLite, bytea on PostgreSQL).
    const old = await db.value<Param>(`SELECT ${hash ? db.hashColumn(field) : field} FROM audit_log WHERE seq = $1`, [
      seq,
    ])
    if (old === undefined) throw new Error(`no record ${seq}`)
    // A hash is changed into another well-formed hash: its last hex digit moved on by one.
    const changed = hash
      ? `${String(old).slice(0, -1)}${((parseInt(String(old).slice(-1), 16) + 1) % 16).toString(16)}`
      : field === 'version'
        ? old === null
          ? 5
          : Number(old) + 1
        : field === 'detail'
          ? '{"i":-1}'
          : old === null
            ? 'x'
            : `${String(old)}x`
    const param = (v: Param): Param => (hash ? db.hashParam(String(v)) : v)
    await db.run(`UPDATE audit_log SET ${field} = $1 WHERE seq = $2`, [param(changed), seq])
    const result = await verifyChain(db)
    t.equal(result.ok, false, `${field} of ${seq} changed: detected`)
    if (!result.ok) t.equal(result.badSeq, seq, `${field} of ${seq}: names seq ${seq}`)
    await db.run(`UPDATE audit_log SET ${field} = $1 WHERE seq = $2`, [param(old), seq])
  }
  t.ok((await verifyChain(db)).ok, 'restored')
  // An edit that keeps the meaning but not the bytes is an edit too.
  await db.run('UPDATE audit_log SET detail = \'{ "i": 3 }\' WHERE seq = 4')
  const r = await verifyChain(db)
  t.equal(r.ok, false)
  if (!r.ok) t.equal(r.badSeq, 4)
  await db.run("UPDATE audit_log SET detail = 'not json' WHERE seq = 4")
  t.match(await verifyChain(db), { ok: false, badSeq: 4 })
})

t.test('deleting or swapping records is detected at the first bad seq', async (t) => {
  const db = await chain(t, 20)
  const pick = rng(11)
  const snapshot = await storedRows(db)
  const restore = () => restoreRows(db, snapshot)
  const head = (await auditHead(db))!
  for (let trial = 0; trial < 40; trial++) {
    const a = 1 + Math.floor(pick() * 20)
    await db.run('DELETE FROM audit_log WHERE seq = $1', [a])
    const r = await verifyChain(db, head.hash)
    t.equal(r.ok, false, `delete ${a}`)
    if (!r.ok) t.equal(r.badSeq, a, `delete ${a}: names ${a}`)
    await restore()
    let b = 1 + Math.floor(pick() * 20)
    if (b === a) b = (a % 20) + 1
    const [lo, hi] = a < b ? [a, b] : [b, a]
    // Swap two records' contents, keeping their seq numbers.
    const rowLo = snapshot[lo - 1]!
    const rowHi = snapshot[hi - 1]!
    const cols = FIELDS.map((f, i) => `${f} = $${i + 1}`).join(', ')
    const swap = `UPDATE audit_log SET ${cols} WHERE seq = $${FIELDS.length + 1}`
    await db.run(swap, [...FIELDS.map((f) => rowHi[f]!), lo])
    await db.run(swap, [...FIELDS.map((f) => rowLo[f]!), hi])
    const s = await verifyChain(db)
    t.equal(s.ok, false, `swap ${lo} and ${hi}`)
    if (!s.ok) t.equal(s.badSeq, lo, `swap ${lo} and ${hi}: names ${lo}`)
    await restore()
  }
  t.ok((await verifyChain(db, head.hash)).ok)
})

t.test('a chain cut back to an earlier length is detected against a published head', async (t) => {
  const db = await chain(t, 25)
  const head = (await auditHead(db))!
  await db.run('DELETE FROM audit_log WHERE seq > 20')
  t.ok((await verifyChain(db)).ok, 'without the head, a shorter chain is self-consistent')
  const r = await verifyChain(db, head.hash)
  t.equal(r.ok, false)
  if (!r.ok) {
    t.equal(r.badSeq, 21)
    t.match(r.problem, /published head is not in the chain/)
  }
})

t.test('a failure between a change and its audit record leaves neither', async (t) => {
  const db = await chain(t, 3)
  const before = (await auditHead(db))!
  await t.rejects(
    db.transaction(async (tx) => {
      await tx.run("INSERT INTO datasets (id, spec, created_at, created_by) VALUES ('x', '{}', 'now', 'me')")
      await appendAudit(tx, {
        actor: { principal: 'me', role: 'operator' },
        action: 'dataset.create',
        outcome: 'ok',
        dataset: 'x',
      })
      throw new Error('power cut')
    }),
    /power cut/,
  )
  t.equal(await db.value<number>("SELECT COUNT(*) FROM datasets WHERE id = 'x'"), 0, 'no change')
  t.same(await auditHead(db), before, 'no record')
  t.same(
    await db.get(`SELECT seq, ${db.hashColumn('hash')} AS hash FROM audit_chain_head WHERE id = 1`),
    before,
    'the head row did not move',
  )
  await t.rejects(
    appendAudit(db, { actor: { principal: 'me', role: 'operator' }, action: 'x', outcome: 'ok' }),
    /inside a write transaction/,
    'records are never appended outside a transaction',
  )
})
