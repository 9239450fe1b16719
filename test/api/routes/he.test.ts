import t from 'tap'
import { versionFingerprint } from '../../../src/ingest/index.js'
import { getVersion } from '../../../src/store/datasets.js'
import {
  clinicCsv,
  clinicRows,
  CLINIC_ID,
  ENCRYPTED,
  encryptedUpload,
  heApp,
  truth,
  uploadClinic,
  type ClinicRow,
} from '../../helpers/he.js'

/**
 * Encrypted (he) columns through the API: keys made by the custodian, data
 * loaded either way (the owner's encrypted file, or plaintext encrypted on
 * arrival), SUM/AVG/COUNT/VAR/STDDEV with WHERE and GROUP BY answered with
 * intervals that hold the truth, and every refusal on the way.
 *
 * n = 4096 keeps keys and queries quick: the clinic's columns fit it (visits
 * up to 40, cost up to 90.0 in tenths, 4000 rows at most).
 */

const ROWS = 3000
const rows = clinicRows(ROWS)

t.test('keys: made by the custodian role, shown in the catalog and at /he, never replaced', async (t) => {
  const ha = await heApp(t, { keys: false })
  const before = await ha.call('analyst', { method: 'GET', url: `/v1/datasets/${CLINIC_ID}` })
  t.same(before.json().he, { keys: false }, 'the catalog says the keys are missing')
  t.same(
    before
      .json()
      .columns.map((c: { name: string; protection: string; aggregates: string[] }) => [
        c.name,
        c.protection,
        c.aggregates.join(','),
      ]),
    [
      ['pid', 'public', ''],
      ['region', 'public', 'count'],
      ['insured', 'public', 'count'],
      ['visits', 'he', 'count,sum,avg,var,stddev'],
      ['cost', 'he', 'count,sum,avg,var,stddev'],
    ],
    'he columns support the moments, never quantiles',
  )
  const upload = await ha.call('operator', {
    method: 'POST',
    url: `/v1/datasets/${CLINIC_ID}/versions`,
    headers: { 'content-type': 'text/csv' },
    payload: clinicCsv(rows.slice(0, 10)),
  })
  t.equal(upload.statusCode, 409)
  t.equal(upload.json().code, 'VEILBOX_ERR_HE_KEYS_MISSING', 'no upload into he columns before the keys exist')

  const asOperator = await ha.call('operator', {
    method: 'POST',
    url: `/v1/datasets/${CLINIC_ID}/he/keys`,
    payload: { maxRows: 4000, polyModulusDegree: 4096 },
  })
  t.equal(asOperator.statusCode, 403, 'only the custodian role makes keys')
  const weak = await ha.call('custodian', {
    method: 'POST',
    url: `/v1/datasets/${CLINIC_ID}/he/keys`,
    payload: { maxRows: 4000, polyModulusDegree: 2048 },
  })
  t.equal(weak.statusCode, 400)
  t.equal(weak.json().code, 'VEILBOX_ERR_HE_INSECURE_PARAMETERS', 'a degree below 128-bit security is refused')
  const wrap = await ha.call('custodian', {
    method: 'POST',
    url: `/v1/datasets/${CLINIC_ID}/he/keys`,
    payload: { maxRows: 1_000_000, polyModulusDegree: 4096 },
  })
  t.equal(wrap.statusCode, 400)
  t.equal(wrap.json().code, 'VEILBOX_ERR_HE_CAPACITY_EXCEEDED', 'parameters under which a SUM could wrap are refused')
  t.match(wrap.json().detail, /rows \* max\|x\|/)

  const made = await ha.call('custodian', {
    method: 'POST',
    url: `/v1/datasets/${CLINIC_ID}/he/keys`,
    payload: { maxRows: 4000, polyModulusDegree: 4096 },
  })
  t.equal(made.statusCode, 201, made.body)
  const he = made.json()
  t.equal(he.keys, true)
  t.equal(he.maxRows, 4000)
  t.ok(
    he.contexts.every(
      (c: { security: string; polyModulusDegree: number; coeffModulusBits: number }) =>
        c.security === 'tc128' && c.coeffModulusBits <= 109,
    ),
    '128-bit parameters',
  )
  t.same(
    he.columns.map((c: { name: string; scheme: string; variance: boolean }) => [c.name, c.scheme, c.variance]),
    [
      ['visits', 'bfv', true],
      ['cost', 'bfv', true],
    ],
  )
  t.notOk(JSON.stringify(he).match(/secret|galois|[A-Za-z0-9+/]{200}/i), 'the view holds no key material')
  const view = await ha.call('analyst', { method: 'GET', url: `/v1/datasets/${CLINIC_ID}/he` })
  t.same(view.json(), { ...he }, 'anyone may read the public parameters')
  t.same((await ha.call('analyst', { method: 'GET', url: `/v1/datasets/${CLINIC_ID}` })).json().he, {
    keys: true,
    profileId: he.profileId,
  })

  const again = await ha.call('custodian', {
    method: 'POST',
    url: `/v1/datasets/${CLINIC_ID}/he/keys`,
    payload: { maxRows: 4000, polyModulusDegree: 4096 },
  })
  t.equal(again.statusCode, 409)
  t.equal(again.json().code, 'VEILBOX_ERR_CUSTODIAN_KEYS_EXIST')

  const plain = await ha.call('operator', {
    method: 'POST',
    url: '/v1/datasets',
    payload: {
      id: 'plain',
      title: 'p',
      classification: 'internal',
      privacyUnit: 'pid',
      maxRowsPerUnit: 1,
      columns: [{ name: 'pid', type: 'id', protection: 'public' }],
    },
  })
  t.equal(plain.statusCode, 201)
  const none = await ha.call('custodian', {
    method: 'POST',
    url: '/v1/datasets/plain/he/keys',
    payload: { maxRows: 10 },
  })
  t.equal(none.statusCode, 400)
  t.equal(none.json().code, 'VEILBOX_ERR_HE_UNSUPPORTED_COLUMN')
  const audit = await ha.app.db.all<{ action: string; detail: string }>(
    "SELECT action, detail FROM audit_log WHERE action LIKE 'he.%'",
  )
  t.same(
    audit.map((a) => a.action),
    ['he.keys.create'],
    'the key creation is audited, once',
  )
})

