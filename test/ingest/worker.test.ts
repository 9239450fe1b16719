/**
 * The CSV fast path's two places to parse (src/ingest/fast.ts): an upload
 * of known small size on the event loop's thread, a large one or one of
 * unknown size (a chunked upload) in a worker thread of its own. Both store
 * the same version; a refusal in the worker names its row and leaves
 * nothing, as on the thread; an input that fails ends the worker's part.
 */
import { Readable } from 'node:stream'
import t from 'tap'
import { ingest, versionFingerprint } from '../../src/ingest/index.js'
import { openDb } from '../../src/store/db.js'
import { createDataset, getVersion } from '../../src/store/datasets.js'
import { VeilboxError } from '../../src/errors/index.js'
import { PEOPLE_SPEC, peopleCsv, tempDir } from '../helpers/app.js'
import { datasetSpecSchema } from '../../src/schema.js'

const actor = { principal: 'operator', role: 'operator' } as const

async function store(t: Parameters<typeof tempDir>[0]) {
  const db = openDb(tempDir(t))
  t.teardown(() => db.close())
  await createDataset(db, datasetSpecSchema.parse(PEOPLE_SPEC), actor)
  return db
}

/** The file in slices of `size` bytes, as a network delivers it. */
function sliced(text: string, size: number): Readable {
  const bytes = Buffer.from(text)
  const parts: Buffer[] = []
  for (let at = 0; at < bytes.length; at += size) parts.push(Buffer.from(bytes.subarray(at, at + size)))
  return Readable.from(parts)
}

const leftovers = (db: ReturnType<typeof openDb>) =>
  db.raw.prepare('SELECT COUNT(*) FROM column_chunks').pluck().get() as number

t.test('on the thread and in a worker: the same version', async (t) => {
  const csv = peopleCsv(150_000)
  const hereDb = await store(t)
  const here = await ingest(hereDb, 'people', 'text/csv', sliced(csv, 65_536), actor, undefined, 1_000)
  const db = await store(t)
  const there = await ingest(db, 'people', 'text/csv', sliced(csv, 65_536), actor, undefined, null)
  t.equal(there.rows, 150_000)
  t.equal(there.sha256, here.sha256, 'the same fingerprint')
  const chunks = db.raw.prepare('SELECT COUNT(*) FROM column_chunks').pluck().get() as number
  t.equal(chunks, 3 * PEOPLE_SPEC.columns.length, 'three chunks per column')
  // The fingerprint is made from the bytes as they are parsed; what was stored (codes made on this thread,
  // dictionaries) must give it back.
  const spec = datasetSpecSchema.parse(PEOPLE_SPEC)
  t.equal(await versionFingerprint(db, spec, await getVersion(db, 'people', 1)), there.sha256, 'the stored rows')
  const dicts = (d: ReturnType<typeof openDb>) =>
    d.raw.prepare('SELECT column_name, dictionary FROM column_dictionaries ORDER BY column_name').all()
  t.same(dicts(db), dicts(hereDb), 'the same dictionaries')
})

t.test('a bad row past the first chunks, in a worker: named, and nothing is left', async (t) => {
  const db = await store(t)
  const csv = peopleCsv(140_000, { row: 139_001, cell: 'age', value: 'old' })
  const err = await ingest(db, 'people', 'text/csv', sliced(csv, 7_000), actor, undefined, null).catch((e) => e)
  t.ok(err instanceof VeilboxError, 'a VeilboxError, rebuilt from the worker')
  t.equal((err as VeilboxError).code, 'VEILBOX_ERR_INGEST_BAD_ROW')
  t.equal((err as VeilboxError).extra.row, 139_001)
  t.equal((err as VeilboxError).extra.column, 'age')
  t.equal(leftovers(db), 0, 'the chunks staged before it are gone')
  t.equal(db.raw.prepare('SELECT COUNT(*) FROM dataset_versions').pluck().get(), 0)
})

t.test('an input that fails mid-way ends the worker and leaves nothing', async (t) => {
  const db = await store(t)
  const head = Buffer.from(peopleCsv(100_000))
  const input = new Readable({ read() {} })
  input.push(head)
  setTimeout(() => input.destroy(new Error('the client went away')), 50)
  const err = await ingest(db, 'people', 'text/csv', input, actor, undefined, null).catch((e) => e)
  t.match(String(err), /client went away/)
  t.equal(leftovers(db), 0)
})

t.test('an empty body and a header alone are refused from the worker as on the thread', async (t) => {
  const db = await store(t)
  for (const [body, detail] of [
    ['', /the CSV is empty/],
    ['pid,city,member,age,income\n', /no data rows/],
  ] as const) {
    const err = await ingest(
      db,
      'people',
      'text/csv',
      Readable.from([Buffer.from(body)]),
      actor,
      undefined,
      null,
    ).catch((e) => e)
    t.equal((err as VeilboxError).code, 'VEILBOX_ERR_INGEST_EMPTY')
    t.match((err as VeilboxError).detail, detail)
  }
  t.equal(leftovers(db), 0)
})

t.test('reading the upload waits while 8 MiB are in flight: the worker never holds the whole file', async (t) => {
  const db = await store(t)
  const csv = Buffer.from(peopleCsv(1_200_000))
  // Where each row ends, to turn rows staged into bytes staged.
  const ends: number[] = []
  for (let i = csv.indexOf(10); i >= 0; i = csv.indexOf(10, i + 1)) ends.push(i + 1)
  const staged = () => {
    const rows = db.raw
      .prepare("SELECT COALESCE(SUM(rows), 0) FROM column_chunks WHERE column_name = 'pid'")
      .pluck()
      .get() as number
    return rows === 0 ? 0 : ends[rows]! // the header's line, then `rows` rows
  }
  let ahead = 0
  async function* parts() {
    for (let at = 0; at < csv.length; at += 65_536) {
      // Each part in a buffer of its own, as a socket read delivers it: moved to the worker, not copied.
      const part = Buffer.alloc(Math.min(65_536, csv.length - at))
      csv.copy(part, 0, at, at + part.length)
      ahead = Math.max(ahead, at + part.length - staged())
      yield part
    }
  }
  const r = await ingest(db, 'people', 'text/csv', Readable.from(parts()), actor, undefined, null)
  t.equal(r.rows, 1_200_000)
  t.ok(csv.length > 30 * 2 ** 20, `a file well past the bound (${csv.length} bytes)`)
  // The bound, a column chunk of rows parsed and not yet staged (65,536 rows), and the part being read.
  t.ok(ahead <= 8 * 2 ** 20 + 65_536 * 40 + 65_536, `at most ${ahead} bytes read ahead of what was staged`)
})
