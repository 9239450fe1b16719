import t from 'tap'
import { openDb } from '../../src/store/db.js'
import { authenticate } from '../../src/store/keys.js'
import { tempDir } from '../helpers/app.js'
import { runCli } from '../helpers/cli.js'

t.test('veilbox keys create / list / revoke work on the database directly', async (t) => {
  const dir = tempDir(t)
  const created = await runCli(['keys', 'create', '--role', 'analyst', '--name', 'alice', '--data-dir', dir, '--json'])
  t.equal(created.code, 0, created.stderr)
  const { key, name, role } = JSON.parse(created.stdout) as { key: string; name: string; role: string }
  t.same([name, role], ['alice', 'analyst'])

  const db = openDb(dir)
  t.teardown(() => db.close())
  t.equal(authenticate(db, key)?.name, 'alice')

  const plain = await runCli(['keys', 'create', '--role', 'operator', '--name', 'olga'], { VEILBOX_DATA_DIR: dir })
  t.equal(plain.code, 0)
  t.match(plain.stdout, /^vbx_[0-9a-f]{12}_\S{43}\n\(key [0-9a-f]{12} for olga, role operator; it is shown only now\)/)

  const list = await runCli(['keys', 'list', '--data-dir', dir])
  t.equal(list.code, 0)
  t.match(list.stdout, /^alice\tanalyst\t[0-9a-f]{12}\t/m)
  t.match(list.stdout, /^olga\toperator\t/m)
  t.equal(list.stdout.indexOf(key), -1, 'no secret in the list')

  const revoked = await runCli(['keys', 'revoke', 'alice', '--data-dir', dir])
  t.equal(revoked.code, 0)
  t.match(revoked.stdout, /revoked alice \(analyst/)
  t.equal(authenticate(db, key), null)
  const audit = db.prepare("SELECT actor, action FROM audit_log WHERE action LIKE 'key.%' ORDER BY seq").all()
  t.match(audit, [{ action: 'key.create', actor: /^cli:/ }, { action: 'key.create' }, { action: 'key.revoke', actor: /^cli:/ }])
})

t.test('CLI mistakes exit 1 with the reason, and change nothing', async (t) => {
  const dir = tempDir(t)
  const badRole = await runCli(['keys', 'create', '--role', 'admin', '--name', 'x', '--data-dir', dir])
  t.equal(badRole.code, 1)
  t.match(badRole.stderr, /Allowed choices are operator, analyst, custodian/)
  const missing = await runCli(['keys', 'revoke', 'ghost', '--data-dir', dir])
  t.equal(missing.code, 1)
  t.match(missing.stderr, /no active key named "ghost" \(VEILBOX_ERR_KEY_NOT_FOUND\)/)
  await runCli(['keys', 'create', '--role', 'analyst', '--name', 'dup', '--data-dir', dir])
  const dup = await runCli(['keys', 'create', '--role', 'analyst', '--name', 'dup', '--data-dir', dir])
  t.equal(dup.code, 1)
  t.match(dup.stderr, /VEILBOX_ERR_KEY_NAME_TAKEN/)
})
