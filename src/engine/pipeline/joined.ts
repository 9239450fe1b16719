import { VeilboxError } from '../../errors/index.js'
import type { GrantRecord } from '../../store/grants.js'
import { checkQueryInGrant } from '../policy/grant.js'
import type { Query } from '../query/ast.js'
import type { BoundQuery } from '../query/binder.js'
import { queryRefs } from '../query/columns.js'
import { queryError } from '../query/query-error.js'
import type { DatasetSpec } from '../../schema.js'
import { groupPrice, type Price } from '../policy/pricing.js'
import type { Catalog } from './catalog.js'
import type { JoinedDataset, PreparedQuery } from './types.js'

/**
 * The datasets a query joins (none without a JOIN): each must be covered by
 * the grant, exist and have a version. Refusals name the dataset; one the
 * grant does not cover is refused as such whether or not it exists.
 */
export async function joinedDatasets(query: Query, grant: GrantRecord, catalog: Catalog): Promise<JoinedDataset[]> {
  const out: JoinedDataset[] = []
  for (const j of query.from.joins ?? []) {
    const record = await catalog.dataset(j.dataset)
    // A public table is everyone's to join; any other dataset must be the grant's (refused alike whether it exists).
    if (record?.spec.public !== true) checkQueryInGrant(grant, j.dataset, null)
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
 * What a dataset the query reads is charged: the answer's price, or for the
 * referencing side of a foreign-key join (query/foreign-keys.ts), the price
 * under group privacy over two joined units.
 */
export function datasetPrice(p: Pick<PreparedQuery, 'price' | 'bound'>, dataset: string): Price {
  return p.bound.tables.join?.nested === dataset ? groupPrice(p.price, 2) : p.price
}

/**
 * A public table's spec as a query binds it: each category column without
 * declared categories gets the values its version holds, sorted, as its
 * domain (they are public, as the whole table is), so that a query can group
 * by it and every key is released, empty ones as noisy zeros.
 */
export async function publicTableSpec(joined: JoinedDataset, catalog: Catalog): Promise<DatasetSpec> {
  const spec = joined.record.spec
  if (spec.public !== true) return spec
  const domains = await catalog.domains(joined.version)
  return {
    ...spec,
    columns: spec.columns.map((c) => {
      const values = domains.get(c.name)
      if (c.type !== 'category' || c.categories !== undefined || values === undefined || values.length === 0) return c
      const { maxKeys: _maxKeys, ...rest } = c
      return { ...rest, categories: [...values].sort() }
    }),
  }
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
    // A public table's columns are no dataset's of the grant: they are read freely.
    columns.get(source.dataset)?.add(source.column)
  }
  for (const d of bound.datasets) checkQueryInGrant(grant, d, { ...bound, columns: [...columns.get(d)!] })
}
