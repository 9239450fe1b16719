/**
 * The CSV fast path (csv-scan.ts, columnar.ts) against the row-at-a-time
 * path it replaced for CSV (csv-parse, the row checker, ColumnBuilder and
 * the fingerprint over JSON rows), which still loads NDJSON and uploads with
 * he columns. Random files, valid and broken, in every spelling the checker
 * meets (decimals with redundant zeros, signs, exponents, long digit runs,
 * quoted fields with doubled quotes, commas and line breaks, CRLF, a BOM,
 * empty lines, nulls, keys past maxKeys), each fed to the fast path in random
 * slices: both store the same chunks, dictionaries and fingerprint, or both
 * refuse with the same code, naming the same row and column.
 *
 * The one difference by design: csv-parse takes its record delimiter from
 * the first line, so a lone CR ends records in a file whose first line ends
 * with one, and a lone LF is data in a file whose first line ends with CRLF;
 * the fast path ends records at LF or CRLF, wherever they are. Files here
 * hold no lone CR, and CRLF files no lone LF.
 */
import { Readable } from 'node:stream'
import t from 'tap'
import { HeFingerprint } from '../../src/engine/he/upload.js'
import { ByteKeys } from '../../src/ingest/byte-keys.js'
import { ColumnarSink } from '../../src/ingest/columnar.js'
import { dictionaryJson, dictionaryParts } from '../../src/ingest/fast-bytes.js'
import { ColumnBuilder } from '../../src/ingest/columns.js'
import { CsvScanner } from '../../src/ingest/csv-scan.js'
import { Utf8Checker } from '../../src/ingest/lines.js'
import { checkedRows } from '../../src/ingest/parse.js'
import { mulberry32 } from '../../src/engine/mulberry32.js'
import { VeilboxError } from '../../src/errors/index.js'
import type { DatasetSpec } from '../../src/schema.js'
import { parseDate, parseTimestamp } from '../../src/dates.js'
import { CHUNK_ROWS } from '../../src/store/encoding.js'

const FILES = Number(process.env.VEILBOX_FAST_FILES ?? 1500)
const SEED = Number(process.env.VEILBOX_FAST_SEED ?? 20261203)
const MAX_LINE = 4096
const MAX_FIELD = 40

const SPEC: DatasetSpec = {
  id: 'mixed',
  title: 'mixed',
  privacyUnit: 'pid',
  maxRowsPerUnit: 3,
  columns: [
    { name: 'pid', type: 'id', protection: 'public' },
    { name: 'district', type: 'category', protection: 'public', categories: ['滨城区', 'A,B', 'say "hi"', 'x'] },
    { name: 'code', type: 'category', protection: 'public', maxKeys: 6 },
    { name: 'flag', type: 'boolean', protection: 'public', nullable: true },
    { name: 'age', type: 'integer', protection: 'dp', lower: -50, upper: 120 },
    { name: 'big', type: 'integer', protection: 'dp', nullable: true },
    { name: 'amount', type: 'number', protection: 'dp', lower: -1000, upper: 1e6, nullable: true },
    { name: 'tiny', type: 'number', protection: 'dp', lower: -1, upper: 1 },
  ],
} as DatasetSpec

/** SPEC with a date and a timestamp column (issue 24). */
const DATED: DatasetSpec = {
  ...SPEC,
  columns: [
    ...SPEC.columns,
    // Dates and timestamps go through the checker on both paths: their bounds are the stored numbers.
    { name: 'day', type: 'date', protection: 'public', lower: parseDate('2020-01-01'), upper: parseDate('2024-12-31') },
    {
      name: 'at',
      type: 'timestamp',
      protection: 'public',
      nullable: true,
      lower: parseTimestamp('2020-01-01T00:00:00Z'),
      upper: parseTimestamp('2024-12-31T23:59:59.999Z'),
    },
  ],
} as DatasetSpec

type Rand = () => number
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!

