import t from 'tap'
import { DEMO_SPEC, demoCsv } from '../../../src/demo/binzhou.js'
import { ColumnCache, loadVersion } from '../../../src/engine/exec/column-cache.js'
import { entryAt, isPacked } from '../../../src/engine/exec/dictionary.js'
import { createDataset } from '../../../src/store/datasets.js'
import { openStore, type Store } from '../../../src/store/db.js'
import { ingest } from '../../../src/ingest/index.js'
import { SYSTEM_ACTOR } from '../../../src/store/keys.js'
import { PEOPLE_SPEC, peopleCsv, TEST_STORE, tempDir, testDatabaseUrl } from '../../helpers/app.js'
import { Readable } from 'node:stream'

/** A fresh store: SQLite in a temporary directory, or a fresh PostgreSQL database (VEILBOX_TEST_STORE=postgres); closed in teardown. */
async function freshStore(t: Parameters<typeof tempDir>[0]): Promise<Store> {
  const db = await openStore({
    dataDir: tempDir(t),
    databaseUrl: TEST_STORE === 'postgres' ? await testDatabaseUrl() : null,
  })
  t.teardown(() => db.close())
  return db
}

async function withVersions(t: Parameters<typeof tempDir>[0], versions: number): Promise<Store> {
  const db = await freshStore(t)
  await createDataset(db, DEMO_SPEC, SYSTEM_ACTOR)
  for (let i = 0; i < versions; i++) await ingest(db, DEMO_SPEC.id, 'text/csv', demoCsv(5000 + i), SYSTEM_ACTOR)
  return db
}

t.test('a loaded version is typed arrays over SharedArrayBuffer, equal to what was uploaded', async (t) => {
  const db = await freshStore(t)
  await createDataset(db, PEOPLE_SPEC as never, SYSTEM_ACTOR)
  await ingest(db, 'people', 'text/csv', Readable.from([peopleCsv(70_000)]), SYSTEM_ACTOR)
  const v = await loadVersion(db, 'people', 1)
  t.equal(v.rows, 70_000)
  const age = v.columns.get('age')!
  t.equal(age.kind, 'i32', 'a bounded integer column is Int32')
  t.ok(age.values.buffer instanceof SharedArrayBuffer)
  t.equal(age.values[69_999], 20 + (70_000 % 60), 'values across the chunk boundary')
  const income = v.columns.get('income')!
  t.equal(income.kind, 'f64')
  t.ok(income.nulls, 'a null bitmap for a column with nulls')
  t.equal((income.nulls![9 >> 3]! >> (9 & 7)) & 1, 1, 'row 10 (index 9) is null')
  t.equal((income.nulls![8 >> 3]! >> (8 & 7)) & 1, 0, 'row 9 is not')
  t.equal(income.values[0], 1000.5)
  const city = v.columns.get('city')!
  t.match(city, { kind: 'code', dictionary: ['north', 'south'] })
  t.ok(city.values instanceof Uint8Array, 'small dictionaries get one byte per row')
  const member = v.columns.get('member')!
  t.same(member.kind === 'code' ? member.dictionary : null, ['false', 'true'])
  // The unit ids: packed in shared memory, not a string each; every id in its place.
  const pid = v.columns.get('pid')!
  if (pid.kind !== 'code' || !isPacked(pid.dictionary)) throw new Error('the id column is not packed')
  t.equal(pid.dictionary.length, 35_000)
  t.ok(
    pid.dictionary.bytes.buffer instanceof SharedArrayBuffer &&
      pid.dictionary.offsets.buffer instanceof SharedArrayBuffer,
  )
  t.equal(entryAt(pid.dictionary, pid.values[0]!), 'p1')
  t.equal(entryAt(pid.dictionary, pid.values[69_999]!), 'p35000')
  t.equal(entryAt(pid.dictionary, 35_000), undefined, 'past the end')
  // pid p1..p35000, two rows each; maxRowsPerUnit 2 keeps both.
  t.equal(
    v.keep.reduce((s, x) => s + x, 0),
    70_000,
  )
})

t.test('the contribution bound keeps the first maxRowsPerUnit rows of each unit, in upload order', async (t) => {
  const db = await freshStore(t)
  await createDataset(db, { ...PEOPLE_SPEC, maxRowsPerUnit: 1 } as never, SYSTEM_ACTOR)
  const csv =
    'pid,city,member,age,income\na,north,true,30,1\nb,north,true,31,2\na,south,false,32,3\na,north,true,33,4\nc,south,true,34,5\nb,south,true,35,6\n'
  await ingest(db, 'people', 'text/csv', Readable.from([csv]), SYSTEM_ACTOR)
  const v = await loadVersion(db, 'people', 1)
  t.same([...v.keep], [1, 1, 0, 0, 1, 0])
})

