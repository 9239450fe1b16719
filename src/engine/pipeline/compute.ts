import { VeilboxError } from '../../errors/index.js'
import type { Executor, ExecResult } from '../exec/executor.js'
import type { ExecTask } from '../exec/task.js'
import { joinPart } from '../plan/join.js'
import type { SourceService } from '../pushdown/source.js'
import type { Custodian } from '../he/types.js'
import type { DecryptedAggregate, EncryptedAggregate, ScaledValue } from '../he/types.js'
import type { DecryptedMeasure } from '../release/answer.js'
import type { Admission, ExactResult } from './types.js'

export interface ComputeDeps {
  /** Where the exact aggregates are computed (the sandbox's worker pool). */
  readonly executor: Executor
  /** Where a sourced dataset's statements go; null when the service has none (sourced queries then fail with 503). */
  readonly sources: SourceService | null
  /** Decrypts encrypted aggregates; null when the service has none (he queries then fail with 503). */
  readonly custodian: Custodian | null
  /** Writes the audit record of a decryption (custodian.decrypt), durably, before its values are used. */
  readonly recordDecryption: (detail: Record<string, unknown>) => Promise<void>
}

/**
 * Step 3 of a query: the exact aggregates, computed by the executor over the
 * admitted plan's task and, for he columns, decrypted by the custodian. The
 * values never leave this process unnoised: release (step 4) rounds them to
 * each mechanism's grid and adds the noise.
 */
export async function compute(admission: Admission, deps: ComputeDeps): Promise<ExactResult> {
  const p = admission.prepared
  const other = p.joined[0] ?? p.publicJoined[0]
  const join = other === undefined ? undefined : joinPart(p.bound, p.plan.exec, other.version.version)
  const task = {
    dataset: p.spec.id,
    version: p.version.version,
    ...p.plan.exec,
    ...(join === undefined ? {} : { join }),
  }
  const exec = p.spec.source === undefined ? await deps.executor.execute(task) : await pushDown(admission, deps, task)
  const decrypted = p.plan.exec.encrypted === undefined ? [] : await decrypt(admission, exec, deps)
  return { exec, decrypted }
}

/** A sourced dataset's aggregates: one statement compiled from the task, run at the source (pushdown/source.ts). */
function pushDown(admission: Admission, deps: ComputeDeps, task: ExecTask): Promise<ExecResult> {
  const p = admission.prepared
  if (deps.sources === null)
    throw new VeilboxError(
      'VEILBOX_ERR_SOURCE_UNAVAILABLE',
      'this service reaches no sources, so a sourced dataset cannot be queried; nothing was charged',
      {},
      { headers: { 'retry-after': '5' } },
    )
  const joined = p.joined[0]
  const table = p.publicJoined[0]?.rows
  if (table !== undefined) return deps.sources.execute(p.spec, p.version, task, { table, bound: p.bound.dataset })
  return deps.sources.execute(
    p.spec,
    p.version,
    task,
    joined === undefined ? undefined : { spec: joined.record.spec, version: joined.version, bound: p.bound.dataset },
  )
}

/**
 * The release of encrypted aggregates: the result ciphertexts go to the
 * custodian with the admitted query's id, and come back as exact values
 * (never noised yet); the audit record of the decryption is written before
 * they are used.
 */
async function decrypt(admission: Admission, exact: ExecResult, deps: ComputeDeps): Promise<DecryptedMeasure[]> {
  const p = admission.prepared
  const queryId = admission.queryId
  const measures = p.plan.exec.encrypted ?? []
  const results = exact.encrypted ?? []
  if (
    results.length !== measures.length ||
    results.some((r, i) => r.column !== measures[i]!.column || r.counts.some((c, g) => c !== exact.count[g]))
  ) {
    throw new VeilboxError(
      'VEILBOX_ERR_SANDBOX_CRASHED',
      'the sandbox returned encrypted aggregates that do not match the task; nothing was released',
      {},
    )
  }
  // Every group's aggregate, empty or not: the custodian call, its audit record and the time they take never depend on the selection.
  const aggregates = results.flatMap((r) => [...r.sums, ...(r.sumSquares ?? [])])
  if (deps.custodian === null) {
    throw new VeilboxError(
      'VEILBOX_ERR_CUSTODIAN_UNAVAILABLE',
      'this service has no key custodian configured, so encrypted aggregates cannot be released; nothing was charged',
      {},
      { headers: { 'retry-after': '5' } },
    )
  }
  const profileId = results[0]!.profileId
  const response = await deps.custodian.decryptAggregates({ dataset: p.spec.id, profileId, queryId, aggregates })
  if (response.queryId !== queryId || response.values.length !== aggregates.length) {
    throw new VeilboxError(
      'VEILBOX_ERR_CUSTODIAN_REFUSED',
      'the custodian answered for another release; nothing was released',
      {},
    )
  }
  const values = new Map<string, DecryptedAggregate>()
  for (const v of response.values) values.set(`${v.column}\t${v.kind}\t${v.group}`, v)
  await deps.recordDecryption({
    queryId,
    profileId,
    aggregates: aggregates.length,
    columns: results.map((r) => r.column),
  })
  const decryptedValue = (a: EncryptedAggregate): ScaledValue => {
    const v = values.get(`${a.column}\t${a.kind}\t${a.group}`)
    if (v === undefined || v.rows !== a.rows)
      throw new VeilboxError(
        'VEILBOX_ERR_CUSTODIAN_REFUSED',
        `the custodian left out the ${a.kind} of ${a.column}, group ${a.group}; nothing was released`,
        {},
      )
    return v.value
  }
  return results.map((r) => ({
    sums: r.sums.map(decryptedValue),
    sumSquares: r.sumSquares === null ? null : r.sumSquares.map(decryptedValue),
  }))
}
