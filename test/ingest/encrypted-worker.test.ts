import { Readable } from 'node:stream'
import t from 'tap'
import { VeilboxError } from '../../src/errors/index.js'
import { ingestEncrypted } from '../../src/ingest/encrypted.js'
import { versionFingerprint } from '../../src/ingest/index.js'
import { getDataset, getVersion } from '../../src/store/datasets.js'
import { clinicCsv, clinicRows, CLINIC_ID, encryptedUpload, heApp, type HeTestApp } from '../helpers/he.js'

/**
 * The encrypted upload's two places to read (src/ingest/encrypted.ts): an
 * upload of known small size on the event loop's thread, a large one or one
 * of unknown size in a worker thread of its own (lines, rows, and the SEAL
 * checks of its ciphertexts). Both store the same version with the same
 * fingerprint, refuse the same files with the same code and detail (the
 * first bad line in the file, a ciphertext before a bad row included), and
 * leave nothing behind; an input that fails ends the worker's part.
 */

const actor = { principal: 'operator', role: 'operator' } as const

/** The file in slices of `size` bytes, as a network delivers it. */
function sliced(text: string, size: number): Readable {
  const bytes = Buffer.from(text)
  const parts: Buffer[] = []
  for (let at = 0; at < bytes.length; at += size) parts.push(Buffer.from(bytes.subarray(at, at + size)))
  return Readable.from(parts)
}

const HERE = 1_000 // a declared size under the worker's threshold
const THERE = null // unknown size: the worker

async function leftovers(ha: HeTestApp) {
  return ha.app.db.get(
    'SELECT (SELECT COUNT(*) FROM he_ciphertexts) AS c, (SELECT COUNT(*) FROM column_chunks) AS k, (SELECT COUNT(*) FROM dataset_versions) AS v',
  )
}

t.test('on the thread and in a worker: the same version, the same refusals, nothing left', async (t) => {
  const ha = await heApp(t, { degree: 4096, maxRows: 4600 })
  const rows = clinicRows(4096 + 7, 12) // two batches
  const file = (await encryptedUpload(ha.custodianDir, CLINIC_ID, clinicCsv(rows)))
    .toString('utf8')
    .trimEnd()
    .split('\n')
  const text = (lines: string[]) => `${lines.join('\n')}\n`
  const cipherAt = file.flatMap((l, i) => (l.startsWith('{"column"') ? [i] : []))
  const damaged = (at: number, data: (d: string) => string) =>
    file.map((l, i) => {
      if (i !== at) return l
      const c = JSON.parse(l) as { data: string }
      return JSON.stringify({ ...c, data: data(c.data) })
    })
  const other = Buffer.from('not a ciphertext at all').toString('base64')
  // The first batch's last ciphertext, and a row after it.
  const firstBatchEnd = cipherAt.filter((i) => (JSON.parse(file[i]!) as { batch: number }).batch === 0).at(-1)!
  const badRowAt = file.findIndex((l, i) => i > firstBatchEnd && l.startsWith('['))
  t.ok(badRowAt > firstBatchEnd, 'a row follows the first batch')
  const withBadRow = (lines: string[]) =>
    lines.map((l, i) => (i === badRowAt ? JSON.stringify(['p9', 'west', 'true']) : l))
  const cases: [string, string[], string, RegExp][] = [
    [
      'the last ciphertext damaged',
      damaged(cipherAt.at(-1)!, () => other),
      'VEILBOX_ERR_HE_BAD_CIPHERTEXT',
      /does not load/,
    ],
    [
      'a damaged ciphertext, then a bad row',
      withBadRow(damaged(firstBatchEnd, () => other)),
      'VEILBOX_ERR_HE_BAD_CIPHERTEXT',
      new RegExp(`line ${firstBatchEnd + 1}: the .* does not load`),
    ],
    ['the bad row alone', withBadRow(file), 'VEILBOX_ERR_INGEST_BAD_ROW', /declared categories/],
    [
      'data that is not base64',
      damaged(firstBatchEnd, (d) => `${d.slice(0, 100)}!${d.slice(100)}`),
      'VEILBOX_ERR_INGEST_MALFORMED',
      new RegExp(`line ${firstBatchEnd + 1} .*must be base64`),
    ],
    ['cut short', file.slice(0, -1), 'VEILBOX_ERR_INGEST_INCOMPLETE', /no end line/],
    ['a batch missing', file.filter((_, i) => i !== cipherAt[1]), 'VEILBOX_ERR_INGEST_INCOMPLETE', /are missing/],
    [
      'another profile',
      [JSON.stringify({ ...JSON.parse(file[0]!), profileId: 'a'.repeat(64) }), ...file.slice(1)],
      'VEILBOX_ERR_INGEST_PROFILE_MISMATCH',
      /profile/,
    ],
    ['empty', [''], 'VEILBOX_ERR_INGEST_EMPTY', /empty/],
  ]
  for (const [what, lines, code, detail] of cases) {
    const here = await ingestEncrypted(ha.app.db, CLINIC_ID, sliced(text(lines), 7_000), actor, undefined, HERE).catch(
      (e) => e,
    )
    const there = await ingestEncrypted(
      ha.app.db,
      CLINIC_ID,
      sliced(text(lines), 7_000),
      actor,
      undefined,
      THERE,
    ).catch((e) => e)
    t.ok(there instanceof VeilboxError, `${what}: a VeilboxError, rebuilt from the worker`)
    t.equal(there.code, code, what)
    t.match(there.detail, detail, what)
    t.same([there.code, there.detail], [here.code, here.detail], `${what}: as on the thread`)
  }
  t.same(await leftovers(ha), { c: 0, k: 0, v: 0 }, 'no trace of any refused upload')

  const here = await ingestEncrypted(ha.app.db, CLINIC_ID, sliced(text(file), 7_000), actor, undefined, HERE)
  const there = await ingestEncrypted(ha.app.db, CLINIC_ID, sliced(text(file), 65_536), actor, undefined, THERE)
  t.equal(there.rows, rows.length)
  t.equal(there.sha256, here.sha256, 'the same fingerprint')
  const { spec } = await getDataset(ha.app.db, CLINIC_ID)
  t.equal(
    await versionFingerprint(ha.app.db, spec, await getVersion(ha.app.db, CLINIC_ID, there.version)),
    there.sha256,
    'what was stored gives it back',
  )
})

t.test('an input that fails ends the worker and leaves nothing', async (t) => {
  const ha = await heApp(t, { degree: 4096, maxRows: 4600 })
  const file = (await encryptedUpload(ha.custodianDir, CLINIC_ID, clinicCsv(clinicRows(4096 + 7, 3)))).subarray(
    0,
    300_000,
  )
  const input = new Readable({ read() {} })
  input.push(file)
  setTimeout(() => input.destroy(new Error('the client went away')), 50)
  await t.rejects(ingestEncrypted(ha.app.db, CLINIC_ID, input, actor, undefined, THERE), /client went away/)
  t.same(await leftovers(ha), { c: 0, k: 0, v: 0 })
})
