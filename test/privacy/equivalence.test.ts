/**
 * The observational-equivalence harness (docs/privacy-model.md).
 *
 * Two neighbouring datasets, identical but for one privacy unit, and the same
 * requests against both. Everything the threat model says an analyst
 * observes must be identical apart from noisy values and fresh random ids:
 * status, headers, error code and detail, every response field and its
 * shape, the receipt, the audit records the request wrote, and the time
 * (interleaved runs, medians within 1.5x under the worker pool). Below the
 * service, the work itself is compared: the shape of the kernel request each
 * version gets (which loops run) and the number of SEAL operations an
 * encrypted aggregate does, which must not depend on the rows.
 *
 * The added unit is chosen to flip every data-dependent fast path this
 * service ever had: it is the only one aged 38 (so WHERE age = 38 selects no
 * row on one side and one on the other; on the encrypted pair that made the
 * response 20x faster and skipped the custodian), it owns one row more than
 * maxRowsPerUnit (the contribution bound cuts nothing on one side, something
 * on the other), it has the only null income (a null bitmap exists on one
 * side only), and it is the 257th unit (an id dictionary of 256 entries fits
 * 8-bit codes, 257 do not).
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { VeilboxError } from '../../src/errors/index.js'
import { aggregateEncrypted, EvaluationKeys } from '../../src/engine/he/aggregate.js'
import { contextFor } from '../../src/engine/he/context.js'
import { buildAggregateRequest, type ExecTask } from '../../src/engine/exec/task.js'
import type { AggregateRequest, ColumnArray } from '../../src/engine/exec/types.js'
import { bindQuery, parseQuery } from '../../src/engine/query/index.js'
import { parse } from '../../src/engine/dp/budget.js'
import { planQuery } from '../../src/engine/plan/index.js'
import { getDataset } from '../../src/store/datasets.js'
import { findHeKeys, heMaterial } from '../../src/engine/he/material.js'
import { createKey, SYSTEM_ACTOR } from '../../src/store/keys.js'
import { testApp, type TestApp } from '../helpers/app.js'

const FIXTURE = fileURLToPath(new URL('../fixtures/sandbox-worker.ts', import.meta.url))
const DEADLINE_MS = 3000
const BLOCK = 4096

// ---------------------------------------------------------------- the data

const plainSpec = (id: string) => ({
  id,
  title: id,
  classification: 'internal',
  privacyUnit: 'pid',
  unitSpace: 'person',
  maxRowsPerUnit: 2,
  columns: [
    { name: 'pid', type: 'id', protection: 'public' },
    { name: 'city', type: 'category', protection: 'public', categories: ['north', 'south', 'east'] },
    { name: 'member', type: 'boolean', protection: 'public' },
    { name: 'age', type: 'integer', protection: 'dp', lower: 0, upper: 120 },
    { name: 'income', type: 'number', protection: 'dp', lower: 0, upper: 100000, nullable: true },
    // Keys found by partition selection: the newcomer alone holds 'mining'.
    { name: 'sector', type: 'category', protection: 'public', maxKeys: 8 },
  ],
})

/** Visits of the twins' persons: a second dataset of the same unit space, for joins. */
const visitsSpec = (id: string) => ({
  id,
  title: id,
  classification: 'internal',
  privacyUnit: 'pid',
  unitSpace: 'person',
  maxRowsPerUnit: 2,
  columns: [
    { name: 'pid', type: 'id', protection: 'public' },
    { name: 'clinic', type: 'category', protection: 'public', categories: ['x', 'y'] },
    { name: 'cost', type: 'number', protection: 'dp', lower: 0, upper: 5000 },
  ],
})

function visitsCsv(withNeighbour: boolean): string {
  let out = 'pid,clinic,cost\n'
  for (let u = 0; u < 256; u += 2) out += `p${u},${u % 4 === 0 ? 'x' : 'y'},${100 + ((u * 37) % 4000)}\n`
  if (withNeighbour) out += 'newcomer,y,4999\nnewcomer,x,12\nnewcomer,y,300\n'
  return out
}

const heSpec = (id: string) => ({
  id,
  title: id,
  classification: 'sensitive',
  privacyUnit: 'pid',
  maxRowsPerUnit: 1,
  columns: [
    { name: 'pid', type: 'id', protection: 'public' },
    { name: 'district', type: 'category', protection: 'public', categories: ['a', 'b', 'c'] },
    { name: 'member', type: 'boolean', protection: 'public' },
    { name: 'age', type: 'integer', protection: 'public', lower: 0, upper: 120 },
    { name: 'subsidy', type: 'integer', protection: 'he', lower: 0, upper: 100 },
  ],
})

