/**
 * `veilbox certificate|statement|settlement verify` (src/cli/market.ts):
 * documents signed with a service key verify offline with its public key,
 * JSON or CSV; an altered byte, another key, or the wrong kind of document
 * fails with a non-zero exit.
 */
import { generateKeyPairSync } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { signCsv, signDocument } from '../../src/engine/market/documents.js'
import { keyIdOf } from '../../src/store/receipt-keys.js'
import { tempDir } from '../helpers/app.js'
import { runCli } from '../helpers/cli.js'

function key() {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  return {
    signer: { keyId: keyIdOf(publicKey), privateKey },
    pem: publicKey.export({ type: 'spki', format: 'pem' }) as string,
  }
}

t.test('signed documents verify offline; altered ones and the wrong kind fail', async (t) => {
  const dir = tempDir(t)
  const k = key()
  const other = key()
  const pemFile = path.join(dir, 'key.pem')
  fs.writeFileSync(pemFile, k.pem)
  const otherFile = path.join(dir, 'other.pem')
  fs.writeFileSync(otherFile, other.pem)
  const cert = signDocument(
    { kind: 'veilbox.certificate' as const, dataset: 'households', version: 1, commitment: 'ab'.repeat(32) },
    k.signer,
  )
  const certFile = path.join(dir, 'certificate.json')
  fs.writeFileSync(certFile, JSON.stringify(cert))
  const ok = await runCli(['certificate', 'verify', certFile, '--public-key', pemFile])
  t.equal(ok.code, 0, ok.stderr)
  t.match(ok.stdout, /^ok: veilbox\.certificate/)

  const altered = path.join(dir, 'altered.json')
  fs.writeFileSync(altered, JSON.stringify({ ...cert, version: 2 }))
  const bad = await runCli(['certificate', 'verify', altered, '--public-key', pemFile])
  t.equal(bad.code, 1)
  t.match(bad.stdout, /^INVALID: the signature does not match/)

  const wrongKey = await runCli(['certificate', 'verify', certFile, '--public-key', otherFile])
  t.equal(wrongKey.code, 1)
  t.match(wrongKey.stdout, /signed with key/)

  const wrongKind = await runCli(['statement', 'verify', certFile, '--public-key', pemFile])
  t.equal(wrongKind.code, 1)
  t.match(wrongKind.stdout, /is a veilbox\.certificate, not a veilbox\.statement/)

  const csv = signCsv('# veilbox.settlement,from=a,to=b\nowner,total\nbureau,45450\n', k.signer)
  const csvFile = path.join(dir, 'settlement.csv')
  fs.writeFileSync(csvFile, csv)
  const csvOk = await runCli(['settlement', 'verify', csvFile, '--public-key', pemFile])
  t.equal(csvOk.code, 0, csvOk.stdout + csvOk.stderr)
  fs.writeFileSync(csvFile, csv.replace('45450', '45451'))
  const csvBad = await runCli(['settlement', 'verify', csvFile, '--public-key', pemFile])
  t.equal(csvBad.code, 1)
  t.match(csvBad.stdout, /a byte of the CSV was changed/)
})
