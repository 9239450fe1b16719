import t from 'tap'
import { aggregateEncrypted, EvaluationKeys } from '../../../src/engine/he/aggregate.js'
import { KeyHolder } from '../../../src/engine/he/key-holder.js'
import { ColumnEncryptor } from '../../../src/engine/he/encrypt.js'
import { keyStore, spec } from './fixtures.js'

/**
 * Every SEAL object is deleted: the WebAssembly heap never shrinks, so a leak
 * shows as growth of the process's external memory (where V8 counts the wasm
 * memory) over many aggregations. One leaked ciphertext per aggregation at
 * n = 4096 would add about 25 MB over 200; we allow 4 MB.
 */
const ROUNDS = 200

t.test(`the wasm heap does not grow across ${ROUNDS} aggregate-and-decrypt rounds`, async (t) => {
  const keystore = await keyStore(t)
  const custodian = new KeyHolder(keystore)
  const ds = spec('heap', [{ name: 'v', type: 'integer', protection: 'he', lower: -50, upper: 50 }])
  const profile = await custodian.createKeys('heap', ds, { maxRows: 4096, polyModulusDegree: 4096, variance: false })
  const rows = 3000
  const enc = await ColumnEncryptor.open(keystore, 'heap')
  const column = (() => {
    try {
      return enc.encryptColumn(
        'v',
        Array.from({ length: rows }, (_, i) => (i % 101) - 50),
      )
    } finally {
      enc.close()
    }
  })()
  const keys = await EvaluationKeys.open(await custodian.publicMaterial('heap'))
  t.teardown(() => keys.delete())
  // A WHERE mask: the NTT path, an accumulator, rotate-and-sum, decryption.
  // (Groups and CRT squares run the same code once per group and prime; one
  // of each keeps 200 rounds within the suite's time.)
  const selection = Uint8Array.from({ length: rows }, (_, i) => (i % 3 === 0 ? 0 : 1))
  const round = async (): Promise<void> => {
    const res = await aggregateEncrypted({ keys, column, selection, grouping: null, squares: false })
    const out = await custodian.decryptAggregates({
      dataset: 'heap',
      profileId: profile.id,
      queryId: 'q',
      aggregates: [res.sums[0]!],
    })
    if (out.values.length !== 1) throw new Error('lost an aggregate')
  }
  // Warm up: the allocator settles after the first rounds.
  for (let i = 0; i < 10; i++) await round()
  const before = process.memoryUsage()
  const started = performance.now()
  for (let i = 0; i < ROUNDS; i++) await round()
  const after = process.memoryUsage()
  const growth = after.external - after.arrayBuffers - (before.external - before.arrayBuffers)
  t.comment(
    `${ROUNDS} rounds in ${Math.round(performance.now() - started)} ms; external (wasm heap) ${before.external} -> ${after.external} bytes`,
  )
  t.ok(growth < 4 * 1024 * 1024, `wasm heap grew by ${growth} bytes`)
})