const CITIES = ['north', 'south', 'east']
const SECTORS = ['agri', 'mfg', 'svc']
/** An age other than 38, from a row number. */
const ageOf = (i: number) => 20 + ((i * 7) % 50) + (20 + ((i * 7) % 50) >= 38 ? 1 : 0)

function plainCsv(withNeighbour: boolean): string {
  let out = 'pid,city,member,age,income,sector\n'
  for (let u = 0; u < 256; u++) {
    for (let k = 0; k < 2; k++) {
      const i = 2 * u + k
      out += `p${u},${CITIES[i % 3]},${i % 2 === 0},${ageOf(i)},${1000 + ((i * 937) % 90000)}.5,${SECTORS[u % 3]}\n`
    }
  }
  if (withNeighbour)
    out += 'newcomer,south,true,38,,mining\nnewcomer,south,true,38,64000,mining\nnewcomer,north,false,38,71000,mining\n'
  return out
}

function heCsv(withNeighbour: boolean): string {
  let out = 'pid,district,member,age,subsidy\n'
  for (let u = 0; u < 20; u++) out += `h${u},${'abc'[u % 3]},${u % 2 === 0},${ageOf(u)},${(u * 13) % 101}\n`
  if (withNeighbour) out += 'newcomer,b,true,38,77\n'
  return out
}

// ---------------------------------------------------------------- the app

interface Harness extends TestApp {
  readonly grants: Record<string, string>
  readonly bobKey: string
}

async function harness(t: Parameters<typeof testApp>[0], taskMaxCells = BLOCK * 4): Promise<Harness> {
  const custodianDir = fs.mkdtempSync(path.join(os.tmpdir(), 'veilbox-equiv-custodian-'))
  t.teardown(() => fs.rmSync(custodianDir, { recursive: true, force: true }))
  const ta = await testApp(
    t,
    {
      custodianDir: path.join(custodianDir, 'keys'),
      queryTimeoutMs: DEADLINE_MS,
      // Up to three columns per query on a version of one block; three encrypted groups, not six.
      taskMaxCells,
      heMaxWork: 100,
    },
    FIXTURE,
  )
  const ok = async (p: Promise<{ statusCode: number; body: string }>, want: number) => {
    const res = await p
    if (res.statusCode !== want) throw new Error(`HTTP ${res.statusCode}: ${res.body}`)
    return res
  }
  const grants: Record<string, string> = {}
  const register = async (spec: { id: string }, csv: string, he: boolean) => {
    await ok(ta.call('operator', { method: 'POST', url: '/v1/datasets', payload: spec }), 201)
    await ok(
      ta.call('operator', {
        method: 'PUT',
        url: `/v1/datasets/${spec.id}/budget`,
        payload: { epsilon: 1_000_000, delta: 1e-3 },
      }),
      200,
    )
    const g = await ok(
      ta.call('operator', {
        method: 'POST',
        url: '/v1/grants',
        payload: {
          analyst: 'alice',
          dataset: spec.id,
          purpose: 'equivalence harness',
          epsilon: 100_000,
          delta: 1e-4,
          expiresAt: '2099-01-01T00:00:00Z',
        },
      }),
      201,
    )
    grants[spec.id] = (JSON.parse(g.body) as { id: string }).id
    if (he)
      await ok(
        ta.call('custodian', {
          method: 'POST',
          url: `/v1/datasets/${spec.id}/he/keys`,
          payload: { maxRows: BLOCK, polyModulusDegree: 4096, variance: false },
        }),
        201,
      )
    await ok(
      ta.call('operator', {
        method: 'POST',
        url: `/v1/datasets/${spec.id}/versions`,
        headers: { 'content-type': 'text/csv' },
        payload: csv,
      }),
      201,
    )
  }
  await register(plainSpec('twin_a'), plainCsv(false), false)
  await register(plainSpec('twin_b'), plainCsv(true), false)
  // The twins' visits, of the same persons (unit space person): the newcomer has visits on the b side only.
  await register(visitsSpec('visits_a'), visitsCsv(false), false)
  await register(visitsSpec('visits_b'), visitsCsv(true), false)
  for (const side of ['a', 'b']) {
    const g = await ok(
      ta.call('operator', {
        method: 'POST',
        url: '/v1/grants',
        payload: {
          analyst: 'alice',
          datasets: [`twin_${side}`, `visits_${side}`],
          purpose: 'equivalence harness, joined',
          epsilon: 100_000,
          delta: 1e-4,
          expiresAt: '2099-01-01T00:00:00Z',
        },
      }),
      201,
    )
    grants[`join_${side}`] = (JSON.parse(g.body) as { id: string }).id
  }
  // A public reference table, the same for both twins: each city's region.
  await ok(
    ta.call('operator', {
      method: 'POST',
      url: '/v1/datasets',
      payload: {
        id: 'cities',
        title: 'cities',
        classification: 'public',
        public: true,
        key: 'city',
        columns: [
          { name: 'city', type: 'category', protection: 'public' },
          { name: 'region', type: 'category', protection: 'public' },
        ],
      },
    }),
    201,
  )
  await ok(
    ta.call('operator', {
      method: 'POST',
      url: '/v1/datasets/cities/versions',
      headers: { 'content-type': 'text/csv' },
      payload: 'city,region\nnorth,upland\nsouth,coast\n',
    }),
    201,
  )
  await register(heSpec('enc_a'), heCsv(false), true)
  await register(heSpec('enc_b'), heCsv(true), true)
  const bobKey = (await createKey(ta.app.db, { name: 'bob', role: 'analyst' }, SYSTEM_ACTOR)).key
  return { ...ta, grants, bobKey }
}

