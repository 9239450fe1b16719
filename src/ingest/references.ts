import type { DatasetSpec } from '../schema.js'
import { badRow, type CellValue, type RowPosition } from './rows.js'

/**
 * A declared foreign key's rule at ingest (schema.ts `references`): every
 * row of a unit names the same referenced unit, so that each unit of the
 * dataset belongs to exactly one unit of the referenced dataset (a person to
 * one household). A join on the key relies on it (docs/dp.md, "Joins on a
 * foreign key"): removing a referenced unit then removes whole units here,
 * and a unit here changes one referenced unit only. A row that breaks it is
 * refused, naming the unit's first row; nothing is stored.
 */
export class NestedUnits {
  private readonly keys: {
    readonly at: number
    readonly name: string
    readonly of: Map<CellValue, [CellValue, number]>
  }[]
  private readonly unitAt: number

  private constructor(readonly spec: DatasetSpec) {
    this.unitAt = spec.columns.findIndex((c) => c.name === spec.privacyUnit)
    this.keys = spec.columns.flatMap((c, at) =>
      c.references === undefined ? [] : [{ at, name: c.name, of: new Map() }],
    )
  }

  /** The check for a dataset that declares a foreign key; null otherwise. */
  static for(spec: DatasetSpec): NestedUnits | null {
    return spec.columns.some((c) => c.references !== undefined) ? new NestedUnits(spec) : null
  }

  row(values: readonly CellValue[], pos: RowPosition): void {
    const unit = values[this.unitAt]!
    for (const k of this.keys) {
      const value = values[k.at]!
      const first = k.of.get(unit)
      if (first === undefined) k.of.set(unit, [value, pos.row])
      else if (first[0] !== value)
        throw badRow(
          pos,
          k.name,
          `unit ${JSON.stringify(unit)} names ${JSON.stringify(value)} here and ${JSON.stringify(first[0])} in data row ${first[1]}; ${k.name} is a declared foreign key, and each unit's rows name one referenced unit`,
        )
    }
  }
}
