/**
 * Findings 1 and 13 of the fault review: a single huge line ended the
 * process (readline built it as one string), a huge CSV field gave 500, and
 * invalid UTF-8 was replaced with U+FFFD, so distinct ids could collapse into
 * one privacy unit. Lines and fields are capped and named when refused;
 * invalid UTF-8 is refused naming its line; nothing is stored either way.
 */
import { Readable } from 'node:stream'
import t from 'tap'
import { readLines } from '../../src/ingest/lines.js'
import { PEOPLE_SPEC, testApp, type TestApp } from '../helpers/app.js'

async function people(t: Parameters<typeof testApp>[0], overrides = {}): Promise<TestApp> {
  const ta = await testApp(t, overrides)
  const res = await ta.call('operator', { method: 'POST', url: '/v1/datasets', payload: PEOPLE_SPEC })
  if (res.statusCode !== 201) throw new Error(res.body)
  return ta
}

const upload = (ta: TestApp, type: string, payload: string | Buffer | Readable) =>
  ta.call('operator', {
    method: 'POST',
    url: '/v1/datasets/people/versions',
    headers: { 'content-type': type },
    payload,
  })

const versions = async (ta: TestApp) =>
  (await ta.call('operator', { method: 'GET', url: '/v1/datasets/people' })).json().versions.length as number

/** One line of `bytes` bytes (plus whatever `prefix` holds), produced lazily: it never exists whole in the test either. */
function hugeLine(before: string, prefix: string, bytes: number): Readable {
  const chunk = Buffer.alloc(1 << 20, 0x61)
  let sent = 0
  return Readable.from(
    (function* () {
      yield Buffer.from(before + prefix)
      while (sent < bytes) {
        sent += chunk.length
        yield chunk
      }
      yield Buffer.from('"}\n')
    })(),
  )
}

t.test('a line of 600 MiB in NDJSON is refused at the cap naming its line, and the service goes on', async (t) => {
  const ta = await people(t)
  const body = hugeLine(
    '{"pid":"p1","city":"north","member":true,"age":30,"income":1}\n',
    '{"pid":"',
    600 * 1024 * 1024,
  )
  const res = await upload(ta, 'application/x-ndjson', body)
  t.equal(res.statusCode, 413)
  t.match(res.json(), { code: 'VEILBOX_ERR_INGEST_LINE_TOO_LONG', line: 2, maxBytes: 16 * 1024 * 1024 })
  t.equal(await versions(ta), 0, 'nothing stored')
  t.equal((await ta.call(null, { method: 'GET', url: '/healthz' })).statusCode, 200, 'still serving')
})

t.test('lines and fields past configured caps are refused in CSV, NDJSON and encrypted uploads', async (t) => {
  const ta = await people(t, { ingestMaxLineBytes: 64 * 1024, ingestMaxFieldChars: 100 })
  const longId = 'x'.repeat(101)
  const csvField = await upload(
    ta,
    'text/csv',
    `pid,city,member,age,income\np1,north,true,30,1\n${longId},north,true,30,1\n`,
  )
  t.equal(csvField.statusCode, 413)
  t.match(csvField.json(), { code: 'VEILBOX_ERR_INGEST_FIELD_TOO_LONG', row: 2, line: 3, column: 'pid', maxChars: 100 })
  const ndField = await upload(
    ta,
    'application/x-ndjson',
    `{"pid":"${longId}","city":"north","member":true,"age":30,"income":1}\n`,
  )
  t.match(ndField.json(), { code: 'VEILBOX_ERR_INGEST_FIELD_TOO_LONG', row: 1, column: 'pid' })
  // A quoted CSV field that never closes: the record grows past the line cap.
  const unclosed = await upload(
    ta,
    'text/csv',
    `pid,city,member,age,income\np1,north,true,30,1\n"${'y'.repeat(70 * 1024)}`,
  )
  t.equal(unclosed.statusCode, 413)
  t.match(unclosed.json(), { code: 'VEILBOX_ERR_INGEST_LINE_TOO_LONG' })
  const ndLine = await upload(
    ta,
    'application/x-ndjson',
    `{"pid":"p1","city":"north","member":true,"age":30,"income":1,"pad":"${'z'.repeat(70 * 1024)}"}\n`,
  )
  t.match(ndLine.json(), { code: 'VEILBOX_ERR_INGEST_LINE_TOO_LONG', line: 1 })
  const vhe = await ta.call('operator', {
    method: 'POST',
    url: '/v1/datasets/people/versions',
    headers: { 'content-type': 'application/vnd.veilbox.encrypted+ndjson' },
    payload: `${'w'.repeat(70 * 1024)}\n`,
  })
  t.ok(
    vhe.statusCode === 413 || vhe.json().code === 'VEILBOX_ERR_INGEST_PROFILE_MISMATCH',
    `an encrypted upload's lines are capped too (${vhe.json().code})`,
  )
  t.equal(await versions(ta), 0, 'nothing stored')
})

