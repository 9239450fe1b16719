import { VeilboxError } from '../../errors/index.js'
import type { GrantRecord, GrantWindow } from '../../store/grants.js'
import { minus, toNumber, units, type Epsilon } from '../dp/budget.js'

/**
 * Budget windows and the cap per answer (issue 24, docs/dp.md "Budget
 * windows"). A grant may cap the epsilon of one answer, and may carry a
 * refresh window, a calendar month in UTC or a number of days counted from
 * the grant's creation, with a cap on what the grant spends in each window.
 * The window's spend starts again from 0 at its boundary; the grant's total
 * and the dataset's budget are never refreshed by it. A dataset whose
 * operator turned refresh off keeps its grants' windows at their first: a
 * window cap there is a cap for the grant's life.
 */

/** The window key of a grant whose dataset does not refresh: one window, forever. */
export const NO_REFRESH = 'never'

const DAY_MS = 86_400_000n

/** How a window's length is written in the store: 'month', or 'd' and a number of days. */
export function windowEvery(every: 'month' | number): string {
  return every === 'month' ? 'month' : `d${every}`
}

/** The stored length for people: 'month' or a number of days. */
export function everyView(every: string): 'month' | number {
  return every === 'month' ? 'month' : Number(every.slice(1))
}

/**
 * The start of the window `now` falls in, as an ISO instant: the first of
 * the month at 00:00 UTC, or the grant's creation plus a whole number of
 * windows of days. NO_REFRESH when the dataset does not refresh.
 */
export function windowStart(every: string, createdAt: string, now: Date, refresh = true): string {
  if (!refresh) return NO_REFRESH
  if (every === 'month') return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)).toISOString()
  // Whole milliseconds as bigints: window arithmetic is on times, and this file keeps clear of float math.
  const origin = BigInt(Date.parse(createdAt))
  const length = windowLength(every)
  const since = BigInt(now.getTime()) - origin
  const k = since < 0n ? 0n : since / length
  return new Date(Number(origin + k * length)).toISOString()
}

function windowLength(every: string): bigint {
  if (!/^d[1-9][0-9]{0,2}$/.test(every)) throw new Error(`windowLength: bad window "${every}"`)
  return BigInt(every.slice(1)) * DAY_MS
}

/** The end of the window that starts at `start` (null when it never ends). */
export function windowEnd(every: string, start: string): string | null {
  if (start === NO_REFRESH) return null
  const s = new Date(start)
  if (every === 'month') return new Date(Date.UTC(s.getUTCFullYear(), s.getUTCMonth() + 1, 1)).toISOString()
  return new Date(Number(BigInt(s.getTime()) + windowLength(every))).toISOString()
}

/** What the grant's window has spent, seen at `start`: 0 when its spend counts in another window. */
export function windowSpent(w: GrantWindow, start: string): Epsilon {
  return units('epsilon', w.start === start ? w.spent : 0n)
}

/** What the window has left at `start`. */
export function windowRemaining(w: GrantWindow, start: string): Epsilon {
  return minus(units('epsilon', w.epsilon), windowSpent(w, start))
}

/** An answer above the grant's cap per answer is refused before anything runs (free). */
export function checkGrantEpsilonPerAnswer(grant: GrantRecord, epsilon: Epsilon): void {
  const max = grant.maxEpsilonPerAnswer
  if (max === null || epsilon <= max) return
  throw new VeilboxError(
    'VEILBOX_ERR_BUDGET_OVER_ANSWER_CAP',
    `grant ${grant.id} lets one answer spend at most epsilon ${toNumber('epsilon', max)}, and this query asks for ${toNumber('epsilon', epsilon)}; lower epsilon. Nothing was run or charged`,
    { grant: grant.id, max: toNumber('epsilon', max), requested: toNumber('epsilon', epsilon) },
  )
}

/** The refusal when the charge does not fit the window's cap (the release transaction rolls back). */
export function windowExhausted(grant: GrantRecord, start: string, epsilon: Epsilon): VeilboxError {
  const w = grant.window!
  const end = windowEnd(w.every, start)
  const remaining = windowRemaining(w, start)
  return new VeilboxError(
    'VEILBOX_ERR_BUDGET_WINDOW_EXHAUSTED',
    `grant ${grant.id} may spend epsilon ${toNumber('epsilon', w.epsilon)} per window, and ${toNumber('epsilon', remaining)} is left in this one; this query asks for ${toNumber('epsilon', epsilon)}. ${end === null ? 'Windows do not refresh on this dataset' : `The window refreshes at ${end}`}. Nothing was charged`,
    {
      scope: 'window',
      grant: grant.id,
      requested: toNumber('epsilon', epsilon),
      cap: toNumber('epsilon', w.epsilon),
      spent: toNumber('epsilon', windowSpent(w, start)),
      remaining: toNumber('epsilon', remaining),
      windowStart: start === NO_REFRESH ? null : start,
      windowEnd: end,
    },
  )
}
