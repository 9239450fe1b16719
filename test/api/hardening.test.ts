/**
 * Findings of the fault review that need a real socket: raw paths the HTTP
 * client would normalize, bodies that stall, connections kept alive after a
 * refusal. Each test names the finding (issue 17) it keeps fixed.
 */
import net from 'node:net'
import t from 'tap'
import { queryApp, testApp, type TestApp } from '../helpers/app.js'

interface Raw {
  readonly status: number
  readonly headers: Record<string, string>
  readonly body: string
}

function parse(text: string): Raw {
  const [head, ...rest] = text.split('\r\n\r\n')
  const lines = head!.split('\r\n')
  const headers: Record<string, string> = {}
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':')
    headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim()
  }
  let body = rest.join('\r\n\r\n')
  if (headers['transfer-encoding'] === 'chunked')
    body = body.replace(/^[0-9a-f]+\r\n/, '').replace(/\r\n0\r\n\r\n$/, '')
  return { status: Number(lines[0]!.split(' ')[1]), headers, body }
}

/** Sends raw HTTP and collects everything until the server closes or `ms` pass. */
function raw(port: number, text: string | Buffer, ms = 2000): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(text))
    let out = ''
    const done = () => {
      clearTimeout(timer)
      s.destroy()
      resolve(out)
    }
    const timer = setTimeout(done, ms)
    s.on('data', (d) => (out += d.toString()))
    s.on('close', done)
    s.on('error', done)
  })
}

async function listening(ta: TestApp): Promise<number> {
  const address = await ta.app.listen({ host: '127.0.0.1', port: 0 })
  return Number(new URL(address).port)
}

const isProblem = (r: Raw) =>
  r.headers['content-type']?.startsWith('application/problem+json') === true &&
  /^VEILBOX_ERR_[A-Z_]+$/.test(JSON.parse(r.body).code as string)

t.test(
  'finding 3: path probes on the console and the docs get problem+json 4xx, never 500, with or without a key',
  async (t) => {
    const ta = await testApp(t)
    const port = await listening(ta)
    const probes = [
      '/console/../x',
      '/console/%2e%2e/%2e%2e/etc/passwd',
      '/console/..%5c..%5cetc',
      '//etc/passwd',
      '/console/%00',
      '/console/.env',
      '/docs/static/../x',
      '/docs/static/%2e%2e/x',
      '/docs/static/..%5cx',
      '/docs/%00',
    ]
    for (const p of probes) {
      for (const key of [null, ta.keys.analyst]) {
        const r = parse(
          await raw(
            port,
            `GET ${p} HTTP/1.1\r\nHost: x\r\n${key ? `Authorization: Bearer ${key}\r\n` : ''}Connection: close\r\n\r\n`,
          ),
        )
        t.ok(r.status >= 400 && r.status < 500, `${p}${key ? ' (key)' : ''}: ${r.status}`)
        t.ok(isProblem(r), `${p}: problem+json with a code`)
        t.notMatch(r.body, /root:|\/bin\/|at .*\.js:\d+/, `${p}: no file content, no stack`)
      }
    }
  },
)

t.test('finding 3: a URL that does not decode is problem+json with its own code', async (t) => {
  const ta = await testApp(t)
  const port = await listening(ta)
  for (const p of ['/v1/datasets/%', '/v1/datasets/%zz', '/v1/datasets/%E0%A4%A']) {
    const r = parse(
      await raw(
        port,
        `GET ${p} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ta.keys.analyst}\r\nConnection: close\r\n\r\n`,
      ),
    )
    t.equal(r.status, 400, p)
    t.equal(JSON.parse(r.body).code, 'VEILBOX_ERR_REQUEST_BAD_URL', p)
    t.ok(r.headers['content-security-policy'], `${p}: with the security headers`)
  }
})

t.test(
  'finding 3: a JSON body nested 1,400 levels deep is a 400 naming the limit, checked before anything recurses',
  async (t) => {
    const qa = await queryApp(t)
    for (const depth of [1400, 129]) {
      const query = `${'{"not":'.repeat(depth)}{"cmp":{"column":"age","op":"=","value":1}}${'}'.repeat(depth)}`
      const res = await qa.call('analyst', {
        method: 'POST',
        url: '/v1/queries',
        headers: { 'content-type': 'application/json' },
        payload: `{"query":${query},"grant":"${qa.grant}","epsilon":1}`,
      })
      t.equal(res.statusCode, 400, `${depth} levels`)
      t.match(res.json(), { code: 'VEILBOX_ERR_REQUEST_TOO_DEEP', maxDepth: 128 })
    }
    // Depth inside strings does not count.
    const res = await qa.call('analyst', {
      method: 'POST',
      url: '/v1/queries/preview',
      payload: {
        sql: `SELECT COUNT(*) FROM binzhou_households WHERE district = '${'['.repeat(500)}'`,
        grant: qa.grant,
        epsilon: 1,
      },
    })
    t.not(res.json().code, 'VEILBOX_ERR_REQUEST_TOO_DEEP')
  },
)

