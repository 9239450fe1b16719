/**
 * Dates and timestamps (issue 24): how their text is read and written, and
 * their calendar buckets. A leaf like schema.ts: the store, ingest and the
 * engine use it, and it imports nothing.
 *
 * A `date` is stored as its day number, the days since 1970-01-01 (an i32);
 * a `timestamp` (UTC) as its milliseconds since 1970-01-01T00:00:00Z (an
 * f64 holding a whole number, exact below 2^53 ms, about 285,000 years).
 * Both are proleptic Gregorian, years 0001 to 9999.
 */

export const MS_PER_DAY = 86_400_000

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?(Z|[+-]\d{2}:\d{2})$/

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
export function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y
  const era = Math.floor(yy / 400)
  const yoe = yy - era * 400
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
}

/** The year, month (1-12) and day of a day number (civil_from_days). */
export function civilFromDays(z: number): { y: number; m: number; d: number } {
  const zz = z + 719468
  const era = Math.floor(zz / 146097)
  const doe = zz - era * 146097
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365)
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
  const mp = Math.floor((5 * doy + 2) / 153)
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1
  const m = mp < 10 ? mp + 3 : mp - 9
  return { y: yoe + era * 400 + (m <= 2 ? 1 : 0), m, d }
}

function validDay(y: number, m: number, d: number): boolean {
  if (y < 1 || m < 1 || m > 12 || d < 1) return false
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0
  const len = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]!
  return d <= len
}

/** A date's day number from exactly YYYY-MM-DD, or null when the text is not one (2023-02-29 is not). */
export function parseDate(text: string): number | null {
  const m = DATE.exec(text)
  if (m === null) return null
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])]
  return validDay(y, mo, d) ? daysFromCivil(y, mo, d) : null
}

/**
 * A timestamp's milliseconds from YYYY-MM-DDTHH:MM:SS[.f, .ff or .fff] and Z
 * or an explicit offset ±HH:MM (converted to UTC), or null when the text is
 * not one. No leap seconds (SS is 00-59), no other forms.
 */
export function parseTimestamp(text: string): number | null {
  const m = TIMESTAMP.exec(text)
  if (m === null) return null
  const [y, mo, d, h, mi, s] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i]))
  if (!validDay(y!, mo!, d!) || h! > 23 || mi! > 59 || s! > 59) return null
  const ms = m[7] === undefined ? 0 : Number(m[7].padEnd(3, '0'))
  let offset = 0
  const z = m[8]!
  if (z !== 'Z') {
    const oh = Number(z.slice(1, 3))
    const om = Number(z.slice(4, 6))
    if (oh > 23 || om > 59) return null
    offset = (z[0] === '-' ? -1 : 1) * (oh * 60 + om) * 60_000
  }
  return daysFromCivil(y!, mo!, d!) * MS_PER_DAY + ((h! * 60 + mi!) * 60 + s!) * 1000 + ms - offset
}

export type TemporalType = 'date' | 'timestamp'

/** A value's stored number, read as its column's type reads it. */
export function parseTemporal(type: TemporalType, text: string): number | null {
  return type === 'date' ? parseDate(text) : parseTimestamp(text)
}

/**
 * A WHERE literal's stored number: a date column's text read as a date; a
 * timestamp column's as a timestamp, or as a date meaning its midnight UTC.
 */
export function temporalLiteral(type: TemporalType, text: string): number | null {
  if (type === 'date') return parseDate(text)
  const ts = parseTimestamp(text)
  if (ts !== null) return ts
  const day = parseDate(text)
  return day === null ? null : day * MS_PER_DAY
}

/** How the column's values are written in messages: what parseTemporal accepts. */
export function temporalForm(type: TemporalType): string {
  return type === 'date' ? 'YYYY-MM-DD' : 'YYYY-MM-DDTHH:MM:SS[.fff] with Z or an offset such as +08:00'
}

