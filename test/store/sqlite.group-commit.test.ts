import fs from 'node:fs'
import Database from 'better-sqlite3'
import t from 'tap'
import { OpenFile, SqliteDatabase, type SqliteOptions } from '../../src/store/sqlite.js'
import type { Sql } from '../../src/store/sql.js'
import { tempDir } from '../helpers/app.js'

/** SQLite's group commit (src/store/sqlite.ts): transaction(fn, { group: true }). */
function setup(
  t: { teardown(fn: () => unknown): void },
  options: SqliteOptions = {},
): { db: SqliteDatabase; file: string; rows: () => number[] } {
  const dir = tempDir(t)
  const file = `${dir}/gc.db`
  const db = new SqliteDatabase(file, {
    migrations: [{ version: 1, name: 'gc', sql: 'CREATE TABLE gc (x INTEGER NOT NULL)' }],
    ...options,
  })
  t.teardown(() => db.close())
  return { db, file, rows: () => db.raw.prepare('SELECT x FROM gc ORDER BY x').pluck().all() as number[] }
}

const insert = (x: number) => async (tx: Sql) => tx.run('INSERT INTO gc (x) VALUES ($1)', [x])
const group = <T>(db: SqliteDatabase, fn: (tx: Sql) => Promise<T>) => db.transaction(fn, { group: true })

/** A sync that records its calls and returns only when released. */
function gatedSync() {
  const calls: string[] = []
  let open: () => void = () => {}
  let gate = new Promise<void>((r) => (open = r))
  return {
    calls,
    release: () => {
      open()
      gate = new Promise<void>((r) => (open = r))
    },
    sync: async (file: string) => {
      calls.push(file)
      await gate
    },
  }
}

const ticks = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r))
}

t.test('writes that arrive together share one commit and one sync of the -wal file', async (t) => {
  const gate = gatedSync()
  const { db, file, rows } = setup(t, { syncFile: gate.sync })
  let settled = 0
  const all = [1, 2, 3].map((x) => group(db, insert(x)).finally(() => settled++))
  await ticks(5)
  t.same(gate.calls, [`${file}-wal`], 'one sync, of the database’s -wal file')
  t.ok(fs.statSync(`${file}-wal`).size > 0, 'the commit frames are in the -wal file')
  t.equal(settled, 0, 'nothing resolves while the sync is pending')
  gate.release()
  t.same(await Promise.all(all), [1, 1, 1])
  t.same(rows(), [1, 2, 3])
})

t.test('a write that throws rolls back alone; the rest of its batch commits', async (t) => {
  const { db, rows } = setup(t)
  const boom = new Error('does not fit')
  const results = await Promise.allSettled([
    group(db, insert(1)),
    group(db, async (tx) => {
      await insert(2)(tx)
      throw boom
    }),
    group(db, insert(3)),
  ])
  t.same(
    results.map((r) => r.status),
    ['fulfilled', 'rejected', 'fulfilled'],
  )
  t.equal((results[1] as PromiseRejectedResult).reason, boom, 'the write’s own error')
  t.same(rows(), [1, 3], 'its row is gone, its neighbours’ are kept')
})

t.test('the batch commits with synchronous=NORMAL and the connection returns to FULL', async (t) => {
  const { db } = setup(t)
  const during = await group(db, async () => db.raw.pragma('synchronous', { simple: true }))
  t.equal(during, 1, 'NORMAL inside the batch: the fsync is the committer’s')
  t.equal(db.raw.pragma('synchronous', { simple: true }), 2, 'FULL for every other write')
  await group(db, async () => {
    throw new Error('x')
  }).catch(() => {})
  t.equal(db.raw.pragma('synchronous', { simple: true }), 2, 'FULL again after a batch whose write threw')
  const plain = await db.transaction(async () => db.raw.pragma('synchronous', { simple: true }))
  t.equal(plain, 2, 'a transaction outside the group commits at FULL')
})

t.test('a sync that fails rejects the whole batch with its error', async (t) => {
  const eio = Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' })
  const { db } = setup(t, {
    syncFile: async () => {
      throw eio
    },
  })
  const results = await Promise.allSettled([group(db, insert(1)), group(db, insert(2))])
  t.same(
    results.map((r) => (r.status === 'rejected' ? r.reason : null)),
    [eio, eio],
    'no write of the batch is acknowledged',
  )
  t.equal(db.raw.pragma('synchronous', { simple: true }), 2)
})

