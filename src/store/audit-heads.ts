import { sign, verify, type KeyObject } from 'node:crypto'
import { auditHead, canonicalJson } from './audit.js'
import { keyIdOf } from './receipt-keys.js'
import type { Sql } from './sql.js'

/**
 * Signed heads of the audit chain. The chain's hashes link every record to
 * the ones before it, but anyone who can write the database could rewrite a
 * record and recompute every later hash. A head signed with the service's
 * Ed25519 key (the receipt key, kept outside the database) pins the chain up
 * to its record: `verify` checks each stored signature and that the chain
 * still has the signed hash at that position. The service signs the head at
 * intervals and on every `audit head`.
 */

export interface SignedHead {
  readonly seq: number
  readonly hash: string
  readonly signedAt: string
  readonly keyId: string
  /** Ed25519 over canonicalJson({seq, hash, signedAt, keyId}), base64. */
  readonly signature: string
}

function message(h: Omit<SignedHead, 'signature'>): Buffer {
  return Buffer.from(canonicalJson({ seq: h.seq, hash: h.hash, signedAt: h.signedAt, keyId: h.keyId }))
}

export function signHeadValue(
  head: { seq: number; hash: string },
  privateKey: KeyObject,
  publicKey: KeyObject,
  now = new Date(),
): SignedHead {
  const body = { seq: head.seq, hash: head.hash, signedAt: now.toISOString(), keyId: keyIdOf(publicKey) }
  return { ...body, signature: sign(null, message(body), privateKey).toString('base64') }
}

export function headSignatureValid(h: SignedHead, publicKey: KeyObject): boolean {
  if (keyIdOf(publicKey) !== h.keyId) return false
  try {
    return verify(null, message(h), publicKey, Buffer.from(h.signature, 'base64'))
  } catch {
    return false
  }
}

const HEAD_COLUMNS = (db: Sql) =>
  `seq, ${db.hashColumn('hash')} AS hash, signed_at AS "signedAt", key_id AS "keyId", signature`

/** Signs the current head and stores the signature (once per head); null for an empty chain. */
export async function signCurrentHead(
  db: Sql,
  key: { privateKey: KeyObject; publicKey: KeyObject },
  now = new Date(),
): Promise<SignedHead | null> {
  return db.transaction(async (tx) => {
    const head = await auditHead(tx)
    if (head === null) return null
    const stored = await tx.get<SignedHead>(`SELECT ${HEAD_COLUMNS(tx)} FROM audit_heads WHERE seq = $1`, [head.seq])
    if (stored !== undefined && stored.hash === head.hash) return stored
    const signed = signHeadValue(head, key.privateKey, key.publicKey, now)
    await tx.run(
      `INSERT INTO audit_heads (seq, hash, signed_at, key_id, signature) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (seq) DO UPDATE SET hash = excluded.hash, signed_at = excluded.signed_at, key_id = excluded.key_id, signature = excluded.signature`,
      [signed.seq, tx.hashParam(signed.hash), signed.signedAt, signed.keyId, signed.signature],
    )
    return signed
  })
}

export async function listSignedHeads(db: Sql): Promise<SignedHead[]> {
  return db.all<SignedHead>(`SELECT ${HEAD_COLUMNS(db)} FROM audit_heads ORDER BY seq`)
}

export type HeadsCheck =
  | {
      readonly ok: true
      readonly signedHeads: number
      readonly lastSigned: number | null
      readonly unsignedTail: number
    }
  | { readonly ok: false; readonly signedHeads: number; readonly badSeq: number; readonly problem: string }

/**
 * Every stored signed head verifies under `publicKey` and matches the chain at
 * its position. `unsignedTail` is how many records came after the last signed
 * head (their integrity rests on the hash links alone until the next signature).
 */
export async function verifySignedHeads(db: Sql, publicKey: KeyObject): Promise<HeadsCheck> {
  const heads = await listSignedHeads(db)
  for (const h of heads) {
    if (!headSignatureValid(h, publicKey)) {
      return {
        ok: false,
        signedHeads: heads.length,
        badSeq: h.seq,
        problem: `the signature of the head at record ${h.seq} does not verify with key ${keyIdOf(publicKey)}: the signed head was altered or not signed by this service`,
      }
    }
    const hash = await db.value<string>(`SELECT ${db.hashColumn('hash')} FROM audit_log WHERE seq = $1`, [h.seq])
    if (hash !== h.hash) {
      return {
        ok: false,
        signedHeads: heads.length,
        badSeq: h.seq,
        problem:
          hash === undefined
            ? `record ${h.seq}, signed as a head, is gone: the chain was cut back`
            : `record ${h.seq} no longer has the hash signed for it: records up to it were rewritten`,
      }
    }
  }
  const last = heads.length === 0 ? null : heads[heads.length - 1]!.seq
  const top = (await auditHead(db))?.seq ?? 0
  return { ok: true, signedHeads: heads.length, lastSigned: last, unsignedTail: top - (last ?? 0) }
}
