import { PassThrough, Readable } from 'node:stream'
import t from 'tap'
import { parse as parseSync } from 'csv-parse/sync'
import { KeyHolder } from '../../src/engine/he/key-holder.js'
import { KeyStore } from '../../src/engine/he/keystore.js'
import { columnPlan, type HeProfile } from '../../src/engine/he/profile.js'
import { mod, toUnits } from '../../src/engine/he/units.js'
import { encryptCsv, type EncryptOptions } from '../../src/owner/encrypt.js'
import { EncryptionPool } from '../../src/owner/pool.js'
import { csvRecords } from '../../src/owner/csv.js'
import { Layout } from '../../src/owner/layout.js'
import { EncryptedUploadWriter, type BatchEncrypter, type BatchJob } from '../../src/owner/writer.js'
import { mulberry32 } from '../../src/engine/mulberry32.js'
import { decryptSlots } from '../engine/he/fixtures.js'
import { tempDir } from '../helpers/app.js'
import { clinicCsv, clinicRows, clinicSpec, CLINIC_ID, ENCRYPTED, heApp } from '../helpers/he.js'

/**
 * The data owner's encryption in parallel (src/owner): the worker pool writes
 * exactly what one thread writes (the same lines in the same order, each
 * ciphertext decrypting to the same slots), whatever the number of batches in
 * flight; a bad row is named and the file never gets its end line; the
 * writer holds at most its fixed number of batches; the CSV reader reads what
 * csv-parse reads. No test here is about speed.
 */

const SLOTS = 4096 // n = 4096
const ROWS = 3 * SLOTS + 123 // three full batches and a partial one

/** The clinic's columns with cost within [0, 8]: 13,000 rows fit under n = 4096's plain moduli. */
function narrowSpec() {
  const spec = clinicSpec()
  return {
    ...spec,
    columns: spec.columns.map((c) => (c.name === 'cost' ? { ...c, upper: 8 } : c)),
  }
}

function narrowRows(n: number, seed: number): ReturnType<typeof clinicRows> {
  return clinicRows(n, seed).map((r) => ({ ...r, cost: Math.round((r.cost * 80) / 90) / 10 }))
}

async function clinicKeys(t: { teardown(fn: () => void): void }): Promise<{ keysDir: string; profile: HeProfile }> {
  const keysDir = `${tempDir(t)}/keys`
  // At n = 4096 the squares of both columns need two CRT contexts, so several contexts are exercised.
  const profile = await new KeyHolder(await KeyStore.open(keysDir)).createKeys(CLINIC_ID, narrowSpec() as never, {
    maxRows: 13_000,
    polyModulusDegree: 4096,
  })
  return { keysDir, profile }
}

async function encrypt(keysDir: string, csv: string, options: EncryptOptions): Promise<string> {
  const out = new PassThrough()
  const chunks: Buffer[] = []
  out.on('data', (c: Buffer) => chunks.push(c))
  // Fed in uneven slices, as a file stream would.
  const bytes = Buffer.from(csv)
  const slices: Buffer[] = []
  for (let at = 0, k = 0; at < bytes.length; k++) {
    const size = 1000 + ((k * 7919) % 60_000)
    slices.push(bytes.subarray(at, at + size))
    at += size
  }
  await encryptCsv(keysDir, CLINIC_ID, Readable.from(slices), out, options)
  out.end()
  return Buffer.concat(chunks).toString('utf8')
}

interface CipherLine {
  column: string
  kind: 'values' | 'squares'
  context: number
  batch: number
  data: string
}

/** A line's shape without its ciphertext bytes (they are randomized). */
function shape(line: string): string {
  if (!line.startsWith('{"column"')) return line
  const c = JSON.parse(line) as CipherLine
  return `ciphertext ${c.column} ${c.kind} ${c.context} ${c.batch}`
}

/** Decrypts one ciphertext line into its slots (values signed, squares as residues). */
async function slots(keysDir: string, c: CipherLine): Promise<bigint[]> {
  const keystore = await KeyStore.open(keysDir)
  return decryptSlots(keystore, CLINIC_ID, c.context, Buffer.from(c.data, 'base64'), c.kind === 'values')
}

