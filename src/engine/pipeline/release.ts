import type { SigningKey } from '../../store/receipt-keys.js'
import { newRecordId } from '../../store/audit.js'
import { VeilboxError } from '../../errors/index.js'
import { toNumber } from '../dp/budget.js'
import type { NoiseReservation } from '../plan/index.js'
import { signReceiptWithDigest, type ReceiptBody } from '../receipts.js'
import { releaseTable } from '../release/answer.js'
import { serializeRelease } from '../release/serialize.js'
import type { Admission, ExactResult, PreparedQuery, PrivacyView, ReleasedAnswer } from './types.js'

/** The privacy an answer states: its mechanism, (epsilon, delta), rho for Gaussian, and each aggregate's part. */
export function privacyOf(p: PreparedQuery): PrivacyView {
  return {
    mechanism: p.plan.mechanism,
    epsilon: toNumber('epsilon', p.epsilon),
    delta: toNumber('delta', p.delta),
    ...(p.plan.mechanism === 'gaussian' ? { rho: toNumber('rho', p.plan.rho) } : {}),
    perAggregate: p.plan.perAggregate,
    ...(p.plan.selectionPrivacy === null ? {} : { selection: p.plan.selectionPrivacy }),
  }
}

/**
 * Step 4 of a query: noise added to the exact aggregates through the noise
 * reserved while they were computed (each mechanism releases once),
 * intervals, the answer's JSON and its signed receipt. Nothing is charged
 * yet, and nothing leaves before the commit (step 5).
 */
export async function release(
  admission: Admission,
  exact: ExactResult,
  noise: NoiseReservation,
  signer: SigningKey,
  now: Date,
): Promise<ReleasedAnswer> {
  const p = admission.prepared
  const table = await releaseTable(p.plan, exact.exec, noise, exact.decrypted)
  const serialized = await serializeRelease(table, p.plan.confidence)
  // Never charge for something that is not a number: Infinity would be released as null.
  if (!serialized.finite)
    throw new VeilboxError(
      'VEILBOX_ERR_DP_NOT_FINITE',
      'a released value or interval was not a finite number; nothing was released or charged',
    )
  const createdAt = now.toISOString()
  // The receipt names its release record by a random id, and the record carries the receipt's digest:
  // inclusion is provable to an auditor without the receipt revealing a position in the chain.
  const receiptBody: ReceiptBody = {
    queryId: admission.queryId,
    dataset: p.spec.id,
    version: p.version.version,
    datasetCommitment: p.version.commitment,
    ...(p.joined.length === 0
      ? {}
      : {
          joined: p.joined.map((j) => ({
            dataset: j.record.spec.id,
            version: j.version.version,
            datasetCommitment: j.version.commitment,
          })),
        }),
    ...(p.publicJoined.length === 0
      ? {}
      : {
          publicTables: p.publicJoined.map((j) => ({
            dataset: j.record.spec.id,
            version: j.version.version,
            datasetCommitment: j.version.commitment,
          })),
        }),
    queryHash: p.queryHash,
    ...(p.template === null ? {} : { template: p.template }),
    resultHash: serialized.resultHash,
    privacy: privacyOf(p),
    time: createdAt,
    auditRecord: newRecordId(),
    keyId: signer.keyId,
  }
  const { receipt, digest } = signReceiptWithDigest(receiptBody, signer.privateKey)
  return { admission, table, serialized, receiptBody, receipt, receiptDigest: digest, createdAt }
}