// ---------------------------------------------------------------- what an analyst observes

interface Observed {
  readonly status: number
  readonly headers: Record<string, unknown>
  readonly body: unknown
  readonly audit: unknown[]
}

/** Fields whose values are fresh randomness or a clock (compared by presence and type only). */
const VOLATILE = new Set([
  'queryId',
  'createdAt',
  'time',
  'signature',
  'resultHash',
  'auditRecord',
  'datasetCommitment',
  'queryHash',
  'instance',
])

function normalize(value: unknown, key = ''): unknown {
  if (VOLATILE.has(key)) return `<${typeof value}>`
  if (Array.isArray(value)) return value.map((v) => normalize(v))
  if (value !== null && typeof value === 'object') {
    const o = value as Record<string, unknown>
    if (Array.isArray(o.rows) && Array.isArray(o.intervals)) {
      // Aggregate cells (those with an interval) are noisy: their type is observed, not their value.
      const iv = o.intervals as ([number, number] | null)[][]
      const rows = (o.rows as unknown[][]).map((r, i) => r.map((c, j) => (iv[i]?.[j] === null ? c : `<${typeof c}>`)))
      const intervals = iv.map((r) => r.map((c) => (c === null ? null : `<${c.map((x) => typeof x).join(',')}>`)))
      return Object.fromEntries(
        Object.keys(o)
          .sort()
          .map((k) => [k, k === 'rows' ? rows : k === 'intervals' ? intervals : normalize(o[k], k)]),
      )
    }
    return Object.fromEntries(
      Object.keys(o)
        .sort()
        .map((k) => [k, normalize(o[k], k)]),
    )
  }
  return value
}

/** Headers an analyst sees, less the clock and the rate limiter (which counts the analyst's own requests). */
function headersOf(h: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const k of Object.keys(h).sort()) {
    // x-request-id is a random UUID (operators quote it); the rest is the clock, the size of the noisy digits, the analyst's own rate limit.
    if (
      k === 'date' ||
      k === 'content-length' ||
      k === 'x-request-id' ||
      k.startsWith('x-ratelimit') ||
      k === 'connection' ||
      k === 'keep-alive'
    )
      out[k] = '<present>'
    else out[k] = h[k]
  }
  return out
}

/**
 * Audit records are the operator's, but how many a request writes, of which
 * kinds and with which charges is compared: a record written only when rows
 * matched was one of the channels. Their detail values are compared too, but
 * for fresh ids and digests, and `reason`, the operator's account of a
 * failure, which may name counts the analyst is not told (docs/privacy-model.md).
 */
const DETAIL_MASKED = new Set(['queryId', 'receipt', 'profileId', 'sha256', 'commitment', 'reason'])

async function auditSince(h: Harness, seq: number): Promise<unknown[]> {
  const rows = await h.app.db.all<Record<string, unknown>>('SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq', [seq])
  return rows.map((r) => {
    const detail = r.detail === null ? null : (JSON.parse(String(r.detail)) as Record<string, unknown>)
    return {
      action: r.action,
      outcome: r.outcome,
      actor: r.actor,
      role: r.role,
      version: r.version,
      charged: [r.charged_epsilon, r.charged_delta],
      hasRecordId: typeof r.record_id === 'string',
      detail:
        detail === null
          ? null
          : Object.fromEntries(
              Object.keys(detail)
                .sort()
                .map((k) => [k, DETAIL_MASKED.has(k) ? `<${typeof detail[k]}>` : detail[k]]),
            ),
    }
  })
}

