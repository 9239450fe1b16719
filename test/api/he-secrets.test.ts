import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { loadSeal } from '../../src/engine/he/context.js'
import { KeyStore } from '../../src/engine/he/keystore.js'
import { ENCRYPTED, encryptedUpload } from '../helpers/he.js'
import { SqliteDatabase } from '../../src/store/sqlite.js'
import { tempDir, testApp, type TestApp } from '../helpers/app.js'

/**
 * Where plaintext and keys never are. A canary value planted in an he column
 * appears in no file of the service's data directory (database, WAL, SHM,
 * anything else), as text or as the bytes of a 32- or 64-bit integer or a
 * double, in either byte order, whichever way it was loaded. The secret key
 * appears neither in that directory nor in anything a sandbox worker is sent.
 */

const CAPTURE_WORKER = fileURLToPath(new URL('../fixtures/he-capture-worker.ts', import.meta.url))
const ROWS = 200

const SPEC = {
  id: 'payroll',
  title: 'Payroll',
  classification: 'sensitive',
  privacyUnit: 'pid',
  maxRowsPerUnit: 1,
  columns: [
    { name: 'pid', type: 'id', protection: 'public' },
    { name: 'team', type: 'category', protection: 'public', categories: ['a', 'b'] },
    { name: 'salary', type: 'integer', protection: 'he', lower: 0, upper: 2_000_000_000 },
  ],
}

/** Salaries: ordinary ones, and the canary in row 7. */
function csv(canary: number): string {
  let out = 'pid,team,salary\n'
  for (let i = 0; i < ROWS; i++)
    out += `p${i + 1},${i % 2 ? 'a' : 'b'},${i === 7 ? canary : 30_000 + ((i * 7919) % 90_000)}\n`
  return out
}

/**
 * The stored public keys are tens of megabytes of random-looking bytes, in
 * which any given 4-byte pattern turns up by chance with probability about
 * size / 2^32. So the canary is picked after the keys exist, among values
 * whose byte patterns the keys do not happen to contain: then a hit can only
 * come from the few ciphertexts (chance about 1e-3) or from a real leak.
 */
function pickCanary(noise: readonly Buffer[]): number {
  for (let x = 1_987_654_321; ; x -= 7_919) {
    if (![...patterns(x).values()].some((p) => noise.some((b) => b.indexOf(p) !== -1))) return x
  }
}

function patterns(x: number): Map<string, Buffer> {
  const out = new Map<string, Buffer>([['text', Buffer.from(String(x))]])
  const b32 = Buffer.alloc(4)
  b32.writeInt32LE(x)
  out.set('int32 LE', Buffer.from(b32))
  b32.writeInt32BE(x)
  out.set('int32 BE', Buffer.from(b32))
  const b64 = Buffer.alloc(8)
  b64.writeBigInt64LE(BigInt(x))
  out.set('int64 LE', Buffer.from(b64))
  b64.writeBigInt64BE(BigInt(x))
  out.set('int64 BE', Buffer.from(b64))
  b64.writeDoubleLE(x)
  out.set('double LE', Buffer.from(b64))
  b64.writeDoubleBE(x)
  out.set('double BE', Buffer.from(b64))
  return out
}

function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : e.isFile() ? [path.join(dir, e.name)] : []))
}

/**
 * The directories the store under test keeps bytes in, by label: the data
 * directory (SQLite's database, WAL and SHM, and every other file of the
 * service); on PostgreSQL also the whole test cluster's directory (heap and
 * TOAST files, WAL, the server log), which test/helpers/pg.ts puts beside
 * its unix socket, the database URL's host.
 */
function storeDirs(ta: TestApp): [string, string][] {
  const dirs: [string, string][] = [['', ta.dataDir]]
  const url = ta.config.databaseUrl
  // (Not new URL(): postgres://user@/db, with the host in the query, is no WHATWG URL.)
  if (url !== null) dirs.push(['postgres/', new URLSearchParams(url.slice(url.indexOf('?') + 1)).get('host')!])
  return dirs
}

