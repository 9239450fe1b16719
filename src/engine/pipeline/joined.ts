import { VeilboxError } from '../../errors/index.js'
import type { GrantRecord } from '../../store/grants.js'
import { checkQueryInGrant } from '../policy/grant.js'
import type { Query } from '../query/ast.js'
import type { BoundQuery } from '../query/binder.js'
import { queryRefs } from '../query/columns.js'
import { queryError } from '../query/query-error.js'
import type { Catalog } from './catalog.js'
import type { JoinedDataset } from './types.js'

/**
 * The datasets a query joins (none without a JOIN): each must be covered by
 * the grant, exist and have a version. Refusals name the dataset; one the
 * grant does not cover is refused as such whether or not it exists.
 */
export async function joinedDatasets(query: Query, grant: GrantRecord, catalog: Catalog): Promise<JoinedDataset[]> {
  const out: JoinedDataset[] = []
  for (const j of query.from.joins ?? []) {
    checkQueryInGrant(grant, j.dataset, null)
    const record = await catalog.dataset(j.dataset)
    if (record === null) {
      throw queryError(
        'VEILBOX_ERR_QUERY_UNKNOWN_DATASET',
        `the query joins ${j.dataset}, which is not a dataset you can query; JOIN takes a dataset id from the catalog`,
        j.pos,
        { dataset: j.dataset },
      )
    }
    const version = await catalog.version(j.dataset)
    if (version === null) {
      throw new VeilboxError(
        'VEILBOX_ERR_DATASET_NO_VERSION',
        `dataset ${j.dataset}, which the query joins, has no version loaded yet; an operator uploads one first`,
        { dataset: j.dataset },
      )
    }
    out.push({ record, version })
  }
  return out
}

/**
 * The grant's column and aggregate rules, per dataset the query reads: each
 * dataset is checked with the columns the query reads of it (own names). The
 * units a join matches on are not reads of their own: ids are never released.
 */
export function checkBoundInGrant(grant: GrantRecord, bound: BoundQuery): void {
  const columns = new Map<string, Set<string>>(bound.datasets.map((d) => [d, new Set()]))
  for (const ref of queryRefs(bound.query)) {
    const source = bound.tables.sourceOf(bound.tables.columnName(ref))
    columns.get(source.dataset)!.add(source.column)
  }
  for (const d of bound.datasets) checkQueryInGrant(grant, d, { ...bound, columns: [...columns.get(d)!] })
}