/** Everything an analyst observes of one request against dataset `ds`, with `ds` and its grant written as D and G. */
async function observe(h: Harness, ds: string, url: string, payload: Record<string, unknown>): Promise<Observed> {
  const seq = (await h.app.db.value<number>('SELECT COALESCE(MAX(seq), 0) FROM audit_log')) ?? 0
  const grant = h.grants[ds]!
  const text = JSON.stringify(payload).replaceAll('{D}', ds).replaceAll('{G}', grant)
  const res = await h.call('analyst', { method: 'POST', url, payload: JSON.parse(text) as Record<string, unknown> })
  const scrub = (s: string) => s.replaceAll(grant, 'G').replaceAll(ds, 'D')
  const body = JSON.parse(scrub(res.body)) as unknown
  return {
    status: res.statusCode,
    headers: headersOf(res.headers as Record<string, unknown>),
    body: normalize(body),
    audit: JSON.parse(scrub(JSON.stringify(await auditSince(h, seq)))) as unknown[],
  }
}

// ---------------------------------------------------------------- what the sandbox does

async function planOf(h: Harness, ds: string, sql: string): Promise<ExecTask> {
  const { spec } = await getDataset(h.app.db, ds)
  const heProfile = (await findHeKeys(h.app.db, ds))?.profile ?? null
  const plan = planQuery(bindQuery(parseQuery(sql.replaceAll('{D}', ds)), spec), {
    mechanism: 'laplace',
    epsilon: parse('epsilon', 1, 'up'),
    delta: parse('delta', 1e-6, 'up'),
    confidence: 0.95,
    heProfile,
  })
  return { dataset: ds, version: 1, ...plan.exec }
}

const typeName = (a: unknown) => (a === null ? null : (a as object).constructor.name)

/** Which loops the kernels will run: a function of the plan and the schema only. */
function requestShape(r: AggregateRequest): unknown {
  const col = (c: ColumnArray) => ({
    kind: c.kind,
    values: typeName(c.values),
    nulls: c.nulls === null ? null : 'bitmap',
  })
  return {
    selection: r.selection === null ? null : 'mask',
    grouping: r.grouping === null ? null : { count: r.grouping.count, codes: typeName(r.grouping.codes) },
    measures: r.measures.map((m) => ({ kind: m.kind, column: col(m.column) })),
  }
}

async function kernelRequest(
  h: Harness,
  ds: string,
  sql: string,
): Promise<{ task: ExecTask; request: AggregateRequest; end: () => void }> {
  const task = await planOf(h, ds, sql)
  const lease = await h.app.columnCache.acquire(ds, 1)
  const v = lease.version
  return {
    task,
    request: buildAggregateRequest(task, { rows: v.rows, keep: v.keep, columns: v.columns }),
    end: () => lease.end(),
  }
}

const COUNTED = [
  'multiplyPlain',
  'add',
  'sub',
  'rotateRows',
  'rotateColumns',
  'rotateVector',
  'cipherTransformToNtt',
  'cipherTransformFromNtt',
  'plainTransformToNtt',
  'rescaleToNext',
] as const

/** SEAL operations and result shape of every encrypted measure of a query, run here on the version's real ciphertexts. */
async function encryptedWork(h: Harness, ds: string, sql: string): Promise<unknown> {
  const { task, request, end } = await kernelRequest(h, ds, sql)
  const keys = await EvaluationKeys.open(await heMaterial(h.app.db, ds))
  const counts: Record<string, number> = {}
  const restore: (() => void)[] = []
  for (const p of keys.profile.contexts) {
    const ev = (await contextFor(p)).evaluator as unknown as Record<string, (...a: unknown[]) => unknown>
    for (const name of COUNTED) {
      const original = ev[name]!
      ev[name] = (...args: unknown[]) => {
        counts[name] = (counts[name] ?? 0) + 1
        return original.apply(ev, args)
      }
      restore.push(() => {
        ev[name] = original
      })
    }
  }
  try {
    const lease = await h.app.columnCache.acquire(ds, 1)
    const out = []
    try {
      for (const m of task.encrypted ?? []) {
        const column = lease.version.he!.columns.get(m.column)!
        const r = await aggregateEncrypted({
          keys,
          column,
          selection: request.selection,
          grouping: request.grouping,
          squares: m.squares,
        })
        out.push({
          groups: r.counts.length,
          sums: r.sums.map((s) => s.ciphertexts.length),
          squares: r.sumSquares?.length ?? null,
        })
      }
    } finally {
      lease.end()
    }
    return { operations: counts, results: out }
  } finally {
    for (const r of restore) r()
    keys.delete()
    end()
  }
}

// ---------------------------------------------------------------- timing

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

/**
 * Interleaved timing of the same request against both datasets, each run a
 * fresh (uncached) query: its epsilon differs per round. A round passes when
 * the medians are within 1.5x; a channel (the empty selection answered 20x
 * faster) fails every round, while a burst of load on this shared machine
 * fails at most one, so three rounds are tried.
 */
