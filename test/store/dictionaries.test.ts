/**
 * Stored dictionaries read and packed off the event loop's thread
 * (src/store/dictionaries.ts): from SQLite on disk by a thread with a
 * connection of its own, otherwise read here and packed there (SQLite in
 * memory; PostgreSQL with VEILBOX_TEST_STORE=postgres). Each gives back what
 * was stored, and a missing dictionary is null.
 */
import t from 'tap'
import { openStore } from '../../src/store/db.js'
import { createDataset } from '../../src/store/datasets.js'
import { packedDictionary, stageDictionary, type PackedStrings } from '../../src/store/dictionaries.js'
import { SqliteDatabase } from '../../src/store/sqlite.js'
import { discardUpload, startUpload } from '../../src/store/uploads.js'
import type { Sql } from '../../src/store/sql.js'
import { PEOPLE_SPEC, TEST_STORE, tempDir, testDatabaseUrl } from '../helpers/app.js'
import { datasetSpecSchema } from '../../src/schema.js'

const decoder = new TextDecoder()
const unpack = (p: PackedStrings) =>
  Array.from(
    { length: p.count },
    (_, k) => p.special?.get(k) ?? decoder.decode(p.bytes.subarray(p.offsets[k]!, p.offsets[k + 1]!)),
  )

const IDS = Array.from({ length: 50_000 }, (_, i) => `h${i.toString(36)}`).concat(['滨州"\\', 'x\ud800', ''])

async function stored(db: Sql): Promise<number> {
  await createDataset(db, datasetSpecSchema.parse(PEOPLE_SPEC), { principal: 'test', role: 'operator' })
  const upload = await startUpload(db, PEOPLE_SPEC.id)
  await db.run('INSERT INTO column_dictionaries (upload_id, column_name, dictionary) VALUES ($1, $2, $3)', [
    upload,
    'pid',
    JSON.stringify(IDS),
  ])
  return upload
}

t.test('the store in use (SQLite on disk, or PostgreSQL)', async (t) => {
  const db = await openStore({
    dataDir: tempDir(t),
    databaseUrl: TEST_STORE === 'postgres' ? await testDatabaseUrl() : null,
  })
  t.teardown(() => db.close())
  if (TEST_STORE === 'sqlite')
    t.ok(db.file !== undefined && db.file !== ':memory:', 'read by the thread, from the file')
  const upload = await stored(db)
  const p = (await packedDictionary(db, upload, 'pid'))!
  t.equal(p.count, IDS.length)
  t.same(unpack(p), IDS, 'every id as stored')
  t.equal(await packedDictionary(db, upload, 'no_such_column'), null, 'none stored: null')
  t.equal(await packedDictionary(db, upload + 1000, 'pid'), null, 'no such upload: null')
})

t.test('SQLite in memory: read here, packed on the thread', async (t) => {
  const db = new SqliteDatabase(':memory:')
  t.teardown(() => db.close())
  const upload = await stored(db)
  t.same(unpack((await packedDictionary(db, upload, 'pid'))!), IDS)
})

t.test('a broken stored dictionary fails the read with a clear message, and the next read works', async (t) => {
  const db = new SqliteDatabase(`${tempDir(t)}/d.db`)
  t.teardown(() => db.close())
  const upload = await stored(db)
  await db.run(
    "INSERT INTO column_dictionaries (upload_id, column_name, dictionary) VALUES ($1, 'broken', '[\"a\",')",
    [upload],
  )
  await t.rejects(
    packedDictionary(db, upload, 'broken'),
    /reading a stored dictionary: a stored dictionary is not a JSON array of strings/,
  )
  t.equal((await packedDictionary(db, upload, 'pid'))!.count, IDS.length)
})

t.test(
  'a staged dictionary written (by the thread on SQLite on disk) reads back as written, and is discarded with its upload',
  async (t) => {
    const db = await openStore({
      dataDir: tempDir(t),
      databaseUrl: TEST_STORE === 'postgres' ? await testDatabaseUrl() : null,
    })
    t.teardown(() => db.close())
    await createDataset(db, datasetSpecSchema.parse(PEOPLE_SPEC), { principal: 'test', role: 'operator' })
    const upload = await startUpload(db, PEOPLE_SPEC.id)
    await stageDictionary(db, upload, 'pid', Buffer.from(JSON.stringify(IDS)))
    t.equal(
      await db.value('SELECT dictionary FROM column_dictionaries WHERE upload_id = $1', [upload]),
      JSON.stringify(IDS),
      'stored as text',
    )
    t.same(unpack((await packedDictionary(db, upload, 'pid'))!), IDS)
    await t.rejects(
      stageDictionary(db, upload, 'pid', Buffer.from('["again"]')),
      'a second one for the column is refused',
    )
    await discardUpload(db, upload)
    t.equal(await packedDictionary(db, upload, 'pid'), null, 'gone with the upload')
  },
)
