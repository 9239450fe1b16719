import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { aggregateEncrypted, EvaluationKeys } from '../../../src/engine/he/aggregate.js'
import { loadSeal } from '../../../src/engine/he/context.js'
import { KeyHolder } from '../../../src/engine/he/key-holder.js'
import { ColumnEncryptor } from '../../../src/engine/he/encrypt.js'
import { KeyStore } from '../../../src/engine/he/keystore.js'
import type { EncryptedAggregate, PublicMaterial } from '../../../src/engine/he/types.js'
import { keyStore, spec, tempDir } from './fixtures.js'

const ds = spec('payroll', [{ name: 'salary', type: 'integer', protection: 'he', lower: 0, upper: 500 }])
const ROWS = 5000
const salary = Array.from({ length: ROWS }, (_, i) => (i * 37) % 501)

async function setup(t: { teardown(fn: () => void): void }) {
  const keystore = await keyStore(t)
  const custodian = new KeyHolder(keystore)
  const profile = await custodian.createKeys('payroll', ds, { maxRows: 8192, polyModulusDegree: 4096 })
  return { keystore, custodian, profile }
}

/** Every byte string of `needle`'s middle part, 48 bytes at a time, absent from `hay`. */
function containsChunk(hay: Uint8Array, needle: Uint8Array): boolean {
  const h = Buffer.from(hay)
  for (let off = 64; off + 48 <= needle.length; off += 4096) {
    if (h.indexOf(Buffer.from(needle.subarray(off, off + 48))) !== -1) return true
  }
  return false
}

t.test('the key store: 0700 directories, 0600 files, refuses to use looser ones', async (t) => {
  const { keystore } = await setup(t)
  const dir = path.join(keystore.dir, 'payroll')
  t.equal(fs.statSync(keystore.dir).mode & 0o777, 0o700)
  t.equal(fs.statSync(dir).mode & 0o777, 0o700)
  const files = fs.readdirSync(dir).sort()
  t.same(files, [
    'galois-0.key',
    'galois-1.key',
    'profile.json',
    'public-0.key',
    'public-1.key',
    'secret-0.key',
    'secret-1.key',
  ])
  for (const f of files) t.equal(fs.statSync(path.join(dir, f)).mode & 0o777, 0o600, `${f} is 0600`)
  t.same(fs.readdirSync(keystore.dir), ['payroll'], 'no temporary directory left behind')

  fs.chmodSync(path.join(dir, 'secret-0.key'), 0o644)
  await t.rejects(
    keystore.withSecretKeys('payroll', [0], () => 0),
    { code: 'VEILBOX_ERR_CUSTODIAN_KEYSTORE_INSECURE', message: /mode 644/ },
  )
  fs.chmodSync(path.join(dir, 'secret-0.key'), 0o600)
  fs.chmodSync(dir, 0o755)
  await t.rejects(keystore.profile('payroll'), { code: 'VEILBOX_ERR_CUSTODIAN_KEYSTORE_INSECURE' })
  fs.chmodSync(dir, 0o700)
  await t.resolves(keystore.withSecretKeys('payroll', [0, 1], () => 0))

  const loose = path.join(tempDir(t), 'loose')
  fs.mkdirSync(loose, { mode: 0o755 })
  fs.chmodSync(loose, 0o755)
  await t.rejects(KeyStore.open(loose), { code: 'VEILBOX_ERR_CUSTODIAN_KEYSTORE_INSECURE' })

  const custodian = new KeyHolder(keystore)
  await t.rejects(custodian.createKeys('payroll', ds, { maxRows: 10 }), { code: 'VEILBOX_ERR_CUSTODIAN_KEYS_EXIST' })
  await t.rejects(custodian.publicMaterial('nothing_here'), { code: 'VEILBOX_ERR_CUSTODIAN_NO_KEYS' })
  await t.rejects(custodian.publicMaterial('../payroll'), { code: 'VEILBOX_ERR_HE_BAD_ARGUMENT' })
  fs.rmSync(path.join(dir, 'galois-1.key'))
  await t.rejects(custodian.publicMaterial('payroll'), { code: 'VEILBOX_ERR_CUSTODIAN_KEYSTORE_CORRUPT' })
})

t.test('the secret key never leaves the key store', async (t) => {
  const { keystore, custodian } = await setup(t)
  const seal = await loadSeal()
  const material: PublicMaterial = await custodian.publicMaterial('payroll')
  t.same(Object.keys(material).sort(), ['contexts', 'dataset', 'profile'])
  for (const c of material.contexts)
    t.same(
      Object.keys(c).sort(),
      ['galoisKeys', 'galoisSteps', 'publicKey'],
      'public and Galois keys only: no relinearization or secret key',
    )
  t.same(
    material.contexts[0]!.galoisSteps,
    [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 0],
    'only the rotations rotate-and-sum uses',
  )

  // The secret key, uncompressed, must not appear in the public material,
  // compressed as shipped or expanded by SEAL.
  await keystore.withSecretKeys('payroll', [0, 1], async (keys) => {
    for (let i = 0; i < keys.length; i++) {
      const { ctx, secretKey } = keys[i]!
      const raw = secretKey.saveArray(seal.ComprModeType.none)
      t.ok(raw.length > 4096, 'the secret key serializes')
      const pub = material.contexts[i]!
      const pk = seal.PublicKey()
      const gk = seal.GaloisKeys()
      try {
        pk.loadArray(ctx.context, pub.publicKey)
        gk.loadArray(ctx.context, pub.galoisKeys)
        const blobs = [
          pub.publicKey,
          pub.galoisKeys,
          pk.saveArray(seal.ComprModeType.none),
          gk.saveArray(seal.ComprModeType.none),
          Buffer.from(JSON.stringify(material.profile, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v))),
        ]
        for (const b of blobs)
          t.notOk(containsChunk(b, raw), `context ${i}: no secret key bytes in a ${b.length}-byte public blob`)
      } finally {
        pk.delete()
        gk.delete()
      }
    }
  })
  // The Custodian interface has no way to ask for it.
  t.same(Object.getOwnPropertyNames(KeyHolder.prototype).sort(), [
    'constructor',
    'createKeys',
    'decryptAggregates',
    'publicMaterial',
  ])
})

