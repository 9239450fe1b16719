import type { FastifyInstance } from 'fastify'
import { datasetNotFound, findDataset, type DatasetRecord } from '../store/datasets.js'
import { listGrants } from '../store/grants.js'
import type { Principal } from '../store/keys.js'

/**
 * Who sees a dataset in the catalog (docs/privacy-model.md, "Visibility"):
 * operators every dataset; analysts those they hold a grant on (active or
 * expired; a revoked grant is not held) and those the operator listed;
 * custodians those with encrypted columns, whose keys they hold; owners
 * those they own, and the listed ones. Public reference tables are seen by
 * every analyst and owner: nothing in them is secret. To anyone
 * else a dataset does not exist: the same 404 as for an unknown id.
 */
export async function canSee(
  app: FastifyInstance,
  principal: Principal,
  record: DatasetRecord,
  held?: ReadonlySet<string>,
): Promise<boolean> {
  switch (principal.role) {
    case 'operator':
      return true
    case 'custodian':
      return record.spec.columns.some((c) => c.protection === 'he')
    case 'owner':
      return record.owner?.id === principal.id || record.listed || record.spec.public === true
    case 'analyst':
      return (
        record.listed ||
        record.spec.public === true ||
        (held ? held.has(record.spec.id) : await holdsGrant(app, principal, record.spec.id))
      )
  }
}

/** The datasets an analyst holds a grant on, read once for a whole catalog listing (canSee's `held`). */
export async function heldDatasets(app: FastifyInstance, principal: Principal): Promise<ReadonlySet<string>> {
  return new Set(
    (await listGrants(app.db, { analystId: principal.id }))
      .filter((g) => g.revokedAt === null)
      .flatMap((g) => g.datasets),
  )
}

/** A grant of the analyst's on the dataset that was not revoked (expired ones count: their answers stay readable). */
export async function holdsGrant(app: FastifyInstance, principal: Principal, dataset: string): Promise<boolean> {
  return (await listGrants(app.db, { analystId: principal.id, dataset })).some((g) => g.revokedAt === null)
}

/** The dataset, when the caller may see it; otherwise exactly what an unknown id gets. */
export async function visibleDataset(app: FastifyInstance, principal: Principal, id: string): Promise<DatasetRecord> {
  const record = await findDataset(app.db, id)
  if (record === null || !(await canSee(app, principal, record))) throw datasetNotFound(id)
  return record
}
