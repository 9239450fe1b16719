/**
 * A stored dictionary packed without a string per entry (src/store/packed-strings.ts):
 * every entry reads back as JSON.parse gives it, escapes, non-ASCII text and
 * lone surrogates included, and anything that is not a JSON array of strings
 * is refused.
 */
import t from 'tap'
import { packJsonStrings, type PackedStrings } from '../../src/store/packed-strings.js'
import { mulberry32 } from '../../src/engine/mulberry32.js'

const decoder = new TextDecoder()
function unpack(p: PackedStrings): string[] {
  return Array.from(
    { length: p.count },
    (_, k) => p.special?.get(k) ?? decoder.decode(p.bytes.subarray(p.offsets[k]!, p.offsets[k + 1]!)),
  )
}
const pack = (strings: readonly string[]) => packJsonStrings(Buffer.from(JSON.stringify(strings), 'utf8'))

t.test('random dictionaries read back entry for entry', async (t) => {
  const rand = mulberry32(20261203)
  const alphabet = [
    'a',
    'Z',
    '7',
    '"',
    '\\',
    '\n',
    '\t',
    '\u0001',
    'é',
    '滨州',
    '😀',
    '\ud800',
    '\udfff',
    ',',
    '[',
    ']',
    ' ',
  ]
  let mismatches = 0
  let withSpecial = 0
  for (let round = 0; round < 500; round++) {
    const n = Math.floor(rand() * 40)
    const strings = Array.from({ length: n }, () =>
      Array.from({ length: Math.floor(rand() * 8) }, () => alphabet[Math.floor(rand() * alphabet.length)]!).join(''),
    )
    const p = pack(strings)
    if (p.special !== null) withSpecial += 1
    if (p.count !== n || JSON.stringify(unpack(p)) !== JSON.stringify(strings)) mismatches += 1
    if (!(p.bytes.buffer instanceof SharedArrayBuffer) || !(p.offsets.buffer instanceof SharedArrayBuffer))
      mismatches += 1
  }
  t.equal(mismatches, 0, 'every entry as JSON.parse gives it, in shared memory')
  t.ok(withSpecial > 0, 'lone surrogates were among the cases')
})

t.test('a lone surrogate keeps its identity: two such ids never read back alike', async (t) => {
  const p = pack(['a\ud800', 'a\ud801', 'a\ufffd'])
  t.same(unpack(p), ['a\ud800', 'a\ud801', 'a\ufffd'])
  t.equal(p.special?.size, 2)
})

t.test('the empty array, and the empty string', async (t) => {
  t.same(unpack(pack([])), [])
  t.same(unpack(pack(['', 'x', ''])), ['', 'x', ''])
})

t.test('anything but a JSON array of strings is refused, naming the byte', async (t) => {
  for (const bad of ['', '[', '{}', '["a"', '["a",]', '["a" "b"]', '[1]', '["a\\"]', '[,"a"]'])
    t.throws(
      () => packJsonStrings(Buffer.from(bad)),
      { name: 'SyntaxError', message: /not a JSON array of strings \(at byte \d+\)/ },
      bad,
    )
})