const SPELLINGS: Record<string, readonly string[]> = {
  pid: ['p1', 'p2', 'p3', 'Ω-7', '"q""uoted"', '"a,b"', '"line\nbreak"', 'p 4', 'back\\slash', '', '"p1"'],
  district: ['滨城区', '"A,B"', '"say ""hi"""', 'x', 'X', '', '"x"', '滨城'],
  code: ['c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7', '"c1"', 'ctl\u0001', ''],
  flag: ['true', 'false', 'TRUE', 'False', '1', '0', 'yes', 'tRUE', '', '"true"'],
  age: ['0', '42', '-7', '120', '121', '-51', '007', '-0', '+5', '12.0', '12.5', '1e2', ' 3', '', 'x', '"30"'],
  big: ['0', '123456789012345', '1234567890123456', '9007199254740993', '-42', '1e21', '', '00', '5.'],
  amount: [
    '0',
    '1.5',
    '1.50',
    '0.25',
    '-3.75',
    '999999.99',
    '1000000',
    '1e3',
    '.5',
    '5.',
    '-0.0',
    '',
    'NaN',
    'Infinity',
    '0x10',
    '12345.678901234',
    '1.0000000000000002',
    '"7.25"',
  ],
  tiny: ['0.000001', '0.0000001', '0.1', '-0.999', '1', '-1', '1.0', '0.00000100', '2', '0.3333333333333333'],
  day: [
    '2020-01-01',
    '2024-02-29',
    '2023-02-29',
    '2019-12-31',
    '2025-01-01',
    '2024-1-05',
    '"2022-06-30"',
    '',
    'x',
    '2022-06-30T00:00:00Z',
  ],
  at: [
    '2020-01-01T00:00:00Z',
    '2024-12-31T23:59:59.999Z',
    '2024-12-31T23:59:59.999-00:01',
    '2020-01-01T07:59:59+08:00',
    '2022-06-30T12:00:00.5+08:00',
    '2022-06-30T12:00:00',
    '2022-06-30',
    '2022-06-30T24:00:00Z',
    '"2021-03-04T05:06:07Z"',
    '',
  ],
}

function randomFile(r: Rand, spec = SPEC): Buffer {
  const names = spec.columns.map((c) => c.name)
  const order = r() < 0.3 ? [...names].sort(() => r() - 0.5) : names
  const eol = r() < 0.3 ? '\r\n' : '\n'
  const lines = [order.join(',')]
  const rows = Math.floor(r() * 40)
  for (let i = 0; i < rows; i++) {
    // Mostly valid values, so that most files load and a refusal is one bad cell among good ones.
    const cells = order.map((n) => (r() < 0.97 ? validCell(r, n) : pick(r, SPELLINGS[n]!)))
    if (r() < 0.02) cells.pop()
    lines.push(cells.join(','))
    if (r() < 0.03) lines.push('')
  }
  let text = lines.join(eol) + (r() < 0.7 ? eol : '')
  if (r() < 0.1) text = `\ufeff${text}`
  let bytes: Buffer = Buffer.from(text, 'utf8')
  if (r() < 0.25) {
    const broken = breakIt(r, bytes, eol)
    // A break that leaves a lone CR, or a lone LF in a CRLF file, is the dialects' difference, not a finding.
    if (loneBreaks(broken, eol) === loneBreaks(bytes, eol)) bytes = broken
  }
  return bytes
}

