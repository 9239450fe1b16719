/**
 * Calendar periods (src/dates.ts, exec/calendar.ts), checked against an
 * independent reading through the platform's Date: day numbers, ISO weeks,
 * months and years, labels, and the codes every row gets.
 */
import t from 'tap'
import {
  calendarIndex,
  calendarLabels,
  formatDate,
  formatTimestamp,
  MS_PER_DAY,
  parseDate,
  parseTimestamp,
} from '../../../src/dates.js'
import { calendarCodes } from '../../../src/engine/exec/calendar.js'
import { mulberry32 } from '../../../src/engine/mulberry32.js'

const iso = (day: number): string => new Date(day * MS_PER_DAY).toISOString().slice(0, 10)

/** ISO 8601 week label by the textbook rule: the week's Thursday decides the year. */
function isoWeekLabel(day: number): string {
  const d = new Date(day * MS_PER_DAY)
  const dow = (d.getUTCDay() + 6) % 7 // Monday 0
  const thursday = new Date(d.getTime() + (3 - dow) * MS_PER_DAY)
  const year = thursday.getUTCFullYear()
  const jan1 = Date.UTC(year, 0, 1)
  const week = Math.floor((thursday.getTime() - jan1) / MS_PER_DAY / 7) + 1
  return `${year}-W${String(week).padStart(2, '0')}`
}

t.test('dates and timestamps read and write as Date does', async (t) => {
  const r = mulberry32(24)
  for (let i = 0; i < 20_000; i++) {
    const day = Math.floor(r() * 200_000) - 100_000
    const text = iso(day)
    if (parseDate(text) !== day || formatDate(day) !== text) t.fail(`day ${day}: ${text}`)
    const ms = day * MS_PER_DAY + Math.floor(r() * MS_PER_DAY)
    const ts = new Date(ms).toISOString()
    if (parseTimestamp(ts) !== ms || formatTimestamp(ms) !== ts) t.fail(`ms ${ms}: ${ts}`)
  }
  t.equal(parseTimestamp('2024-03-01T08:00:00+08:00'), Date.parse('2024-03-01T00:00:00Z'))
  t.equal(parseTimestamp('2024-03-01T00:00:00.5Z'), Date.parse('2024-03-01T00:00:00.500Z'))
  t.equal(parseTimestamp('2024-02-29T23:30:00-01:00'), Date.parse('2024-03-01T00:30:00Z'))
  for (const bad of ['2023-02-29', '2024-13-01', '2024-00-10', '2024-1-05', '24-01-05', '2024-01-05 ', '0000-01-01'])
    t.equal(parseDate(bad), null, bad)
  for (const bad of [
    '2024-01-05T00:00:00',
    '2024-01-05T24:00:00Z',
    '2024-01-05T23:60:00Z',
    '2024-01-05T23:59:60Z',
    '2024-01-05T00:00:00.1234Z',
    '2024-01-05 00:00:00Z',
    '2024-01-05T00:00:00+0800',
    '2024-01-05',
  ])
    t.equal(parseTimestamp(bad), null, bad)
})

t.test('periods and their labels agree with Date, ISO weeks by the Thursday rule', async (t) => {
  const r = mulberry32(7)
  for (let i = 0; i < 300; i++) {
    const lower = Math.floor(r() * 40_000) - 10_000
    const upper = lower + Math.floor(r() * 900)
    for (const unit of ['day', 'week', 'month', 'year'] as const) {
      const labels = calendarLabels(unit, lower, upper, 10_000)!
      for (let day = lower; day <= upper; day += 1 + Math.floor(r() * 5)) {
        const want =
          unit === 'day'
            ? iso(day)
            : unit === 'week'
              ? isoWeekLabel(day)
              : unit === 'month'
                ? iso(day).slice(0, 7)
                : iso(day).slice(0, 4)
        const got = labels[calendarIndex(unit, lower, day)]
        if (got !== want) t.fail(`${unit} of ${iso(day)} in [${iso(lower)}, ${iso(upper)}]: ${got}, want ${want}`)
      }
      t.equal(calendarIndex(unit, lower, upper), labels.length - 1)
    }
  }
  t.same(calendarLabels('week', parseDate('2024-12-28')!, parseDate('2025-01-08')!, 100), [
    '2024-W52',
    '2025-W01',
    '2025-W02',
  ])
  t.equal(calendarLabels('day', 0, 10_000, 10_000), null, 'past the most periods: null, for the binder to refuse')
  t.equal(calendarLabels('day', 0, 9_999, 10_000)!.length, 10_000)
})

t.test('calendarCodes: each row its period, timestamps by their UTC day', async (t) => {
  const first = parseDate('2024-01-01')!
  const months = calendarLabels('month', first, parseDate('2024-12-31')!, 100)!
  const values = Float64Array.from(
    ['2024-01-01T00:00:00Z', '2024-01-31T23:59:59.999Z', '2024-02-01T00:00:00Z', '2024-12-31T23:59:59.999Z'].map(
      (s) => parseTimestamp(s)!,
    ),
  )
  const codes = calendarCodes(
    { kind: 'f64', values, nulls: null },
    { unit: 'month', type: 'timestamp', first },
    months,
    4,
  )
  t.same([...codes.values], [0, 0, 1, 11])
  const days = Int32Array.from(['2024-01-01', '2024-03-15', '2024-12-31'].map((s) => parseDate(s)!))
  const byDay = calendarCodes(
    { kind: 'i32', values: days, nulls: null },
    { unit: 'month', type: 'date', first },
    months,
    3,
  )
  t.same([...byDay.values], [0, 2, 11])
})
