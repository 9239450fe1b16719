import t from 'tap'
import { openStore } from '../../src/store/db.js'
import { authenticate } from '../../src/store/keys.js'
import { TEST_STORE, tempDir, testDatabaseUrl } from '../helpers/app.js'
import { runCli } from '../helpers/cli.js'

/**
 * The store the commands work on: SQLite in the data directory, or with
 * VEILBOX_TEST_STORE=postgres a fresh PostgreSQL database, named to every
 * command through the environment (VEILBOX_DATABASE_URL, with the sealing
 * secret a PostgreSQL deployment needs).
 */
async function storeEnv(): Promise<Record<string, string>> {
  if (TEST_STORE === 'sqlite') return {}
  return {
    VEILBOX_DATABASE_URL: await testDatabaseUrl(),
    VEILBOX_SECRET: 'test-sealing-secret-of-at-least-32-characters',
  }
}

t.test('veilbox keys create / list / revoke work on the database directly', async (t) => {
  const dir = tempDir(t)
  const env = await storeEnv()
  const created = await runCli(
    ['keys', 'create', '--role', 'analyst', '--name', 'alice', '--data-dir', dir, '--json'],
    env,
  )
  t.equal(created.code, 0, created.stderr)
  const { key, name, role } = JSON.parse(created.stdout) as { key: string; name: string; role: string }
  t.same([name, role], ['alice', 'analyst'])

  const db = await openStore({ dataDir: dir, databaseUrl: env.VEILBOX_DATABASE_URL ?? null })
  t.teardown(() => db.close())
  t.equal((await authenticate(db, key))?.name, 'alice')

  const plain = await runCli(['keys', 'create', '--role', 'operator', '--name', 'olga'], {
    ...env,
    VEILBOX_DATA_DIR: dir,
  })
  t.equal(plain.code, 0)
  t.match(plain.stdout, /^vbx_[0-9a-f]{12}_\S{43}\n\(key [0-9a-f]{12} for olga, role operator; it is shown only now\)/)

  const list = await runCli(['keys', 'list', '--data-dir', dir], env)
  t.equal(list.code, 0)
  t.match(list.stdout, /^alice\tanalyst\t[0-9a-f]{12}\t/m)
  t.match(list.stdout, /^olga\toperator\t/m)
  t.equal(list.stdout.indexOf(key), -1, 'no secret in the list')

  const revoked = await runCli(['keys', 'revoke', 'alice', '--data-dir', dir], env)
  t.equal(revoked.code, 0)
  t.match(revoked.stdout, /revoked alice \(analyst/)
  t.equal(await authenticate(db, key), null)
  const audit = await db.all("SELECT actor, action FROM audit_log WHERE action LIKE 'key.%' ORDER BY seq")
  t.match(audit, [
    { action: 'key.create', actor: /^cli:/ },
    { action: 'key.create' },
    { action: 'key.revoke', actor: /^cli:/ },
  ])
})

t.test('CLI mistakes exit 1 with the reason, and change nothing', async (t) => {
  const dir = tempDir(t)
  const env = await storeEnv()
  const badRole = await runCli(['keys', 'create', '--role', 'admin', '--name', 'x', '--data-dir', dir], env)
  t.equal(badRole.code, 1)
  t.match(badRole.stderr, /Allowed choices are operator, analyst, custodian/)
  const missing = await runCli(['keys', 'revoke', 'ghost', '--data-dir', dir], env)
  t.equal(missing.code, 1)
  t.match(missing.stderr, /no active key named "ghost" \(VEILBOX_ERR_KEY_NOT_FOUND\)/)
  await runCli(['keys', 'create', '--role', 'analyst', '--name', 'dup', '--data-dir', dir], env)
  const dup = await runCli(['keys', 'create', '--role', 'analyst', '--name', 'dup', '--data-dir', dir], env)
  t.equal(dup.code, 1)
  t.match(dup.stderr, /VEILBOX_ERR_KEY_NAME_TAKEN/)
})
