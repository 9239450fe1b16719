import Database from 'better-sqlite3'
import t from 'tap'
import type { Db } from '../../src/store/db.js'
import { stmt } from '../../src/store/statements.js'

t.test('one SQL text in three row modes: each its own statement, none changes the others', async (t) => {
  const db = new Database(':memory:') as Db
  t.teardown(() => db.close())
  db.exec("CREATE TABLE s (a INTEGER, b TEXT); INSERT INTO s VALUES (1, 'x')")
  const sql = 'SELECT a, b FROM s'
  t.same(stmt(db, sql, 'raw').get(), [1, 'x'])
  t.equal(stmt(db, sql, 'pluck').get(), 1)
  t.same(stmt(db, sql).get(), { a: 1, b: 'x' }, 'objects still, after the raw and pluck uses')
  t.same(stmt(db, sql, 'raw').get(), [1, 'x'], 'arrays still')
  t.equal(stmt(db, sql), stmt(db, sql, 'object'), 'prepared once per mode')
  t.not(stmt(db, sql), stmt(db, sql, 'raw'))
})
