import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { startServer } from '../../src/api/server.js'
import { loadConfig } from '../../src/config/index.js'
import { tempDir } from '../helpers/app.js'
import { runCli } from '../helpers/cli.js'

t.test('the real server on an ephemeral port: health, catalog, roles, and the ingest CLI', async (t) => {
  const dataDir = tempDir(t)
  const config = loadConfig(
    {},
    { dataDir, port: 0, logLevel: 'silent', demo: true, custodianDir: path.join(tempDir(t), 'keys') },
  )
  const server = await startServer(config)
  t.teardown(() => server.close())
  const keys = JSON.parse(fs.readFileSync(path.join(dataDir, 'demo-keys.json'), 'utf8')) as Record<string, string>

  const health = await fetch(new URL('/healthz', server.url))
  t.equal(health.status, 200)
  t.match(await health.json(), { status: 'ok', db: { ok: true, journalMode: 'wal' } })

  const anon = await fetch(new URL('/v1/datasets', server.url))
  t.equal(anon.status, 401)
  t.match(anon.headers.get('content-type'), /application\/problem\+json/)
  t.match(((await anon.json()) as { code: string }).code, /^VEILBOX_ERR_/)

  const auth = (role: string) => ({ authorization: `Bearer ${keys[role]}` })
  const list = await fetch(new URL('/v1/datasets', server.url), { headers: auth('analyst') })
  t.equal(list.status, 200)
  const catalog = (
    (await list.json()) as { datasets: { id: string; he?: { keys: boolean }; versions: { encryptedBy?: string }[] }[] }
  ).datasets
  t.same(
    catalog.map((d) => d.id),
    ['binzhou_claims', 'binzhou_district_regions', 'binzhou_households', 'binzhou_subsidies'],
  )
  const subsidies = catalog.find((d) => d.id === 'binzhou_subsidies')!
  t.same(subsidies.he?.keys, true, 'the encrypted demo has its keys')
  t.equal(subsidies.versions[0]!.encryptedBy, 'owner', 'and a version its owner encrypted')
  const sum = await fetch(new URL('/v1/queries', server.url), {
    method: 'POST',
    headers: { ...auth('analyst'), 'content-type': 'application/json' },
    body: JSON.stringify({
      sql: 'SELECT district, SUM(subsidy), AVG(dependants) FROM binzhou_subsidies WHERE rural = TRUE GROUP BY district',
      grant: keys.heGrant,
      epsilon: 1,
    }),
  })
  t.equal(sum.status, 200, 'the encrypted demo answers')
  t.equal(((await sum.json()) as { rows: unknown[] }).rows.length, 7)

  const forbidden = await fetch(new URL('/v1/datasets', server.url), {
    method: 'POST',
    headers: { ...auth('analyst'), 'content-type': 'application/json' },
    body: '{}',
  })
  t.equal(forbidden.status, 403)

  // The ingest command streams a file to the running server.
  const spec = {
    id: 'trips',
    title: 'Trips',
    classification: 'internal',
    privacyUnit: 'rider',
    maxRowsPerUnit: 5,
    columns: [
      { name: 'rider', type: 'id', protection: 'public' },
      { name: 'minutes', type: 'number', protection: 'dp', lower: 0, upper: 240 },
    ],
  }
  const created = await fetch(new URL('/v1/datasets', server.url), {
    method: 'POST',
    headers: { ...auth('operator'), 'content-type': 'application/json' },
    body: JSON.stringify(spec),
  })
  t.equal(created.status, 201)
  const file = path.join(dataDir, 'trips.csv')
  fs.writeFileSync(
    file,
    `rider,minutes\n${Array.from({ length: 5000 }, (_, i) => `r${i % 900},${(i % 240) + 0.25}`).join('\n')}\n`,
  )
  const run = await runCli(['ingest', 'trips', file, '--url', server.url, '--no-progress'], {
    VEILBOX_API_KEY: keys.operator!,
  })
  t.equal(run.code, 0, run.stderr)
  t.match(run.stdout, /^trips version 1: 5000 rows in [\d.]+ s \(\d+ rows\/s\)\nsha256 [0-9a-f]{64}\n$/)

  const badFile = path.join(dataDir, 'bad.csv')
  fs.writeFileSync(badFile, 'rider,minutes\nr1,10\nr2,-3\n')
  const bad = await runCli(['ingest', 'trips', badFile, '--url', server.url, '--no-progress', '--key', keys.operator!])
  t.equal(bad.code, 1)
  t.match(
    bad.stderr,
    /data row 2 \(line 3\), column "minutes": -3 is below the declared lower bound 0.*\(VEILBOX_ERR_INGEST_BAD_ROW\)/,
  )
  const noKey = await runCli(['ingest', 'trips', file, '--url', server.url], { VEILBOX_API_KEY: '' })
  t.equal(noKey.code, 1)
  t.match(noKey.stderr, /no API key: pass --key or set VEILBOX_API_KEY/)
})
