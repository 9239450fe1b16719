/**
 * The grant checks (src/engine/policy/grant.ts): a grant is usable only by the
 * analyst it was made for, while it is neither revoked nor expired; a query
 * runs inside it only on its dataset, its columns and its aggregates. Each
 * refusal has its own code, status and extra fields, and the checks run in a
 * fixed order, so a grant that fails several says the first.
 */
import t from 'tap'

import { checkGrantUsable, checkQueryInGrant } from '../../../src/engine/policy/grant.js'
import { bindQuery, parseQuery, type BoundQuery } from '../../../src/engine/query/index.js'
import type { GrantRecord } from '../../../src/store/grants.js'
import type { Principal } from '../../../src/store/keys.js'
import { households } from '../query/fixture.js'
import { errorOf } from '../../helpers/errors.js'

const DS = households.id
const NOW = new Date('2030-06-01T12:00:00.000Z')

const alice: Principal = { id: 'p-alice-2', name: 'alice', role: 'analyst', keyId: 'k-alice' }

function grant(over: Partial<GrantRecord> = {}): GrantRecord {
  return {
    id: 'g-1',
    analyst: 'alice',
    analystId: alice.id,
    dataset: DS,
    datasets: [DS],
    purpose: 'district report',
    columns: null,
    aggregates: null,
    ledger: { epsilonTotal: 1_000_000n, epsilonSpent: 0n, deltaTotal: 0n, deltaSpent: 0n, rhoSpent: 0n },
    expiresAt: '2030-07-01T00:00:00.000Z',
    createdAt: '2030-01-01T00:00:00.000Z',
    createdBy: 'p-operator',
    revokedAt: null,
    applicationId: null,
    scenario: 'public-welfare',
    organization: null,
    moneyCap: null,
    moneySpent: 0n,
    maxGroupsContributed: null,
    maxEpsilonPerAnswer: null,
    window: null,
    templatesOnly: false,
    ...over,
  }
}

const bind = (sql: string): BoundQuery => bindQuery(parseQuery(sql), households)

t.test('checkGrantUsable: the analyst it was made for, live, passes', async (t) => {
  t.doesNotThrow(() => checkGrantUsable(grant(), alice, NOW))
  t.doesNotThrow(
    () => checkGrantUsable(grant({ expiresAt: new Date(NOW.getTime() + 1).toISOString() }), alice, NOW),
    'one millisecond before it expires',
  )
  t.doesNotThrow(
    () => checkGrantUsable(grant({ expiresAt: '2999-01-01T00:00:00.000Z' }), alice),
    'without `now`, the clock',
  )
})

t.test('checkGrantUsable: another principal, even of the same name, is refused', async (t) => {
  // The name was revoked and issued again: a new principal id, so someone else.
  const reissued: Principal = { ...alice, id: 'p-alice-3' }
  const e = errorOf(() => checkGrantUsable(grant(), reissued, NOW))
  t.equal(e.code, 'VEILBOX_ERR_POLICY_NOT_YOUR_GRANT')
  t.equal(e.status, 403)
  t.strictSame(e.extra, { grant: 'g-1' })
  t.equal(e.detail, 'grant g-1 was made for another analyst; use one of your own (GET /v1/grants)')

  // Checked first: someone else's grant does not tell whether it was revoked or has expired.
  const dead = grant({ revokedAt: '2030-05-01T00:00:00.000Z', expiresAt: '2030-05-02T00:00:00.000Z' })
  t.equal(errorOf(() => checkGrantUsable(dead, reissued, NOW)).code, 'VEILBOX_ERR_POLICY_NOT_YOUR_GRANT')
})

t.test('checkGrantUsable: a revoked grant is refused, with when', async (t) => {
  const revokedAt = '2030-05-01T00:00:00.000Z'
  const e = errorOf(() => checkGrantUsable(grant({ revokedAt }), alice, NOW))
  t.equal(e.code, 'VEILBOX_ERR_POLICY_GRANT_REVOKED')
  t.equal(e.status, 403)
  t.strictSame(e.extra, { grant: 'g-1', revokedAt })
  t.equal(e.detail, `grant g-1 was revoked at ${revokedAt}; ask an operator for a new grant`)

  // Revocation is reported before expiry.
  const both = grant({ revokedAt, expiresAt: '2030-05-02T00:00:00.000Z' })
  t.equal(errorOf(() => checkGrantUsable(both, alice, NOW)).code, 'VEILBOX_ERR_POLICY_GRANT_REVOKED')
})