t.test('only slot 0 of a rotate-and-sum result is ever decrypted into a value', async (t) => {
  const { keystore, custodian, profile } = await setup(t)
  const enc = await ColumnEncryptor.open(keystore, 'payroll')
  const column = (() => {
    try {
      return enc.encryptColumn('salary', salary)
    } finally {
      enc.close()
    }
  })()
  const keys = await EvaluationKeys.open(await custodian.publicMaterial('payroll'))
  t.teardown(() => keys.delete())
  const res = await aggregateEncrypted({ keys, column, selection: null, grouping: null, squares: true })
  const sum = res.sums[0]!
  const good = await custodian.decryptAggregates({
    dataset: 'payroll',
    profileId: profile.id,
    queryId: 'q1',
    aggregates: [sum],
  })
  t.equal(good.values.length, 1)
  t.equal(good.values[0]!.value.units, BigInt(salary.reduce((a, b) => a + b, 0)))
  t.equal(good.queryId, 'q1')

  // A raw batch (4096 rows of data) sent as if it were an aggregate: refused, no value.
  const raw: EncryptedAggregate = {
    column: 'salary',
    kind: 'sum',
    group: 0,
    rows: 4096,
    ciphertexts: [column.values[0]![0]!],
  }
  await t.rejects(
    custodian.decryptAggregates({ dataset: 'payroll', profileId: profile.id, queryId: 'q2', aggregates: [sum, raw] }),
    {
      code: 'VEILBOX_ERR_CUSTODIAN_REFUSED',
      message: /not a rotate-and-sum aggregate/,
    },
  )
  // A true sum claimed over fewer rows than it covers: outside what those rows can add up to.
  await t.rejects(
    custodian.decryptAggregates({
      dataset: 'payroll',
      profileId: profile.id,
      queryId: 'q3',
      aggregates: [{ ...sum, rows: 10 }],
    }),
    {
      code: 'VEILBOX_ERR_CUSTODIAN_REFUSED',
      message: /not what 10 rows/,
    },
  )
  // Shapes and bindings are checked before any key is loaded.
  const refusals: [Partial<EncryptedAggregate> | null, RegExp][] = [
    [{ column: 'other' }, /no he column/],
    [{ kind: 'product' as 'sum' }, /unknown aggregate kind/],
    [{ ciphertexts: [] }, /ciphertext/],
    [{ rows: -1 }, /covers 0 to/],
    [{ ciphertexts: [new Uint8Array(100)] }, /not a ciphertext/],
  ]
  for (const [patch, message] of refusals) {
    await t.rejects(
      custodian.decryptAggregates({
        dataset: 'payroll',
        profileId: profile.id,
        queryId: 'q',
        aggregates: [{ ...sum, ...patch }],
      }),
      {
        code: 'VEILBOX_ERR_CUSTODIAN_REFUSED',
        message,
      },
    )
  }
  await t.rejects(
    custodian.decryptAggregates({ dataset: 'payroll', profileId: 'a'.repeat(64), queryId: 'q', aggregates: [sum] }),
    { code: 'VEILBOX_ERR_CUSTODIAN_REFUSED' },
  )
  await t.rejects(
    custodian.decryptAggregates({ dataset: 'payroll', profileId: profile.id, queryId: '', aggregates: [sum] }),
    { code: 'VEILBOX_ERR_CUSTODIAN_REFUSED' },
  )
  await t.rejects(
    custodian.decryptAggregates({ dataset: 'payroll', profileId: profile.id, queryId: 'q', aggregates: [] }),
    { code: 'VEILBOX_ERR_CUSTODIAN_REFUSED' },
  )
})

t.test('values outside the declaration are refused before anything is encrypted', async (t) => {
  const { keystore } = await setup(t)
  const enc = await ColumnEncryptor.open(keystore, 'payroll')
  t.teardown(() => enc.close())
  t.throws(() => enc.encryptColumn('salary', [1, 2, 501]), {
    code: 'VEILBOX_ERR_HE_BAD_VALUE',
    message: /row 3: 501 is outside the declared bounds \[0, 500\]/,
  })
  t.throws(() => enc.encryptColumn('salary', [1, 2.5]), {
    code: 'VEILBOX_ERR_HE_BAD_VALUE',
    message: /not a whole number/,
  })
  t.throws(() => enc.encryptColumn('salary', [Number.NaN]), {
    code: 'VEILBOX_ERR_HE_BAD_VALUE',
    message: /not a finite number/,
  })
  t.throws(() => enc.encryptColumn('salary', new Array<number>(8193).fill(1)), {
    code: 'VEILBOX_ERR_HE_CAPACITY_EXCEEDED',
    message: /1 to 8192 rows/,
  })
  t.throws(() => enc.encryptColumn('nope', [1]), { code: 'VEILBOX_ERR_HE_BAD_ARGUMENT' })
})