function validCell(r: Rand, name: string): string {
  switch (name) {
    case 'pid':
      return pick(r, ['p1', 'p2', 'p3', 'Ω-7', '"q""uoted"', '"a,b"', '"line\nbreak"', 'p 4', 'back\\slash'])
    case 'district':
      return pick(r, ['滨城区', '"A,B"', '"say ""hi"""', 'x', '"x"'])
    case 'code':
      return pick(r, ['c1', 'c2', 'c3', '"c1"'])
    case 'flag':
      return pick(r, ['true', 'false', 'TRUE', 'False', '1', '0', ''])
    case 'age':
      return pick(r, ['0', '42', '-7', '120', '007', '-0', '+5', '12.0', '1e2', '"30"'])
    case 'big':
      return pick(r, ['0', '123456789012345', '1234567890123456', '-42', '', '00'])
    case 'amount':
      return pick(r, [
        '0',
        '1.5',
        '1.50',
        '0.25',
        '-3.75',
        '999999.99',
        '1e3',
        '.5',
        '5.',
        '-0.0',
        '',
        '12345.678901234',
        '1.0000000000000002',
      ])
    case 'day':
      return pick(r, ['2020-01-01', '2024-02-29', '2024-12-31', '"2022-06-30"', '2021-11-09'])
    case 'at':
      return pick(r, [
        '2020-01-01T00:00:00Z',
        '2024-12-31T23:59:59.999Z',
        '2022-06-30T12:00:00.5+08:00',
        '2023-01-01T00:00:00-05:30',
        '"2021-03-04T05:06:07Z"',
        '',
      ])
    default:
      return pick(r, ['0.000001', '0.0000001', '0.1', '-0.999', '1', '-1', '1.0', '0.00000100', '0.3333333333333333'])
  }
}

function loneBreaks(b: Buffer, eol: string): number {
  const text = b.toString('latin1')
  return (text.match(/\r(?!\n)/g)?.length ?? 0) + (eol === '\r\n' ? (text.match(/(?<!\r)\n/g)?.length ?? 0) : 0)
}

/** A file broken at a random place (no lone CR, and no lone LF in a CRLF file: see the header). */
function breakIt(r: Rand, b: Buffer, eol: string): Buffer {
  const at = Math.floor(r() * b.length)
  switch (Math.floor(r() * 4)) {
    case 0:
      return b.subarray(0, at)
    case 1:
      return Buffer.concat([
        b.subarray(0, at),
        Buffer.from(
          pick(r, [[0x22], [0x2c], eol === '\n' ? [0x0a] : [0x0d, 0x0a], [0xff], [0xc3, 0x28], [0xe6, 0xbb]]),
        ),
        b.subarray(at),
      ])
    case 2:
      return Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + Math.floor(r() * 6)))])
    default:
      return Buffer.concat([b.subarray(0, at), Buffer.from('x'.repeat(MAX_FIELD + 2)), b.subarray(at)])
  }
}

interface Outcome {
  readonly ok: boolean
  readonly code?: string
  readonly row?: unknown
  readonly column?: unknown
  readonly rows?: number
  readonly sha256?: string
  readonly chunks?: string[]
  readonly dictionaries?: Record<string, unknown>
}

function refusal(err: unknown): Outcome {
  if (!(err instanceof VeilboxError)) throw err
  return { ok: false, code: err.code, row: err.extra.row, column: err.extra.column }
}

/** The old path: csv-parse and the row checker, ColumnBuilder, the fingerprint over JSON rows. */
async function reference(bytes: Buffer, spec = SPEC): Promise<Outcome> {
  const builders = spec.columns.map((c) => new ColumnBuilder(c))
  const fingerprint = new HeFingerprint(null, [])
  const chunks: string[] = []
  let rows = 0
  let inChunk = 0
  try {
    for await (const row of checkedRows(spec, 'text/csv', Readable.from([bytes]), {
      maxLineBytes: MAX_LINE,
      maxFieldChars: MAX_FIELD,
    })) {
      for (let c = 0; c < builders.length; c++) {
        if (!builders[c]!.push(inChunk, row.values[c]!)) {
          throw new VeilboxError('VEILBOX_ERR_INGEST_BAD_ROW', 'maxKeys', {
            row: row.pos.row,
            column: spec.columns[c]!.name,
          })
        }
      }
      fingerprint.row(row.values)
      rows += 1
      inChunk += 1
    }
    if (rows === 0) throw new VeilboxError('VEILBOX_ERR_INGEST_EMPTY', 'no rows')
  } catch (err) {
    return refusal(err)
  }
  for (const b of builders) chunks.push(packed(b.take(inChunk)))
  const dictionaries: Record<string, unknown> = {}
  for (const b of builders) if (b.dictionary()) dictionaries[b.column.name] = b.dictionary()
  return { ok: true, rows, sha256: fingerprint.digest(() => 0), chunks, dictionaries }
}

