import { VeilboxError } from '../errors/index.js'
import { aggregateEncrypted, EvaluationKeys } from '../engine/he/aggregate.js'
import { profileFromJson } from '../engine/he/profile.js'
import type { EncryptedAggregateResult } from '../engine/he/types.js'
import type { EncryptedTaskMeasure } from '../engine/exec/task.js'
import type { AggregateRequest } from '../engine/exec/types.js'
import type { WorkerHeRequest } from './protocol.js'

/**
 * The encrypted measures of a task, inside a sandbox worker. The selection
 * (WHERE and contribution bound) and the group codes are the ones the
 * plaintext kernel just used, so encrypted and plaintext aggregates of one
 * query cover exactly the same rows.
 *
 * Keys: loading a profile's Galois keys into SEAL takes about 0.3 s and some
 * 35 MB of wasm heap at n = 8192, so each worker loads them once per key
 * material and keeps them (a few profiles at most; the least recently used
 * is deleted). The SEAL context is per thread already (contextFor). The
 * material arrives as views of shared memory, so a task copies none of it.
 */

const MAX_CACHED_KEYS = 4
const cache = new Map<string, Promise<EvaluationKeys>>()

function keysFor(material: WorkerHeRequest['material']): Promise<EvaluationKeys> {
  const hit = cache.get(material.id)
  if (hit !== undefined) {
    cache.delete(material.id)
    cache.set(material.id, hit)
    return hit
  }
  const profile = profileFromJson(material.profile)
  const entry = EvaluationKeys.open({
    dataset: profile.dataset,
    profile,
    contexts: material.galois.map((g) => ({ publicKey: g.publicKey, galoisKeys: g.keys, galoisSteps: g.steps })),
  })
  entry.catch(() => cache.delete(material.id))
  cache.set(material.id, entry)
  while (cache.size > MAX_CACHED_KEYS) {
    const [oldest, keys] = cache.entries().next().value as [string, Promise<EvaluationKeys>]
    cache.delete(oldest)
    // Tasks run one at a time per worker: nothing else holds these keys now.
    keys.then(
      (k) => k.delete(),
      () => {},
    )
  }
  return entry
}

/** Key materials this worker holds loaded (for tests). */
export function cachedKeyCount(): number {
  return cache.size
}

export async function runEncrypted(
  he: WorkerHeRequest,
  measures: readonly EncryptedTaskMeasure[],
  request: AggregateRequest,
): Promise<EncryptedAggregateResult[]> {
  const keys = await keysFor(he.material)
  const out: EncryptedAggregateResult[] = []
  for (const m of measures) {
    const column = he.columns[m.column]
    if (column === undefined)
      throw new VeilboxError(
        'VEILBOX_ERR_HE_BAD_ARGUMENT',
        `the task names encrypted column ${m.column}, but no ciphertexts of it were sent`,
      )
    out.push(
      await aggregateEncrypted({
        keys,
        column,
        selection: request.selection,
        grouping: request.grouping,
        squares: m.squares,
      }),
    )
  }
  return out
}
