/**
 * Checkpoints off the event loop (src/store/checkpoint.ts): the writer never
 * checkpoints in a commit, a thread of its own does once there were commits,
 * and closing the database waits for it. A commit made durable off the
 * thread (syncOffThread) resolves only after the -wal file's sync.
 */
import fs from 'node:fs'
import Database from 'better-sqlite3'
import t from 'tap'
import { SqliteDatabase, type SqliteOptions } from '../../src/store/sqlite.js'
import { tempDir } from '../helpers/app.js'

function setup(t: { teardown(fn: () => unknown): void }, options: SqliteOptions = {}) {
  const dir = tempDir(t)
  const file = `${dir}/cp.db`
  const db = new SqliteDatabase(file, {
    migrations: [{ version: 1, name: 'cp', sql: 'CREATE TABLE cp (x INTEGER NOT NULL, b BLOB NOT NULL)' }],
    ...options,
  })
  t.teardown(() => db.close())
  return { db, file }
}

const walBytes = (file: string) => (fs.existsSync(`${file}-wal`) ? fs.statSync(`${file}-wal`).size : 0)

/** Frames in the log not yet in the database, as another connection's PASSIVE checkpoint reports them. */
function framesLeft(file: string): number {
  const other = new Database(file)
  try {
    const [row] = other.pragma('wal_checkpoint(PASSIVE)') as { log: number; checkpointed: number }[]
    return row!.log - row!.checkpointed
  } finally {
    other.close()
  }
}

t.test('the writer does not checkpoint in its commits; the checkpointer thread does, soon after', async (t) => {
  const { db, file } = setup(t, { checkpointEveryMs: 3_600_000 })
  t.equal(db.raw.pragma('wal_autocheckpoint', { simple: true }), 0, 'automatic checkpoints are off')
  // 8 MB of commits: with SQLite's default, the writer would have checkpointed after the first 4 MB.
  for (let i = 0; i < 32; i++) await db.run('INSERT INTO cp (x, b) VALUES ($1, $2)', [i, Buffer.alloc(256 * 1024, i)])
  t.ok(walBytes(file) > 8_000_000, `the log holds every commit (${walBytes(file)} bytes)`)

  const { db: quick, file: quickFile } = setup(t, { checkpointEveryMs: 20 })
  for (let i = 0; i < 32; i++)
    await quick.run('INSERT INTO cp (x, b) VALUES ($1, $2)', [i, Buffer.alloc(256 * 1024, i)])
  const deadline = Date.now() + 20_000
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50))
    // Read without checkpointing: the database file grows once the thread has copied the frames into it.
    if (fs.statSync(quickFile).size > 8_000_000) break
  }
  const left = framesLeft(quickFile)
  t.ok(fs.statSync(quickFile).size > 8_000_000, 'the thread copied the frames into the database file')
  t.equal(left, 0, 'nothing is left in the log')
  t.equal(quick.raw.prepare('SELECT COUNT(*) FROM cp').pluck().get(), 32, 'every row reads back after the checkpoint')
})

t.test('closing waits for the checkpointer; the database reopens whole', async (t) => {
  const dir = tempDir(t)
  const file = `${dir}/cp.db`
  const migrations = [{ version: 1, name: 'cp', sql: 'CREATE TABLE cp (x INTEGER NOT NULL, b BLOB NOT NULL)' }]
  const db = new SqliteDatabase(file, { migrations, checkpointEveryMs: 5 })
  for (let i = 0; i < 50; i++) await db.run('INSERT INTO cp (x, b) VALUES ($1, $2)', [i, Buffer.alloc(64 * 1024, i)])
  await new Promise((r) => setTimeout(r, 30))
  await db.close()
  const again = new SqliteDatabase(file, { migrations })
  t.teardown(() => again.close())
  t.equal(again.raw.prepare('SELECT COUNT(*) FROM cp').pluck().get(), 50)
  t.equal(again.raw.pragma('integrity_check', { simple: true }), 'ok')
})

t.test('a commit synced off the thread resolves after the sync of the -wal file, and only then', async (t) => {
  let release: () => void = () => {}
  const calls: string[] = []
  const { db, file } = setup(t, {
    syncFile: (f) => {
      calls.push(f)
      return new Promise<void>((r) => (release = r))
    },
  })
  let done = false
  const commit = db
    .transaction((tx) => tx.run('INSERT INTO cp (x, b) VALUES (1, $1)', [Buffer.alloc(10)]), { syncOffThread: true })
    .then(() => (done = true))
  for (let i = 0; i < 20 && calls.length === 0; i++) await new Promise((r) => setImmediate(r))
  t.same(calls, [`${file}-wal`], 'the -wal file is synced')
  t.notOk(done, 'the commit waits for the sync')
  t.equal(db.raw.pragma('synchronous', { simple: true }), 2, 'later commits are synchronous=FULL again')
  release()
  await commit
  t.ok(done)
})