/** What the slots of a batch must hold: the units of the rows (values), or their squares modulo the context's t. */
function expected(profile: HeProfile, rows: ReturnType<typeof clinicRows>, c: CipherLine): bigint[] {
  const plan = columnPlan(profile, c.column)
  const params = profile.contexts[c.context]!
  const t = params.scheme === 'bfv' ? params.plainModulus : 0n
  return Array.from({ length: SLOTS }, (_, i) => {
    const row = rows[c.batch * SLOTS + i]
    if (row === undefined) return 0n
    const u = toUnits(row[c.column as 'visits' | 'cost'], plan.scale)
    return c.kind === 'values' ? u : mod(u * u, t)
  })
}

t.test('the worker pool writes what one thread writes, in the same order, whatever is in flight', async (t) => {
  const { keysDir, profile } = await clinicKeys(t)
  const rows = narrowRows(ROWS, 5)
  const csv = clinicCsv(rows)
  const sequential = (await encrypt(keysDir, csv, { workers: 0 })).trimEnd().split('\n')
  t.equal(sequential.at(-1), JSON.stringify({ end: true, rows: ROWS }))
  for (const [workers, maxInFlight] of [
    [2, 1],
    [2, 3],
    [1, 8],
  ] as const) {
    const parallel = (await encrypt(keysDir, csv, { workers, maxInFlight })).trimEnd().split('\n')
    t.same(parallel.map(shape), sequential.map(shape), `${workers} workers, ${maxInFlight} in flight: the same lines`)
  }
  // And the ciphertexts hold the same slots: the rows' units, their squares modulo each context's t.
  const parallel = (await encrypt(keysDir, csv, { workers: 2 })).trimEnd().split('\n')
  const ciphers = (lines: string[]) =>
    lines.filter((l) => l.startsWith('{"column"')).map((l) => JSON.parse(l) as CipherLine)
  const a = ciphers(sequential)
  const b = ciphers(parallel)
  t.equal(a.length, 4 * 2 * 3, 'four batches of two columns: values, and squares under two CRT contexts')
  t.ok(new Set(b.map((c) => c.context)).size > 1, 'several contexts')
  for (let i = 0; i < a.length; i++) {
    const want = expected(profile, rows, a[i]!)
    t.same(await slots(keysDir, a[i]!), want, `one thread: ${shape(JSON.stringify(a[i]))}`)
    t.same(await slots(keysDir, b[i]!), want, `the pool: ${shape(JSON.stringify(b[i]))}`)
  }
})

t.test("the pool's file is taken by the service", async (t) => {
  const ha = await heApp(t, { degree: 4096, maxRows: 4600 })
  const rows = clinicRows(SLOTS + 7, 9) // one full batch: the pool starts
  const file = await encrypt(ha.custodianDir, clinicCsv(rows), { workers: 2 })
  const res = await ha.call('operator', {
    method: 'POST',
    url: `/v1/datasets/${CLINIC_ID}/versions`,
    headers: { 'content-type': ENCRYPTED },
    payload: file,
  })
  t.equal(res.statusCode, 201, res.body)
  t.equal(res.json().rows, rows.length)
})

t.test('a bad row in a later batch is named, and the file gets no end line', async (t) => {
  const { keysDir } = await clinicKeys(t)
  const rows = narrowRows(ROWS, 6)
  const bad = 2 * SLOTS + 5 // in the third batch, with two batches handed to the workers before it
  const lines = clinicCsv(rows).split('\n')
  lines[bad] = `p${bad},north,true,41,3.5` // visits above 40
  const out = new PassThrough()
  let written = ''
  out.on('data', (c: Buffer) => {
    written += c.toString()
  })
  await t.rejects(
    encryptCsv(keysDir, CLINIC_ID, Readable.from([lines.join('\n')]), out, { workers: 2, maxInFlight: 2 }),
    {
      code: 'VEILBOX_ERR_INGEST_BAD_ROW',
      message: new RegExp(`data row ${bad} \\(line ${bad + 1}\\), column "visits": 41 is above`),
    },
  )
  t.notMatch(written, /"end":true/, 'no end line: the service refuses the file whole')
})

