import type { Readable } from 'node:stream'
import type { DatasetSpec } from '../schema.js'
import { mulberry32 } from '../engine/mulberry32.js'
import { csvStream, DEMO_ROWS, demoRows } from './binzhou.js'

/**
 * The second owner's demo dataset: medical-insurance claims of the Binzhou
 * households, held by the Binzhou Healthcare Security Bureau (demo), not by
 * the Big Data Bureau that holds binzhou_households. One row per claim; the
 * claims belong to the insured households of binzhou_households, under the
 * same household ids (the same unit space, "household"), so that the two can
 * be joined on household_id. Older households claim more often, more and
 * dearer; the uninsured claim nothing. Deterministic: the households come
 * from demoRows (the same seed as the households demo), the claims from a
 * seeded generator of their own. The seeded generators make data only;
 * privacy noise never comes from them.
 */

export const CLAIMS_DATASET_ID = 'binzhou_claims'

/** The claims generator's seed (the households keep their own). */
export const CLAIMS_SEED = 20261130

/**
 * ICD-10 chapter ranges and their weights: a base, and how much the weight
 * grows per year of the head of household's age past `from`. Pregnancy only
 * below 45.
 */
const CHAPTERS = [
  { code: 'J00-J99', base: 18, perYear: 0, from: 0 }, // respiratory
  { code: 'K00-K95', base: 10, perYear: 0.05, from: 30 }, // digestive
  { code: 'I00-I99', base: 3, perYear: 0.45, from: 35 }, // circulatory
  { code: 'M00-M99', base: 6, perYear: 0.15, from: 30 }, // musculoskeletal
  { code: 'E00-E89', base: 3, perYear: 0.2, from: 30 }, // endocrine (diabetes)
  { code: 'S00-T88', base: 7, perYear: 0, from: 0 }, // injury
  { code: 'A00-B99', base: 5, perYear: 0, from: 0 }, // infectious
  { code: 'N00-N99', base: 4, perYear: 0.03, from: 40 }, // genitourinary
  { code: 'C00-D49', base: 0.8, perYear: 0.1, from: 40 }, // neoplasms
  { code: 'O00-O9A', base: 6, perYear: 0, from: 0 }, // pregnancy (below 45 only)
] as const

/**
 * Rare codes, each given to the first claim of a few named households (the
 * n-th claiming household, counted from 0): one or two households hold each,
 * so DP partition selection leaves them out of every answer.
 */
export const RARE_DIAGNOSES: ReadonlyMap<number, string> = new Map([
  [7, 'Q00-Q99'], // congenital: one household
  [23, 'P00-P96'], // perinatal: two households
  [61, 'P00-P96'],
  [101, 'U00-U85'], // codes for special purposes: one household
])

/** Every code the generator may write: the chapters, then the rare ones. */
export const DIAGNOSES: readonly string[] = [...CHAPTERS.map((c) => c.code), ...new Set(RARE_DIAGNOSES.values())]

export const HOSPITAL_LEVELS = ['primary', 'secondary', 'tertiary'] as const

export const CLAIMS_SPEC: DatasetSpec = {
  id: CLAIMS_DATASET_ID,
  title: 'Binzhou medical-insurance claims (synthetic demo)',
  description:
    'One row per basic medical-insurance claim of a Binzhou household: its ICD-10 chapter, the hospital level, whether it was an inpatient stay, the amount claimed and the amount the insurance reimbursed. Households are those of binzhou_households (the same household_id); a household has no claim, one or several. Synthetic and deterministic; made for trying veilbox.',
  classification: 'sensitive',
  owner: 'Binzhou Healthcare Security Bureau (demo)',
  privacyUnit: 'household_id',
  unitSpace: 'household',
  maxRowsPerUnit: 5,
  maxGroupsContributed: 2,
  columns: [
    { name: 'household_id', type: 'id', protection: 'public', description: 'privacy unit: one household' },
    { name: 'claim_id', type: 'id', protection: 'public', description: 'the claim' },
    {
      name: 'diagnosis',
      type: 'category',
      protection: 'public',
      maxKeys: 64,
      description:
        'ICD-10 chapter of the main diagnosis (for example I00-I99, circulatory); no declared list: GROUP BY finds its keys by DP partition selection',
    },
    {
      name: 'hospital_level',
      type: 'category',
      protection: 'public',
      categories: [...HOSPITAL_LEVELS],
      description: 'level of the hospital: primary (township and community), secondary (county), tertiary (city)',
    },
    { name: 'inpatient', type: 'boolean', protection: 'public', description: 'an inpatient stay (else outpatient)' },
    {
      name: 'claim_amount',
      type: 'number',
      protection: 'dp',
      lower: 0,
      upper: 200_000,
      description: 'total cost claimed, yuan',
    },
    {
      name: 'reimbursed',
      type: 'number',
      protection: 'dp',
      lower: 0,
      upper: 200_000,
      description: 'amount the insurance paid, yuan',
    },
  ],
}

export interface ClaimRow {
  household_id: string
  claim_id: string
  diagnosis: string
  hospital_level: (typeof HOSPITAL_LEVELS)[number]
  inpatient: boolean
  claim_amount: number
  reimbursed: number
}

