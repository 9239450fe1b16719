import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { versionCommitment } from '../../src/store/fingerprint.js'
import { immediate, openDb, schemaVersion } from '../../src/store/db.js'
import { MIGRATIONS } from '../../src/store/migrations.js'
import { tempDir } from '../helpers/app.js'

t.test('opening a fresh directory applies every migration with durable settings', async (t) => {
  const dir = tempDir(t)
  const db = openDb(path.join(dir, 'nested'))
  t.teardown(() => db.close())
  t.equal(schemaVersion(db), MIGRATIONS.at(-1)!.version)
  t.equal(db.pragma('journal_mode', { simple: true }), 'wal')
  t.equal(db.pragma('synchronous', { simple: true }), 2, 'synchronous=FULL')
  t.equal(db.pragma('busy_timeout', { simple: true }), 10_000)
  t.equal(db.pragma('foreign_keys', { simple: true }), 1)
  const mode = fs.statSync(path.join(dir, 'nested', 'veilbox.db')).mode & 0o777
  t.equal(mode, 0o600, 'the database file is owner-only')
  t.equal(fs.statSync(path.join(dir, 'nested')).mode & 0o777, 0o700, 'the data directory is owner-only')
})

t.test('reopening applies nothing twice and keeps data', async (t) => {
  const dir = tempDir(t)
  const a = openDb(dir)
  a.prepare("INSERT INTO datasets (id, spec, created_at, created_by) VALUES ('x', '{}', 'now', 'me')").run()
  a.close()
  const b = openDb(dir)
  t.teardown(() => b.close())
  t.equal(b.prepare('SELECT COUNT(*) FROM datasets').pluck().get(), 1)
  t.equal(schemaVersion(b), MIGRATIONS.at(-1)!.version)
})

t.test('a later migration applies on top of an older database', async (t) => {
  const dir = tempDir(t)
  openDb(dir).close()
  const next = [...MIGRATIONS, { version: 999, name: 'test', sql: 'CREATE TABLE extra (x INTEGER)' }]
  const db = openDb(dir, { migrations: next })
  t.teardown(() => db.close())
  t.equal(schemaVersion(db), 999)
  t.ok(db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'extra'").get())
})

t.test('a failing migration leaves the schema version where it was', async (t) => {
  const dir = tempDir(t)
  openDb(dir).close()
  const broken = [...MIGRATIONS, { version: 1000, name: 'broken', sql: 'CREATE TABLE ok1 (x); THIS IS NOT SQL' }]
  t.throws(() => openDb(dir, { migrations: broken }))
  const db = openDb(dir)
  t.teardown(() => db.close())
  t.equal(schemaVersion(db), MIGRATIONS.at(-1)!.version)
  t.notOk(db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'ok1'").get(), 'the half-done migration rolled back')
})

t.test('writes go through BEGIN IMMEDIATE and roll back on error', async (t) => {
  const dir = tempDir(t)
  const db = openDb(dir)
  t.teardown(() => db.close())
  const statements: string[] = []
  const traced = openDb(dir)
  t.teardown(() => traced.close())
  // A second connection cannot take the write lock while the first holds it: proof of IMMEDIATE.
  traced.pragma('busy_timeout = 0')
  immediate(db, () => {
    statements.push('in')
    t.throws(() => traced.prepare("INSERT INTO datasets (id, spec, created_at, created_by) VALUES ('y', '{}', 'now', 'me')").run(), /SQLITE_BUSY|locked/)
  })
  t.same(statements, ['in'])
  t.throws(() =>
    immediate(db, () => {
      db.prepare("INSERT INTO datasets (id, spec, created_at, created_by) VALUES ('z', '{}', 'now', 'me')").run()
      throw new Error('boom')
    }),
  )
  t.equal(db.prepare("SELECT COUNT(*) FROM datasets WHERE id = 'z'").pluck().get(), 0)
})

t.test('migrations 4 and 6 on a database made before them: salts and commitments, record ids from then on, one principal per earlier name', async (t) => {
  const dir = tempDir(t)
  const old = openDb(dir, { migrations: MIGRATIONS.filter((m) => m.version <= 3) })
  old.prepare("INSERT INTO datasets (id, spec, created_at, created_by) VALUES ('d', '{}', 'then', 'olga')").run()
  old.prepare("INSERT INTO uploads (id, dataset_id, state, started_at) VALUES (1, 'd', 'committed', 'then')").run()
  old.prepare(`INSERT INTO dataset_versions (dataset_id, version, upload_id, rows, sha256, created_at, created_by) VALUES ('d', 1, 1, 3, '${'ab'.repeat(32)}', 'then', 'olga')`).run()
  const key = old.prepare('INSERT INTO api_keys (key_id, name, role, key_hash, created_at, created_by, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
  key.run('000000000001', 'alice', 'analyst', Buffer.alloc(32), 't1', 'olga', 't2')
  key.run('000000000002', 'alice', 'analyst', Buffer.alloc(32), 't3', 'olga', null)
  key.run('000000000003', 'olga', 'operator', Buffer.alloc(32), 't0', 'system', null)
  old.prepare("INSERT INTO grants (id, analyst, dataset_id, purpose, epsilon_total, delta_total, expires_at, created_at, created_by) VALUES ('g_1', 'alice', 'd', 'p', 1, 0, 'x', 't1', 'olga')").run()
  old.close()
  const db = openDb(dir)
  t.teardown(() => db.close())
  const v = db.prepare('SELECT salt, commitment, sha256 FROM dataset_versions').get() as { salt: Buffer; commitment: string; sha256: string }
  t.equal(v.salt.length, 32)
  t.equal(v.commitment, versionCommitment(v.salt, v.sha256))
  const ids = db.prepare('SELECT name, principal_id FROM api_keys ORDER BY key_id').all() as { name: string; principal_id: string }[]
  t.equal(ids[0]!.principal_id, ids[1]!.principal_id, "a name's earlier keys stay one principal, as they were treated")
  t.not(ids[2]!.principal_id, ids[0]!.principal_id)
  t.equal(db.prepare("SELECT analyst_id FROM grants WHERE id = 'g_1'").pluck().get(), ids[0]!.principal_id)
  t.same(db.prepare('SELECT name, role FROM principals ORDER BY name').all(), [{ name: 'alice', role: 'analyst' }, { name: 'olga', role: 'operator' }])
})
