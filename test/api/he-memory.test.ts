import v8 from 'node:v8'
import vm from 'node:vm'
import t from 'tap'
import { authenticate } from '../../src/store/keys.js'
import { clinicRows, CLINIC_ID, heApp, uploadClinic } from '../helpers/he.js'

/**
 * 1,000 encrypted queries in a row, each fresh (its own epsilon, so no
 * stored answer is reused): sandbox, custodian, release and commit each
 * time. Resident memory, measured after a warm-up (worker started, SEAL
 * loaded, Galois keys cached), grows by less than 50 MB (the median of the
 * last three samples): every SEAL object
 * made per query is deleted, and nothing per query is kept but the answer
 * row on disk.
 */

const QUERIES = Number(process.env.HE_MEMORY_QUERIES ?? 1000)

/**
 * A full collection before each sample: without it RSS says as much about
 * when V8 last collected as about what is kept, and under CI load one sample
 * after a skipped collection read 99 MB where a quiet run reads 41.
 */
v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void

t.test(`${QUERIES} encrypted queries grow resident memory by less than 50 MB`, async (t) => {
  const ha = await heApp(t, { degree: 4096, maxRows: 600, variance: false })
  const up = await uploadClinic(ha, clinicRows(500), 'owner')
  const alice = (await authenticate(ha.app.db, ha.keys.analyst))!
  const run = async (i: number) => {
    const res = await ha.app.queries.run(alice, {
      sql: `SELECT SUM(visits) FROM ${CLINIC_ID} WHERE insured = ${i % 2 === 0 ? 'TRUE' : 'FALSE'}`,
      grant: ha.grant,
      epsilon: 1 + i / 1e6,
      version: up.version,
    })
    if (res.kind !== 'fresh') throw new Error(`query ${i} was answered from the store`)
  }
  // Warm-up: RSS climbs over the first hundred or so queries (JIT, heaps reaching their working size, SQLite's page cache), then stays flat.
  const WARMUP = 150
  for (let i = 0; i < WARMUP; i++) await run(1_000_000 + i)
  gc()
  const before = process.memoryUsage().rss
  const started = Date.now()
  const trace: string[] = []
  const samples: number[] = []
  for (let i = 0; i < QUERIES; i++) {
    await run(i)
    if ((i + 1) % 250 === 0) {
      gc()
      samples.push(process.memoryUsage().rss)
      trace.push(`${i + 1}: ${(samples.at(-1)! / 1048576).toFixed(0)} MB`)
    }
  }
  t.comment(`RSS along the way: ${trace.join(', ')}`)
  // The median of the last three samples (after 50%, 75% and 100% of the queries): a leak raises all of
  // them, in proportion to the queries run; a passing spike in one sample (a worker's heap or SEAL's wasm
  // memory growing to a new high-water mark while CI runs other suites beside this one) raises one.
  const last = samples.slice(-3).sort((a, b) => a - b)
  const after = last[Math.floor(last.length / 2)]!
  const growth = (after - before) / 1024 / 1024
  t.comment(
    `${QUERIES} queries in ${((Date.now() - started) / 1000).toFixed(1)} s; RSS ${(before / 1048576).toFixed(0)} MB -> ${(after / 1048576).toFixed(0)} MB (${growth.toFixed(1)} MB)`,
  )
  t.ok(growth < 50, `resident memory grew by ${growth.toFixed(1)} MB`)
  const decrypts = await ha.app.db.value<number>("SELECT COUNT(*) FROM audit_log WHERE action = 'custodian.decrypt'")
  t.equal(decrypts, QUERIES + WARMUP, 'every query was decrypted by the custodian')
})