const packed = (c: { encoding: string; data: Buffer; nulls: Buffer | null }) =>
  `${c.encoding}:${c.data.toString('hex')}:${c.nulls?.toString('hex') ?? '-'}`

/** The fast path, fed in random slices. */
function fast(bytes: Buffer, r: Rand, spec = SPEC): Outcome {
  const sink = new ColumnarSink(spec, MAX_FIELD)
  const scanner = new CsvScanner(sink, MAX_LINE)
  const utf8 = new Utf8Checker()
  try {
    for (let at = 0; at < bytes.length; ) {
      const n = 1 + Math.floor(r() * (r() < 0.5 ? 8 : 200))
      scanner.push(utf8.check(bytes.subarray(at, at + n), false))
      at += n
    }
    scanner.push(utf8.end())
    scanner.end()
    if (sink.rows === 0) throw new VeilboxError('VEILBOX_ERR_INGEST_EMPTY', 'no rows')
  } catch (err) {
    return refusal(err)
  }
  const { sha256, dictionaries } = sink.finish()
  const dicts: Record<string, unknown> = {}
  for (const d of dictionaries) dicts[d.column] = JSON.parse(d.json)
  return {
    ok: true,
    rows: sink.rows,
    sha256,
    chunks: sink.ready.map((c) => packed(c.chunkData)),
    dictionaries: dicts,
  }
}

/** Refusals of the byte stream as a whole, not of one row's values. */
const STREAM_ERRORS = new Set([
  'VEILBOX_ERR_INGEST_MALFORMED',
  'VEILBOX_ERR_INGEST_LINE_TOO_LONG',
  'VEILBOX_ERR_INGEST_BAD_ENCODING',
])

/**
 * Whether the fast path's outcome is the row path's. One allowance: the row
 * path's stream error may come first even when an earlier row is bad, as
 * csv-parse reads ahead of the rows it has handed on and a stream's error
 * overtakes its buffered records; the fast path reports the first problem in
 * the file's order. So a row path's stream error accepts any refusal.
 */
function agree(want: Outcome, got: Outcome): boolean {
  if (!want.ok && !got.ok && STREAM_ERRORS.has(want.code!)) return true
  return JSON.stringify(got) === JSON.stringify(want)
}

t.test(`${FILES} random files: the fast path stores what the row path stored, or refuses as it did`, async (t) => {
  const r = mulberry32(SEED)
  let loaded = 0
  let refused = 0
  const mismatches: string[] = []
  for (let i = 0; i < FILES; i++) {
    const bytes = randomFile(r)
    const want = await reference(bytes)
    const got = fast(bytes, r)
    const same = agree(want, got)
    if (!same && mismatches.length < 5) {
      mismatches.push(
        `file ${i}: ${JSON.stringify(bytes.toString('utf8'))}\n want ${JSON.stringify(want)}\n got  ${JSON.stringify(got)}`,
      )
    }
    if (want.ok) loaded++
    else refused++
  }
  t.same(mismatches, [], 'no file where the two paths differ')
  // Both kinds are exercised in number: a generator that made only refusals would compare little.
  t.ok(loaded > FILES / 5, `${loaded} files loaded`)
  t.ok(refused > FILES / 5, `${refused} files refused`)
})

