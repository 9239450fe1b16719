import { VeilboxError } from '../errors/index.js'
import { taskColumns } from './exec/task.js'
import { columnPlan, type HeProfile } from './he/profile.js'
import { slotCount } from './he/params.js'
import type { Plan } from './plan/index.js'

/**
 * Admission: what a query will cost, estimated from public facts alone, and
 * refused before anything runs (free, 413, the limit named) when it is over a
 * limit. Preview and run both call it, so they refuse the same queries.
 *
 * The public facts are the plan (columns touched, groups, encrypted measures)
 * and the version's size class: its row count rounded up to a whole block of
 * ROW_BLOCK rows (docs/privacy-model.md declares it public: the time any scan
 * takes shows it anyway, and the block hides the exact count). Every slot
 * count of an HE profile is a multiple of the block, so a version's batch
 * count, which sets the encrypted work, is a function of the size class too.
 *
 * Nothing here reads a row, and no refusal depends on which rows a query
 * selects: a query admitted on one dataset is admitted on every neighbour of
 * the same size class. Once admitted, a query's work is constant in shape
 * (exec kernels, he/aggregate.ts); a deadline hit, which can then only come
 * from load, is charged like an answer (pipeline/commit.ts).
 */

/** Rows per block of a version's public size class; the smallest slot count of any HE context. */
export const ROW_BLOCK = 4096

/** The version's row count rounded up to whole blocks: the only row count an analyst-facing check may use. */
export function publicRows(rows: number): number {
  return Math.max(1, Math.ceil(rows / ROW_BLOCK)) * ROW_BLOCK
}

/**
 * Encrypted work is counted in units of one batch multiplied by one group's
 * mask (about 5 ms for BFV at n = 8192 on the reference machine; CKKS takes
 * less). One group's rotate-and-sum costs about ROTATE_UNITS of them; larger
 * rings cost proportionally more (n / 8192).
 */
export const ROTATE_UNITS = 40

/** Noise samples one answer may draw: each mechanism reserves its samples ahead of the release (noise-pool.ts). */
export const MAX_NOISE_DRAWS = 1 << 20

export interface AdmissionLimits {
  /** Public rows x (columns touched + 1) one task may touch (VEILBOX_TASK_MAX_CELLS). */
  readonly maxCells: number
  /** Encrypted work units one task may do (VEILBOX_HE_MAX_WORK). */
  readonly heMaxWork: number
  /** Values (groups x aggregates) one answer may release (VEILBOX_MAX_RELEASE_VALUES). */
  readonly maxReleaseValues: number
}

export interface WorkEstimate {
  readonly publicRows: number
  readonly cells: number
  readonly heWork: number
  /** Groups x aggregate outputs: the answer's values. */
  readonly values: number
  /** Noise samples the release draws (an upper bound: mechanisms an output shares are counted once each time). */
  readonly noiseDraws: number
}

/** Noise samples per group: one per mechanism of each output, and a quantile's histogram bins. */
function releaseSize(plan: Plan): { values: number; draws: number } {
  let perGroup = 0
  let values = 0
  for (const o of plan.outputs) {
    if (o.kind === 'group') continue
    values += 1
    perGroup += o.kind === 'avg' ? 2 : o.kind === 'var' || o.kind === 'stddev' ? 3 : o.kind === 'quantile' ? 0 : 1
  }
  for (const h of plan.histograms) perGroup += h.quantile.bins
  return { values: values * plan.groups, draws: perGroup * plan.groups }
}

/** The public cost of a plan on a version of `rows` rows, or the 413 that names the limit it passes. */
export function checkWork(
  plan: Plan,
  rows: number,
  heProfile: HeProfile | null,
  limits: AdmissionLimits,
): WorkEstimate {
  const pr = publicRows(rows)
  const columns = taskColumns({ dataset: '', version: 1, ...plan.exec }).length
  const cells = pr * (columns + 1)
  if (cells > limits.maxCells) {
    throw new VeilboxError(
      'VEILBOX_ERR_SANDBOX_TOO_LARGE',
      `the query touches ${columns} columns of a version in the size class of ${pr} rows, ${cells} cells in all, more than this service allows per query (VEILBOX_TASK_MAX_CELLS=${limits.maxCells}); touch fewer columns`,
      { columns, publicRows: pr, cells, max: limits.maxCells },
    )
  }
  // What the release costs the main thread (noise, intervals, serialization) grows with what it releases.
  const { values, draws } = releaseSize(plan)
  if (values > limits.maxReleaseValues || draws > MAX_NOISE_DRAWS) {
    const which =
      values > limits.maxReleaseValues
        ? `${values} values, more than this service releases in one answer (VEILBOX_MAX_RELEASE_VALUES=${limits.maxReleaseValues})`
        : `${draws} noise samples, more than one answer may draw (${MAX_NOISE_DRAWS}; a quantile draws one per histogram bin per group)`
    throw new VeilboxError(
      'VEILBOX_ERR_QUERY_RELEASE_TOO_LARGE',
      `the query would release ${plan.groups} groups x ${values / plan.groups} aggregates: ${which}; group by fewer keys or ask for fewer aggregates`,
      {
        groups: plan.groups,
        values,
        noiseDraws: draws,
        maxValues: limits.maxReleaseValues,
        maxNoiseDraws: MAX_NOISE_DRAWS,
      },
    )
  }
  const heWork = heProfile === null ? 0 : encryptedWork(plan, pr, heProfile)
  if (heWork > limits.heMaxWork) {
    throw new VeilboxError(
      'VEILBOX_ERR_SANDBOX_TOO_LARGE',
      `the query's encrypted aggregates come to ${heWork} work units (${plan.groups} groups; a unit is one ciphertext batch times one group, and each group's rotate-and-sum is ${ROTATE_UNITS}), more than this service allows per query (VEILBOX_HE_MAX_WORK=${limits.heMaxWork}); group by fewer keys or aggregate fewer encrypted columns at once`,
      { work: heWork, groups: plan.groups, max: limits.heMaxWork },
    )
  }
  return { publicRows: pr, cells, heWork, values, noiseDraws: draws }
}

function encryptedWork(plan: Plan, rows: number, profile: HeProfile): number {
  let work = 0
  const groups = plan.groups
  for (const m of plan.exec.encrypted ?? []) {
    const col = columnPlan(profile, m.column)
    const contexts = [...col.sumContexts, ...(m.squares ? (col.squareContexts ?? []) : [])]
    for (const c of contexts) {
      const ctx = profile.contexts[c]!
      const batches = Math.ceil(rows / slotCount(ctx))
      work += Math.ceil((ctx.polyModulusDegree / 8192) * groups * (batches + ROTATE_UNITS))
    }
  }
  return work
}