async function timesAgree(
  t: Test,
  h: Harness,
  pair: [string, string],
  sql: string,
  runs: number,
  base: number,
): Promise<void> {
  const ratios: number[] = []
  for (let round = 0; round < 3; round++) {
    const times: Record<string, number[]> = { [pair[0]]: [], [pair[1]]: [] }
    for (let i = 0; i < runs; i++) {
      const order = i % 2 === 0 ? pair : ([pair[1], pair[0]] as const)
      for (const ds of order) {
        const epsilon = Number((base + round * 0.01 + i * 0.0001).toFixed(6))
        const started = performance.now()
        const res = await h.call('analyst', {
          method: 'POST',
          url: '/v1/queries',
          payload: { sql: sql.replaceAll('{D}', ds), grant: h.grants[ds], epsilon },
        })
        times[ds]!.push(performance.now() - started)
        if (res.statusCode !== 200) throw new Error(`timed run: HTTP ${res.statusCode} ${res.body}`)
      }
    }
    const a = median(times[pair[0]]!)
    const b = median(times[pair[1]]!)
    const ratio = Math.max(a, b) / Math.min(a, b)
    ratios.push(ratio)
    if (ratio <= 1.5) {
      t.pass(
        `${sql}: medians ${a.toFixed(1)} ms and ${b.toFixed(1)} ms (ratio ${ratio.toFixed(2)}, round ${round + 1})`,
      )
      return
    }
  }
  t.fail(
    `${sql}: response times differ between neighbouring datasets in every round (ratios ${ratios.map((r) => r.toFixed(2)).join(', ')})`,
  )
}

// ---------------------------------------------------------------- the shapes

interface Shape {
  readonly name: string
  readonly sql: string
  readonly extra?: Record<string, unknown>
  /** The expected status on both sides. */
  readonly status: number
}

const PLAIN: Shape[] = [
  { name: 'ungrouped, every row', sql: 'SELECT COUNT(*), SUM(income) FROM {D}', status: 200 },
  { name: 'grouped, every row', sql: 'SELECT city, COUNT(*), AVG(age) FROM {D} GROUP BY city', status: 200 },
  { name: 'empty vs one-row selection', sql: 'SELECT COUNT(*), AVG(income) FROM {D} WHERE age = 38', status: 200 },
  {
    name: 'empty vs one-row selection, grouped',
    sql: 'SELECT city, SUM(income) FROM {D} WHERE age = 38 GROUP BY city',
    status: 200,
  },
  { name: 'many-row selection, quantile', sql: 'SELECT MEDIAN(age) FROM {D} WHERE age BETWEEN 30 AND 40', status: 200 },
  // Before the gaussian shape, which reserves the ledgers' whole delta.
  {
    name: 'partition selection, the added unit alone in its key',
    sql: 'SELECT sector, COUNT(*), SUM(income) FROM {D} GROUP BY sector',
    // Epsilon enough that the selection of the common keys (85 units each) is certain, as the harness needs:
    // which keys pass is noise, and the comparison is of everything but noise.
    extra: { delta: 1e-6, epsilon: 30 },
    status: 200,
  },
  {
    name: 'gaussian',
    sql: 'SELECT member, COUNT(*) FROM {D} WHERE age = 38 GROUP BY member',
    extra: { mechanism: 'gaussian' },
    status: 200,
  },
  {
    name: 'distinct units, empty vs one-unit selection, grouped',
    sql: 'SELECT city, COUNT(DISTINCT pid) AS units FROM {D} WHERE age = 38 GROUP BY city',
    status: 200,
  },
  { name: 'distinct units, every row', sql: 'SELECT COUNT(DISTINCT pid) FROM {D}', status: 200 },
  {
    name: 'binned, the added unit alone in its bucket',
    sql: 'SELECT BUCKET(age, 30, 40, 2) AS b, COUNT(*), SUM(income) FROM {D} GROUP BY BUCKET(age, 30, 40, 2)',
    status: 200,
  },
  {
    name: 'over the cells limit',
    sql: 'SELECT city, SUM(income), AVG(age) FROM {D} WHERE member = true GROUP BY city',
    status: 413,
  },
  {
    name: 'delta above what an answer may use',
    sql: 'SELECT COUNT(*) FROM {D}',
    extra: { mechanism: 'gaussian', delta: 0.999999 },
    status: 400,
  },
]

