import t from 'tap'
import { mulberry32 } from '../../src/engine/mulberry32.js'
import { canonicalJson } from '../../src/store/audit.js'
import { canonicalJson as consoleCanonicalJson } from '../../console/src/receipt.js'

/**
 * The definition, written plainly: keys sorted, undefined members left out, no
 * spaces. The console's copy (it verifies receipts in the browser, where the
 * server's module does not run) is that plain form, so it is the reference, and
 * the server's faster one is held to it byte for byte.
 */
const reference = consoleCanonicalJson

const rng = mulberry32

const KEYS = ['a', 'b', 'B', '_', 'seq', 'prevHash', '10', '2', 'é', 'z\u0000', '\ud83d\ude00', '']
function value(r: () => number, depth: number): unknown {
  const k = Math.floor(r() * (depth > 3 ? 6 : 8))
  switch (k) {
    case 0:
      return null
    case 1:
      return r() < 0.5
    case 2:
      return Math.floor(r() * 2e6) - 1e6
    case 3:
      return r() * 1e-3
    case 4:
      return ['', 'x', 'q_1f', 'a"b\\c', '\n', '汉字'][Math.floor(r() * 6)]
    case 5:
      return undefined
    case 6:
      return Array.from({ length: Math.floor(r() * 4) }, () => value(r, depth + 1))
    default: {
      const o: Record<string, unknown> = {}
      for (let i = Math.floor(r() * 5); i > 0; i--) o[KEYS[Math.floor(r() * KEYS.length)]!] = value(r, depth + 1)
      return o
    }
  }
}

t.test('canonicalJson matches the plain definition on 20,000 random values', async (t) => {
  const r = rng(20261128)
  let mismatches = 0
  let first: unknown
  for (let i = 0; i < 20_000; i++) {
    const v = { detail: value(r, 0), list: [value(r, 1), undefined, value(r, 1)] }
    if (canonicalJson(v) !== reference(v)) {
      mismatches++
      first ??= v
    }
  }
  t.equal(mismatches, 0, first === undefined ? 'every value' : `first mismatch: ${reference(first)}`)
})

t.test('canonicalJson on known values', async (t) => {
  t.equal(
    canonicalJson({ b: 1, a: [1, { d: undefined, c: 'x' }], '10': true, '2': null }),
    '{"10":true,"2":null,"a":[1,{"c":"x"}],"b":1}',
  )
  t.equal(canonicalJson([undefined, 1]), '[,1]')
  t.equal(canonicalJson('a"b'), '"a\\"b"')
})

t.test('arrays of scalars (the fast path) read as the definition, edge numbers and holes included', async (t) => {
  // eslint-disable-next-line no-sparse-arrays
  for (const v of [
    [1, -0, NaN, Infinity, -Infinity, 1e21, 5e-324],
    ['a', null, true, 2.5],
    [],
    [1, undefined, 2],
    [1, undefined],
    [[1, 2], [3]],
  ]) {
    t.equal(canonicalJson(v), reference(v), JSON.stringify(v))
  }
})