const pad = (n: number, w: number): string => String(n).padStart(w, '0')

/** YYYY-MM-DD of a day number. */
export function formatDate(day: number): string {
  const { y, m, d } = civilFromDays(day)
  return `${pad(y, 4)}-${pad(m, 2)}-${pad(d, 2)}`
}

/** YYYY-MM-DDTHH:MM:SS.fffZ of a timestamp's milliseconds. */
export function formatTimestamp(ms: number): string {
  const day = Math.floor(ms / MS_PER_DAY)
  const rest = ms - day * MS_PER_DAY
  const h = Math.floor(rest / 3_600_000)
  const mi = Math.floor((rest % 3_600_000) / 60_000)
  const s = Math.floor((rest % 60_000) / 1000)
  return `${formatDate(day)}T${pad(h, 2)}:${pad(mi, 2)}:${pad(s, 2)}.${pad(rest % 1000, 3)}Z`
}

export function formatTemporal(type: TemporalType, value: number): string {
  return type === 'date' ? formatDate(value) : formatTimestamp(value)
}

/** The day number of a stored value: a date is one; a timestamp's UTC day. */
export function dayOf(type: TemporalType, value: number): number {
  return type === 'date' ? value : Math.floor(value / MS_PER_DAY)
}

export const CALENDAR_UNITS = ['year', 'month', 'week', 'day'] as const
export type CalendarUnit = (typeof CALENDAR_UNITS)[number]

/** ISO 8601 week: the Monday-based week, numbered in the year that holds its Thursday. */
function isoWeek(day: number): { year: number; week: number; monday: number } {
  const monday = mondayOf(day)
  const thursday = monday + 3
  const year = civilFromDays(thursday).y
  const week = Math.floor((thursday - daysFromCivil(year, 1, 1)) / 7) + 1
  return { year, week, monday }
}

/**
 * A bucket's index, counted from the bucket holding `first` (a day number):
 * the same arithmetic for every value. Year and month number their
 * calendar periods, week the ISO weeks (Monday to Sunday), day the days.
 */
export function calendarIndex(unit: CalendarUnit, first: number, day: number): number {
  switch (unit) {
    case 'day':
      return day - first
    case 'week':
      return (mondayOf(day) - mondayOf(first)) / 7
    case 'month': {
      const a = civilFromDays(first)
      const b = civilFromDays(day)
      return (b.y - a.y) * 12 + (b.m - a.m)
    }
    case 'year':
      return civilFromDays(day).y - civilFromDays(first).y
  }
}

/** The Monday on or before a day (1970-01-01 was a Thursday: (day + 3) mod 7 is 0 on Mondays). */
function mondayOf(day: number): number {
  return day - ((((day + 3) % 7) + 7) % 7)
}

/** The labels of every bucket from the bucket holding `lower` to the one holding `upper` (day numbers), in order. */
export function calendarLabels(unit: CalendarUnit, lower: number, upper: number, max: number): string[] | null {
  const n = calendarIndex(unit, lower, upper) + 1
  if (n > max) return null
  const out: string[] = []
  if (unit === 'day') for (let i = 0; i < n; i++) out.push(formatDate(lower + i))
  else if (unit === 'week') {
    const monday = isoWeek(lower).monday
    for (let i = 0; i < n; i++) {
      const w = isoWeek(monday + 7 * i)
      out.push(`${pad(w.year, 4)}-W${pad(w.week, 2)}`)
    }
  } else if (unit === 'month') {
    const { y, m } = civilFromDays(lower)
    for (let i = 0; i < n; i++) {
      const k = y * 12 + (m - 1) + i
      out.push(`${pad(Math.floor(k / 12), 4)}-${pad((k % 12) + 1, 2)}`)
    }
  } else {
    const { y } = civilFromDays(lower)
    for (let i = 0; i < n; i++) out.push(pad(y + i, 4))
  }
  return out
}
