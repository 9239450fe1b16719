import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { tempDir } from '../helpers/app.js'
import { runCli } from '../helpers/cli.js'
import { postgresBin, startPostgres } from '../helpers/pg.js'

const skip = postgresBin() === null ? 'PostgreSQL server binaries not found (.ci/run installs them)' : false

t.test('veilbox secret rotate seals the stored signing key under a new secret; the old one no longer opens it', { skip }, async (t) => {
  const pg = await startPostgres(t)
  const url = await pg.createDatabase()
  const dir = tempDir(t)
  const oldFile = path.join(dir, 'old-secret')
  const newFile = path.join(dir, 'new-secret')
  fs.writeFileSync(oldFile, `${'a1'.repeat(32)}\n`, { mode: 0o600 })
  fs.writeFileSync(newFile, 'b2'.repeat(32), { mode: 0o600 })
  const env = (file: string) => ({ VEILBOX_DATABASE_URL: url, VEILBOX_SECRET_FILE: file, VEILBOX_DATA_DIR: dir })

  // The first use makes the key and seals it under the old secret.
  const before = await runCli(['audit', 'head'], env(oldFile))
  t.equal(before.code, 0, before.stderr)
  t.equal(before.stdout.trim(), 'null', 'an empty chain has no head to sign')
  const created = await runCli(['keys', 'create', '--role', 'operator', '--name', 'olga', '--json'], env(oldFile))
  t.equal(created.code, 0, created.stderr)
  const head1 = JSON.parse((await runCli(['audit', 'head'], env(oldFile))).stdout) as { keyId: string; seq: number }
  t.equal(head1.seq, 1)

  const tooShort = path.join(dir, 'short')
  fs.writeFileSync(tooShort, 'short')
  const refused = await runCli(['secret', 'rotate', '--new-secret-file', tooShort], env(oldFile))
  t.equal(refused.code, 1)
  t.match(refused.stderr, /at least 32.*VEILBOX_ERR_CONFIG_INVALID/)

  const rotated = await runCli(['secret', 'rotate', '--new-secret-file', newFile], env(oldFile))
  t.equal(rotated.code, 0, rotated.stderr)
  t.match(rotated.stdout, /^resealed 1 stored key under .*new-secret; restart every node/)

  const stale = await runCli(['audit', 'verify'], env(oldFile))
  t.equal(stale.code, 1)
  t.match(stale.stderr, /sealed under another secret.*VEILBOX_ERR_CONFIG_SECRET_MISMATCH/)
  const verified = await runCli(['audit', 'verify'], env(newFile))
  t.equal(verified.code, 0, verified.stdout + verified.stderr)
  t.match(verified.stdout, /^ok: 1 records/)
  const head2 = JSON.parse((await runCli(['audit', 'head'], env(newFile))).stdout) as { keyId: string }
  t.equal(head2.keyId, head1.keyId, 'the same key, sealed anew')
  t.notMatch(rotated.stdout + verified.stdout + stale.stderr, /a1a1|b2b2/, 'no secret is printed')
})

t.test('secret rotate needs a PostgreSQL store', async (t) => {
  const dir = tempDir(t)
  const r = await runCli(['secret', 'rotate', '--new-secret-file', path.join(dir, 'x')], { VEILBOX_DATA_DIR: dir, VEILBOX_DATABASE_URL: '' })
  t.equal(r.code, 1)
  t.match(r.stderr, /works on a PostgreSQL store.*VEILBOX_ERR_CONFIG_INVALID/)
})
