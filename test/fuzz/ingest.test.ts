/**
 * The ingest fuzzer: valid CSV, NDJSON and encrypted (.vhe) uploads broken at
 * random positions (cut short, bytes inserted, flipped or removed, lines
 * doubled or dropped, quotes unbalanced, invalid UTF-8), and lines and
 * fields at and beyond the caps. Every upload is either stored whole as a
 * new version or refused with a 4xx, and a refusal stores nothing: no
 * version, no staged chunk, no ciphertext, no dictionary.
 *
 *   VEILBOX_FUZZ_UPLOADS=2000 npx tap test/fuzz/ingest.test.ts    (default 240, seed VEILBOX_FUZZ_SEED)
 */
import t, { type Test } from 'tap'
import { mulberry32 } from '../../src/engine/mulberry32.js'
import { PEOPLE_SPEC, peopleCsv } from '../helpers/app.js'
import { clinicCsv, clinicRows, CLINIC_ID, ENCRYPTED, encryptedUpload, heApp } from '../helpers/he.js'

const UPLOADS = Number(process.env.VEILBOX_FUZZ_UPLOADS ?? 240)
const SEED = Number(process.env.VEILBOX_FUZZ_SEED ?? 20261202)
const MAX_LINE = 256 * 1024
const MAX_FIELD = 300

type Rand = () => number
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!

/** One random way to break a file. */
function breakIt(r: Rand, b: Buffer): { bytes: Buffer; how: string } {
  const at = Math.floor(r() * b.length)
  switch (Math.floor(r() * 10)) {
    case 0:
      return { bytes: b.subarray(0, at), how: `cut at ${at}` }
    case 1: {
      const junk = Buffer.from(
        pick(r, [
          [0xff],
          [0xc3, 0x28],
          [0xe2, 0x82],
          [0x00],
          [0x22],
          [0x2c],
          [0x0a],
          [0x7b],
          [0x5b, 0x5d],
          [0xed, 0xa0, 0x80],
        ]),
      )
      return {
        bytes: Buffer.concat([b.subarray(0, at), junk, b.subarray(at)]),
        how: `insert ${junk.toString('hex')} at ${at}`,
      }
    }
    case 2: {
      const c = Buffer.from(b)
      c[at] = c[at]! ^ (1 << Math.floor(r() * 8))
      return { bytes: c, how: `flip a bit at ${at}` }
    }
    case 3:
      return {
        bytes: Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + Math.floor(r() * 40)))]),
        how: `remove bytes at ${at}`,
      }
    case 4: {
      const lines = b.toString('latin1').split('\n')
      const i = Math.floor(r() * lines.length)
      lines.splice(i, 0, lines[i]!)
      return { bytes: Buffer.from(lines.join('\n'), 'latin1'), how: `double line ${i + 1}` }
    }
    case 5: {
      const lines = b.toString('latin1').split('\n')
      const i = Math.floor(r() * lines.length)
      lines.splice(i, 1)
      return { bytes: Buffer.from(lines.join('\n'), 'latin1'), how: `drop line ${i + 1}` }
    }
    case 6: {
      const long = pick(r, [MAX_LINE - 100, MAX_LINE + 1, MAX_LINE * 3, MAX_FIELD, MAX_FIELD + 1])
      return {
        bytes: Buffer.concat([b.subarray(0, at), Buffer.alloc(long, 0x61), b.subarray(at)]),
        how: `insert ${long} bytes at ${at}`,
      }
    }
    case 7:
      return {
        bytes: Buffer.concat([b.subarray(0, at), Buffer.from('"'), b.subarray(at)]),
        how: `unbalanced quote at ${at}`,
      }
    case 8:
      return { bytes: Buffer.concat([b, b]), how: 'the whole file twice' }
    default:
      return { bytes: Buffer.from(b.toString('latin1').replace(/\n/g, '\r\n'), 'latin1'), how: 'CRLF line ends' }
  }
}

interface Stored {
  versions: number
  uploads: number
  chunks: number
  ciphers: number
  dictionaries: number
}

