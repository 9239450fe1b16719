import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { versionCommitment } from '../../src/store/fingerprint.js'
import { openDb, type Sql } from '../../src/store/db.js'
import { MIGRATIONS } from '../../src/store/migrations.js'
import { tempDir } from '../helpers/app.js'

t.test('opening a fresh directory applies every migration with durable settings', async (t) => {
  const dir = tempDir(t)
  const db = openDb(path.join(dir, 'nested'))
  t.teardown(() => db.close())
  t.equal(await db.schemaVersion(), MIGRATIONS.at(-1)!.version)
  t.equal(db.raw.pragma('journal_mode', { simple: true }), 'wal')
  t.equal(db.raw.pragma('synchronous', { simple: true }), 2, 'synchronous=FULL')
  t.equal(db.raw.pragma('busy_timeout', { simple: true }), 10_000)
  t.equal(db.raw.pragma('foreign_keys', { simple: true }), 1)
  t.same(await db.describe(), { backend: 'sqlite', journalMode: 'wal' })
  const mode = fs.statSync(path.join(dir, 'nested', 'veilbox.db')).mode & 0o777
  t.equal(mode, 0o600, 'the database file is owner-only')
  t.equal(fs.statSync(path.join(dir, 'nested')).mode & 0o777, 0o700, 'the data directory is owner-only')
})

t.test('reopening applies nothing twice and keeps data', async (t) => {
  const dir = tempDir(t)
  const a = openDb(dir)
  await a.run("INSERT INTO datasets (id, spec, created_at, created_by) VALUES ('x', '{}', 'now', 'me')")
  await a.close()
  const b = openDb(dir)
  t.teardown(() => b.close())
  t.equal(await b.value('SELECT COUNT(*) FROM datasets'), 1)
  t.equal(await b.schemaVersion(), MIGRATIONS.at(-1)!.version)
})

t.test('a later migration applies on top of an older database', async (t) => {
  const dir = tempDir(t)
  await openDb(dir).close()
  const next = [...MIGRATIONS, { version: 999, name: 'test', sql: 'CREATE TABLE extra (x INTEGER)' }]
  const db = openDb(dir, { migrations: next })
  t.teardown(() => db.close())
  t.equal(await db.schemaVersion(), 999)
  t.ok(await db.get("SELECT 1 FROM sqlite_master WHERE name = 'extra'"))
})

t.test('a failing migration leaves the schema version where it was', async (t) => {
  const dir = tempDir(t)
  await openDb(dir).close()
  const broken = [...MIGRATIONS, { version: 1000, name: 'broken', sql: 'CREATE TABLE ok1 (x); THIS IS NOT SQL' }]
  t.throws(() => openDb(dir, { migrations: broken }))
  const db = openDb(dir)
  t.teardown(() => db.close())
  t.equal(await db.schemaVersion(), MIGRATIONS.at(-1)!.version)
  t.notOk(await db.get("SELECT 1 FROM sqlite_master WHERE name = 'ok1'"), 'the half-done migration rolled back')
})

t.test('writes go through BEGIN IMMEDIATE and roll back on error', async (t) => {
  const dir = tempDir(t)
  const db = openDb(dir)
  t.teardown(() => db.close())
  const other = openDb(dir)
  t.teardown(() => other.close())
  // A second connection cannot take the write lock while the first holds it: proof of IMMEDIATE.
  other.raw.pragma('busy_timeout = 0')
  const inside = await db.transaction(async () => {
    t.throws(
      () =>
        other.raw
          .prepare("INSERT INTO datasets (id, spec, created_at, created_by) VALUES ('y', '{}', 'now', 'me')")
          .run(),
      /SQLITE_BUSY|locked/,
    )
    return 'in'
  })
  t.equal(inside, 'in')
  await t.rejects(
    db.transaction(async (tx) => {
      await tx.run("INSERT INTO datasets (id, spec, created_at, created_by) VALUES ('z', '{}', 'now', 'me')")
      throw new Error('boom')
    }),
    /boom/,
  )
  t.equal(await db.value("SELECT COUNT(*) FROM datasets WHERE id = 'z'"), 0)
})

