import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { RemoteCustodian } from '../../src/custodian/client.js'
import { tokenMatches } from '../../src/custodian/server.js'
import { profileIn, profileOut } from '../../src/custodian/wire.js'
import { chooseProfile } from '../../src/engine/he/profile.js'
import { tempDir } from '../helpers/app.js'
import { clinicCsv, clinicRows, clinicSpec, CLINIC_ID, heApp } from '../helpers/he.js'

/**
 * The custodian as a separate process (`veilbox custodian`): the service
 * makes keys and releases encrypted aggregates through it over HTTP with the
 * shared token; with it stopped, encrypted queries fail with 503
 * VEILBOX_ERR_CUSTODIAN_UNAVAILABLE and everything else still answers.
 */

const ENTRY = fileURLToPath(new URL('../helpers/cli-entry.ts', import.meta.url))

function startCustodian(keys: string, token: string): Promise<{ child: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', ENTRY, 'custodian', '--port', '0', '--keys', keys, '--log-level', 'warn'],
      {
        env: { ...process.env, VEILBOX_CUSTODIAN_TOKEN: token },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let out = ''
    let err = ''
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /listening on (http:\/\/\S+)/.exec(out)
      if (m) resolve({ child, url: m[1]! })
    })
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
    child.on('exit', (code) => reject(new Error(`custodian exited with ${code}: ${err}`)))
  })
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    child.once('exit', () => resolve())
    child.kill('SIGTERM')
  })
}

t.test(
  'the service works through a separate custodian process, and without it only encrypted queries fail',
  async (t) => {
    const token = randomBytes(24).toString('base64url')
    const keys = path.join(tempDir(t), 'custodian-keys')
    const { child, url } = await startCustodian(keys, token)
    t.teardown(() => stop(child))

    const ha = await heApp(t, { keys: false, overrides: { custodianUrl: url, custodianToken: token } })
    const made = await ha.call('custodian', {
      method: 'POST',
      url: `/v1/datasets/${CLINIC_ID}/he/keys`,
      payload: { maxRows: 4000, polyModulusDegree: 4096 },
    })
    t.equal(made.statusCode, 201, made.body.slice(0, 300))
    const up = await ha.call('operator', {
      method: 'POST',
      url: `/v1/datasets/${CLINIC_ID}/versions`,
      headers: { 'content-type': 'text/csv' },
      payload: clinicCsv(clinicRows(1000)),
    })
    t.equal(up.statusCode, 201, 'a plaintext upload needs only the public key the service holds')

    const query = (sql: string, epsilon: number) =>
      ha.call('analyst', { method: 'POST', url: '/v1/queries', payload: { sql, grant: ha.grant, epsilon } })
    const sum = await query(`SELECT region, SUM(visits), AVG(cost) FROM ${CLINIC_ID} GROUP BY region`, 1)
    t.equal(sum.statusCode, 200, sum.body.slice(0, 300))
    t.equal(sum.json().rows.length, 3)

    // The token is checked: without it, or with another, the custodian answers nothing.
    const bare = await fetch(new URL('v1/datasets/clinic/public', `${url}/`))
    t.equal(bare.status, 401)
    t.equal(((await bare.json()) as { code: string }).code, 'VEILBOX_ERR_AUTH_MISSING_KEY')
    const stranger = new RemoteCustodian(url, 'x'.repeat(40))
    await t.rejects(stranger.publicMaterial(CLINIC_ID), { code: 'VEILBOX_ERR_CUSTODIAN_UNAVAILABLE', message: /token/ })
    t.ok(tokenMatches(token, token) && !tokenMatches(token, `${token}x`) && !tokenMatches('', token))
    // Its answers are validated: a request it cannot parse is a 400, not a decryption.
    const junk = await fetch(new URL('v1/datasets/clinic/decrypt', `${url}/`), {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ dataset: 'clinic', profileId: 'x', queryId: 'q', aggregates: [] }),
    })
    t.equal(junk.status, 400)
    t.equal(((await junk.json()) as { code: string }).code, 'VEILBOX_ERR_REQUEST_VALIDATION')

    await stop(child)
    const down = await query(`SELECT SUM(cost) FROM ${CLINIC_ID}`, 1.5)
    t.equal(down.statusCode, 503)
    t.equal(down.json().code, 'VEILBOX_ERR_CUSTODIAN_UNAVAILABLE')
    t.ok(down.headers['retry-after'], 'with Retry-After')
    t.match(down.json().detail, /other queries are unaffected/)
    const spent = (await ha.call('analyst', { method: 'GET', url: `/v1/grants/${ha.grant}` })).json().budget.epsilon
      .spent
    t.equal(spent, 1, 'the failed release charged nothing')
    const count = await query(`SELECT region, COUNT(*), COUNT(visits) FROM ${CLINIC_ID} GROUP BY region`, 2)
    t.equal(count.statusCode, 200, 'queries that decrypt nothing keep working')
    const again = await query(`SELECT region, SUM(visits), AVG(cost) FROM ${CLINIC_ID} GROUP BY region`, 1)
    t.equal(again.statusCode, 200, 'a stored answer is still served')
    const refused = (await ha.app.db.rows("SELECT outcome FROM audit_log WHERE action = 'query.failed'")).map(
      (r) => r[0],
    )
    t.same(refused, ['VEILBOX_ERR_CUSTODIAN_UNAVAILABLE'], 'the failure is in the audit chain')
    const keysDown = await ha.call('operator', {
      method: 'POST',
      url: '/v1/datasets',
      payload: { ...clinicSpec(), id: 'clinic2' },
    })
    t.equal(keysDown.statusCode, 201)
    const noKeys = await ha.call('custodian', {
      method: 'POST',
      url: '/v1/datasets/clinic2/he/keys',
      payload: { maxRows: 100, polyModulusDegree: 4096 },
    })
    t.equal(noKeys.statusCode, 503)
    t.equal(noKeys.json().code, 'VEILBOX_ERR_CUSTODIAN_UNAVAILABLE')
  },
)

t.test('a profile from the wire is re-checked: one weaker than 128-bit or altered is refused', async (t) => {
  const spec = clinicSpec() as never
  const p = chooseProfile(spec, { maxRows: 1000, polyModulusDegree: 4096 })
  t.same(profileIn(profileOut(p)), p, 'an intact profile reads back')
  const weak = profileOut(p) as { contexts: { coeffModulusBits: number[] }[] }
  weak.contexts[0]!.coeffModulusBits = [60, 60, 60]
  t.throws(() => profileIn(weak), { code: 'VEILBOX_ERR_HE_INSECURE_PARAMETERS' })
  const altered = profileOut(p) as { maxRows: number }
  altered.maxRows = 1_000_000
  t.throws(() => profileIn(altered), { code: 'VEILBOX_ERR_HE_INVALID_PARAMETERS', message: /altered/ })
})