/** Runs a query and returns, per output cell, [value, interval] by group key. */
async function ask(ha: Awaited<ReturnType<typeof heApp>>, sql: string, epsilon: number, version: number) {
  const res = await ha.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql, grant: ha.grant, epsilon, version, confidence: 0.99 },
  })
  if (res.statusCode !== 200) throw new Error(`${sql}: HTTP ${res.statusCode} ${res.body}`)
  return res.json() as {
    columns: string[]
    rows: (string | number | boolean | null)[][]
    intervals: ([number, number] | null)[][]
    privacy: { perAggregate: unknown[] }
  }
}

const QUERIES: {
  sql: string
  where: (r: ClinicRow) => boolean
  by: 'region' | null
  outputs: [string, 'visits' | 'cost', 'count' | 'sum' | 'avg' | 'var' | 'stddev'][]
}[] = [
  {
    sql: `SELECT region, COUNT(*), SUM(visits), AVG(cost), VAR(visits) FROM ${CLINIC_ID} WHERE insured = TRUE GROUP BY region`,
    where: (r) => r.insured,
    by: 'region',
    outputs: [
      ['count', 'visits', 'count'],
      ['sum_visits', 'visits', 'sum'],
      ['avg_cost', 'cost', 'avg'],
      ['var_visits', 'visits', 'var'],
    ],
  },
  {
    sql: `SELECT SUM(cost), COUNT(visits), STDDEV(cost), AVG(visits) FROM ${CLINIC_ID} WHERE region IN ('north', 'east')`,
    where: (r) => r.region === 'north' || r.region === 'east',
    by: null,
    outputs: [
      ['sum_cost', 'cost', 'sum'],
      ['count_visits', 'visits', 'count'],
      ['stddev_cost', 'cost', 'stddev'],
      ['avg_visits', 'visits', 'avg'],
    ],
  },
]

for (const way of ['owner', 'service'] as const) {
  t.test(
    `an he column loaded by the ${way === 'owner' ? "data owner's encrypted file" : 'plaintext path (encrypted on arrival)'} answers with intervals that hold the truth`,
    async (t) => {
      const ha = await heApp(t, { degree: 4096, maxRows: 4000 })
      const up = await uploadClinic(ha, rows, way)
      t.equal(up.rows, ROWS)
      const v = await getVersion(ha.app.db, CLINIC_ID, up.version)
      const lease = await ha.app.columnCache.acquire(CLINIC_ID, up.version)
      t.equal(
        await versionFingerprint(ha.app.db, lease.version.spec, v),
        up.sha256,
        'the fingerprint is that of what was stored',
      )
      lease.end()
      const cat = await ha.call('operator', { method: 'GET', url: `/v1/datasets/${CLINIC_ID}` })
      t.equal(cat.json().versions[0].encryptedBy, way)
      // Two queries, three rounds each, at 99%: 3 x (3 groups x 4 + 4) = 48 intervals.
      let intervals = 0
      let misses = 0
      const far: string[] = []
      for (let round = 0; round < 3; round++) {
        for (const q of QUERIES) {
          const ans = await ask(ha, q.sql, 4 + round * 0.5, up.version)
          t.equal(ans.rows.length, q.by === null ? 1 : 3)
          ans.rows.forEach((row, r) => {
            const key = q.by === null ? '*' : String(row[0])
            for (const [name, column, fn] of q.outputs) {
              const i = ans.columns.indexOf(name)
              const exact = truth(rows, column, q.where, q.by)[key]![fn]
              const [lo, hi] = ans.intervals[r]![i]!
              intervals += 1
              if (!(lo <= exact && exact <= hi && lo <= (row[i] as number) && (row[i] as number) <= hi)) {
                misses += 1
                far.push(`${key} ${name}: ${exact} not in [${lo}, ${hi}]`)
              }
            }
          })
        }
      }
      t.equal(intervals, 48)
      t.ok(misses <= 3, `${misses} of ${intervals} 99% intervals missed the truth: ${far.join('; ')}`)
    },
  )
}

