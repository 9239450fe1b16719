import { quote, quoteRelation, type Builder } from './builder.js'
import type { SourceFrom } from '../../sources/types.js'

/** Where the rows are: written by the source layer from a registered snapshot. */
export interface SourceRelation {
  readonly from: SourceFrom
  /** A snapshot column and its value, or null when the whole relation is the snapshot. */
  readonly filter: { readonly column: string; readonly value: string | number } | null
  /** The order that picks a unit's first rows; ignored when unitBounded. */
  readonly rowOrder: readonly string[]
  /** Registration checked that no unit has more than maxRowsPerUnit rows: no window needed. */
  readonly unitBounded: boolean
  /**
   * A column that places all rows of a unit on one shard: the partition key of
   * a partitioned table whose partitions are postgres_fdw foreign tables. The
   * first level of the statement groups by it, so that every shard aggregates
   * its own rows whole (docs/sources.md).
   */
  readonly shardKey?: string
}

/** The relation's rows as a FROM item: a table, or the Parquet files. */
export function fromItem(b: Builder, relation: SourceRelation): string {
  const from =
    relation.from.kind === 'table'
      ? quoteRelation(relation.from.name)
      : `read_parquet(${b.param({ list: relation.from.files, type: 'text' })}::VARCHAR[])`
  const filter =
    relation.filter === null ? '' : ` WHERE ${quote(relation.filter.column)} = ${b.param(relation.filter.value)}`
  return `${from}${filter}`
}
