import type { KeyObject } from 'node:crypto'
import { verifyChain, type VerifyResult } from './audit.js'
import { verifySignedHeads, type HeadsCheck, type SignedHead, headSignatureValid } from './audit-heads.js'
import { verifyLedgers, type LedgersCheck } from './audit-ledgers.js'
import type { Sql } from './sql.js'

/**
 * Everything `audit verify` checks, in one result: the hash links (verifyChain),
 * the signed heads (audit-heads.ts), the ledgers and answers against the
 * chain (audit-ledgers.ts), and that no record older than two signing
 * intervals lies past the last signed head (which would mean signatures were
 * removed). `expectedHead` is a head published earlier: its hash must still
 * be in the chain, and when it comes signed, its signature must hold.
 */
export interface AuditCheck {
  readonly ok: boolean
  readonly chain: VerifyResult
  readonly heads: HeadsCheck
  readonly ledgers: LedgersCheck
  /** The first problem, in words, when not ok. */
  readonly problem?: string
}

export async function verifyAudit(
  db: Sql,
  publicKey: KeyObject,
  options: { expectedHead?: string | SignedHead; signIntervalMs?: number } = {},
): Promise<AuditCheck> {
  const expected = options.expectedHead
  const chain = await verifyChain(db, typeof expected === 'string' ? expected : expected?.hash)
  const heads = await verifySignedHeads(db, publicKey)
  const ledgers = await verifyLedgers(db)
  let problem: string | undefined
  if (!chain.ok) problem = `record ${chain.badSeq}: ${chain.problem}`
  else if (!heads.ok) problem = heads.problem
  else if (typeof expected === 'object' && !headSignatureValid(expected, publicKey))
    problem = 'the published head given does not carry a valid signature of this service'
  else if (!ledgers.ok)
    problem = `${ledgers.problems[0]!.scope} ${ledgers.problems[0]!.id}: ${ledgers.problems[0]!.problem}`
  else {
    const interval = options.signIntervalMs ?? 60_000
    const last = heads.lastSigned ?? 0
    const newest = await db.value<string>('SELECT time FROM audit_log ORDER BY seq DESC LIMIT 1')
    if (newest !== undefined) {
      const cutoff = new Date(Date.parse(newest) - 2 * interval).toISOString()
      const stale = await db.value<number>(
        'SELECT seq FROM audit_log WHERE seq > $1 AND time < $2 ORDER BY seq LIMIT 1',
        [last, cutoff],
      )
      if (stale !== undefined) {
        problem = `record ${stale} is older than two signing intervals (${2 * interval} ms before the newest record) and no signed head covers it: signed heads were removed, or the service never signed them`
      }
    }
  }
  return { ok: problem === undefined, chain, heads, ledgers, ...(problem === undefined ? {} : { problem }) }
}