t.test(
  'a refusal in a worker keeps its code and row; a worker that cannot open the keys fails the batch',
  async (t) => {
    const { keysDir, profile } = await clinicKeys(t)
    const pool = new EncryptionPool({ keysDir, dataset: CLINIC_ID, profileId: profile.id }, 1)
    t.teardown(() => pool.close())
    const values = Float64Array.from({ length: 10 }, () => 3)
    values[7] = 99
    await t.rejects(pool.encrypt({ column: 'visits', batch: 2, firstRow: 2 * SLOTS, values }), {
      code: 'VEILBOX_ERR_HE_BAD_VALUE',
      message: new RegExp(`row ${2 * SLOTS + 8}: 99 is outside`),
    })
    const text = await pool.encrypt({ column: 'visits', batch: 0, firstRow: 0, values: new Float64Array(5).fill(1) })
    t.match(text, /^\{"column":"visits","kind":"values","context":0,"batch":0,"data":"[A-Za-z0-9+/=]+"\}\n/)
    const stale = new EncryptionPool({ keysDir, dataset: CLINIC_ID, profileId: '0'.repeat(64) }, 1)
    t.teardown(() => stale.close())
    await t.rejects(stale.encrypt({ column: 'visits', batch: 0, firstRow: 0, values: new Float64Array(5) }), {
      code: 'VEILBOX_ERR_HE_SEAL_FAILURE',
      message: /now holds HE profile/,
    })
  },
)

t.test('the writer holds at most maxInFlight batches, and the rows behind them', async (t) => {
  const { profile } = await clinicKeys(t)
  const held: { job: BatchJob; release: () => void }[] = []
  let outstanding = 0
  let peak = 0
  const encrypter: BatchEncrypter = {
    encrypt(job) {
      outstanding += 1
      peak = Math.max(peak, outstanding)
      return new Promise<string>((resolve) => {
        held.push({
          job,
          release: () => {
            outstanding -= 1
            resolve(`{"batch":${job.batch},"column":"${job.column}"}\n`)
          },
        })
      })
    },
  }
  let text = ''
  const writer = new EncryptedUploadWriter(
    profile,
    { dataset: CLINIC_ID, columns: ['pid'], he: ['visits', 'cost'] },
    (s) => {
      text += s
    },
    encrypter,
    { maxInFlight: 3 },
  )
  await writer.start()
  const stuck = async (w: void | Promise<void>): Promise<boolean> =>
    w !== undefined &&
    (await Promise.race([w.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), 50))]))
  let row = 0
  let waiting: Promise<void> | null = null
  // Rows until the writer makes the caller wait: both columns fill at once; the second batch of cost finds no room.
  while (waiting === null) {
    const w = writer.addRow([`p${row}`], [1, 2])
    row += 1
    if (await stuck(w)) waiting = w as Promise<void>
  }
  t.equal(row, 2 * SLOTS, 'it stops taking rows when the next batch would pass the bound')
  t.equal(outstanding, 3, 'three batches were handed out')
  t.equal(text.split('\n').length - 1, 1 + SLOTS, 'the header and the rows before the first batch were written')
  held.shift()!.release()
  await waiting
  const total = 3 * SLOTS + 10
  const rest = (async () => {
    for (; row < total; row++) {
      const w = writer.addRow([`p${row}`], [1, 2])
      if (w !== undefined) await w
    }
    return writer.finish()
  })()
  for (;;) {
    await new Promise((r) => setTimeout(r, 5))
    const next = held.shift()
    if (next === undefined && outstanding === 0) break
    next?.release()
  }
  t.equal(await rest, total)
  t.equal(peak, 3, 'never more than the bound in flight')
  const batches = text
    .split('\n')
    .filter((l) => l.startsWith('{"batch"'))
    .map((l) => JSON.parse(l) as { batch: number; column: string })
  t.same(
    batches.map((b) => `${b.column}${b.batch}`),
    [0, 1, 2, 3].flatMap((b) => [`visits${b}`, `cost${b}`]),
    'batches written in order',
  )
})