const ENCRYPTED: Shape[] = [
  { name: 'encrypted, empty vs one-row selection', sql: 'SELECT SUM(subsidy) FROM {D} WHERE age = 38', status: 200 },
  {
    name: 'encrypted, grouped, empty vs one-row selection',
    sql: 'SELECT district, SUM(subsidy), COUNT(*) FROM {D} WHERE age = 38 GROUP BY district',
    status: 200,
  },
  { name: 'encrypted, every row', sql: 'SELECT AVG(subsidy) FROM {D}', status: 200 },
  {
    name: 'encrypted, binned, the added unit alone in its bucket',
    sql: 'SELECT WIDTH_BUCKET(age, 36, 40, 2) AS b, SUM(subsidy) FROM {D} GROUP BY WIDTH_BUCKET(age, 36, 40, 2)',
    status: 200,
  },
  {
    name: 'encrypted, many-row selection',
    sql: 'SELECT SUM(subsidy) FROM {D} WHERE age BETWEEN 20 AND 60',
    status: 200,
  },
  {
    name: 'encrypted, over the work limit',
    sql: 'SELECT district, member, SUM(subsidy) FROM {D} GROUP BY district, member',
    status: 413,
  },
]

t.test('neighbouring plain datasets: every observable is identical but the noise', async (t) => {
  const h = await harness(t)
  for (const shape of PLAIN) {
    for (const url of ['/v1/queries/preview', '/v1/queries']) {
      const payload = { sql: shape.sql, grant: '{G}', epsilon: 0.5, ...(shape.extra ?? {}) }
      const a = await observe(h, 'twin_a', url, payload)
      const b = await observe(h, 'twin_b', url, payload)
      t.equal(
        a.status,
        url.endsWith('preview') && shape.status === 200 ? 200 : shape.status,
        `${shape.name} (${url}): status`,
      )
      t.same(b, a, `${shape.name} (${url}): identical on neighbouring datasets`)
    }
  }
  // Which loops the kernels run: the same on both sides, whatever the rows.
  for (const shape of PLAIN.filter((s) => s.status === 200)) {
    const shapes = []
    for (const ds of ['twin_a', 'twin_b']) {
      const k = await kernelRequest(h, ds, shape.sql)
      shapes.push(requestShape(k.request))
      k.end()
    }
    t.same(shapes[1], shapes[0], `${shape.name}: the kernel request has the same shape on both sides`)
    t.not(
      (shapes[0] as { selection: unknown }).selection,
      null,
      `${shape.name}: the contribution bound is a mask even where it cuts nothing`,
    )
  }
  for (const ds of ['twin_a', 'twin_b']) {
    const lease = await h.app.columnCache.acquire(ds, 1)
    t.equal(
      typeName(lease.version.columns.get('pid')!.values),
      'Uint32Array',
      `${ds}: an undeclared dictionary is 32-bit whatever its size`,
    )
    t.not(
      lease.version.columns.get('income')!.nulls,
      null,
      `${ds}: a nullable column has a null bitmap whether or not a row is null`,
    )
    lease.end()
  }
})

t.test(
  'neighbouring encrypted datasets: same answers but the noise, same custodian calls and audit records, same SEAL work',
  async (t) => {
    const h = await harness(t)
    for (const shape of ENCRYPTED) {
      const payload = { sql: shape.sql, grant: '{G}', epsilon: 0.5 }
      for (const url of ['/v1/queries/preview', '/v1/queries']) {
        const a = await observe(h, 'enc_a', url, payload)
        const b = await observe(h, 'enc_b', url, payload)
        t.equal(
          a.status,
          url.endsWith('preview') && shape.status === 200 ? 200 : shape.status,
          `${shape.name} (${url}): status`,
        )
        t.same(b, a, `${shape.name} (${url}): identical on neighbouring datasets`)
        if (url === '/v1/queries' && shape.status === 200) {
          t.ok(
            a.audit.some((r) => (r as { action: string }).action === 'custodian.decrypt'),
            `${shape.name}: the custodian decrypts, and its record is written, whatever the selection`,
          )
        }
      }
    }
    for (const shape of ENCRYPTED.filter((s) => s.status === 200)) {
      const a = await encryptedWork(h, 'enc_a', shape.sql)
      const b = await encryptedWork(h, 'enc_b', shape.sql)
      t.same(b, a, `${shape.name}: the same SEAL operations on both sides`)
    }
  },
)

