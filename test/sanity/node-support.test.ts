import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'

// package.json names Node 20 from 20.6. Before 20.19 Node cannot require() an ES module, and some
// dependencies went ESM-only (content-disposition 3 under @fastify/static, cookie 2 under
// light-my-request); package.json's overrides keep CommonJS releases of them. This loads every
// runtime dependency, and the parts that load lazily, in plain Node (tsx, which runs the other
// tests, would compile an ES module for require() and hide the problem) with require(esm)
// switched off where this Node can, as those versions run the service.
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const NO_REQUIRE_ESM = '--no-experimental-require-module'
const canSwitchOff = process.allowedNodeEnvironmentFlags.has(NO_REQUIRE_ESM)

const script = `
import fs from 'node:fs'
const pkg = JSON.parse(fs.readFileSync('package.json', 'utf8'))
for (const name of Object.keys(pkg.dependencies)) await import(name)
const { default: Fastify } = await import('fastify')
const app = Fastify()
// @fastify/static requires content-disposition when it loads; inject loads light-my-request, which requires cookie.
await app.register((await import('@fastify/static')).default, { root: process.cwd(), serve: false })
app.get('/', async (_request, reply) => reply.header('content-disposition', 'inline').send('ok'))
const res = await app.inject({ url: '/', cookies: { a: 'b' } })
process.stdout.write(res.statusCode + ' ' + res.body + ' ' + Object.keys(pkg.dependencies).length)
`

t.test('every runtime dependency loads in plain Node without require() of an ES module', async (t) => {
  const r = spawnSync(
    process.execPath,
    [...(canSwitchOff ? [NO_REQUIRE_ESM] : []), '--input-type=module', '-e', script],
    {
      cwd: ROOT,
      encoding: 'utf8',
      // Nothing of the test runner's own loaders.
      env: { ...process.env, NODE_OPTIONS: '' },
      timeout: 60_000,
    },
  )
  t.comment(
    canSwitchOff ? `with ${NO_REQUIRE_ESM}` : `this Node (${process.version}) has no require(esm) to switch off`,
  )
  t.equal(r.status, 0, r.stderr === '' ? 'loads and exits 0' : r.stderr.split('\n').slice(0, 8).join('\n'))
  t.match(r.stdout, /^200 ok \d+$/, 'a request through fastify.inject')
})
