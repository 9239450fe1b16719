/**
 * Budget windows (src/engine/policy/window.ts): which window an instant
 * falls in, calendar months in UTC or days from the grant's creation, and
 * the single window of a dataset that does not refresh.
 */
import t from 'tap'
import { NO_REFRESH, windowEnd, windowEvery, windowStart } from '../../../src/engine/policy/window.js'

const created = '2030-01-10T08:00:00.000Z'

t.test('calendar months in UTC: the boundary is the first at 00:00 UTC, whatever the local zone', async (t) => {
  t.equal(windowStart('month', created, new Date('2030-03-31T23:59:59.999Z')), '2030-03-01T00:00:00.000Z')
  t.equal(windowStart('month', created, new Date('2030-04-01T00:00:00.000Z')), '2030-04-01T00:00:00.000Z')
  t.equal(windowStart('month', created, new Date('2030-12-15T00:00:00.000Z')), '2030-12-01T00:00:00.000Z')
  t.equal(windowEnd('month', '2030-12-01T00:00:00.000Z'), '2031-01-01T00:00:00.000Z')
})

t.test('windows of days count from the grant creation', async (t) => {
  const every = windowEvery(7)
  t.equal(every, 'd7')
  t.equal(windowStart(every, created, new Date('2030-01-17T07:59:59.999Z')), created)
  t.equal(windowStart(every, created, new Date('2030-01-17T08:00:00.000Z')), '2030-01-17T08:00:00.000Z')
  t.equal(windowStart(every, created, new Date('2030-01-01T00:00:00.000Z')), created, 'before creation: the first')
  t.equal(windowEnd(every, created), '2030-01-17T08:00:00.000Z')
  t.throws(() => windowStart('d0', created, new Date()))
})

t.test('a dataset with refresh off has one window, never ending', async (t) => {
  t.equal(windowStart('month', created, new Date('2031-05-05T00:00:00.000Z'), false), NO_REFRESH)
  t.equal(windowEnd('month', NO_REFRESH), null)
})