t.test(
  "a refusal after admission tells the analyst its code and a fixed sentence, never the custodian's or worker's counts",
  async (t) => {
    const h = await harness(t)
    // A custodian that refuses the way it does for a value out of range, naming the rows of the group.
    const custodian = h.app.custodian as unknown as {
      decryptAggregates: (r: { aggregates: { column: string; group: number; rows: number }[] }) => Promise<unknown>
    }
    const real = custodian.decryptAggregates.bind(custodian)
    custodian.decryptAggregates = async (r) => {
      await real(r as never)
      const a = r.aggregates.find((x) => x.rows > 0) ?? r.aggregates[0]!
      throw new VeilboxError(
        'VEILBOX_ERR_CUSTODIAN_REFUSED',
        `the sum of ${a.column}, group ${a.group}, is not what ${a.rows} rows of values within the declared bounds can add up to; refusing to release it`,
      )
    }
    const payload = {
      sql: 'SELECT district, SUM(subsidy) FROM {D} WHERE age = 38 GROUP BY district',
      grant: '{G}',
      epsilon: 0.5,
    }
    const a = await observe(h, 'enc_a', '/v1/queries', payload)
    const b = await observe(h, 'enc_b', '/v1/queries', payload)
    t.equal(a.status, 403)
    t.same(b, a, 'identical refusals on neighbouring datasets')
    t.notMatch(JSON.stringify(a.body), /rows|group \d/, 'no count in what the analyst reads')
    const reason = (await h.app.db.value<string>(
      "SELECT detail FROM audit_log WHERE action = 'query.refused' ORDER BY seq DESC LIMIT 1",
    ))!
    t.match(JSON.parse(reason).reason, /rows of values/, "the operator's record keeps the custodian's words")
  },
)

t.test('a deadline hit is charged like an answer, alike on both sides', async (t) => {
  const h = await harness(t)
  const spent = async (ds: string) =>
    (await h.call('analyst', { method: 'GET', url: `/v1/grants/${h.grants[ds]}` })).json().budget.epsilon
      .spent as number
  // The fixture worker spins on this predicate until the deadline ends it.
  const payload = { sql: 'SELECT COUNT(*) FROM {D} WHERE age = -1001', grant: '{G}', epsilon: 0.25 }
  const a = await observe(h, 'twin_a', '/v1/queries', payload)
  const b = await observe(h, 'twin_b', '/v1/queries', payload)
  t.equal(a.status, 504)
  t.same(b, a, 'identical deadline responses and records')
  t.match(a.body, { code: 'VEILBOX_ERR_SANDBOX_TIMEOUT', charged: { epsilon: 0.25, delta: 0 } })
  t.same(
    a.audit.map((r) => (r as { action: string; charged: unknown }).action),
    ['query.deadline'],
    'one record, the charged deadline',
  )
  t.equal(await spent('twin_a'), 0.25, 'charged')
  t.equal(await spent('twin_b'), 0.25, 'charged')
})

t.test('response times do not depend on the rows', async (t) => {
  const h = await harness(t)
  // Warm both versions (load, keys) before timing.
  for (const ds of ['twin_a', 'twin_b', 'enc_a', 'enc_b']) {
    const sql = ds.startsWith('enc') ? 'SELECT SUM(subsidy) FROM {D}' : 'SELECT COUNT(*) FROM {D}'
    await h.call('analyst', {
      method: 'POST',
      url: '/v1/queries',
      payload: { sql: sql.replaceAll('{D}', ds), grant: h.grants[ds], epsilon: 3 },
    })
  }
  await timesAgree(t, h, ['twin_a', 'twin_b'], 'SELECT COUNT(*), AVG(income) FROM {D} WHERE age = 38', 15, 0.1)
  await timesAgree(
    t,
    h,
    ['twin_a', 'twin_b'],
    'SELECT city, SUM(income) FROM {D} WHERE age = 38 GROUP BY city',
    15,
    0.2,
  )
  await timesAgree(t, h, ['enc_a', 'enc_b'], 'SELECT SUM(subsidy) FROM {D} WHERE age = 38', 7, 0.1)
  await timesAgree(
    t,
    h,
    ['enc_a', 'enc_b'],
    'SELECT district, SUM(subsidy) FROM {D} WHERE age = 38 GROUP BY district',
    7,
    0.2,
  )
})

