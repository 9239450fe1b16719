import type { FastifyInstance } from 'fastify'
import { certificate } from '../../engine/market/certificates.js'
import type { AuditActor } from '../../store/audit.js'

/**
 * Issues a new version's registration certificate right after the version
 * commits (docs/market.md). The version stands either way: a certificate
 * that cannot be issued now is logged, and issued by its first read.
 */
export async function issueCertificate(
  app: FastifyInstance,
  dataset: string,
  version: number,
  actor: AuditActor,
): Promise<void> {
  try {
    await certificate(app.db, app.signingKey, dataset, version, actor)
  } catch (err) {
    app.log.error({ err, dataset, version }, 'certificate not issued; it is issued by its first read')
  }
}
