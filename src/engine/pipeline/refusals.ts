import { isVeilboxError, VeilboxError } from '../../errors/index.js'
import { appendAudit, type AuditActor } from '../../store/audit.js'
import type { Store } from '../../store/db.js'
import { getGrant, type GrantRecord } from '../../store/grants.js'
import type { PreparedQuery, QueryRequest } from './types.js'

/**
 * The audit record of a query that was refused (4xx) or failed (5xx) before
 * its answer was committed, with what the operator needs and the analyst's
 * error left out of it (publicComputeError). A deadline hit was charged and
 * recorded with its charge (commitDeadline) and is not recorded again.
 */
export async function recordRefusal(
  db: Store,
  actor: AuditActor,
  p: PreparedQuery | null,
  req: QueryRequest,
  err: unknown,
): Promise<void> {
  if (isVeilboxError(err) && err.code === 'VEILBOX_ERR_SANDBOX_TIMEOUT' && err.extra.charged !== undefined) return
  const code = isVeilboxError(err) ? err.code : 'VEILBOX_ERR_INTERNAL'
  // The operator's record keeps what the analyst's error leaves out (publicComputeError).
  const inner = isVeilboxError(err) && publicized.has(err) && isVeilboxError(err.cause) ? err.cause : null
  const detail =
    inner !== null
      ? inner.detail
      : isVeilboxError(err) && err.status < 500
        ? err.detail
        : 'internal failure; nothing was released or charged'
  let grant: GrantRecord | null = p?.grant ?? null
  if (grant === null) {
    try {
      grant = typeof req.grant === 'string' ? await getGrant(db, req.grant) : null
    } catch {
      grant = null
    }
  }
  try {
    await db.transaction(
      (tx) =>
        appendAudit(tx, {
          actor,
          action: isVeilboxError(err) && err.status < 500 ? 'query.refused' : 'query.failed',
          outcome: code,
          dataset: p?.spec.id ?? grant?.dataset ?? null,
          version: p?.version.version ?? null,
          grant: grant?.id ?? null,
          purpose: grant?.purpose ?? null,
          queryHash: p?.queryHash ?? null,
          charged: { epsilon: '0', delta: '0' },
          detail: { reason: detail },
        }),
      { group: true },
    )
  } catch (auditErr) {
    // The refusal itself stands; a failure to record it must not mask it.
    void auditErr
  }
}

/**
 * What an analyst is told when computing a query failed after admission: the
 * code and a fixed sentence, never the worker's or custodian's own detail,
 * which may carry counts taken from the data (rows in a group, batches,
 * values). The operator's audit record keeps the original (recordRefusal).
 * Refusals for load (busy) and an unreachable custodian keep their own words.
 */
export function publicComputeError(err: unknown): VeilboxError {
  // Load and configuration, not data: their own words say what to do.
  if (
    isVeilboxError(err) &&
    (err.code === 'VEILBOX_ERR_SANDBOX_BUSY' ||
      err.code === 'VEILBOX_ERR_CUSTODIAN_UNAVAILABLE' ||
      err.code === 'VEILBOX_ERR_SOURCE_UNAVAILABLE')
  )
    return err
  const code = isVeilboxError(err) ? err.code : 'VEILBOX_ERR_INTERNAL'
  const headers = isVeilboxError(err) ? { ...err.headers } : {}
  const detail =
    PUBLIC_DETAIL[code] ??
    'computing the query failed; nothing was released or charged. The operator has the details in the audit chain'
  const out = new VeilboxError(code, detail, {}, { cause: err, headers })
  publicized.add(out)
  return out
}

/** Errors made by publicComputeError, whose cause holds the detail for the operator's record. */
const publicized = new WeakSet<VeilboxError>()

const PUBLIC_DETAIL: Partial<Record<string, string>> = {
  VEILBOX_ERR_SANDBOX_TOO_LARGE:
    'the query is larger than this service computes in one task; nothing was charged. Touch fewer columns or group by fewer keys',
  VEILBOX_ERR_SANDBOX_OUT_OF_MEMORY:
    'the query ran out of sandbox memory and was stopped; nothing was released or charged',
  VEILBOX_ERR_SANDBOX_CRASHED: 'the sandbox running the query failed; nothing was released or charged',
  VEILBOX_ERR_DP_NOT_FINITE:
    'a released value was not a finite number, so nothing was released or charged. The operator has the details in the audit chain',
  VEILBOX_ERR_SOURCE_SNAPSHOT_CHANGED:
    "the dataset's source no longer matches the snapshot this version names; nothing was released or charged. The operator has the details in the audit chain and registers a new snapshot",
  VEILBOX_ERR_SOURCE_FAILED:
    'the source refused the statement; nothing was released or charged. The operator has the details in the audit chain',
  VEILBOX_ERR_CUSTODIAN_REFUSED:
    'the key custodian refused to decrypt the aggregates; nothing was released or charged. The operator has the details in the audit chain',
}
