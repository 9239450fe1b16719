import { PUBLIC_TABLE_MAX_ROWS, type DatasetSpec } from '../schema.js'
import { badRow, type CellValue, type RowPosition } from './rows.js'

/**
 * A public table's rules at ingest (schema.ts): one row per key, at most
 * PUBLIC_TABLE_MAX_ROWS rows. A repeat is refused naming both rows, so the
 * operator can fix the file; nothing is stored (ingest is all or nothing).
 */
export class PublicKeys {
  private readonly seen = new Map<CellValue, number>()
  private readonly at: number

  private constructor(readonly spec: DatasetSpec) {
    this.at = spec.columns.findIndex((c) => c.name === spec.key)
  }

  /** The check for a public table's upload; null for a private dataset's. */
  static for(spec: DatasetSpec): PublicKeys | null {
    return spec.public === true ? new PublicKeys(spec) : null
  }

  /** One row, values in schema order. */
  row(values: readonly CellValue[], pos: RowPosition): void {
    const key = values[this.at]!
    if (this.seen.size >= PUBLIC_TABLE_MAX_ROWS)
      throw badRow(
        pos,
        this.spec.key!,
        `a public table holds at most ${PUBLIC_TABLE_MAX_ROWS.toLocaleString('en-US')} rows; this is row ${this.seen.size + 1}`,
      )
    const first = this.seen.get(key)
    if (first !== undefined)
      throw badRow(
        pos,
        this.spec.key!,
        `key ${JSON.stringify(key)} is already the key of data row ${first}; a public table has one row per key`,
      )
    this.seen.set(key, pos.row)
  }
}