/** Per hospital level: outpatient and inpatient median cost (yuan), the inpatient deductible and the reimbursement rates. */
const LEVELS = {
  primary: { outpatient: 180, inpatient: 3_200, deductible: 200, rateIn: 0.85, rateOut: 0.55 },
  secondary: { outpatient: 380, inpatient: 7_500, deductible: 500, rateIn: 0.75, rateOut: 0.5 },
  tertiary: { outpatient: 750, inpatient: 16_000, deductible: 1_000, rateIn: 0.6, rateOut: 0.45 },
} as const

/** Per chapter: how likely a stay is, how the level leans (toward tertiary when > 1), and a cost factor. */
const SEVERITY: Readonly<Record<string, { inpatient: number; lean: number; cost: number }>> = {
  'C00-D49': { inpatient: 0.6, lean: 2.5, cost: 2.5 },
  'I00-I99': { inpatient: 0.35, lean: 1.5, cost: 1.4 },
  'O00-O9A': { inpatient: 0.7, lean: 1.2, cost: 0.9 },
  'S00-T88': { inpatient: 0.3, lean: 1.2, cost: 1.1 },
  'Q00-Q99': { inpatient: 0.8, lean: 3, cost: 3 },
  'P00-P96': { inpatient: 0.9, lean: 3, cost: 2 },
  'U00-U85': { inpatient: 0.5, lean: 2, cost: 1.5 },
}
const ORDINARY = { inpatient: 0.12, lean: 1, cost: 1 }

/**
 * The claims of the first `households` demo households, household by
 * household, each household's claims together. Another seed gives other
 * claims of the same households.
 */
export function* claimRows(households: number = DEMO_ROWS, seed = CLAIMS_SEED): Generator<ClaimRow> {
  const rand = mulberry32(seed)
  const normal = () => {
    // Box-Muller; 1 - u keeps the log argument away from 0.
    const u = 1 - rand()
    const v = rand()
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)
  }
  const pick = <T>(items: readonly T[], weight: (x: T) => number): T => {
    const total = items.reduce((s, x) => s + weight(x), 0)
    let r = rand() * total
    for (const x of items) {
      r -= weight(x)
      if (r < 0) return x
    }
    return items[items.length - 1]!
  }
  let claiming = 0
  let claims = 0
  for (const h of demoRows(households)) {
    if (!h.insured) continue
    // A claim in the year: more likely with age and with more people in the household.
    const p = Math.min(0.6, (0.035 + 0.0032 * (h.age - 18)) * (0.8 + 0.08 * h.household_size))
    if (rand() >= p) continue
    // How many: one, and a geometric tail that grows with age (a few households claim more than 5 times).
    const more = 0.45 + 0.02 * Math.max(0, h.age - 45)
    let n = 1
    while (n < 12 && rand() < more / (1 + more)) n++
    const rare = RARE_DIAGNOSES.get(claiming++)
    for (let k = 0; k < n; k++) {
      const chapter = pick(CHAPTERS, (c) =>
        c.code === 'O00-O9A' && h.age >= 45 ? 0 : c.base + c.perYear * Math.max(0, h.age - c.from),
      )
      const diagnosis = k === 0 && rare !== undefined ? rare : chapter.code
      const severity = SEVERITY[diagnosis] ?? ORDINARY
      const level = pick(HOSPITAL_LEVELS, (l) =>
        l === 'primary' ? 0.45 / severity.lean : l === 'secondary' ? 0.35 : 0.2 * severity.lean,
      )
      const costs = LEVELS[level]
      const inpatient = rand() < Math.min(0.95, severity.inpatient * (level === 'primary' ? 0.7 : 1.1))
      const median = (inpatient ? costs.inpatient : costs.outpatient) * severity.cost * (1 + 0.006 * (h.age - 50))
      const claim_amount = Math.min(200_000, Math.round(median * Math.exp(0.75 * normal()) * 100) / 100)
      const paid = inpatient
        ? Math.max(0, claim_amount - costs.deductible) * costs.rateIn
        : claim_amount * costs.rateOut
      yield {
        household_id: h.household_id,
        claim_id: `CL${String(++claims).padStart(8, '0')}`,
        diagnosis,
        hospital_level: level,
        inpatient,
        claim_amount,
        reimbursed: Math.min(claim_amount, Math.round(paid * 100) / 100),
      }
    }
  }
}

export const CLAIMS_CSV_HEADER = 'household_id,claim_id,diagnosis,hospital_level,inpatient,claim_amount,reimbursed\n'

export function toClaimCsvLine(r: ClaimRow): string {
  return `${r.household_id},${r.claim_id},${r.diagnosis},${r.hospital_level},${r.inpatient},${r.claim_amount},${r.reimbursed}\n`
}

/** The claims of the first `households` demo households as a CSV stream, header first, produced lazily. */
export function claimsCsv(households: number = DEMO_ROWS, seed?: number): Readable {
  return csvStream(CLAIMS_CSV_HEADER, claimRows(households, seed), toClaimCsvLine)
}
