import { Readable } from 'node:stream'
import type { DatasetSpec } from '../schema.js'
import { DISTRICT_NAMES } from './binzhou.js'
import { mulberry32 } from '../engine/mulberry32.js'

/**
 * The encrypted demo dataset: household subsidies in Binzhou, whose amounts
 * and dependants are homomorphically encrypted (he). The service holds only
 * their ciphertexts; the demo custodian (in process, in VEILBOX_CUSTODIAN_DIR)
 * holds the key and decrypts released aggregates only. Synthetic and
 * deterministic, like binzhou_households.
 */

export const DEMO_HE_DATASET_ID = 'binzhou_subsidies'
/** One ciphertext batch at n = 8192: quick to encrypt at first start and to query. */
export const DEMO_HE_ROWS = 8000
export const DEMO_HE_MAX_ROWS = 8192

export const DEMO_HE_SPEC: DatasetSpec = {
  id: DEMO_HE_DATASET_ID,
  title: 'Binzhou household subsidies (synthetic, encrypted demo)',
  description:
    'One row per subsidised household: district and whether it is rural (public), the annual subsidy in yuan and the number of dependants (homomorphically encrypted: the service computes on ciphertexts only). Synthetic and deterministic.',
  classification: 'core',
  owner: 'Binzhou Civil Affairs Bureau (demo)',
  privacyUnit: 'household_id',
  maxRowsPerUnit: 1,
  columns: [
    { name: 'household_id', type: 'id', protection: 'public', description: 'privacy unit: one household' },
    {
      name: 'district',
      type: 'category',
      protection: 'public',
      categories: [...DISTRICT_NAMES],
      description: 'county-level district',
    },
    { name: 'rural', type: 'boolean', protection: 'public', description: 'rural household registration' },
    {
      name: 'subsidy',
      type: 'number',
      protection: 'he',
      lower: 0,
      upper: 20_000,
      scale: 2,
      description: 'annual subsidy, yuan (encrypted)',
    },
    {
      name: 'dependants',
      type: 'integer',
      protection: 'he',
      lower: 0,
      upper: 8,
      description: 'dependants in the household (encrypted)',
    },
  ],
}

export const DEMO_HE_KEY_OPTIONS = { maxRows: DEMO_HE_MAX_ROWS, polyModulusDegree: 8192 } as const

export const DEMO_HE_CSV_HEADER = 'household_id,district,rural,subsidy,dependants\n'

/** The rows as CSV text, header first. */
export function demoHeCsv(rows: number = DEMO_HE_ROWS, seed = 20261129): string {
  const rand = mulberry32(seed)
  let out = DEMO_HE_CSV_HEADER
  for (let i = 0; i < rows; i++) {
    const district = DISTRICT_NAMES[Math.floor(rand() * DISTRICT_NAMES.length)]!
    const rural = rand() < 0.55
    const dependants = Math.min(8, Math.floor(rand() * (rural ? 5 : 3.5)))
    // A base allowance, more per dependant, more in the countryside; cents.
    const subsidy = Math.min(
      20_000,
      Math.round((1200 + dependants * 900 + (rural ? 1500 : 0) + rand() * 2500) * 100) / 100,
    )
    out += `HS${String(i + 1).padStart(6, '0')},${district},${rural},${subsidy},${dependants}\n`
  }
  return out
}

export function demoHeStream(rows: number = DEMO_HE_ROWS): Readable {
  return Readable.from([demoHeCsv(rows)])
}