t.test('encrypted uploads are checked whole: nothing is stored unless all of it is right', async (t) => {
  const ha = await heApp(t, { degree: 4096, maxRows: 4000 })
  const some = rows.slice(0, 5000 > ROWS ? 2500 : 2500)
  const file = (await encryptedUpload(ha.custodianDir, CLINIC_ID, clinicCsv(some)))
    .toString('utf8')
    .trimEnd()
    .split('\n')
  const post = (lines: string[]) =>
    ha.call('operator', {
      method: 'POST',
      url: `/v1/datasets/${CLINIC_ID}/versions`,
      headers: { 'content-type': ENCRYPTED },
      payload: `${lines.join('\n')}\n`,
    })
  const cipherAt = file.findIndex((l) => l.startsWith('{"column"'))
  const header = JSON.parse(file[0]!)
  const cases: [string, string[], number, string, RegExp][] = [
    ['cut short (no end line)', file.slice(0, -1), 400, 'VEILBOX_ERR_INGEST_INCOMPLETE', /no end line/],
    ['a batch missing', file.filter((_, i) => i !== cipherAt), 400, 'VEILBOX_ERR_INGEST_INCOMPLETE', /missing/],
    [
      'a batch twice',
      [...file.slice(0, -1), file[cipherAt]!, file.at(-1)!],
      400,
      'VEILBOX_ERR_INGEST_INCOMPLETE',
      /twice/,
    ],
    [
      'rows that disagree with the end line',
      [...file.slice(0, -1), JSON.stringify({ end: true, rows: some.length + 1 })],
      400,
      'VEILBOX_ERR_INGEST_INCOMPLETE',
      /end line counts/,
    ],
    [
      'another profile',
      [JSON.stringify({ ...header, profileId: 'a'.repeat(64) }), ...file.slice(1)],
      409,
      'VEILBOX_ERR_INGEST_PROFILE_MISMATCH',
      /profile/,
    ],
    [
      'another dataset',
      [JSON.stringify({ ...header, dataset: 'other' }), ...file.slice(1)],
      409,
      'VEILBOX_ERR_INGEST_PROFILE_MISMATCH',
      /other/,
    ],
    [
      'a plain column missing',
      [JSON.stringify({ ...header, columns: header.columns.slice(1) }), ...file.slice(1)],
      400,
      'VEILBOX_ERR_INGEST_BAD_HEADER',
      /plain columns/,
    ],
    [
      'a bad plain cell',
      [file[0]!, JSON.stringify(['p1', 'west', 'true']), ...file.slice(2)],
      400,
      'VEILBOX_ERR_INGEST_BAD_ROW',
      /declared categories/,
    ],
    [
      'a damaged ciphertext',
      file.map((l, i) =>
        i === cipherAt
          ? JSON.stringify({ ...JSON.parse(l), data: Buffer.from('not a ciphertext at all').toString('base64') })
          : l,
      ),
      400,
      'VEILBOX_ERR_HE_BAD_CIPHERTEXT',
      /does not load/,
    ],
    ['no header', file.slice(1), 400, 'VEILBOX_ERR_INGEST_MALFORMED', /header/],
    [
      'a line after the end',
      [...file, JSON.stringify(['p9', 'north', 'true'])],
      400,
      'VEILBOX_ERR_INGEST_MALFORMED',
      /end line/,
    ],
  ]
  for (const [what, lines, status, code, detail] of cases) {
    const res = await post(lines)
    t.equal(res.statusCode, status, `${what}: ${res.body.slice(0, 200)}`)
    t.equal(res.json().code, code, what)
    t.match(res.json().detail, detail, what)
  }
  const stored = await ha.app.db.get(
    'SELECT (SELECT COUNT(*) FROM he_ciphertexts) AS c, (SELECT COUNT(*) FROM column_chunks) AS k, (SELECT COUNT(*) FROM dataset_versions) AS v',
  )
  t.same(stored, { c: 0, k: 0, v: 0 }, 'no trace of any refused upload')
  const ok = await post(file)
  t.equal(ok.statusCode, 201, 'the intact file loads')

  // More rows than the keys were made for: a SUM over them could wrap.
  const big = clinicRows(4001, 3)
  const tooMany = await ha.call('operator', {
    method: 'POST',
    url: `/v1/datasets/${CLINIC_ID}/versions`,
    headers: { 'content-type': 'text/csv' },
    payload: clinicCsv(big),
  })
  t.equal(tooMany.statusCode, 400)
  t.equal(tooMany.json().code, 'VEILBOX_ERR_HE_CAPACITY_EXCEEDED')
  const outOfBounds = await ha.call('operator', {
    method: 'POST',
    url: `/v1/datasets/${CLINIC_ID}/versions`,
    headers: { 'content-type': 'text/csv' },
    payload: 'pid,region,insured,visits,cost\np1,north,true,41,1\n',
  })
  t.equal(outOfBounds.statusCode, 400)
  t.equal(outOfBounds.json().code, 'VEILBOX_ERR_INGEST_BAD_ROW', 'he values are checked like any cell, never clamped')
  t.equal(await ha.app.db.value<number>('SELECT COUNT(*) FROM dataset_versions'), 1)
})