t.test(
  'reads outside a transaction never see one that has not committed; reads inside it see its writes',
  async (t) => {
    const dir = tempDir(t)
    const db = openDb(dir)
    t.teardown(() => db.close())
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    const seen: unknown[] = []
    const writing = db.transaction(async (tx) => {
      await tx.run("INSERT INTO datasets (id, spec, created_at, created_by) VALUES ('w', '{}', 'now', 'me')")
      seen.push(await tx.value("SELECT COUNT(*) FROM datasets WHERE id = 'w'"))
      // The database handle reads what is committed, even from inside the transaction.
      seen.push(await db.value("SELECT COUNT(*) FROM datasets WHERE id = 'w'"))
      await gate
    })
    await new Promise((r) => setImmediate(r))
    t.equal(
      await db.value("SELECT COUNT(*) FROM datasets WHERE id = 'w'"),
      0,
      'another context reads the committed state',
    )
    release()
    await writing
    t.same(seen, [1, 0])
    t.equal(await db.value("SELECT COUNT(*) FROM datasets WHERE id = 'w'"), 1, 'and the commit once it is made')
  },
)

t.test('a transaction started inside another joins it as a savepoint, rolled back alone', async (t) => {
  const dir = tempDir(t)
  const db = openDb(dir)
  t.teardown(() => db.close())
  const insert = (tx: Sql, id: string) =>
    tx.run("INSERT INTO datasets (id, spec, created_at, created_by) VALUES ($1, '{}', 'now', 'me')", [id])
  await db.transaction(async (tx) => {
    await insert(tx, 'outer')
    await tx.transaction(async (sp) => insert(sp, 'kept'))
    await tx
      .transaction(async (sp) => {
        await insert(sp, 'undone')
        throw new Error('inner')
      })
      .catch(() => {})
  })
  t.same(
    (await db.all<{ id: string }>('SELECT id FROM datasets ORDER BY id')).map((r) => r.id),
    ['kept', 'outer'],
  )
})

t.test('a write outside a transaction is one of its own, queued behind the others', async (t) => {
  const dir = tempDir(t)
  const db = openDb(dir)
  t.teardown(() => db.close())
  const order: string[] = []
  const first = db.transaction(async (tx) => {
    await new Promise((r) => setTimeout(r, 20))
    await tx.run("INSERT INTO datasets (id, spec, created_at, created_by) VALUES ('a', '{}', 'now', 'me')")
    order.push('transaction')
  })
  const second = db
    .run("INSERT INTO datasets (id, spec, created_at, created_by) VALUES ('b', '{}', 'now', 'me')")
    .then(() => order.push('write'))
  await Promise.all([first, second])
  t.same(order, ['transaction', 'write'])
})