t.test('the next batch is built while one waits for the disk', async (t) => {
  const gate = gatedSync()
  const { db, rows } = setup(t, { syncFile: gate.sync })
  const first = group(db, insert(1))
  await ticks(3)
  const second = group(db, insert(2))
  await ticks(3)
  t.equal(gate.calls.length, 2, 'the second batch committed and is syncing too')
  t.same(rows(), [1, 2])
  gate.release()
  await Promise.all([first, second])
})

t.test('maxBatch splits a burst into several commits', async (t) => {
  const gate = gatedSync()
  const { db, rows } = setup(t, { syncFile: gate.sync, maxBatch: 2 })
  const all = [1, 2, 3, 4, 5].map((x) => group(db, insert(x)))
  await ticks(6)
  t.equal(gate.calls.length, 3, '2 + 2 + 1')
  gate.release()
  await Promise.all(all)
  t.same(rows(), [1, 2, 3, 4, 5])
})

t.test('with the real fsync, an acknowledged write is read by another connection', async (t) => {
  const { db, file } = setup(t)
  await Promise.all([group(db, insert(7)), group(db, insert(8))])
  const other = new Database(file, { readonly: true })
  t.teardown(() => other.close())
  t.same(other.prepare('SELECT x FROM gc ORDER BY x').pluck().all(), [7, 8])
})

t.test('an in-memory database commits without a file to sync', async (t) => {
  const syncs: string[] = []
  const db = new SqliteDatabase(':memory:', {
    migrations: [{ version: 1, name: 'gc', sql: 'CREATE TABLE gc (x INTEGER NOT NULL)' }],
    syncFile: async (f) => {
      syncs.push(f)
    },
  })
  t.teardown(() => db.close())
  t.equal(await group(db, insert(1)), 1)
  t.same(syncs, [])
  t.equal(await db.value('SELECT COUNT(*) FROM gc'), 1, 'one connection for reads and writes in memory')
})

/** The process's open descriptors that name `file`. */
function handlesOn(file: string): number {
  // A file that is gone may still be held open: its link reads "<path> (deleted)".
  const real = fs.existsSync(file) ? fs.realpathSync(file) : file
  return fs.readdirSync('/proc/self/fd').filter((fd) => {
    try {
      const link = fs.readlinkSync(`/proc/self/fd/${fd}`)
      return link === real || link === `${real} (deleted)`
    } catch {
      return false
    }
  }).length
}

t.test(
  'the real sync keeps one handle on the -wal file across batches, and close lets it go',
  { skip: process.platform !== 'linux' && 'reads /proc' },
  async (t) => {
    const { db, file } = setup(t)
    const wal = `${file}-wal`
    const before = handlesOn(wal)
    for (let x = 1; x <= 5; x++) await group(db, insert(x))
    t.equal(handlesOn(wal), before + 1, 'one handle for five batches')
    const last = group(db, insert(6))
    await db.close().then(() => last)
    t.equal(handlesOn(wal), 0, 'closed once the batch in flight is on disk, with the connections')
    const check = new Database(file, { readonly: true })
    t.teardown(() => check.close())
    t.same(check.prepare('SELECT x FROM gc ORDER BY x').pluck().all(), [1, 2, 3, 4, 5, 6])
  },
)

t.test(
  'a kept-open file that was unlinked is reopened by name',
  { skip: process.platform !== 'linux' && 'reads /proc' },
  async (t) => {
    const dir = tempDir(t)
    const file = `${dir}/f`
    fs.writeFileSync(file, 'one')
    const kept = new OpenFile()
    t.teardown(() => kept.close())
    await kept.sync(file)
    const first = fs.statSync(file).ino
    fs.unlinkSync(file)
    fs.writeFileSync(file, 'two')
    t.not(fs.statSync(file).ino, first, 'a new file under the old name')
    await kept.sync(file)
    t.equal(handlesOn(file), 1, 'the handle names the new file')
    fs.unlinkSync(file)
    await kept.sync(file)
    t.pass('no file at all: nothing to sync, no error')
  },
)
