import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { KeyHolder } from '../../src/engine/he/key-holder.js'
import { KeyStore } from '../../src/engine/he/keystore.js'
import { tempDir } from '../helpers/app.js'
import { runCli } from '../helpers/cli.js'
import { clinicCsv, clinicRows, clinicSpec, CLINIC_ID, ENCRYPTED, heApp } from '../helpers/he.js'

/** `veilbox encrypt`: the data owner's CSV in, an encrypted upload out, with the plaintext of the he columns nowhere in it. */

t.test(
  'veilbox encrypt writes an encrypted upload the service takes, and keeps no plaintext of the he columns',
  async (t) => {
    const ha = await heApp(t, { degree: 4096, maxRows: 4000 })
    const dir = tempDir(t)
    const rows = clinicRows(1500, 21)
    const input = path.join(dir, 'clinic.csv')
    fs.writeFileSync(input, clinicCsv(rows))
    const output = path.join(dir, 'clinic.vhe')
    const run = await runCli([
      'encrypt',
      '--dataset',
      CLINIC_ID,
      '--keys',
      ha.custodianDir,
      input,
      '-o',
      output,
      '--no-progress',
    ])
    t.equal(run.code, 0, run.stderr)
    t.match(
      run.stdout,
      /clinic\.vhe: 1500 rows of clinic in [\d.]+ s \(\d+ rows\/s\), [\d.]+ MB\nHE profile [0-9a-f]{64}\nupload it with: veilbox ingest clinic /,
    )
    t.equal(fs.statSync(output).mode & 0o777, 0o600, 'written owner-only')
    const lines = fs.readFileSync(output, 'utf8').trimEnd().split('\n')
    const header = JSON.parse(lines[0]!)
    t.match(header, {
      format: 'veilbox-encrypted/1',
      dataset: CLINIC_ID,
      columns: ['pid', 'region', 'insured'],
      he: ['visits', 'cost'],
    })
    t.same(
      JSON.parse(lines[1]!),
      [rows[0]!.pid, rows[0]!.region, String(rows[0]!.insured)],
      'plain cells kept as the owner wrote them',
    )
    t.same(JSON.parse(lines.at(-1)!), { end: true, rows: 1500 })
    const ciphers = lines
      .filter((l) => l.startsWith('{"column"'))
      .map((l) => JSON.parse(l) as { column: string; kind: string; context: number; batch: number })
    t.ok(ciphers.length >= 4, `${ciphers.length} ciphertext lines: values and squares of two columns`)
    t.equal(lines.length, 1 + 1500 + ciphers.length + 1)
    const plainText = lines.slice(1, 1501).join('\n')
    t.notMatch(plainText, /,\s*\d+\.\d/, 'no cost value in the plain rows')

    const res = await ha.call('operator', {
      method: 'POST',
      url: `/v1/datasets/${CLINIC_ID}/versions`,
      headers: { 'content-type': ENCRYPTED },
      payload: fs.readFileSync(output),
    })
    t.equal(res.statusCode, 201, res.body)
    t.equal(res.json().rows, 1500)

    // A bad row: the command fails, and leaves no file behind.
    fs.writeFileSync(input, `${clinicCsv(rows.slice(0, 3))}p9,north,true,41,3.5\n`)
    const bad = await runCli([
      'encrypt',
      '--dataset',
      CLINIC_ID,
      '--keys',
      ha.custodianDir,
      input,
      '-o',
      path.join(dir, 'bad.vhe'),
      '--no-progress',
    ])
    t.equal(bad.code, 1)
    t.match(
      bad.stderr,
      /data row 4 \(line 5\), column "visits": 41 is above the declared upper bound 40.*VEILBOX_ERR_INGEST_BAD_ROW/,
    )
    t.same(fs.readdirSync(dir).sort(), ['clinic.csv', 'clinic.vhe'], 'no partial output')
    const noKeys = await runCli([
      'encrypt',
      '--dataset',
      'other',
      '--keys',
      ha.custodianDir,
      input,
      '-o',
      path.join(dir, 'x.vhe'),
      '--no-progress',
    ])
    t.equal(noKeys.code, 1)
    t.match(noKeys.stderr, /VEILBOX_ERR_CUSTODIAN_NO_KEYS/)
  },
)

t.test('veilbox encrypt refuses a CSV without an he column the keys were made for', async (t) => {
  const keys = path.join(tempDir(t), 'keys')
  await new KeyHolder(await KeyStore.open(keys)).createKeys(CLINIC_ID, clinicSpec() as never, {
    maxRows: 100,
    polyModulusDegree: 4096,
  })
  const dir = tempDir(t)
  const input = path.join(dir, 'in.csv')
  fs.writeFileSync(input, 'pid,region,insured,visits\np1,north,true,3\n')
  const res = await runCli([
    'encrypt',
    '--dataset',
    CLINIC_ID,
    '--keys',
    keys,
    input,
    '-o',
    path.join(dir, 'o.vhe'),
    '--no-progress',
  ])
  t.equal(res.code, 1)
  t.match(res.stderr, /lacks the he column cost/)
})

t.test('veilbox encrypt --workers 2: a bad row after a full batch fails the command and leaves no file', async (t) => {
  const keys = path.join(tempDir(t), 'keys')
  await new KeyHolder(await KeyStore.open(keys)).createKeys(CLINIC_ID, clinicSpec() as never, {
    maxRows: 4600,
    polyModulusDegree: 4096,
  })
  const dir = tempDir(t)
  const input = path.join(dir, 'in.csv')
  const rows = clinicRows(4200, 4)
  const lines = clinicCsv(rows).split('\n')
  lines[4101] = 'p4101,north,true,3,95' // cost above 90, in the second batch: the first went to a worker
  fs.writeFileSync(input, lines.join('\n'))
  const args = ['encrypt', '--dataset', CLINIC_ID, '--keys', keys, input, '--no-progress', '--workers', '2']
  const bad = await runCli([...args, '-o', path.join(dir, 'bad.vhe')])
  t.equal(bad.code, 1)
  t.match(bad.stderr, /data row 4101 \(line 4102\), column "cost": 95 is above the declared upper bound 90/)
  t.same(fs.readdirSync(dir), ['in.csv'], 'no partial output')
  fs.writeFileSync(input, clinicCsv(rows))
  const good = await runCli([...args, '-o', path.join(dir, 'good.vhe')])
  t.equal(good.code, 0, good.stderr)
  t.same(JSON.parse(fs.readFileSync(path.join(dir, 'good.vhe'), 'utf8').trimEnd().split('\n').at(-1)!), {
    end: true,
    rows: 4200,
  })
})
