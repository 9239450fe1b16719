import fs from 'node:fs'
import path from 'node:path'
import Fastify from 'fastify'
import t, { type Test } from 'tap'
import { errorsEn } from '../../../console/src/i18n/errors-en.js'
import { errorsZh } from '../../../console/src/i18n/errors-zh.js'
import consolePlugin, {
  CONSOLE_CSP,
  DEFAULT_CONSOLE_ROOT,
  IMMUTABLE,
  REVALIDATE,
} from '../../../src/api/plugins/console.js'
import problem from '../../../src/http/problem.js'
import { ERROR_CODES } from '../../../src/errors/codes.js'
import { tempDir, testApp } from '../../helpers/app.js'

/** A console build in miniature: what `vite build` leaves in dist/console. */
function fixture(t: Test): string {
  const root = tempDir(t, 'veilbox-console-')
  fs.mkdirSync(path.join(root, 'assets'))
  fs.writeFileSync(
    path.join(root, 'index.html'),
    '<!doctype html><script type="module" src="/console/assets/index-abc123.js"></script>',
  )
  fs.writeFileSync(path.join(root, 'assets', 'index-abc123.js'), 'console.log("hi")')
  fs.writeFileSync(path.join(root, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>')
  fs.writeFileSync(path.join(root, '.secret'), 'not for the web')
  return root
}

async function bare(t: Test, root: string) {
  const app = Fastify({ logger: false })
  await app.register(problem)
  await app.register(consolePlugin, { root })
  t.teardown(() => app.close())
  await app.ready()
  return app
}

t.test('serves index.html revalidated, hashed assets immutable, under the console CSP', async (t) => {
  const app = await bare(t, fixture(t))
  const redirect = await app.inject({ url: '/console' })
  t.equal(redirect.statusCode, 308)
  t.equal(redirect.headers.location, '/console/')

  const index = await app.inject({ url: '/console/' })
  t.equal(index.statusCode, 200)
  t.match(index.headers['content-type'], /^text\/html/)
  t.equal(index.headers['cache-control'], REVALIDATE)
  t.equal(index.headers['content-security-policy'], CONSOLE_CSP)
  t.equal(index.headers['referrer-policy'], 'no-referrer', 'no Referer leaves the page that holds the key')
  t.equal(index.headers['x-frame-options'], 'DENY')

  const asset = await app.inject({ url: '/console/assets/index-abc123.js' })
  t.equal(asset.statusCode, 200)
  t.match(asset.headers['content-type'], /javascript/)
  t.equal(asset.headers['cache-control'], IMMUTABLE)

  const icon = await app.inject({ url: '/console/favicon.svg' })
  t.equal(icon.headers['cache-control'], REVALIDATE, 'an unhashed file is revalidated')
})

t.test('refuses what is not part of the build', async (t) => {
  const app = await bare(t, fixture(t))
  for (const url of [
    '/console/assets/nope.js',
    '/console/.secret',
    '/console/../package.json',
    '/console/%2e%2e/package.json',
  ]) {
    const res = await app.inject({ url })
    t.ok(res.statusCode === 404 || res.statusCode === 403, `${url} is refused (${res.statusCode})`)
    t.notMatch(res.body, /not for the web|"name": "veilbox"/, `${url} leaks nothing`)
  }
  const missing = await app.inject({ url: '/console/assets/nope.js' })
  t.match(missing.headers['content-type'], /application\/problem\+json/)
  t.equal(missing.json().code, 'VEILBOX_ERR_REQUEST_NOT_FOUND')
})

t.test('an unbuilt console says how to build it', async (t) => {
  const app = await bare(t, tempDir(t))
  for (const url of ['/console/', '/console/assets/index.js']) {
    const res = await app.inject({ url })
    t.equal(res.statusCode, 404)
    t.match(res.headers['content-type'], /application\/problem\+json/)
    t.equal(res.json().code, 'VEILBOX_ERR_REQUEST_NOT_FOUND')
    t.match(res.json().detail, /npm run build/)
  }
})

t.test('in the full app: the console CSP replaces the API one on /console only', async (t) => {
  const { app, call } = await testApp(t)
  const api = await call('analyst', { url: '/v1/datasets' })
  t.match(api.headers['content-security-policy'], /upgrade-insecure-requests/, 'the API keeps helmet’s policy')
  const page = await app.inject({ url: '/console/' })
  if (fs.existsSync(path.join(DEFAULT_CONSOLE_ROOT, 'index.html'))) {
    t.equal(page.statusCode, 200)
    t.equal(page.headers['content-security-policy'], CONSOLE_CSP)
    t.equal(page.headers['cache-control'], REVALIDATE)
    // The CSP allows no inline script: every script of the built page must be a file of the build.
    const scripts = [...page.body.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)]
    t.ok(scripts.length > 0, 'the page loads its bundle')
    for (const [, attrs, body] of scripts) {
      t.equal(body!.trim(), '', 'no inline script')
      const src = /src="([^"]+)"/.exec(attrs!)?.[1]
      t.match(src, /^\/console\/assets\/[\w-]+\.js$/)
      const js = await app.inject({ url: src!, headers: { 'accept-encoding': 'br, gzip' } })
      t.equal(js.statusCode, 200)
      t.equal(js.headers['cache-control'], IMMUTABLE)
      t.equal(js.headers['content-encoding'], 'br', 'sent as the brotli copy made at build time')
    }
  } else {
    t.equal(page.statusCode, 404, 'not built here: the console says so')
  }
  // The console adds no API: anything it does goes through the /v1 routes and their checks.
  const unauth = await app.inject({ url: '/v1/datasets' })
  t.equal(unauth.statusCode, 401)
})

t.test('every API error code has plain words in English and Chinese', async (t) => {
  const codes = Object.keys(ERROR_CODES)
  const missingEn = codes.filter((c) => !errorsEn[c])
  const missingZh = codes.filter((c) => !errorsZh[c])
  t.same(missingEn, [], 'English covers every code')
  t.same(missingZh, [], 'Chinese covers every code')
  t.same(Object.keys(errorsZh).sort(), Object.keys(errorsEn).sort(), 'the two languages have the same codes')
  for (const [code, text] of Object.entries(errorsZh)) {
    t.ok(/[\u4e00-\u9fff]/.test(text.what) && /[\u4e00-\u9fff]/.test(text.next), `${code} is written in Chinese`)
  }
})
