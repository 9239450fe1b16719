import t from 'tap'
import { MAX_NOISE_DRAWS, publicRows, ROW_BLOCK } from '../../src/engine/admission.js'
import { testApp } from '../helpers/app.js'

const codes = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `${prefix}${i}`)

const SPEC = {
  id: 'wide',
  title: 'wide',
  classification: 'internal',
  privacyUnit: 'pid',
  maxRowsPerUnit: 1,
  columns: [
    { name: 'pid', type: 'id', protection: 'public' },
    { name: 'a', type: 'category', protection: 'public', categories: codes(1000, 'a') },
    { name: 'b', type: 'category', protection: 'public', categories: codes(1000, 'b') },
    { name: 'c', type: 'category', protection: 'public', categories: codes(10_000, 'c') },
    { name: 'x', type: 'number', protection: 'dp', lower: 0, upper: 100 },
  ],
}

t.test('the size class is the row count rounded up to whole blocks', async (t) => {
  t.equal(ROW_BLOCK, 4096)
  t.equal(publicRows(1), 4096)
  t.equal(publicRows(4096), 4096)
  t.equal(publicRows(4097), 8192)
  t.equal(publicRows(0), 4096)
})

t.test(
  'findings 2 and 9: what an answer would release is admitted on the plan alone, and preview refuses what run refuses',
  async (t) => {
    const ta = await testApp(t, { maxReleaseValues: 50_000 })
    const ok = async <R extends { statusCode: number; body: string }>(p: Promise<R>): Promise<R> => {
      const r = await p
      if (r.statusCode >= 300) throw new Error(r.body)
      return r
    }
    await ok(ta.call('operator', { method: 'POST', url: '/v1/datasets', payload: SPEC }))
    await ok(ta.call('operator', { method: 'PUT', url: '/v1/datasets/wide/budget', payload: { epsilon: 100 } }))
    const grant = (
      await ok(
        ta.call('operator', {
          method: 'POST',
          url: '/v1/grants',
          payload: {
            analyst: 'alice',
            dataset: 'wide',
            purpose: 'limits',
            epsilon: 50,
            expiresAt: '2099-01-01T00:00:00Z',
          },
        }),
      )
    ).json().id
    await ok(
      ta.call('operator', {
        method: 'POST',
        url: '/v1/datasets/wide/versions',
        headers: { 'content-type': 'text/csv' },
        payload: 'pid,a,b,c,x\np1,a1,b1,c1,5\np2,a2,b2,c2,7\n',
      }),
    )
    const spent = async () =>
      (await ta.call('analyst', { method: 'GET', url: `/v1/grants/${grant}` })).json().budget.epsilon.spent
    const cases = [
      // 1,000,000 groups x 1 aggregate: the 910,000-group query that held the event loop for 10 s.
      {
        sql: 'SELECT a, b, COUNT(*) FROM wide GROUP BY a, b',
        detail:
          /1000000 groups x 1 aggregates: 1000000 values, more than this service releases in one answer \(VEILBOX_MAX_RELEASE_VALUES=50000\)/,
      },
      // 10,000 groups x 128 histogram bins: the quantile that preview called affordable and run refused with an internal limit.
      {
        sql: 'SELECT c, MEDIAN(x) FROM wide GROUP BY c',
        detail: new RegExp(`1280000 noise samples, more than one answer may draw \\(${MAX_NOISE_DRAWS}`),
      },
    ]
    for (const c of cases) {
      for (const url of ['/v1/queries/preview', '/v1/queries']) {
        const res = await ta.call('analyst', { method: 'POST', url, payload: { sql: c.sql, grant, epsilon: 1 } })
        t.equal(res.statusCode, 413, `${url}: ${c.sql}`)
        t.match(res.json(), { code: 'VEILBOX_ERR_QUERY_RELEASE_TOO_LARGE', detail: c.detail })
      }
    }
    t.equal(await spent(), 0, 'refused before anything ran: nothing charged')
    // Just inside both limits: answered, every declared group released.
    const fits = await ta.call('analyst', {
      method: 'POST',
      url: '/v1/queries',
      payload: { sql: 'SELECT c, COUNT(*), SUM(x) FROM wide GROUP BY c', grant, epsilon: 1 },
    })
    t.equal(fits.statusCode, 200, fits.body)
    t.equal(fits.json().rows.length, 10_000)
  },
)
