/**
 * Logs and start lines (src/api/logging.ts, src/api/server.ts): pretty lines
 * only when stdout is a terminal, JSON otherwise, with the same redaction;
 * and the lines `veilbox serve --demo` prints once it listens name the
 * console, the keys file, and a curl that works as printed.
 */
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { keysFileOf, loggerOptions, prettyLogs, shellQuote, startLines } from '../../src/api/logging.js'
import { startServer } from '../../src/api/server.js'
import { loadConfig } from '../../src/config/index.js'
import { tempDir } from '../helpers/app.js'

t.test('pretty in a terminal, JSON anywhere else', async (t) => {
  t.equal(prettyLogs(true), true)
  t.equal(prettyLogs(false), false)
  t.equal(prettyLogs(undefined), false, 'a pipe or a file: process.stdout.isTTY is undefined')
  t.match(loggerOptions('info', true), { level: 'info', transport: { target: 'pino-pretty' } })
  const json = loggerOptions('warn', false)
  t.match(json, { level: 'warn' })
  t.notOk(typeof json === 'object' && json !== null && 'transport' in json, 'JSON lines: no transport')
  t.same(
    [loggerOptions('info', true), json].map((o) =>
      typeof o === 'object' && o !== null && 'redact' in o ? o.redact : null,
    ),
    [
      ['req.headers.authorization', 'req.headers.cookie'],
      ['req.headers.authorization', 'req.headers.cookie'],
    ],
    'both redact the key and the cookie',
  )
})

t.test('start lines: a keys file path is quoted for the shell; without one, health', async (t) => {
  t.equal(shellQuote('/srv/data/demo-keys.json'), '/srv/data/demo-keys.json')
  t.equal(shellQuote("/home/o'neil/my data/k.json"), "'/home/o'\\''neil/my data/k.json'")
  t.same(startLines('http://127.0.0.1:8080', null), [
    'console  http://127.0.0.1:8080/console/',
    'try      curl -s http://127.0.0.1:8080/healthz',
  ])
  const dir = tempDir(t)
  t.equal(keysFileOf(dir, true), null, 'no keys file yet')
  fs.writeFileSync(path.join(dir, 'operator-key.json'), '{}')
  t.same(keysFileOf(dir, false), { path: path.join(dir, 'operator-key.json'), field: 'operator', route: '/v1/me' })
})

t.test('veilbox serve --demo says where the console and the keys are, and its curl works', async (t) => {
  const dataDir = tempDir(t)
  const config = loadConfig(
    {},
    { dataDir, port: 0, logLevel: 'silent', demo: true, custodianDir: path.join(tempDir(t), 'keys') },
  )
  // The server's own lines on stdout are kept here; anything else (tap's output) passes through.
  let printed = ''
  const write = process.stdout.write.bind(process.stdout)
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    const text = chunk.toString()
    if (!text.startsWith('veilbox: ')) return write(chunk, ...rest)
    printed += text
    return true
  }) as typeof process.stdout.write
  let server: Awaited<ReturnType<typeof startServer>>
  try {
    server = await startServer(config)
  } finally {
    process.stdout.write = write
  }
  t.teardown(() => server.close())
  const keysFile = path.join(dataDir, 'demo-keys.json')
  const lines = printed.split('\n')
  const at = lines.findIndex((l) => l.startsWith('veilbox: listening on'))
  t.ok(at >= 0, printed)
  t.same(lines.slice(at + 1, at + 3), [
    `veilbox: console  ${server.url}/console/`,
    `veilbox: keys     ${keysFile} (mode 0600)`,
  ])
  const tryLine = lines[at + 3]!
  t.match(
    tryLine,
    /^veilbox: try {6}curl -s -H "authorization: Bearer \$\(node -p .*\)" http:\/\/127\.0\.0\.1:\d+\/v1\/datasets$/,
  )
  const keys = JSON.parse(fs.readFileSync(keysFile, 'utf8')) as Record<string, string>
  t.notMatch(printed, keys.analyst!, 'no key is printed')

  const curl = tryLine.replace(/^veilbox: try +/, '')
  const { stdout } = await promisify(execFile)('sh', ['-c', curl])
  const catalog = JSON.parse(stdout) as { datasets: { id: string }[] }
  t.ok(
    catalog.datasets.some((d) => d.id === 'binzhou_households'),
    'the curl, run as printed, lists the demo catalog',
  )
})