t.test('checkGrantUsable: an expired grant is refused from the instant it expires', async (t) => {
  const expiresAt = NOW.toISOString()
  const e = errorOf(() => checkGrantUsable(grant({ expiresAt }), alice, NOW))
  t.equal(e.code, 'VEILBOX_ERR_POLICY_GRANT_EXPIRED')
  t.equal(e.status, 403)
  t.strictSame(e.extra, { grant: 'g-1', expiresAt })
  t.equal(e.detail, `grant g-1 expired at ${expiresAt}; ask an operator for a new grant`)

  const past = '2001-01-01T00:00:00.000Z'
  t.equal(
    errorOf(() => checkGrantUsable(grant({ expiresAt: past }), alice)).code,
    'VEILBOX_ERR_POLICY_GRANT_EXPIRED',
    'without `now`, the clock',
  )
})

t.test('checkQueryInGrant: the dataset must be the grant’s, checked first', async (t) => {
  const e = errorOf(() => checkQueryInGrant(grant(), 'other_dataset', null))
  t.equal(e.code, 'VEILBOX_ERR_POLICY_DATASET_MISMATCH')
  t.equal(e.status, 403)
  t.strictSame(e.extra, { grant: 'g-1', grantDataset: DS, grantDatasets: [DS], dataset: 'other_dataset' })
  t.equal(e.detail, `grant g-1 is for dataset ${DS}, but the query reads other_dataset`)

  // A grant over several datasets covers each; qualified column entries bind to one of them.
  const two = grant({ datasets: [DS, 'claims'], columns: ['district', `${DS}.income`, 'claims.amount'] })
  t.doesNotThrow(() => checkQueryInGrant(two, 'claims', null))
  const other = errorOf(() => checkQueryInGrant(two, 'other_dataset', null))
  t.equal(other.detail, `grant g-1 is for datasets ${DS}, claims, but the query reads other_dataset`)
  t.doesNotThrow(() => checkQueryInGrant(two, DS, bind(`SELECT district, SUM(income) FROM ${DS} GROUP BY district`)))
  t.equal(
    errorOf(() => checkQueryInGrant(two, DS, bind(`SELECT SUM(age) FROM ${DS}`))).code,
    'VEILBOX_ERR_POLICY_COLUMN_NOT_GRANTED',
  )

  // Before columns and aggregates, even when those would be refused too.
  const narrow = grant({ columns: [], aggregates: [] })
  const q = bind(`SELECT SUM(income) FROM ${DS}`)
  t.equal(errorOf(() => checkQueryInGrant(narrow, 'other_dataset', q)).code, 'VEILBOX_ERR_POLICY_DATASET_MISMATCH')

  // Without a bound query (it is not bound yet) only the dataset is checked.
  t.doesNotThrow(() => checkQueryInGrant(narrow, DS, null))
})

t.test('checkQueryInGrant: a grant without lists covers every column and aggregate', async (t) => {
  const q = bind(
    `SELECT district, COUNT(*), SUM(income), AVG(age), VAR(income), STDDEV(age), MEDIAN(age), QUANTILE(income, 0.9) ` +
      `FROM ${DS} WHERE insured = TRUE GROUP BY district`,
  )
  t.doesNotThrow(() => checkQueryInGrant(grant(), DS, q))
})

