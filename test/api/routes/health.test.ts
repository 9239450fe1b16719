import t from 'tap'
import { TEST_STORE, testApp } from '../../helpers/app.js'

t.test('/healthz needs no key and reports the database and the kernel', async (t) => {
  const { call } = await testApp(t)
  const res = await call(null, { method: 'GET', url: '/healthz' })
  t.equal(res.statusCode, 200)
  const body = res.json()
  t.match(body, {
    status: 'ok',
    version: /^\d+\.\d+\.\d+/,
    db: { ok: true, backend: TEST_STORE, schemaVersion: Number },
  })
  if (TEST_STORE === 'sqlite') t.equal(body.db.journalMode, 'wal')
  else t.notOk('journalMode' in body.db, 'PostgreSQL has no journal mode to report')
  t.ok(['native', 'ts'].includes(body.kernel.kernel))
  if (body.kernel.kernel === 'native') {
    t.equal(body.kernel.reason, null)
    t.match(body.kernel.binding, /\.node$/)
  } else {
    t.type(body.kernel.reason, 'string', 'when TypeScript runs, the report says why')
  }
})

t.test('npm install built the native kernel, and the service runs it', async (t) => {
  // CI installs with npm ci, which builds native/; a failed build is worth seeing.
  const { loadKernel } = await import('../../../src/engine/exec/loader.js')
  const choice = loadKernel({ native: true, env: {} })
  t.equal(choice.kernel.name, 'native', choice.reason ?? 'native')
})
