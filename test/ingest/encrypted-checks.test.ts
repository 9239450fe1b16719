import t from 'tap'
import { clinicCsv, clinicRows, CLINIC_ID, ENCRYPTED, encryptedUpload, heApp } from '../helpers/he.js'

/**
 * An encrypted upload's ciphertexts are checked beside its rows, the first
 * few on the main thread and the rest by a worker thread: either way a bad
 * one is refused with its code and line and nothing is stored, the first
 * refusal in the file is the one reported (a ciphertext checked by the
 * worker before a bad row after it), and the same file gives the same
 * fingerprint every time.
 */

t.test('ciphertexts checked by the worker: refusals in file order, nothing stored, the same fingerprint', async (t) => {
  const ha = await heApp(t, { degree: 4096, maxRows: 4600 })
  const rows = clinicRows(4096 + 7, 12) // two batches
  const file = (await encryptedUpload(ha.custodianDir, CLINIC_ID, clinicCsv(rows)))
    .toString('utf8')
    .trimEnd()
    .split('\n')
  const cipherAt = file.flatMap((l, i) => (l.startsWith('{"column"') ? [i] : []))
  t.ok(cipherAt.length >= 8, `${cipherAt.length} ciphertexts: past the first four, the worker checks them`)
  const post = (lines: string[]) =>
    ha.call('operator', {
      method: 'POST',
      url: `/v1/datasets/${CLINIC_ID}/versions`,
      headers: { 'content-type': ENCRYPTED },
      payload: `${lines.join('\n')}\n`,
    })
  const damaged = (at: number, data: (d: string) => string) =>
    file.map((l, i) => {
      if (i !== at) return l
      const c = JSON.parse(l) as { data: string }
      return JSON.stringify({ ...c, data: data(c.data) })
    })
  const other = Buffer.from('not a ciphertext at all').toString('base64')
  const last = cipherAt.at(-1)!
  // The first batch's last ciphertext: the worker checks it (it is past the fourth), and rows 4097... follow it.
  const firstBatch = cipherAt.filter((i) => (JSON.parse(file[i]!) as { batch: number }).batch === 0)
  const checked = firstBatch.at(-1)!
  t.ok(firstBatch.length >= 5, `${firstBatch.length} ciphertexts in the first batch`)
  const badRowAt = file.findIndex((l, i) => i > checked && l.startsWith('['))
  t.ok(badRowAt > checked, 'a row follows it')
  const withBadRow = (lines: string[]) =>
    lines.map((l, i) => (i === badRowAt ? JSON.stringify(['p9', 'west', 'true']) : l))
  const cases: [string, string[], number, string, RegExp][] = [
    [
      'the last ciphertext damaged',
      damaged(last, () => other),
      400,
      'VEILBOX_ERR_HE_BAD_CIPHERTEXT',
      new RegExp(`line ${last + 1}: the .* does not load`),
    ],
    [
      'a ciphertext the worker checks, then a bad row',
      withBadRow(damaged(checked, () => other)),
      400,
      'VEILBOX_ERR_HE_BAD_CIPHERTEXT',
      new RegExp(`line ${checked + 1}: the .* does not load`),
    ],
    ['the bad row alone', withBadRow(file), 400, 'VEILBOX_ERR_INGEST_BAD_ROW', /declared categories/],
    [
      'data that is not canonical base64',
      damaged(checked, (d) => d.replace(/=+$/, '')),
      400,
      'VEILBOX_ERR_INGEST_MALFORMED',
      new RegExp(`line ${checked + 1} .*must be base64`),
    ],
  ]
  for (const [what, lines, status, code, detail] of cases) {
    const res = await post(lines)
    t.equal(res.statusCode, status, `${what}: ${res.body.slice(0, 300)}`)
    t.equal(res.json().code, code, what)
    t.match(res.json().detail, detail, what)
  }
  const stored = await ha.app.db.get(
    'SELECT (SELECT COUNT(*) FROM he_ciphertexts) AS c, (SELECT COUNT(*) FROM column_chunks) AS k, (SELECT COUNT(*) FROM dataset_versions) AS v',
  )
  t.same(stored, { c: 0, k: 0, v: 0 }, 'no trace of any refused upload')
  const first = await post(file)
  const second = await post(file)
  t.equal(first.statusCode, 201, first.body)
  t.equal(second.statusCode, 201, second.body)
  t.equal(first.json().rows, rows.length)
  t.equal(second.json().sha256, first.json().sha256, 'the same file, the same fingerprint')
})