t.test('what an he column cannot do is refused with a clear code, and COUNT works without the custodian', async (t) => {
  const ha = await heApp(t, { degree: 4096, maxRows: 4000 })
  const up = await uploadClinic(ha, rows.slice(0, 500), 'service')
  for (const sql of [
    `SELECT MEDIAN(cost) FROM ${CLINIC_ID}`,
    `SELECT COUNT(*) FROM ${CLINIC_ID} WHERE visits > 3`,
    `SELECT cost, COUNT(*) FROM ${CLINIC_ID} GROUP BY cost`,
  ]) {
    const res = await ha.call('analyst', {
      method: 'POST',
      url: '/v1/queries',
      payload: { sql, grant: ha.grant, epsilon: 1 },
    })
    t.equal(res.statusCode, 400, sql)
    t.equal(res.json().code, 'VEILBOX_ERR_QUERY_HE_UNSUPPORTED', sql)
  }
  const decrypts = () => ha.app.db.value<number>("SELECT COUNT(*) FROM audit_log WHERE action = 'custodian.decrypt'")
  const count = await ask(ha, `SELECT COUNT(visits), COUNT(*) FROM ${CLINIC_ID}`, 1, up.version)
  t.equal(count.rows.length, 1)
  t.equal(await decrypts(), 0, 'COUNT of an he column is read off the mask: nothing is decrypted')
  const sum = await ask(ha, `SELECT SUM(visits) FROM ${CLINIC_ID}`, 1, up.version)
  t.ok(Number.isFinite(sum.rows[0]![0]))
  t.equal(await decrypts(), 1, 'a SUM is one decryption, audited')
  const record = (await ha.app.db.value<string>("SELECT detail FROM audit_log WHERE action = 'custodian.decrypt'"))!
  t.match(JSON.parse(record), { aggregates: 1, columns: ['visits'] })
  const preview = await ha.call('analyst', {
    method: 'POST',
    url: '/v1/queries/preview',
    payload: { sql: `SELECT AVG(cost) FROM ${CLINIC_ID}`, grant: ha.grant, epsilon: 1 },
  })
  t.equal(preview.statusCode, 200, 'an encrypted query prices like any other')
  t.ok(preview.json().privacy.perAggregate[0].noise.sum > 0)
  t.equal(await decrypts(), 1, 'pricing decrypts nothing')
})

t.test("keys: a dataset's owner has the custodian make them; another owner's dataset is unknown to it", async (t) => {
  const { createKey, SYSTEM_ACTOR } = await import('../../../src/store/keys.js')
  const ha = await heApp(t, { keys: false })
  const ownerKey = (await createKey(ha.app.db, { name: 'clinic_board', role: 'owner' }, SYSTEM_ACTOR)).key
  const otherKey = (await createKey(ha.app.db, { name: 'other_board', role: 'owner' }, SYSTEM_ACTOR)).key
  const set = await ha.call('operator', {
    method: 'PUT',
    url: `/v1/datasets/${CLINIC_ID}/owner`,
    payload: { owner: 'clinic_board' },
  })
  t.equal(set.statusCode, 200, set.body)
  const as = (key: string) =>
    ha.app.inject({
      method: 'POST',
      url: `/v1/datasets/${CLINIC_ID}/he/keys`,
      payload: { maxRows: 4000, polyModulusDegree: 4096 },
      headers: { authorization: `Bearer ${key}` },
    })
  const other = await as(otherKey)
  t.equal(other.statusCode, 404, 'another owner gets what an unknown dataset gets')
  t.equal(other.json().code, 'VEILBOX_ERR_DATASET_NOT_FOUND')
  const made = await as(ownerKey)
  t.equal(made.statusCode, 201, made.body)
  t.equal(made.json().keys, true, 'the owner had its keys made by the custodian')
})