t.test('the cache keeps versions under its byte budget, least recently used out first, never one in use', async (t) => {
  const db = await withVersions(t, 3)
  const oneVersion = (await loadVersion(db, DEMO_SPEC.id, 1)).bytes
  const cache = new ColumnCache(db, Math.floor(oneVersion * 2.5))
  const l1 = await cache.acquire(DEMO_SPEC.id, 1)
  l1.end()
  const l2 = await cache.acquire(DEMO_SPEC.id, 2)
  l2.end()
  t.equal(cache.size, 2)
  ;(await cache.acquire(DEMO_SPEC.id, 1)).end() // 1 is now more recent than 2
  const l3 = await cache.acquire(DEMO_SPEC.id, 3)
  t.ok(cache.bytes <= oneVersion * 2.5, `within budget: ${cache.bytes}`)
  t.ok(cache.has(DEMO_SPEC.id, 1), 'recently used stays')
  t.notOk(cache.has(DEMO_SPEC.id, 2), 'least recently used goes')
  t.ok(cache.has(DEMO_SPEC.id, 3))
  l3.end()

  // A leased version survives any pressure until its lease ends.
  const tiny = new ColumnCache(db, 1)
  const pinned = await tiny.acquire(DEMO_SPEC.id, 1)
  const other = await tiny.acquire(DEMO_SPEC.id, 2)
  t.ok(tiny.has(DEMO_SPEC.id, 1) && tiny.has(DEMO_SPEC.id, 2), 'both in use, both kept over budget')
  t.equal(pinned.version.columns.get('age')!.values.length, 5000, 'still readable')
  other.end()
  t.notOk(tiny.has(DEMO_SPEC.id, 2), 'freed once released')
  t.ok(tiny.has(DEMO_SPEC.id, 1))
  pinned.end()
  t.equal(tiny.size, 0)
  const loads = tiny.loads
  ;(await tiny.acquire(DEMO_SPEC.id, 1)).end()
  t.equal(tiny.loads, loads + 1, 'loaded again after eviction')
  const cached = new ColumnCache(db, 1e9)
  ;(await cached.acquire(DEMO_SPEC.id, 1)).end()
  ;(await cached.acquire(DEMO_SPEC.id, 1)).end()
  t.equal(cached.loads, 1, 'a cached version is not loaded twice')
})

t.test(
  'finding 2: the service loads a version a chunk at a time, other work runs between chunks, and concurrent queries share one load',
  async (t) => {
    const db = await freshStore(t)
    await createDataset(db, DEMO_SPEC, SYSTEM_ACTOR)
    await ingest(db, DEMO_SPEC.id, 'text/csv', demoCsv(300_000), SYSTEM_ACTOR)
    const cache = new ColumnCache(db, 1 << 30)
    // A timer due at once fires between two chunks of the load, not after it.
    let turns = 0
    const tick = setInterval(() => (turns += 1), 0)
    const [a, b] = await Promise.all([cache.acquire(DEMO_SPEC.id, 1), cache.acquire(DEMO_SPEC.id, 1)])
    clearInterval(tick)
    t.ok(turns >= 3, `the event loop turned ${turns} times during the load`)
    t.equal(cache.loads, 1, 'two queries, one load')
    t.equal(a.version, b.version)
    // The same version loaded in one go (loadVersion, for tools and tests), without turns between chunks.
    const whole = await loadVersion(db, DEMO_SPEC.id, 1)
    t.equal(a.version.rows, whole.rows)
    for (const [name, col] of whole.columns)
      t.same(
        [...a.version.columns.get(name)!.values.subarray(0, 2000)],
        [...col.values.subarray(0, 2000)],
        `${name}: as the load in one go`,
      )
    t.same(Buffer.from(a.version.keep).equals(Buffer.from(whole.keep)), true, 'the same keep mask')
    // An acquire that arrives while the version is loading waits for that load: no second copy is loaded meanwhile.
    const s2 = new ColumnCache(db, 1 << 30)
    const loading = s2.acquire(DEMO_SPEC.id, 1)
    // Made before this function yields: the first load cannot have finished.
    const meanwhile = s2.acquire(DEMO_SPEC.id, 1)
    const [first, second] = await Promise.all([loading, meanwhile])
    t.equal(s2.loads, 1, 'an acquire during the load does not load a second copy')
    t.equal(first.version, second.version, 'both leases hold the one load')
    first.end()
    second.end()
    a.end()
    b.end()
  },
)

t.test('a dictionary is parsed in slices to the same array as JSON.parse, whatever its strings hold', async (t) => {
  const { parseStringArray } = await import('../../../src/engine/exec/column-cache.js')
  const tricky = ['a', '","', '\\', '\\"', '\\\\","', 'x\\', '"', ',', '滨城区', '😀', '', 'end\\\\']
  const values = Array.from({ length: 3000 }, (_, i) => `${tricky[i % tricky.length]}${i % 7 === 0 ? '' : i}`)
  const text = JSON.stringify(values)
  for (const slice of [1, 5, 17, 100, 1 << 20]) {
    const steps = parseStringArray(text, slice)
    let r = steps.next()
    let turns = 0
    while (r.done !== true) {
      turns += 1
      r = steps.next()
    }
    t.same(r.value, values, `slices of ${slice} characters (${turns} steps)`)
  }
  t.same(
    [
      ...(function* () {
        return yield* parseStringArray('[]', 1)
      })(),
    ],
    [],
    'an empty dictionary',
  )
})

t.test('a dictionary that is not JSON.stringify of an array of strings is refused, not misread', async (t) => {
  const { parseStringArray } = await import('../../../src/engine/exec/column-cache.js')
  const run = (text: string) => {
    const steps = parseStringArray(text, 2)
    let r = steps.next()
    while (r.done !== true) r = steps.next()
    return r.value
  }
  t.same(run('["ab","c\\u0041","",""]'), ['ab', 'cA', '', ''])
  for (const text of ['["ab",]', '["ab" ,"c"]', '{"ab":1}', '["ab",1]', '["ab', '["a\\"]', 'x"ab"]'])
    t.throws(() => run(text), SyntaxError, text)
})