t.test(
  `${UPLOADS} broken uploads in three formats: stored whole or refused with a 4xx, and a refusal stores nothing`,
  async (t) => {
    const ha = await heApp(t, {
      degree: 4096,
      maxRows: 400,
      variance: false,
      overrides: { ingestMaxLineBytes: MAX_LINE, ingestMaxFieldChars: MAX_FIELD },
    })
    t.equal((await ha.call('operator', { method: 'POST', url: '/v1/datasets', payload: PEOPLE_SPEC })).statusCode, 201)
    const rows = clinicRows(40)
    const sources: { dataset: string; type: string; bytes: Buffer }[] = [
      { dataset: 'people', type: 'text/csv', bytes: Buffer.from(peopleCsv(60)) },
      {
        dataset: 'people',
        type: 'application/x-ndjson',
        bytes: Buffer.from(
          `${peopleCsv(60)
            .split('\n')
            .slice(1)
            .filter((l) => l !== '')
            .map((l) => {
              const [pid, city, member, age, income] = l.split(',')
              return JSON.stringify({
                pid,
                city,
                member: member === 'true',
                age: Number(age),
                income: income === '' ? null : Number(income),
              })
            })
            .join('\n')}\n`,
        ),
      },
      {
        dataset: CLINIC_ID,
        type: ENCRYPTED,
        bytes: await encryptedUpload(ha.custodianDir, CLINIC_ID, clinicCsv(rows)),
      },
      { dataset: CLINIC_ID, type: 'text/csv', bytes: Buffer.from(clinicCsv(rows)) },
    ]
    const db = ha.app.db
    const count = async (table: string): Promise<number> => (await db.value<number>(`SELECT COUNT(*) FROM ${table}`))!
    const stored = async (): Promise<Stored> => ({
      versions: await count('dataset_versions'),
      uploads: await count('uploads'),
      chunks: await count('column_chunks'),
      ciphers: await count('he_ciphertexts'),
      dictionaries: await count('column_dictionaries'),
    })
    // The untouched files load.
    for (const s of sources) {
      const res = await ha.call('operator', {
        method: 'POST',
        url: `/v1/datasets/${s.dataset}/versions`,
        headers: { 'content-type': s.type },
        payload: s.bytes,
      })
      t.equal(res.statusCode, 201, `the valid ${s.type} upload loads: ${res.body.slice(0, 200)}`)
    }
    const r = mulberry32(SEED)
    const tally = {
      uploads: 0,
      stored: 0,
      refused: 0,
      fiveHundreds: 0,
      leftovers: 0,
      byCode: new Map<string, number>(),
    }
    for (let i = 0; i < UPLOADS; i++) {
      const source = pick(r, sources)
      let { bytes, how } = breakIt(r, source.bytes)
      if (r() < 0.3) {
        const again = breakIt(r, bytes)
        bytes = again.bytes
        how = `${how}, then ${again.how}`
      }
      const before = await stored()
      const res = await ha.call('operator', {
        method: 'POST',
        url: `/v1/datasets/${source.dataset}/versions`,
        headers: { 'content-type': source.type },
        payload: bytes,
      })
      const after = await stored()
      tally.uploads += 1
      const what = `#${i} ${source.type} (${how}): ${res.statusCode}`
      if (res.statusCode === 201) {
        tally.stored += 1
        if (after.versions !== before.versions + 1)
          t.fail(`${what}: answered 201 but ${after.versions - before.versions} versions were added`)
        continue
      }
      tally.refused += 1
      const code = (res.json() as { code?: string }).code ?? '(none)'
      tally.byCode.set(code, (tally.byCode.get(code) ?? 0) + 1)
      if (res.statusCode >= 500) {
        tally.fiveHundreds += 1
        t.fail(`${what} ${res.body.slice(0, 300)}`)
      }
      if (!/^VEILBOX_ERR_(INGEST|REQUEST|HE)_[A-Z_]+$/.test(code)) t.fail(`${what}: unexpected code ${code}`)
      // Nothing stored: every count as before (an upload row is removed with its staged data).
      for (const k of Object.keys(before) as (keyof Stored)[]) {
        if (after[k] !== before[k]) {
          tally.leftovers += 1
          t.fail(`${what}: ${k} went from ${before[k]} to ${after[k]} on a refusal`)
        }
      }
    }
    t.equal(tally.fiveHundreds, 0, `${tally.uploads} broken uploads, 5xx: ${tally.fiveHundreds}`)
    t.equal(tally.leftovers, 0, 'no refusal left anything stored')
    t.ok(
      tally.refused > UPLOADS / 2,
      `most broken files are refused (${tally.refused}); ${tally.stored} still made valid versions`,
    )
    t.comment(
      `refusals by code: ${[...tally.byCode.entries()].map(([c, n]) => `${c.replace('VEILBOX_ERR_', '')}:${n}`).join(' ')}`,
    )
    await checkServing(t, ha)
  },
)

async function checkServing(t: Test, ha: Awaited<ReturnType<typeof heApp>>): Promise<void> {
  t.equal((await ha.call(null, { method: 'GET', url: '/healthz' })).statusCode, 200, 'alive at the end')
}
