import { z } from 'zod'
import { CALENDAR_UNITS, calendarIndex, dayOf, type CalendarUnit, type TemporalType } from '../../dates.js'
import type { CodeColumn } from './grouping.js'
import type { CodeArray, NumericColumn } from './types.js'

/** A task's calendar key: one period per dictionary entry, period 0 holding day `first` (src/dates.ts). */
export const calendarTaskSchema = z.strictObject({
  unit: z.enum(CALENDAR_UNITS),
  type: z.enum(['date', 'timestamp']),
  first: z.number().int().min(-1e8).max(1e8),
})

/**
 * A date or timestamp column's calendar period codes (YEAR, MONTH, WEEK or
 * DAY): period 0 holds `first`, the declared lower bound's day. Every row
 * does the same arithmetic, whatever its value; codes are clamped into the
 * dictionary (ingest keeps every value within the declared range, and the
 * plan's WHERE keeps nulls out of every period).
 */
export function calendarCodes(
  c: NumericColumn,
  cal: { readonly unit: CalendarUnit; readonly type: TemporalType; readonly first: number },
  dictionary: readonly string[],
  rows: number,
): CodeColumn {
  const n = dictionary.length
  const codes: CodeArray = n <= 256 ? new Uint8Array(rows) : n <= 65536 ? new Uint16Array(rows) : new Uint32Array(rows)
  const last = n - 1
  const v = c.values
  for (let i = 0; i < rows; i++) {
    const x = v[i]!
    const k = Number.isFinite(x) ? calendarIndex(cal.unit, cal.first, dayOf(cal.type, x)) : 0
    codes[i] = k < 0 ? 0 : k < last ? k : last
  }
  return { kind: 'code', values: codes, dictionary, nulls: null }
}