t.test('checkQueryInGrant: every column the query reads must be granted', async (t) => {
  const q = bind(`SELECT district, SUM(income) FROM ${DS} WHERE insured = TRUE GROUP BY district`)
  t.same(q.columns, ['district', 'income', 'insured'], 'the columns read, in order of first appearance')
  t.doesNotThrow(() => checkQueryInGrant(grant({ columns: ['insured', 'income', 'district'] }), DS, q))

  // A column only filtered on is read too.
  const e = errorOf(() => checkQueryInGrant(grant({ columns: ['district', 'income'] }), DS, q))
  t.equal(e.code, 'VEILBOX_ERR_POLICY_COLUMN_NOT_GRANTED')
  t.equal(e.status, 403)
  t.strictSame(e.extra, { grant: 'g-1', column: 'insured', allowed: ['district', 'income'] })
  t.equal(e.detail, 'the query uses column insured, which grant g-1 does not cover (it covers: district, income)')

  // The first column outside the grant is the one named.
  const first = errorOf(() => checkQueryInGrant(grant({ columns: ['insured'] }), DS, q))
  t.equal(first.extra.column, 'district')

  // COUNT(*) reads no column: an empty column list allows it.
  t.doesNotThrow(() => checkQueryInGrant(grant({ columns: [] }), DS, bind(`SELECT COUNT(*) FROM ${DS}`)))
  t.equal(
    errorOf(() => checkQueryInGrant(grant({ columns: [] }), DS, bind(`SELECT COUNT(age) FROM ${DS}`))).extra.column,
    'age',
  )

  // Columns are checked before aggregates.
  const both = grant({ columns: ['district'], aggregates: ['count'] })
  t.equal(errorOf(() => checkQueryInGrant(both, DS, q)).code, 'VEILBOX_ERR_POLICY_COLUMN_NOT_GRANTED')
})

t.test('checkQueryInGrant: every aggregate the query uses must be granted', async (t) => {
  const q = bind(`SELECT district, COUNT(*), SUM(income) FROM ${DS} GROUP BY district`)
  t.doesNotThrow(
    () => checkQueryInGrant(grant({ aggregates: ['count', 'sum'] }), DS, q),
    'group keys are not aggregates',
  )

  const e = errorOf(() => checkQueryInGrant(grant({ aggregates: ['count', 'avg'] }), DS, q))
  t.equal(e.code, 'VEILBOX_ERR_POLICY_AGGREGATE_NOT_GRANTED')
  t.equal(e.status, 403)
  t.strictSame(e.extra, { grant: 'g-1', aggregate: 'sum', allowed: ['count', 'avg'] })
  t.equal(e.detail, 'the query uses SUM, which grant g-1 does not allow (it allows: count, avg)')

  t.equal(
    errorOf(() => checkQueryInGrant(grant({ aggregates: [] }), DS, q)).extra.aggregate,
    'count',
    'the first aggregate outside the grant is the one named',
  )
})

t.test('checkQueryInGrant: MEDIAN is the 0.5 quantile; "quantile" allows every p', async (t) => {
  const median = bind(`SELECT MEDIAN(age) FROM ${DS}`)
  const half = bind(`SELECT QUANTILE(age, 0.5) FROM ${DS}`)
  const ninety = bind(`SELECT QUANTILE(age, 0.9) FROM ${DS}`)

  for (const q of [median, half, ninety]) {
    t.doesNotThrow(() => checkQueryInGrant(grant({ aggregates: ['quantile'] }), DS, q))
  }
  t.doesNotThrow(() => checkQueryInGrant(grant({ aggregates: ['median'] }), DS, median))
  t.doesNotThrow(() => checkQueryInGrant(grant({ aggregates: ['median'] }), DS, half), 'QUANTILE(x, 0.5) is a median')

  const e = errorOf(() => checkQueryInGrant(grant({ aggregates: ['median'] }), DS, ninety))
  t.equal(e.code, 'VEILBOX_ERR_POLICY_AGGREGATE_NOT_GRANTED')
  t.strictSame(e.extra, { grant: 'g-1', aggregate: 'quantile', allowed: ['median'] })
  t.equal(e.detail, 'the query uses QUANTILE, which grant g-1 does not allow (it allows: median)')

  const m = errorOf(() => checkQueryInGrant(grant({ aggregates: ['count'] }), DS, median))
  t.equal(m.code, 'VEILBOX_ERR_POLICY_AGGREGATE_NOT_GRANTED')
  t.strictSame(m.extra, { grant: 'g-1', aggregate: 'median', allowed: ['count'] })
  t.equal(m.detail, 'the query uses MEDIAN, which grant g-1 does not allow (it allows: count)')
})
