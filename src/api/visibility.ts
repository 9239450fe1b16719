import type { FastifyInstance } from 'fastify'
import { datasetNotFound, findDataset, type DatasetRecord } from '../store/datasets.js'
import { listGrants } from '../store/grants.js'
import type { Principal } from '../store/keys.js'

/**
 * Who sees a dataset in the catalog (docs/privacy-model.md, "Visibility"):
 * operators every dataset; analysts those they hold a grant on (active or
 * expired; a revoked grant is not held) and those the operator listed;
 * custodians those with encrypted columns, whose keys they hold. To anyone
 * else a dataset does not exist: the same 404 as for an unknown id.
 */
export function canSee(app: FastifyInstance, principal: Principal, record: DatasetRecord): boolean {
  switch (principal.role) {
    case 'operator':
      return true
    case 'custodian':
      return record.spec.columns.some((c) => c.protection === 'he')
    case 'analyst':
      return record.listed || holdsGrant(app, principal, record.spec.id)
  }
}

/** A grant of the analyst's on the dataset that was not revoked (expired ones count: their answers stay readable). */
export function holdsGrant(app: FastifyInstance, principal: Principal, dataset: string): boolean {
  return listGrants(app.db, { analystId: principal.id, dataset }).some((g) => g.revokedAt === null)
}

/** The dataset, when the caller may see it; otherwise exactly what an unknown id gets. */
export function visibleDataset(app: FastifyInstance, principal: Principal, id: string): DatasetRecord {
  const record = findDataset(app.db, id)
  if (record === null || !canSee(app, principal, record)) throw datasetNotFound(id)
  return record
}

