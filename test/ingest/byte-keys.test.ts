/**
 * ByteKeys (src/ingest/byte-keys.ts) numbers byte strings in order of first
 * appearance, through doublings of its table that move codes a few at a
 * time: against a Map of strings, on keys repeated and new, across many
 * doublings, every code agrees.
 */
import t from 'tap'
import { ByteKeys } from '../../src/ingest/byte-keys.js'
import { mulberry32 } from '../../src/engine/mulberry32.js'

t.test('codes agree with a Map through many doublings, with repeats at every stage', async (t) => {
  const rand = mulberry32(7)
  const keys = new ByteKeys()
  const ref = new Map<string, number>()
  const buf = Buffer.alloc(64)
  let wrong = 0
  for (let i = 0; i < 400_000; i++) {
    // Half the time a key seen before (often an early one, whose code may not have moved yet), else a new one.
    const pick = rand() < 0.5 && ref.size > 0 ? Math.floor(rand() * rand() * ref.size) : ref.size + i
    const text = `h${pick.toString(36)}`
    const n = buf.write(text, 0, 'utf8')
    const want = ref.get(text) ?? ref.size
    if (!ref.has(text)) ref.set(text, want)
    if (keys.code(buf, 0, n) !== want) wrong += 1
  }
  t.equal(wrong, 0, 'every code as the Map gives it')
  t.equal(keys.size, ref.size)
  t.ok(ref.size > 200_000, `${ref.size} keys: many doublings of a 1,024-slot table`)
  const { arena, offsets } = keys.bytes()
  let bytesWrong = 0
  for (const [text, code] of ref) if (arena.toString('utf8', offsets[code]!, offsets[code + 1]!) !== text) bytesWrong++
  t.equal(bytesWrong, 0, 'the bytes of every key in code order')
})

t.test('a key is found whether it sits in the new table or still in the old one', async (t) => {
  const keys = new ByteKeys()
  const b = (s: string) => Buffer.from(s)
  // 513 adds double the 1,024-slot table; the first codes move over the next finds only.
  for (let i = 0; i < 513; i++) keys.code(b(`k${i}`), 0, b(`k${i}`).length)
  for (const i of [0, 1, 2, 511, 512]) t.equal(keys.find(b(`k${i}`), 0, b(`k${i}`).length), i, `k${i}`)
  t.equal(keys.find(b('absent'), 0, 6), -1)
})
