import t from 'tap'
import pg from 'pg'
import { startPostgres } from './pg.js'

t.test('the test harness runs a real PostgreSQL 15 of its own, one database per caller', async (t) => {
  const cluster = await startPostgres(t)
  const a = await cluster.createDatabase()
  const b = await cluster.createDatabase()
  t.not(a, b)
  const pool = new pg.Pool({ connectionString: a, max: 2 })
  t.teardown(() => pool.end())
  const v = (await pool.query<{ server_version_num: string }>('SHOW server_version_num')).rows[0]!.server_version_num
  t.ok(Number(v) >= 150000, `server ${v}`)
  await pool.query('CREATE TABLE x (id bigint PRIMARY KEY, blob bytea)')
  await pool.query('INSERT INTO x VALUES ($1, $2)', ['9007199254740993', Buffer.from([0, 255])])
  const row = (await pool.query<{ id: string; blob: Buffer }>('SELECT id, blob FROM x')).rows[0]!
  t.equal(row.id, '9007199254740993', 'bigint comes back exact, as text')
  t.same([...row.blob], [0, 255], 'bytea comes back as bytes')
  const other = new pg.Client({ connectionString: b })
  await other.connect()
  t.teardown(() => other.end())
  t.same((await other.query("SELECT to_regclass('x') AS t")).rows, [{ t: null }], 'databases are separate')
})
