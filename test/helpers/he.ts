import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { encryptCsv } from '../../src/owner/encrypt.js'
import type { Config } from '../../src/config/index.js'
import { mulberry32 } from '../../src/engine/mulberry32.js'
import { testApp, type TestApp } from './app.js'

/**
 * A small dataset with encrypted columns, for the HE service tests: clinic
 * visits per patient, region and insurance public, the number of visits
 * (integer, BFV), the cost (fixed point, 1 decimal, BFV) and a temperature
 * (real, CKKS when asked for) encrypted.
 */
export const CLINIC_ID = 'clinic'
export const REGIONS = ['north', 'south', 'east'] as const

export function clinicSpec(options: { ckks?: boolean } = {}) {
  return {
    id: CLINIC_ID,
    title: 'Clinic visits',
    classification: 'sensitive',
    privacyUnit: 'pid',
    maxRowsPerUnit: 1,
    columns: [
      { name: 'pid', type: 'id', protection: 'public' },
      { name: 'region', type: 'category', protection: 'public', categories: [...REGIONS] },
      { name: 'insured', type: 'boolean', protection: 'public' },
      { name: 'visits', type: 'integer', protection: 'he', lower: 0, upper: 40 },
      { name: 'cost', type: 'number', protection: 'he', lower: 0, upper: 90, scale: 1 },
      ...(options.ckks ? [{ name: 'temperature', type: 'number', protection: 'he', lower: 35, upper: 42 }] : []),
    ],
  }
}

export interface ClinicRow {
  pid: string
  region: (typeof REGIONS)[number]
  insured: boolean
  visits: number
  cost: number
  temperature: number
}

/** Deterministic rows (mulberry32: test data, not privacy noise). */
export function clinicRows(n: number, seed = 11): ClinicRow[] {
  const r = mulberry32(seed)
  return Array.from({ length: n }, (_, i) => ({
    pid: `p${i + 1}`,
    region: REGIONS[Math.floor(r() * 3)]!,
    insured: r() < 0.6,
    visits: Math.floor(r() * 41),
    cost: Math.round(r() * 900) / 10,
    temperature: 35 + r() * 7,
  }))
}

export function clinicCsv(rows: readonly ClinicRow[], ckks = false): string {
  const head = `pid,region,insured,visits,cost${ckks ? ',temperature' : ''}\n`
  return (
    head +
    rows
      .map((x) => `${x.pid},${x.region},${x.insured},${x.visits},${x.cost}${ckks ? `,${x.temperature}` : ''}\n`)
      .join('')
  )
}

export interface HeTestApp extends TestApp {
  readonly grant: string
  readonly custodianDir: string
}

/** A test app with the clinic dataset registered, budgeted, granted to alice, and (unless keys: false) its HE keys made. */
export async function heApp(
  t: { teardown(fn: () => unknown): void },
  options: {
    maxRows?: number
    degree?: number
    ckks?: boolean
    keys?: boolean
    variance?: boolean
    overrides?: Partial<Config>
    grantEpsilon?: number
  } = {},
): Promise<HeTestApp> {
  const custodianDir = fs.mkdtempSync(path.join(os.tmpdir(), 'veilbox-custodian-'))
  t.teardown(() => fs.rmSync(custodianDir, { recursive: true, force: true }))
  const ta = await testApp(t, { custodianDir: path.join(custodianDir, 'keys'), ...(options.overrides ?? {}) })
  const spec = clinicSpec({ ckks: options.ckks ?? false })
  const ok = (res: { statusCode: number; body: string }, want: number) => {
    if (res.statusCode !== want) throw new Error(`HTTP ${res.statusCode}: ${res.body}`)
  }
  ok(await ta.call('operator', { method: 'POST', url: '/v1/datasets', payload: spec }), 201)
  ok(
    await ta.call('operator', {
      method: 'PUT',
      url: `/v1/datasets/${CLINIC_ID}/budget`,
      payload: { epsilon: 1_000_000, delta: 1e-3 },
    }),
    200,
  )
  const grant = await ta.call('operator', {
    method: 'POST',
    url: '/v1/grants',
    payload: {
      analyst: 'alice',
      dataset: CLINIC_ID,
      purpose: 'test: clinic statistics',
      epsilon: options.grantEpsilon ?? 100_000,
      delta: 1e-4,
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
    },
  })
  ok(grant, 201)
  if (options.keys !== false) {
    const keys = await ta.call('custodian', {
      method: 'POST',
      url: `/v1/datasets/${CLINIC_ID}/he/keys`,
      payload: {
        maxRows: options.maxRows ?? 4000,
        polyModulusDegree: options.degree ?? 8192,
        ...(options.ckks ? { ckksColumns: ['temperature'] } : {}),
        ...(options.variance === false ? { variance: false } : {}),
      },
    })
    ok(keys, 201)
  }
  return { ...ta, grant: grant.json().id as string, custodianDir: path.join(custodianDir, 'keys') }
}

/** The data owner's encrypted upload of a CSV, made with the custodian's key directory (what `veilbox encrypt` writes). */
export async function encryptedUpload(keysDir: string, dataset: string, csv: string): Promise<Buffer> {
  const out = new PassThrough()
  const chunks: Buffer[] = []
  out.on('data', (c: Buffer) => chunks.push(c))
  await encryptCsv(keysDir, dataset, Readable.from([csv]), out)
  out.end()
  return Buffer.concat(chunks)
}

export const ENCRYPTED = 'application/vnd.veilbox.encrypted+ndjson'

/** Uploads the rows either way: `owner` (client-side encryption) or `service` (plaintext, encrypted on arrival). */
export async function uploadClinic(ha: HeTestApp, rows: readonly ClinicRow[], way: 'owner' | 'service', ckks = false) {
  const csv = clinicCsv(rows, ckks)
  const res =
    way === 'owner'
      ? await ha.call('operator', {
          method: 'POST',
          url: `/v1/datasets/${CLINIC_ID}/versions`,
          headers: { 'content-type': ENCRYPTED },
          payload: await encryptedUpload(ha.custodianDir, CLINIC_ID, csv),
        })
      : await ha.call('operator', {
          method: 'POST',
          url: `/v1/datasets/${CLINIC_ID}/versions`,
          headers: { 'content-type': 'text/csv' },
          payload: csv,
        })
  if (res.statusCode !== 201) throw new Error(`upload (${way}): HTTP ${res.statusCode}: ${res.body}`)
  return res.json() as { version: number; rows: number; sha256: string }
}

/** The true (unnoised) aggregates of a column over rows passing `where`, per region or overall. */
export function truth(
  rows: readonly ClinicRow[],
  column: 'visits' | 'cost' | 'temperature',
  where: (r: ClinicRow) => boolean,
  by: 'region' | null,
) {
  const keys = by === null ? ['*'] : [...REGIONS]
  return Object.fromEntries(
    keys.map((k) => {
      const xs = rows.filter((r) => where(r) && (by === null || r.region === k)).map((r) => r[column])
      const n = xs.length
      const sum = xs.reduce((a, b) => a + b, 0)
      const mean = n === 0 ? 0 : sum / n
      const variance = n === 0 ? 0 : xs.reduce((a, b) => a + (b - mean) ** 2, 0) / n
      return [k, { count: n, sum, avg: mean, var: variance, stddev: Math.sqrt(variance) }]
    }),
  ) as Record<string, { count: number; sum: number; avg: number; var: number; stddev: number }>
}
