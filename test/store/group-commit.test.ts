import fs from 'node:fs'
import Database from 'better-sqlite3'
import t from 'tap'
import { openDb, type Db } from '../../src/store/db.js'
import { GroupCommitter, OpenFile } from '../../src/store/group-commit.js'
import { tempDir } from '../helpers/app.js'

function setup(t: { teardown(fn: () => void): void }): { db: Db; dir: string; rows: () => number[] } {
  const dir = tempDir(t)
  const db = openDb(dir)
  t.teardown(() => db.close())
  db.exec('CREATE TABLE gc (x INTEGER NOT NULL)')
  return { db, dir, rows: () => (db.prepare('SELECT x FROM gc ORDER BY x').pluck().all() as number[]) }
}

const insert = (db: Db, x: number) => () => db.prepare('INSERT INTO gc (x) VALUES (?)').run(x).changes

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
  const { db, rows } = setup(t)
  const gate = gatedSync()
  const gc = new GroupCommitter(db, 256, gate.sync)
  let settled = 0
  const all = [1, 2, 3].map((x) => gc.run(insert(db, x)).finally(() => settled++))
  await ticks(5)
  t.same(gate.calls, [`${db.name}-wal`], 'one sync, of the database’s -wal file')
  t.ok(fs.statSync(`${db.name}-wal`).size > 0, 'the commit frames are in the -wal file')
  t.equal(settled, 0, 'nothing resolves while the sync is pending')
  gate.release()
  t.same(await Promise.all(all), [1, 1, 1])
  t.same(rows(), [1, 2, 3])
})

t.test('a write that throws rolls back alone; the rest of its batch commits', async (t) => {
  const { db, rows } = setup(t)
  const gc = new GroupCommitter(db)
  const boom = new Error('does not fit')
  const results = await Promise.allSettled([
    gc.run(insert(db, 1)),
    gc.run(() => {
      insert(db, 2)()
      throw boom
    }),
    gc.run(insert(db, 3)),
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
  const gc = new GroupCommitter(db)
  const during = await gc.run(() => db.pragma('synchronous', { simple: true }))
  t.equal(during, 1, 'NORMAL inside the batch: the fsync is the committer’s')
  t.equal(db.pragma('synchronous', { simple: true }), 2, 'FULL for every other write')
  await gc.run(() => {
    throw new Error('x')
  }).catch(() => {})
  t.equal(db.pragma('synchronous', { simple: true }), 2, 'FULL again after a batch whose write threw')
})

t.test('a sync that fails rejects the whole batch with its error', async (t) => {
  const { db } = setup(t)
  const eio = Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' })
  const gc = new GroupCommitter(db, 256, async () => {
    throw eio
  })
  const results = await Promise.allSettled([gc.run(insert(db, 1)), gc.run(insert(db, 2))])
  t.same(
    results.map((r) => (r.status === 'rejected' ? r.reason : null)),
    [eio, eio],
    'no write of the batch is acknowledged',
  )
  t.equal(db.pragma('synchronous', { simple: true }), 2)
})

t.test('the next batch is built while one waits for the disk', async (t) => {
  const { db, rows } = setup(t)
  const gate = gatedSync()
  const gc = new GroupCommitter(db, 256, gate.sync)
  const first = gc.run(insert(db, 1))
  await ticks(3)
  const second = gc.run(insert(db, 2))
  await ticks(3)
  t.equal(gate.calls.length, 2, 'the second batch committed and is syncing too')
  t.same(rows(), [1, 2])
  gate.release()
  await Promise.all([first, second])
})

t.test('maxBatch splits a burst into several commits', async (t) => {
  const { db, rows } = setup(t)
  const gate = gatedSync()
  const gc = new GroupCommitter(db, 2, gate.sync)
  const all = [1, 2, 3, 4, 5].map((x) => gc.run(insert(db, x)))
  await ticks(6)
  t.equal(gate.calls.length, 3, '2 + 2 + 1')
  gate.release()
  await Promise.all(all)
  t.same(rows(), [1, 2, 3, 4, 5])
})

t.test('with the real fsync, an acknowledged write is read by another connection', async (t) => {
  const { db } = setup(t)
  const gc = new GroupCommitter(db)
  await Promise.all([gc.run(insert(db, 7)), gc.run(insert(db, 8))])
  const other = new Database(db.name, { readonly: true })
  t.teardown(() => other.close())
  t.same(other.prepare('SELECT x FROM gc ORDER BY x').pluck().all(), [7, 8])
})

t.test('an in-memory database commits without a file to sync', async (t) => {
  const db = new Database(':memory:')
  t.teardown(() => db.close())
  db.exec('CREATE TABLE gc (x INTEGER NOT NULL)')
  const syncs: string[] = []
  const gc = new GroupCommitter(db as Db, 256, async (f) => {
    syncs.push(f)
  })
  t.equal(await gc.run(insert(db as Db, 1)), 1)
  t.same(syncs, [])
})

/** The process's open descriptors that name `file`. */
function handlesOn(file: string): number {
  const real = fs.realpathSync(file)
  return fs.readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`) === real
    } catch {
      return false
    }
  }).length
}

t.test('the real sync keeps one handle on the -wal file across batches, and close lets it go', { skip: process.platform !== 'linux' && 'reads /proc' }, async (t) => {
  const { db, rows } = setup(t)
  const wal = `${db.name}-wal`
  const before = handlesOn(wal)
  const gc = new GroupCommitter(db)
  for (let x = 1; x <= 5; x++) await gc.run(insert(db, x))
  t.equal(handlesOn(wal), before + 1, 'one handle for five batches')
  const last = gc.run(insert(db, 6))
  await gc.close().then(() => last)
  t.equal(handlesOn(wal), before, 'closed once the batch in flight is on disk')
  t.same(rows(), [1, 2, 3, 4, 5, 6])
})

t.test('a kept-open file that was unlinked is reopened by name', { skip: process.platform !== 'linux' && 'reads /proc' }, async (t) => {
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
})