t.test(
  'invalid UTF-8 is refused naming its line, never replaced; valid multi-byte text split across chunks loads',
  async (t) => {
    const ta = await people(t)
    const head = 'pid,city,member,age,income\n'
    // Two ids that decoding with replacement would both turn into "p\uFFFD".
    const csv = Buffer.concat([
      Buffer.from(`${head}p1,north,true,30,1\n`),
      Buffer.from([0x70, 0xff]),
      Buffer.from(',north,true,31,2\n'),
      Buffer.from([0x70, 0xfe]),
      Buffer.from(',south,false,32,3\n'),
    ])
    const res = await upload(ta, 'text/csv', csv)
    t.equal(res.statusCode, 400)
    t.match(res.json(), { code: 'VEILBOX_ERR_INGEST_BAD_ENCODING', line: 3, byte: 47 }, 'the byte offset counts from 0')
    const nd = Buffer.concat([
      Buffer.from('{"pid":"p1","city":"north","member":true,"age":30,"income":1}\n{"pid":"'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('","city":"north","member":true,"age":30,"income":1}\n'),
    ])
    t.match((await upload(ta, 'application/x-ndjson', nd)).json(), { code: 'VEILBOX_ERR_INGEST_BAD_ENCODING', line: 2 })
    // An overlong encoding and a lone surrogate half are invalid too.
    for (const bad of [
      [0xc0, 0xaf],
      [0xed, 0xa0, 0x80],
    ]) {
      t.match(
        (
          await upload(
            ta,
            'text/csv',
            Buffer.concat([Buffer.from(`${head}p`), Buffer.from(bad), Buffer.from(',north,true,30,1\n')]),
          )
        ).json(),
        { code: 'VEILBOX_ERR_INGEST_BAD_ENCODING', line: 2 },
      )
    }
    t.equal(await versions(ta), 0, 'nothing stored')
    // "滨城区" split inside its characters across chunks: valid, loads, and keeps its bytes.
    const text = Buffer.from(`${head}滨城区甲,north,true,30,1\n`)
    const pieces = Readable.from([
      text.subarray(0, head.length + 1),
      text.subarray(head.length + 1, head.length + 2),
      text.subarray(head.length + 2),
    ])
    const ok = await upload(ta, 'text/csv', pieces)
    t.equal(ok.statusCode, 201, ok.body)
  },
)

t.test('readLines: numbers lines, drops \\r, keeps a last line without a break, refuses at the cap', async (t) => {
  const read = async (chunks: (string | Buffer)[], max = 100) => {
    const out: [number, string][] = []
    for await (const l of readLines(Readable.from(chunks), max)) out.push([l.line, l.text])
    return out
  }
  t.same(await read(['a\r\nb', 'c\n\nd']), [
    [1, 'a'],
    [2, 'bc'],
    [3, ''],
    [4, 'd'],
  ])
  t.same(
    await read([Buffer.from([0xe6, 0xbb]), Buffer.from([0xa8, 0x0a])]),
    [[1, '滨']],
    'a character split across chunks',
  )
  await t.rejects(read(['0123456789'.repeat(11)], 100), {
    code: 'VEILBOX_ERR_INGEST_LINE_TOO_LONG',
    extra: { line: 1 },
  })
  await t.rejects(read(['ok\n', '0123456789'.repeat(5), '0123456789'.repeat(6)], 100), {
    code: 'VEILBOX_ERR_INGEST_LINE_TOO_LONG',
    extra: { line: 2 },
  })
  t.same(
    await read([`${'0123456789'.repeat(10)}\n`], 100),
    [[1, '0123456789'.repeat(10)]],
    'exactly at the cap is fine',
  )
})