t.test('the CSV reader reads what csv-parse reads, in any slicing', async (t) => {
  const r = mulberry32(3)
  const pieces = ['a', 'b', '', ',', '"q"', '"x,y"', '"l\nm"', '"e""f"', '\r', 'ü', '中', '\uFEFF']
  const cases = [
    'a,b\n\nc,d\n',
    '\n\na\n',
    'a,b\r\nc\r\n\r\nd',
    'a\n\r\nb\n',
    'a,b\n1,2\r\n3,4\n',
    '\uFEFFx,y\n1,2\n',
    'x,y\n"a,b",c\n"d\ne",f\n',
    `h\n${'r\n'.repeat(50)}"q""x"\n`,
    '',
    '\n',
  ]
  for (let k = 0; k < 200; k++) {
    let s = ''
    const n = Math.floor(r() * 40)
    for (let i = 0; i < n; i++) {
      const p = pieces[Math.floor(r() * pieces.length)]!
      s += r() < 0.3 ? `${p}\n` : r() < 0.5 ? `${p},` : p
    }
    cases.push(s)
  }
  let compared = 0
  for (const c of cases) {
    let want: string
    try {
      want = JSON.stringify(parseSync(c, { bom: true, relax_column_count: true }))
    } catch {
      want = 'error'
    }
    for (const size of [1, 3, 7, 1 << 20]) {
      const bytes = Buffer.from(c)
      const parts: Buffer[] = []
      for (let i = 0; i < bytes.length; i += size) parts.push(bytes.subarray(i, i + size))
      let got: string
      try {
        const records: string[][] = []
        for await (const batch of csvRecords(Readable.from(parts)))
          records.push(...(batch.kind === 'lines' ? batch.lines.map((l) => l.split(',')) : batch.records))
        got = JSON.stringify(records)
      } catch {
        got = 'error'
      }
      if (got !== want) t.fail(`${JSON.stringify(c)} in slices of ${size}: ${got}, csv-parse ${want}`)
      compared += 1
    }
  }
  t.equal(compared, cases.length * 4)
})

t.test('a row read in place gives the fields and the JSON a split and JSON.stringify give', async (t) => {
  const r = mulberry32(8)
  const pieces = ['a', 'p1', '', ' ', 'é', '中', '😀', '\\', '\t', '\u2028', '\ud800', '12.5', '-', 'x y']
  let read = 0
  let general = 0
  for (const names of [
    ['pid', 'region', 'cost'],
    ['cost', 'pid', 'visits', 'region'],
    ['pid', 'cost', 'region', 'visits', 'insured'],
  ]) {
    const layout = new Layout(
      names,
      ['cost', 'visits'].filter((n) => names.includes(n)),
    )
    for (let k = 0; k < 3000; k++) {
      const n = names.length + (r() < 0.1 ? (r() < 0.5 ? -1 : 1) : 0)
      const fields = Array.from({ length: Math.max(1, n) }, () =>
        Array.from({ length: Math.floor(r() * 3) }, () => pieces[Math.floor(r() * pieces.length)]).join(''),
      )
      const line = fields.join(',')
      const got = layout.read(line)
      const plain = layout.plainAt.map((i) => fields[i]!)
      if (got === null) {
        general += 1
        continue
      }
      read += 1
      if (fields.length !== names.length) t.fail(`${JSON.stringify(line)} has the wrong width, yet was read`)
      if (got.plainJson() !== JSON.stringify(plain))
        t.fail(`${JSON.stringify(line)}: ${got.plainJson()} against ${JSON.stringify(plain)}`)
      layout.heAt.forEach((at, h) => {
        if (got.he(h) !== fields[at]) t.fail(`${JSON.stringify(line)}: he field ${h}`)
      })
    }
  }
  t.ok(read > 1000 && general > 1000, `${read} rows read in place, ${general} the general way`)
})
