/**
 * The PostgreSQL store against a real PostgreSQL 15 (test/helpers/pg.ts):
 * what the SQLite store's tests cannot show. Two PgDatabase instances on one
 * database stand for two nodes.
 */
import t from 'tap'
import { appendAudit, verifyChain } from '../../src/store/audit.js'
import { openDb } from '../../src/store/db.js'
import { guardedCharge } from '../../src/store/ledger.js'
import { PG_MIGRATIONS } from '../../src/store/pg-migrations.js'
import { PgDatabase } from '../../src/store/postgres.js'
import type { Database, Sql } from '../../src/store/sql.js'
import { tempDir } from '../helpers/app.js'
import { postgresBin, startPostgres } from '../helpers/pg.js'

const skip = postgresBin() === null ? 'PostgreSQL server binaries not found (.ci/run installs them)' : false

t.test('the PostgreSQL store', { skip }, async (t) => {
  const pg = await startPostgres(t)
  const open = async (url: string): Promise<PgDatabase> => {
    const db = await PgDatabase.open(url, { poolSize: 4 })
    t.teardown(() => db.close())
    return db
  }

  t.test('nodes starting together apply each migration once', async (t) => {
    const url = await pg.createDatabase()
    const nodes = await Promise.all([open(url), open(url), open(url)])
    t.equal(await nodes[0]!.value('SELECT COUNT(*) FROM schema_migrations'), PG_MIGRATIONS.length)
    t.equal(await nodes[1]!.schemaVersion(), PG_MIGRATIONS.at(-1)!.version)
    t.same(await nodes[2]!.get('SELECT seq FROM audit_chain_head'), { seq: 0 }, 'the head row, once')
    t.same(await nodes[0]!.describe(), { backend: 'postgres' })
  })

  t.test('integers come back as numbers, exactly, or not at all; bytes as bytes', async (t) => {
    const db = await open(await pg.createDatabase())
    t.equal(await db.value('SELECT $1::bigint', [9_007_199_254_740_991]), 9_007_199_254_740_991)
    await t.rejects(
      db.value('SELECT 9007199254740993::bigint'),
      { code: 'VEILBOX_ERR_INTERNAL' },
      'a bigint past 2^53 is refused, not rounded',
    )
    const bytes = Buffer.from([0, 1, 2, 255])
    t.same(await db.value('SELECT $1::bytea', [bytes]), bytes)
    const hex = 'ab'.repeat(32)
    t.equal(
      await db.value(`SELECT ${db.hashColumn('h')} FROM (SELECT $1::bytea AS h) x`, [db.hashParam(hex)]),
      hex,
      'hashes are bytea, read back as hex',
    )
  })

  t.test('the same statements give the same rows on both stores', async (t) => {
    const sqlite = openDb(tempDir(t))
    t.teardown(() => sqlite.close())
    const stores: Database[] = [sqlite, await open(await pg.createDatabase())]
    const results = []
    for (const db of stores) {
      await db.run(
        "INSERT INTO datasets (id, spec, created_at, created_by, listed) VALUES ('a', '{}', 't', 'me', 1), ('b', '{}', 't', 'me', 0)",
      )
      results.push({
        all: await db.all('SELECT id, listed FROM datasets WHERE ($1::text IS NULL OR id = $1) ORDER BY id', [null]),
        one: await db.get('SELECT id FROM datasets WHERE id = $1', ['b']),
        none: await db.get('SELECT id FROM datasets WHERE id = $1', ['c']),
        rows: await db.rows('SELECT id, listed FROM datasets ORDER BY id'),
        value: await db.value('SELECT COUNT(*) FROM datasets WHERE listed = $1', [1]),
        changed: await db.run('UPDATE datasets SET listed = 1 WHERE listed = $1', [0]),
        returning: await db.transaction((tx) =>
          tx.value("INSERT INTO uploads (dataset_id, state, started_at) VALUES ('a', 'staging', 't') RETURNING id"),
        ),
      })
    }
    t.same(results[1], results[0])
    t.same(results[0], {
      all: [
        { id: 'a', listed: 1 },
        { id: 'b', listed: 0 },
      ],
      one: { id: 'b' },
      none: undefined,
      rows: [
        ['a', 1],
        ['b', 0],
      ],
      value: 1,
      changed: 1,
      returning: 1,
    })
  })

  t.test('a savepoint rolls back alone; a failed transaction leaves nothing', async (t) => {
    const db = await open(await pg.createDatabase())
    const insert = (tx: Sql, id: string) =>
      tx.run("INSERT INTO datasets (id, spec, created_at, created_by) VALUES ($1, '{}', 't', 'me')", [id])
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
    await t.rejects(
      db.transaction(async (tx) => {
        await insert(tx, 'lost')
        throw new Error('outer fails')
      }),
      /outer fails/,
    )
    t.same(
      (await db.all<{ id: string }>('SELECT id FROM datasets ORDER BY id')).map((r) => r.id),
      ['kept', 'outer'],
    )
  })

  t.test('two nodes appending at once never fork the chain nor leave a gap', async (t) => {
    const url = await pg.createDatabase()
    const [a, b] = await Promise.all([open(url), open(url)])
    const append = (db: PgDatabase, i: number) =>
      db.transaction(async (tx) => {
        // Some transactions fail after appending: their positions must not be lost for the next ones.
        await appendAudit(tx, {
          actor: { principal: `n${i % 2}`, role: 'system' },
          action: 'test.append',
          outcome: 'ok',
          detail: { i },
        })
        if (i % 7 === 0) throw new Error('rolled back')
      })
    const settled = await Promise.allSettled(Array.from({ length: 80 }, (_, i) => append(i % 2 === 0 ? a : b, i)))
    const committed = settled.filter((s) => s.status === 'fulfilled').length
    t.equal(committed, 80 - Math.ceil(80 / 7))
    const chain = await verifyChain(a)
    t.match(chain, { ok: true, records: committed }, 'one chain, positions 1..n, every hash linked')
    t.same(await a.get('SELECT seq FROM audit_chain_head'), { seq: committed })
  })

  t.test('guarded charges from two nodes at once: exactly what fits, never more', async (t) => {
    const url = await pg.createDatabase()
    const [a, b] = await Promise.all([open(url), open(url)])
    await a.run("INSERT INTO datasets (id, spec, created_at, created_by) VALUES ('d', '{}', 't', 'me')")
    await a.run(
      "INSERT INTO grants (id, analyst, dataset_id, purpose, epsilon_total, delta_total, expires_at, created_at, created_by) VALUES ('g', 'x', 'd', 'p', 1000000, 0, 'x', 't', 'me')",
    )
    const charge = (db: PgDatabase) =>
      db.transaction(async (tx) => {
        await tx.get("SELECT id FROM grants WHERE id = 'g' FOR UPDATE")
        return guardedCharge(tx, 'grants', 'g', { epsilon: 100_000n, delta: 0n, rho: 0n, rhoBefore: 0n })
      })
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => charge(i % 2 === 0 ? a : b)))
    t.equal(results.filter(Boolean).length, 10, '10 of 40 charges of 0.1 fit a total of 1.0')
    t.equal(await a.value("SELECT epsilon_spent FROM grants WHERE id = 'g'"), 1_000_000, 'spent exactly the total')
  })

  t.test('an unreachable database: a stable code, and the URL and its password appear nowhere', async (t) => {
    const url = `postgres://veilbox:s3cret-pw@/nowhere?host=${encodeURIComponent(pg.socketDir)}&port=1`
    const err = await PgDatabase.open(url).then(
      () => null,
      (e: unknown) => e,
    )
    t.match(err, { code: 'VEILBOX_ERR_STORE_UNAVAILABLE', status: 503 })
    t.notMatch(JSON.stringify(err) + String((err as Error).message), /s3cret|veilbox:/)
  })
})
