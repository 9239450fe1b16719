import { Readable } from 'node:stream'
import type { DatasetSpec } from '../schema.js'
import { mulberry32 } from '../engine/mulberry32.js'

/**
 * The demo dataset: 100,000 synthetic households of Binzhou (滨州), Shandong.
 * Deterministic: a seeded generator makes the same rows on every machine. The
 * seeded generator is for making data only; privacy noise never comes from it.
 */

export const DEMO_DATASET_ID = 'binzhou_households'
export const DEMO_ROWS = 100_000

/** County-level districts with population weights (millions, rounded) and median household income (yuan). */
const DISTRICTS = [
  { name: '滨城区', weight: 0.69, medianIncome: 88_000 },
  { name: '沾化区', weight: 0.35, medianIncome: 57_000 },
  { name: '惠民县', weight: 0.58, medianIncome: 62_000 },
  { name: '阳信县', weight: 0.43, medianIncome: 58_000 },
  { name: '无棣县', weight: 0.44, medianIncome: 60_000 },
  { name: '博兴县', weight: 0.49, medianIncome: 78_000 },
  { name: '邹平市', weight: 0.79, medianIncome: 95_000 },
] as const

export const AGE_BANDS = ['18-29', '30-44', '45-59', '60-74', '75+'] as const

/** The seven districts' names, in declared order. */
export const DISTRICT_NAMES: readonly string[] = DISTRICTS.map((d) => d.name)

export const DEMO_SPEC: DatasetSpec = {
  id: DEMO_DATASET_ID,
  title: 'Binzhou households (synthetic demo)',
  description:
    'One row per household: district, insurance status, the age of the head of household, household size, annual income and annual medical spending. Synthetic and deterministic; made for trying veilbox.',
  classification: 'sensitive',
  owner: 'Binzhou Big Data Bureau (demo)',
  privacyUnit: 'household_id',
  unitSpace: 'household',
  maxRowsPerUnit: 1,
  columns: [
    { name: 'household_id', type: 'id', protection: 'public', description: 'privacy unit: one household' },
    {
      name: 'district',
      type: 'category',
      protection: 'public',
      categories: DISTRICTS.map((d) => d.name),
      description: 'county-level district',
    },
    { name: 'insured', type: 'boolean', protection: 'public', description: 'enrolled in basic medical insurance' },
    {
      name: 'age_band',
      type: 'category',
      protection: 'public',
      categories: [...AGE_BANDS],
      description: 'age band of the head of household',
    },
    {
      name: 'age',
      type: 'integer',
      protection: 'dp',
      lower: 18,
      upper: 100,
      description: 'age of the head of household, years',
    },
    {
      name: 'household_size',
      type: 'integer',
      protection: 'dp',
      lower: 1,
      upper: 8,
      description: 'people in the household',
    },
    {
      name: 'income',
      type: 'number',
      protection: 'dp',
      lower: 0,
      upper: 1_000_000,
      description: 'annual household income, yuan',
    },
    {
      name: 'medical_spending',
      type: 'number',
      protection: 'dp',
      lower: 0,
      upper: 200_000,
      description: 'annual medical spending, yuan',
    },
  ],
}

export interface DemoRow {
  household_id: string
  district: string
  insured: boolean
  age_band: string
  age: number
  household_size: number
  income: number
  medical_spending: number
}

export function* demoRows(rows: number = DEMO_ROWS, seed = 20261128): Generator<DemoRow> {
  const rand = mulberry32(seed)
  const normal = () => {
    // Box-Muller; 1 - u keeps the log argument away from 0.
    const u = 1 - rand()
    const v = rand()
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)
  }
  const totalWeight = DISTRICTS.reduce((s, d) => s + d.weight, 0)
  for (let i = 0; i < rows; i++) {
    let pick = rand() * totalWeight
    let district: (typeof DISTRICTS)[number] = DISTRICTS[DISTRICTS.length - 1]!
    for (const d of DISTRICTS) {
      pick -= d.weight
      if (pick < 0) {
        district = d
        break
      }
    }
    const age = Math.min(100, Math.max(18, Math.round(50 + 15 * normal())))
    const band = age < 30 ? 0 : age < 45 ? 1 : age < 60 ? 2 : age < 75 ? 3 : 4
    const household_size = Math.min(
      8,
      Math.max(1, Math.round(age < 30 ? 2 + rand() * 2 : age > 70 ? 1.5 + rand() * 1.5 : 2.5 + rand() * 3)),
    )
    // Income peaks mid-career; log-normal spread around the district's median.
    const ageFactor = 1 - 0.00035 * (age - 47) ** 2
    const income = Math.min(
      1_000_000,
      Math.round(district.medianIncome * Math.max(0.25, ageFactor) * Math.exp(0.55 * normal())),
    )
    const insured = rand() < (age >= 60 ? 0.97 : 0.93)
    // Spending grows with age; the uninsured spend less on care.
    const spending = Math.exp(7.2 + 0.03 * (age - 18) + 0.9 * normal()) * (insured ? 1 : 0.6)
    const medical_spending = Math.min(200_000, Math.round(spending * 100) / 100)
    yield {
      household_id: `BZ${String(i + 1).padStart(7, '0')}`,
      district: district.name,
      insured,
      age_band: AGE_BANDS[band]!,
      age,
      household_size,
      income,
      medical_spending,
    }
  }
}

export function toCsvLine(r: DemoRow): string {
  return `${r.household_id},${r.district},${r.insured},${r.age_band},${r.age},${r.household_size},${r.income},${r.medical_spending}\n`
}

export const DEMO_CSV_HEADER = 'household_id,district,insured,age_band,age,household_size,income,medical_spending\n'

/** The demo data as a CSV stream, header first, produced lazily; another seed gives other rows of the same shape. */
export function demoCsv(rows: number = DEMO_ROWS, seed?: number): Readable {
  return csvStream(DEMO_CSV_HEADER, demoRows(rows, seed), toCsvLine)
}

/** Rows as a CSV stream: the header, then the lines in batches of 4,096, produced lazily. */
export function csvStream<T>(header: string, rows: Iterable<T>, line: (row: T) => string): Readable {
  return Readable.from(
    (function* () {
      yield header
      let batch = ''
      let n = 0
      for (const r of rows) {
        batch += line(r)
        if (++n % 4096 === 0) {
          yield batch
          batch = ''
        }
      }
      if (batch !== '') yield batch
    })(),
  )
}