/** Every file of those directories, read now (one that vanishes meanwhile, a server's temporary file, is skipped). */
function storeFiles(ta: TestApp): [string, Buffer][] {
  const out: [string, Buffer][] = []
  for (const [label, dir] of storeDirs(ta)) {
    for (const f of filesUnder(dir)) {
      try {
        out.push([label + path.relative(dir, f), fs.readFileSync(f)])
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      }
    }
  }
  return out
}

/** What the store committed, moved into its main files: SQLite's WAL into the database file; PostgreSQL's dirty buffers into the heap files. */
async function checkpoint(ta: TestApp): Promise<void> {
  if (ta.app.db instanceof SqliteDatabase) ta.app.db.raw.pragma('wal_checkpoint(FULL)')
  else await ta.app.db.run('CHECKPOINT')
}

/** Whether `hay` holds any 48-byte piece of `needle` (sampled through it). */
function holdsPieceOf(hay: Buffer, needle: Uint8Array): boolean {
  for (let off = 64; off + 48 <= needle.length; off += 1024) {
    if (hay.indexOf(Buffer.from(needle.subarray(off, off + 48))) !== -1) return true
  }
  return false
}

t.test(
  'a canary in an he column appears nowhere in the data directory; the secret key neither there nor in any worker message',
  async (t) => {
    const capture = path.join(tempDir(t), 'worker-messages.bin')
    process.env.VEILBOX_TEST_CAPTURE = capture
    t.teardown(() => delete process.env.VEILBOX_TEST_CAPTURE)
    const custodianDir = path.join(tempDir(t), 'keys')
    const ta = await testApp(t, { custodianDir }, CAPTURE_WORKER)
    const ok = (res: { statusCode: number; body: string }, want = 201) =>
      t.equal(res.statusCode, want, res.body.slice(0, 300))
    ok(await ta.call('operator', { method: 'POST', url: '/v1/datasets', payload: SPEC }))
    ok(
      await ta.call('operator', {
        method: 'PUT',
        url: '/v1/datasets/payroll/budget',
        payload: { epsilon: 100, delta: 1e-6 },
      }),
      200,
    )
    const grant = await ta.call('operator', {
      method: 'POST',
      url: '/v1/grants',
      payload: {
        analyst: 'alice',
        dataset: 'payroll',
        purpose: 'test',
        epsilon: 50,
        delta: 1e-7,
        expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
      },
    })
    ok(grant)
    ok(
      await ta.call('custodian', {
        method: 'POST',
        url: '/v1/datasets/payroll/he/keys',
        payload: { maxRows: 1000, polyModulusDegree: 8192 },
      }),
    )
    const keyBlobs = (
      await ta.app.db.all<{ public_key: Buffer; galois_keys: Buffer }>(
        'SELECT public_key, galois_keys FROM he_public_keys',
      )
    ).flatMap((r) => [r.public_key, r.galois_keys])
    // On PostgreSQL the cluster's files (catalogs, WAL segments, the keys in TOAST chunks) are tens of megabytes
    // of bytes that were there before any upload: the canary is picked among values they do not happen to hold either.
    const CANARY = pickCanary(
      ta.config.databaseUrl === null ? keyBlobs : [...keyBlobs, ...storeFiles(ta).map(([, b]) => b)],
    )
    t.comment(`canary ${CANARY}`)

    // Both ways in: the plaintext path (encrypted on arrival) and the owner's file.
    ok(
      await ta.call('operator', {
        method: 'POST',
        url: '/v1/datasets/payroll/versions',
        headers: { 'content-type': 'text/csv' },
        payload: csv(CANARY),
      }),
    )
    ok(
      await ta.call('operator', {
        method: 'POST',
        url: '/v1/datasets/payroll/versions',
        headers: { 'content-type': ENCRYPTED },
        payload: await encryptedUpload(custodianDir, 'payroll', csv(CANARY)),
      }),
    )
    for (const version of [1, 2]) {
      const res = await ta.call('analyst', {
        method: 'POST',
        url: '/v1/queries',
        payload: {
          sql: 'SELECT team, SUM(salary), AVG(salary), STDDEV(salary) FROM payroll GROUP BY team',
          grant: grant.json().id,
          epsilon: 1,
          version,
        },
      })
      ok(res, 200)
    }

    const dataFiles = (): [string, Buffer][] => storeFiles(ta)
    const canary = patterns(CANARY)
    // The database's own files: SQLite's file in the data directory, or PostgreSQL's heap files under base/.
    const isDatabase = (f: string) =>
      ta.config.databaseUrl === null ? f === 'veilbox.db' : f.startsWith('postgres/data/base/')
    // A control: a ciphertext the store holds is found in the files scanned, so they are where stored bytes land.
    const stored = (await ta.app.db.value<Buffer>(
      'SELECT data FROM he_ciphertexts ORDER BY upload_id, column_name, kind, context, batch LIMIT 1',
    ))!
    const scan = (when: string) => {
      const files = dataFiles()
      t.ok(
        files.some(([f]) => isDatabase(f)),
        `${when}: the database is among ${files.length > 20 ? `${files.length} files` : files.map(([f]) => f).join(', ')}`,
      )
      t.ok(
        files.some(([, bytes]) => holdsPieceOf(bytes, stored)),
        `${when}: a stored ciphertext is found in the files scanned`,
      )
      for (const [file, bytes] of files) {
        for (const [form, p] of canary)
          t.equal(bytes.indexOf(p), -1, `${when}: the canary is not in ${file} as ${form}`)
      }
    }
    scan('before a checkpoint')
    await checkpoint(ta)
    scan('after a checkpoint')
    // The control: the pattern search does find the canary where it is in plaintext.
    t.not(Buffer.from(csv(CANARY)).indexOf(canary.get('text')!), -1)

    // The secret keys, as the key store holds them (compressed) and as SEAL expands them.
    const seal = await loadSeal()
    const keystore = await KeyStore.open(custodianDir)
    const profile = await keystore.profile('payroll')
    const secrets: Uint8Array[] = []
    await keystore.withSecretKeys(
      'payroll',
      profile.contexts.map((_, i) => i),
      (keys) => {
        for (const k of keys) secrets.push(k.secretKey.saveArray(seal.ComprModeType.none))
      },
    )
    for (let i = 0; i < profile.contexts.length; i++)
      secrets.push(fs.readFileSync(path.join(custodianDir, 'payroll', `secret-${i}.key`)))
    t.ok(secrets.length >= 2 && secrets.every((s) => s.length > 1000))
    const sent = fs.readFileSync(capture)
    t.ok(sent.length > 1_000_000, `the workers were sent ${sent.length} bytes (Galois keys and ciphertexts)`)
    t.notMatch(sent.subarray(0, 100_000).toString('latin1'), /secret/i, 'no field of a worker message names a secret')
    secrets.forEach((s, i) => {
      t.notOk(holdsPieceOf(sent, s), `secret key form ${i} is in no worker message`)
      for (const [file, bytes] of dataFiles()) t.notOk(holdsPieceOf(bytes, s), `secret key form ${i} is not in ${file}`)
    })
    t.notOk(fs.existsSync(path.join(ta.dataDir, 'payroll')), 'no key directory inside the data directory')
  },
)

t.test('the custodian directory may not lie inside the data directory', async (t) => {
  const { loadConfig } = await import('../../src/config/index.js')
  const dir = tempDir(t)
  t.throws(() => loadConfig({ VEILBOX_DATA_DIR: dir, VEILBOX_CUSTODIAN_DIR: path.join(dir, 'keys') }), {
    code: 'VEILBOX_ERR_CONFIG_INVALID',
    message: /inside the data directory/,
  })
  t.throws(() => loadConfig({ VEILBOX_DATA_DIR: dir, VEILBOX_CUSTODIAN_DIR: dir }), {
    code: 'VEILBOX_ERR_CONFIG_INVALID',
  })
  t.doesNotThrow(() =>
    loadConfig({ VEILBOX_DATA_DIR: path.join(dir, 'data'), VEILBOX_CUSTODIAN_DIR: path.join(dir, 'keys') }),
  )
  t.throws(() => loadConfig({ VEILBOX_CUSTODIAN_URL: 'http://127.0.0.1:8081' }), {
    code: 'VEILBOX_ERR_CONFIG_INVALID',
    message: /TOKEN/,
  })
})