t.test('migration 7 on a database made before it: the chain head row is the last record', async (t) => {
  const dir = tempDir(t)
  const old = openDb(dir, { migrations: MIGRATIONS.filter((m) => m.version <= 6) })
  const { appendAudit, verifyChain } = await import('../../src/store/audit.js')
  t.rejects(
    appendAudit(old, { actor: { principal: 'x', role: 'system' }, action: 'a', outcome: 'ok' }),
    /inside a write transaction/,
  )
  // Records as the earlier code wrote them: chained by hand.
  const { recordHash, GENESIS_HASH } = await import('../../src/store/audit.js')
  let prev = GENESIS_HASH
  for (let seq = 1; seq <= 3; seq++) {
    const base = {
      id: `a_${String(seq).padStart(32, '0')}`,
      seq,
      time: 't',
      actor: { principal: 'x', role: 'system' },
      action: 'a',
      dataset: null,
      version: null,
      grant: null,
      purpose: null,
      queryHash: null,
      charged: null,
      outcome: 'ok',
      detail: null,
      prevHash: prev,
    }
    const hash = recordHash(base)
    old.raw
      .prepare(
        'INSERT INTO audit_log (record_id, seq, time, actor, role, action, outcome, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(base.id, seq, 't', 'x', 'system', 'a', 'ok', prev, hash)
    prev = hash
  }
  await old.close()
  const db = openDb(dir)
  t.teardown(() => db.close())
  t.same(await db.get('SELECT seq, hash FROM audit_chain_head'), { seq: 3, hash: prev })
  await db.transaction((tx) =>
    appendAudit(tx, { actor: { principal: 'x', role: 'system' }, action: 'b', outcome: 'ok' }),
  )
  const chain = await verifyChain(db)
  t.match(chain, { ok: true, records: 4 }, 'the next record extends the chain the earlier code wrote')
})

t.test(
  'migrations 4 and 6 on a database made before them: salts and commitments, record ids from then on, one principal per earlier name',
  async (t) => {
    const dir = tempDir(t)
    const old = openDb(dir, { migrations: MIGRATIONS.filter((m) => m.version <= 3) }).raw
    old.prepare("INSERT INTO datasets (id, spec, created_at, created_by) VALUES ('d', '{}', 'then', 'olga')").run()
    old.prepare("INSERT INTO uploads (id, dataset_id, state, started_at) VALUES (1, 'd', 'committed', 'then')").run()
    old
      .prepare(
        `INSERT INTO dataset_versions (dataset_id, version, upload_id, rows, sha256, created_at, created_by) VALUES ('d', 1, 1, 3, '${'ab'.repeat(32)}', 'then', 'olga')`,
      )
      .run()
    const key = old.prepare(
      'INSERT INTO api_keys (key_id, name, role, key_hash, created_at, created_by, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    )
    key.run('000000000001', 'alice', 'analyst', Buffer.alloc(32), 't1', 'olga', 't2')
    key.run('000000000002', 'alice', 'analyst', Buffer.alloc(32), 't3', 'olga', null)
    key.run('000000000003', 'olga', 'operator', Buffer.alloc(32), 't0', 'system', null)
    old
      .prepare(
        "INSERT INTO grants (id, analyst, dataset_id, purpose, epsilon_total, delta_total, expires_at, created_at, created_by) VALUES ('g_1', 'alice', 'd', 'p', 1, 0, 'x', 't1', 'olga')",
      )
      .run()
    old.close()
    const db = openDb(dir)
    t.teardown(() => db.close())
    const v = (await db.get<{ salt: Buffer; commitment: string; sha256: string }>(
      'SELECT salt, commitment, sha256 FROM dataset_versions',
    ))!
    t.equal(v.salt.length, 32)
    t.equal(v.commitment, versionCommitment(v.salt, v.sha256))
    const ids = await db.all<{ name: string; principal_id: string }>(
      'SELECT name, principal_id FROM api_keys ORDER BY key_id',
    )
    t.equal(
      ids[0]!.principal_id,
      ids[1]!.principal_id,
      "a name's earlier keys stay one principal, as they were treated",
    )
    t.not(ids[2]!.principal_id, ids[0]!.principal_id)
    t.equal(await db.value("SELECT analyst_id FROM grants WHERE id = 'g_1'"), ids[0]!.principal_id)
    t.same(await db.all('SELECT name, role FROM principals ORDER BY name'), [
      { name: 'alice', role: 'analyst' },
      { name: 'olga', role: 'operator' },
    ])
  },
)

t.test('migration 9 on a database made before it: keys and principals kept, the owner role accepted', async (t) => {
  const dir = tempDir(t)
  const old = openDb(dir, { migrations: MIGRATIONS.filter((m) => m.version <= 8) })
  const { createKey, authenticate } = await import('../../src/store/keys.js')
  const system = { principal: 'system', role: 'system' }
  const made = await createKey(old, { name: 'olga', role: 'operator' }, system)
  await t.rejects(createKey(old, { name: 'bureau', role: 'owner' }, system), 'before it, the owner role is refused')
  await old.close()
  const db = openDb(dir)
  t.teardown(() => db.close())
  const found = await authenticate(db, made.key)
  t.match(found, { id: made.principalId, name: 'olga', role: 'operator' }, 'a key made before still authenticates')
  const owner = await createKey(db, { name: 'bureau', role: 'owner' }, system)
  t.match(await authenticate(db, owner.key), { name: 'bureau', role: 'owner' })
  t.ok(
    await db.get("SELECT 1 FROM sqlite_master WHERE name = 'api_keys_active_name'"),
    'the unique index on active names is rebuilt',
  )
  await t.rejects(createKey(db, { name: 'bureau', role: 'analyst' }, system), 'an active name is still unique')
  const fk = db.raw.prepare('PRAGMA foreign_key_check').all()
  t.same(fk, [], 'no foreign key dangles after the rebuild')
})