t.test(
  'visibility and fingerprints: nothing about a dataset an analyst holds no grant on, no equal fingerprint for equal rows',
  async (t) => {
    const h = await harness(t)
    const asBob = (url: string) =>
      h.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${h.bobKey}` } })
    t.same(
      (await asBob('/v1/datasets')).json().datasets.map((d: { id: string; public?: boolean }) => [d.id, d.public]),
      [['cities', true]],
      "no grant, nothing listed but the public reference table, which is everyone's",
    )
    for (const suffix of ['', '/he', '/budget']) {
      const hidden = await asBob(`/v1/datasets/enc_a${suffix}`)
      const unknown = await asBob(`/v1/datasets/no_such${suffix}`)
      t.equal(hidden.statusCode, 404, `${suffix || 'entry'}: 404`)
      t.same(
        JSON.parse(hidden.body.replaceAll('enc_a', 'X')).detail,
        JSON.parse(unknown.body.replaceAll('no_such', 'X')).detail,
        `${suffix || 'entry'}: as for an unknown id`,
      )
    }
    // Identical rows, two datasets: every value an analyst sees differs (catalog, answers, receipts).
    const csv = plainCsv(false)
    for (const id of ['same_a', 'same_b']) {
      t.equal(
        (await h.call('operator', { method: 'POST', url: '/v1/datasets', payload: plainSpec(id) })).statusCode,
        201,
      )
      await h.call('operator', { method: 'PUT', url: `/v1/datasets/${id}/budget`, payload: { epsilon: 10 } })
      const g = await h.call('operator', {
        method: 'POST',
        url: '/v1/grants',
        payload: { analyst: 'alice', dataset: id, purpose: 'same rows', epsilon: 5, expiresAt: '2099-01-01T00:00:00Z' },
      })
      h.grants[id] = g.json().id
      t.equal(
        (
          await h.call('operator', {
            method: 'POST',
            url: `/v1/datasets/${id}/versions`,
            headers: { 'content-type': 'text/csv' },
            payload: csv,
          })
        ).statusCode,
        201,
      )
    }
    // Every hash-like value but resultHash, which hashes the released (noisy) values: two equal noisy counts share it.
    const seen = async (id: string) => {
      const entry = (await h.call('analyst', { method: 'GET', url: `/v1/datasets/${id}` })).body
      const answer = (
        await h.call('analyst', {
          method: 'POST',
          url: '/v1/queries',
          payload: { sql: `SELECT COUNT(*) FROM ${id}`, grant: h.grants[id], epsilon: 1 },
        })
      ).body
      const text = JSON.stringify([JSON.parse(entry), JSON.parse(answer)], (k, v) =>
        k === 'resultHash' ? undefined : v,
      )
      return new Set([...text.matchAll(/[0-9a-f]{32,}/g)].map((m) => m[0]))
    }
    const a = await seen('same_a')
    const b = await seen('same_b')
    const shared = [...a].filter((x) => b.has(x))
    t.same(shared, [], 'no hash-like value is the same for the two datasets of identical rows')
    t.ok(a.size >= 3, `values compared: ${a.size}`)
  },
)

t.test(
  'neighbouring joined datasets: the added person has rows on both sides, everything else is identical',
  async (t) => {
    // Cells for a join's public bound: the twin's size class times the join's rows per unit.
    const h = await harness(t, BLOCK * 16)
    const shapes = [
      'SELECT t.city, COUNT(*) AS n, SUM(v.cost) AS cost FROM {D} t JOIN {V} v USING (pid) GROUP BY t.city',
      'SELECT COUNT(DISTINCT pid) AS persons, AVG(v.cost) FROM {D} t JOIN {V} v USING (pid) WHERE t.age = 38',
    ]
    // A public table's lookup too (east has no row in it: its rows drop out), under the twin's own grant.
    const lookups = [
      'SELECT r.region, COUNT(*) AS n, AVG(t.income) AS income FROM {D} t JOIN cities r ON t.city = r.city GROUP BY r.region',
      "SELECT COUNT(DISTINCT pid) AS persons FROM {D} t JOIN cities r USING (city) WHERE r.region = 'coast'",
    ]
    for (const sql of [...shapes, ...lookups]) {
      for (const url of ['/v1/queries/preview', '/v1/queries']) {
        const seen: Observed[] = []
        for (const side of ['a', 'b']) {
          const ds = `twin_${side}`
          const vs = `visits_${side}`
          const grant = lookups.includes(sql) ? h.grants[ds]! : h.grants[`join_${side}`]!
          const seq = (await h.app.db.value<number>('SELECT COALESCE(MAX(seq), 0) FROM audit_log')) ?? 0
          const res = await h.call('analyst', {
            method: 'POST',
            url,
            payload: { sql: sql.replaceAll('{D}', ds).replaceAll('{V}', vs), grant, epsilon: 0.5 },
          })
          const scrub = (s: string) => s.replaceAll(grant, 'G').replaceAll(vs, 'V').replaceAll(ds, 'D')
          seen.push({
            status: res.statusCode,
            headers: headersOf(res.headers as Record<string, unknown>),
            body: normalize(JSON.parse(scrub(res.body)) as unknown),
            audit: JSON.parse(scrub(JSON.stringify(await auditSince(h, seq)))) as unknown[],
          })
        }
        t.equal(seen[0]!.status, 200, `${sql} (${url}): answered`)
        t.same(seen[1], seen[0], `${sql} (${url}): identical on neighbouring datasets`)
      }
    }
  },
)
