import { VeilboxError } from '../../errors/index.js'
import { appendAudit, type AuditActor } from '../../store/audit.js'
import type { Store } from '../../store/db.js'
import { randomHex } from '../../store/ids.js'
import type { DatasetSpec } from '../../schema.js'
import type { TaskColumns } from '../exec/task.js'
import { aggregateTask } from '../exec/task.js'
import { tsKernel } from '../exec/kernel.js'
import { releaseTable } from '../release/answer.js'
import { serializeRelease } from '../release/serialize.js'
import { subjectOf } from './commit.js'
import { privacyOf } from './release.js'
import type { PreparedQuery } from './types.js'

/**
 * A dry run (issue 24, point 5): a prepared query's plan run on dummy data
 * instead of the dataset's version. The same prepared plan, kernel contract
 * and release (noise, intervals) as an answer, over a dummy version of the
 * same shape made from the schema alone (engine/dummy.ts; the API loads it,
 * since ingest is not the engine's). Nothing is charged, no price applies,
 * nothing is stored as an answer or cached, and no receipt is signed: the
 * result is marked as dummy at the top and in every value, and audited as
 * `query.dryrun` with a zero charge.
 */

/** Loads a dummy version of a dataset's shape: columns as the column cache loads them. */
export type DummyColumns = (spec: DatasetSpec) => Promise<TaskColumns>

/** The rows of the dummy version a dry run reads (fixed: never the real version's size). */
export const DRY_RUN_ROWS = 1_000
/** Its seed: every dry run of a dataset reads the same dummy rows. */
export const DRY_RUN_SEED = 0

export interface DryRunResult {
  readonly dummy: true
  readonly kind: 'dummy'
  readonly notice: string
  readonly dryRunId: string
  readonly grant: string
  readonly dataset: string
  readonly sql: string | null
  readonly dummyRows: number
  readonly columns: readonly string[]
  readonly rows: readonly (readonly { readonly dummy: unknown }[])[]
  readonly intervals: readonly (readonly ({ readonly dummy: unknown } | null)[])[]
  readonly confidence: number
  readonly privacy: {
    readonly dummy: true
    readonly mechanism: string
    readonly epsilon: number
    readonly delta: number
    readonly charged: { readonly grant: { epsilon: 0; delta: 0 }; readonly dataset: { epsilon: 0; delta: 0 } }
  }
  readonly cached: false
  readonly createdAt: string
}

export const DRY_RUN_NOTICE =
  'DUMMY RESULT: computed on dummy rows made from the schema alone, not on the data. Not a release: nothing was charged, no receipt was signed, and these numbers say nothing about the dataset.'

function unsupported(what: string): VeilboxError {
  return new VeilboxError(
    'VEILBOX_ERR_QUERY_UNSUPPORTED',
    `a dry run cannot run ${what} yet: dry runs read one dataset's dummy rows; nothing was run or charged`,
  )
}

export async function dryRun(
  db: Store,
  actor: AuditActor,
  p: PreparedQuery,
  columnsOf: DummyColumns,
  sql: string | null,
  now: Date,
): Promise<DryRunResult> {
  if (p.joined.length > 0 || p.publicJoined.length > 0) throw unsupported('a join')
  if (p.spec.source !== undefined) throw unsupported('a sourced dataset')
  if (p.plan.exec.encrypted !== undefined) throw unsupported('encrypted (he) columns')
  const src = await columnsOf(p.spec)
  const { result } = aggregateTask(tsKernel, { dataset: p.spec.id, version: 1, ...p.plan.exec }, src)
  const noise = await p.plan.reserveNoise()
  let serialized: Awaited<ReturnType<typeof serializeRelease>>
  try {
    serialized = await serializeRelease(await releaseTable(p.plan, result, noise), p.plan.confidence)
  } finally {
    noise.end()
  }
  if (!serialized.finite)
    throw new VeilboxError('VEILBOX_ERR_DP_NOT_FINITE', 'a dummy value or interval was not a finite number')
  const rows: unknown[][] = JSON.parse(serialized.rows)
  const intervals: unknown[][] = JSON.parse(serialized.intervals)
  const privacy = privacyOf(p)
  const dryRunId = `dry_${randomHex(12)}`
  await db.transaction(
    (tx) =>
      appendAudit(tx, {
        actor,
        action: 'query.dryrun',
        outcome: 'ok',
        ...subjectOf(p),
        charged: { epsilon: '0', delta: '0' },
        detail: { dummy: true, dryRunId, dummyRows: src.rows, seed: DRY_RUN_SEED },
      }),
    { group: true },
  )
  return {
    dummy: true,
    kind: 'dummy',
    notice: DRY_RUN_NOTICE,
    dryRunId,
    grant: p.grant.id,
    dataset: p.spec.id,
    sql,
    dummyRows: src.rows,
    columns: JSON.parse(serialized.columns),
    rows: rows.map((r) => r.map((v) => ({ dummy: v }))),
    intervals: intervals.map((r) => r.map((v) => (v === null ? null : { dummy: v }))),
    confidence: p.plan.confidence,
    privacy: {
      dummy: true,
      mechanism: privacy.mechanism,
      epsilon: privacy.epsilon,
      delta: privacy.delta,
      charged: { grant: { epsilon: 0, delta: 0 }, dataset: { epsilon: 0, delta: 0 } },
    },
    cached: false,
    createdAt: now.toISOString(),
  }
}
