import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { tempDir } from '../helpers/app.js'
import { runCli } from '../helpers/cli.js'
import { postgresBin, startPostgres } from '../helpers/pg.js'

const skip = postgresBin() === null ? 'PostgreSQL server binaries not found (.ci/run installs them)' : false

t.test(
  'veilbox secret rotate seals the stored signing key under a new secret; the old one no longer opens it',
  { skip },
  async (t) => {
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

    // A node given the old secret refuses to start, says why, and ends (nothing it opened keeps it alive).
    const node = await runCli(['serve', '--port', '0', '--data-dir', path.join(dir, 'node')], env(oldFile))
    t.equal(node.code, 1)
    t.match(node.stderr, /VEILBOX_ERR_CONFIG_SECRET_MISMATCH/)
    const noSecret = await runCli(['serve', '--port', '0'], { VEILBOX_DATABASE_URL: url, VEILBOX_DATA_DIR: dir })
    t.equal(noSecret.code, 1)
    t.match(noSecret.stderr, /VEILBOX_SECRET_FILE: with VEILBOX_DATABASE_URL every node needs/)
  },
)

t.test(
  'a first node on an empty PostgreSQL database makes its data directory and writes the operator key there',
  { skip },
  async (t) => {
    const pg = await startPostgres(t)
    const url = await pg.createDatabase()
    const dir = tempDir(t)
    const dataDir = path.join(dir, 'not', 'yet')
    const { spawn } = await import('node:child_process')
    const { fileURLToPath } = await import('node:url')
    const entry = fileURLToPath(new URL('../helpers/cli-entry.ts', import.meta.url))
    const child = spawn(process.execPath, ['--import', 'tsx', entry, 'serve', '--port', '0', '--data-dir', dataDir], {
      env: {
        ...process.env,
        VEILBOX_DATABASE_URL: url,
        VEILBOX_SECRET: 'test-sealing-secret-of-at-least-32-characters',
        VEILBOX_LOG_LEVEL: 'silent',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    t.teardown(() => child.kill('SIGKILL'))
    let out = ''
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString()
        if (out.includes('listening on')) resolve()
      })
      child.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${out}`)))
    })
    t.match(out, /API keys written to .*operator-key\.json/)
    const key = JSON.parse(fs.readFileSync(path.join(dataDir, 'operator-key.json'), 'utf8')) as { operator: string }
    t.match(key.operator, /^vbx_/)
    t.equal(fs.statSync(dataDir).mode & 0o777, 0o700, 'owner-only, as on SQLite')
  },
)

t.test('secret rotate needs a PostgreSQL store', async (t) => {
  const dir = tempDir(t)
  const r = await runCli(['secret', 'rotate', '--new-secret-file', path.join(dir, 'x')], {
    VEILBOX_DATA_DIR: dir,
    VEILBOX_DATABASE_URL: '',
  })
  t.equal(r.code, 1)
  t.match(r.stderr, /works on a PostgreSQL store.*VEILBOX_ERR_CONFIG_INVALID/)
})