t.test('random files with dates and timestamps: both paths store the same numbers, or refuse alike', async (t) => {
  const r = mulberry32(SEED + 1)
  let loaded = 0
  let refused = 0
  const mismatches: string[] = []
  for (let i = 0; i < FILES / 3; i++) {
    const bytes = randomFile(r, DATED)
    const want = await reference(bytes, DATED)
    const got = fast(bytes, r, DATED)
    if (!agree(want, got) && mismatches.length < 5)
      mismatches.push(
        `file ${i}: ${JSON.stringify(bytes.toString('utf8'))}\n want ${JSON.stringify(want)}\n got  ${JSON.stringify(got)}`,
      )
    if (want.ok) loaded++
    else {
      refused++
      if (want.column === 'day' || want.column === 'at') t.ok(want.row !== undefined, 'a date refusal names its row')
    }
  }
  t.same(mismatches, [], 'no file where the two paths differ')
  t.ok(loaded > FILES / 30, `${loaded} files loaded`)
  t.ok(refused > FILES / 30, `${refused} files refused`)
})

t.test('a file spanning chunks: the chunk boundary, the last partial chunk and the dictionary agree', async (t) => {
  const rows = CHUNK_ROWS + 123
  const lines = ['pid,district,code,flag,age,big,amount,tiny']
  for (let i = 0; i < rows; i++)
    lines.push(`u${i % 5000},x,c${i % 3},${i % 2 ? 'true' : ''},${i % 100},${i},${(i % 997) / 4},0.5`)
  const bytes = Buffer.from(`${lines.join('\n')}\n`)
  const sink = new ColumnarSink(SPEC, MAX_FIELD)
  const scanner = new CsvScanner(sink, MAX_LINE)
  for (let at = 0; at < bytes.length; at += 65536) scanner.push(bytes.subarray(at, at + 65536))
  scanner.end()
  const { sha256, dictionaries } = sink.finish()
  t.equal(sink.rows, rows)
  t.same(
    sink.ready.map((c) => [c.chunk, c.rows]).filter(([, n]) => n !== CHUNK_ROWS),
    SPEC.columns.map(() => [1, 123]),
    'one full chunk per column, then the rest',
  )
  const fingerprint = new HeFingerprint(null, [])
  for await (const row of checkedRows(SPEC, 'text/csv', Readable.from([bytes]))) fingerprint.row(row.values)
  t.equal(
    sha256,
    fingerprint.digest(() => 0),
    'the fingerprint of the row path',
  )
  t.equal(JSON.parse(dictionaries.find((d) => d.column === 'pid')!.json).length, 5000)
})

t.test(
  'a record longer than the cap is refused as soon as its bytes pass it, fed a byte at a time or whole',
  async (t) => {
    for (const step of [1, 1000, 1 << 20]) {
      const sink = new ColumnarSink(SPEC, MAX_FIELD)
      const scanner = new CsvScanner(sink, MAX_LINE)
      const bytes = Buffer.from(`pid,district,code,flag,age,big,amount,tiny\n"${'a'.repeat(MAX_LINE * 3)}`)
      let code = ''
      try {
        for (let at = 0; at < bytes.length; at += step) scanner.push(bytes.subarray(at, at + step))
        scanner.end()
      } catch (err) {
        code = (err as VeilboxError).code
      }
      t.equal(code, 'VEILBOX_ERR_INGEST_LINE_TOO_LONG', `in slices of ${step}`)
    }
  },
)

t.test('a dictionary as JSON from its keys is what JSON.stringify makes, in one part or many', async (t) => {
  const keys = new ByteKeys()
  const texts = ['', 'plain', 'say "hi"', 'back\\slash', 'tab\there', '滨城区', 'new\nline', 'Ω']
  for (let i = 0; i < 140_000; i++) {
    const b = Buffer.from(i < texts.length ? texts[i]! : `k${i}${i % 977 === 0 ? '"' : ''}`)
    keys.code(b, 0, b.length)
  }
  const want = JSON.stringify(
    Array.from({ length: keys.size }, (_, i) => (i < texts.length ? texts[i]! : `k${i}${i % 977 === 0 ? '"' : ''}`)),
  )
  t.equal(dictionaryJson(keys), want, 'three parts')
  t.equal(dictionaryJson(new ByteKeys()), '[]', 'no keys')
  t.equal([...dictionaryParts(keys)].length, 3)
})
