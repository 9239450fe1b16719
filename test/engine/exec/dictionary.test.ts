/** Reading a code column's dictionary in either form (src/engine/exec/dictionary.ts). */
import t from 'tap'
import { entries, entryAt, isPacked } from '../../../src/engine/exec/dictionary.js'
import type { IdDictionary } from '../../../src/engine/exec/types.js'
import { packJsonStrings } from '../../../src/store/packed-strings.js'

const IDS = ['h1', '滨州', '', 'x\ud800', 'a"b']
const p = packJsonStrings(Buffer.from(JSON.stringify(IDS)))
const packed: IdDictionary = { kind: 'ids', length: p.count, bytes: p.bytes, offsets: p.offsets, special: p.special }

t.test('packed and plain dictionaries read alike', async (t) => {
  t.ok(isPacked(packed))
  t.notOk(isPacked(IDS))
  t.same(
    IDS.map((_, k) => entryAt(packed, k)),
    IDS,
  )
  t.same(entries(packed), IDS)
  t.equal(entries(IDS), IDS, 'an array is its own entries')
  for (const k of [-1, 5, 1.5, Number.NaN]) {
    t.equal(entryAt(packed, k), undefined, `no entry ${k}`)
  }
  t.equal(entryAt(IDS, 7), undefined)
})