t.test(
  'finding 6: refusals of authentication carry the security headers, and failures are limited per address',
  async (t) => {
    const ta = await testApp(t, { authFailuresPerMinute: 5 })
    const port = await listening(ta)
    const get = async (key: string | null) =>
      parse(
        await raw(
          port,
          `GET /v1/datasets HTTP/1.1\r\nHost: x\r\n${key === null ? '' : `Authorization: Bearer ${key}\r\n`}Connection: close\r\n\r\n`,
        ),
      )
    const first = await get(null)
    t.equal(first.status, 401)
    const forbidden = parse(
      await raw(
        port,
        `GET /v1/audit HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ta.keys.analyst}\r\nConnection: close\r\n\r\n`,
      ),
    )
    t.equal(forbidden.status, 403)
    for (const r of [first, forbidden]) {
      t.ok(r.headers['content-security-policy'], `${r.status}: CSP`)
      t.equal(r.headers['x-content-type-options'], 'nosniff', `${r.status}: nosniff`)
      t.ok(r.headers['x-frame-options'], `${r.status}: frame options`)
    }
    const statuses = []
    for (let i = 0; i < 6; i++) statuses.push((await get(`not-a-key-${i}`)).status)
    t.same(statuses, [401, 401, 401, 401, 429, 429], 'the sixth failure in a minute and on: 429')
    const limited = await get('still-not-a-key')
    t.equal(JSON.parse(limited.body).code, 'VEILBOX_ERR_AUTH_TOO_MANY_FAILURES')
    t.ok(Number(limited.headers['retry-after']) >= 1, 'with Retry-After')
    t.equal((await get(ta.keys.analyst)).status, 200, 'a valid key from the same address still works')
  },
)

t.test(
  'finding 7: a body that stops arriving is ended with 408 and the connection closed; nothing is stored',
  async (t) => {
    const ta = await testApp(t, { bodyIdleTimeoutMs: 500 })
    const port = await listening(ta)
    const started = Date.now()
    const r = parse(
      await raw(
        port,
        `POST /v1/datasets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ta.keys.operator}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{"id":"stalled",`,
        5000,
      ),
    )
    t.equal(r.status, 408)
    t.equal(JSON.parse(r.body).code, 'VEILBOX_ERR_REQUEST_TIMEOUT')
    t.equal(r.headers.connection, 'close')
    t.ok(Date.now() - started < 3000, 'within the idle timeout and a margin')
    const up = parse(
      await raw(
        port,
        `POST /v1/datasets/none/versions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ta.keys.operator}\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n5\r\npid,c\r\n`,
        5000,
      ),
    )
    t.ok(up.status === 408 || up.status === 404, `a stalled upload ends too (${up.status})`)
    t.same((await ta.call('operator', { method: 'GET', url: '/v1/datasets' })).json().datasets, [])
  },
)

t.test('finding 7: one principal may hold only so many requests open at once', async (t) => {
  const ta = await testApp(t, { maxOpenRequests: 2, bodyIdleTimeoutMs: 4000 })
  const port = await listening(ta)
  const stalled = [0, 1].map(() => {
    const s = net.connect(port, '127.0.0.1', () =>
      s.write(
        `POST /v1/datasets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ta.keys.operator}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{`,
      ),
    )
    s.on('error', () => {})
    return s
  })
  await new Promise((r) => setTimeout(r, 300))
  const third = parse(
    await raw(
      port,
      `GET /v1/datasets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ta.keys.operator}\r\nConnection: close\r\n\r\n`,
    ),
  )
  t.equal(third.status, 429)
  t.equal(JSON.parse(third.body).code, 'VEILBOX_ERR_REQUEST_TOO_MANY_OPEN')
  t.equal(third.headers['retry-after'], '1')
  const other = parse(
    await raw(
      port,
      `GET /v1/datasets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ta.keys.analyst}\r\nConnection: close\r\n\r\n`,
    ),
  )
  t.equal(other.status, 200, 'another principal is not affected')
  for (const s of stalled) s.destroy()
  await new Promise((r) => setTimeout(r, 300))
  const after = parse(
    await raw(
      port,
      `GET /v1/datasets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ta.keys.operator}\r\nConnection: close\r\n\r\n`,
    ),
  )
  t.equal(after.status, 200, 'closed requests free their places')
})

t.test('finding 10: an upload refused before its body is read leaves no broken keep-alive connection', async (t) => {
  const ta = await testApp(t)
  const port = await listening(ta)
  const body = `pid,x\n${'p,1\n'.repeat(200_000)}`
  const first = `POST /v1/datasets/missing/versions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ta.keys.operator}\r\nContent-Type: text/csv\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  const second = `GET /v1/datasets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ta.keys.operator}\r\n\r\n`
  const out = await raw(port, first + second, 3000)
  const responses = out.split(/(?=HTTP\/1\.1 \d{3})/)
  const r1 = parse(responses[0]!)
  t.equal(r1.status, 404, 'the upload is refused')
  if (responses.length > 1) {
    t.equal(parse(responses[1]!).status, 200, 'the next request on the connection is answered')
  } else {
    t.equal(r1.headers.connection, 'close', 'or the refusal says the connection ends, so the client opens a new one')
  }
  t.notMatch(out, /HTTP\/1\.1 400/, 'the rest of the body was never read as a request')
})

t.test(
  'finding 3: what the HTTP parser refuses (headers over 16 KiB, a request line that does not parse) is problem+json too',
  async (t) => {
    const ta = await testApp(t)
    const port = await listening(ta)
    const big = parse(await raw(port, `GET /v1/datasets HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`))
    t.equal(big.status, 431)
    t.equal(JSON.parse(big.body).code, 'VEILBOX_ERR_REQUEST_HEADERS_TOO_LARGE')
    t.match(big.headers['content-type'], /^application\/problem\+json/)
    const garbled = parse(await raw(port, 'GARBAGE\r\n\r\n'))
    t.equal(garbled.status, 400)
    t.equal(JSON.parse(garbled.body).code, 'VEILBOX_ERR_REQUEST_MALFORMED')
    t.equal((await ta.call(null, { method: 'GET', url: '/healthz' })).statusCode, 200)
  },
)
