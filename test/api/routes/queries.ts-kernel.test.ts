// The fallback path: every query test again, with the native kernel turned off,
// in the main process and (through workerData) in every sandbox worker.
import t from 'tap'

process.env.VEILBOX_NATIVE = '0'
const { testApp } = await import('../../helpers/app.js')

t.test('with VEILBOX_NATIVE=0 the service runs and reports the TypeScript kernel', async (t) => {
  const { call } = await testApp(t)
  const health = (await call(null, { method: 'GET', url: '/healthz' })).json()
  t.equal(health.kernel.kernel, 'ts')
  t.match(health.kernel.reason, /VEILBOX_NATIVE/)
})

await import('./queries.test.js')
