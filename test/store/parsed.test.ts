import t from 'tap'
import { ParsedByText } from '../../src/store/parsed.js'

function counting() {
  const calls: string[] = []
  const cache = new ParsedByText<{ n: number; nested: { list: number[] } }>((text) => {
    calls.push(text)
    const n = Number(text)
    if (!Number.isInteger(n)) throw new Error(`not an integer: ${text}`)
    return { n, nested: { list: [n] } }
  }, 3)
  return { cache, calls }
}

t.test('one parse per text; the value is shared and frozen all the way down', async (t) => {
  const { cache, calls } = counting()
  const a = cache.get('1')
  t.equal(cache.get('1'), a, 'the same value')
  t.same(calls, ['1'])
  t.ok(Object.isFrozen(a) && Object.isFrozen(a.nested) && Object.isFrozen(a.nested.list))
  t.throws(() => {
    ;(a.nested.list as number[]).push(2)
  }, TypeError)
})

t.test('a text that fails to parse throws every time and is never kept', async (t) => {
  const { cache, calls } = counting()
  t.throws(() => cache.get('x'), /not an integer: x/)
  t.throws(() => cache.get('x'), /not an integer: x/)
  t.same(calls, ['x', 'x'])
})

t.test('a different text is parsed afresh; the least recently used is evicted past the limit', async (t) => {
  const { cache, calls } = counting()
  cache.get('1')
  cache.get('2')
  cache.get('3')
  cache.get('1') // 1 is now the most recent; 2 the least
  cache.get('4') // evicts 2
  cache.get('1')
  cache.get('3')
  t.same(calls, ['1', '2', '3', '4'], 'hits parse nothing')
  cache.get('2')
  t.same(calls, ['1', '2', '3', '4', '2'], 'the evicted text is parsed again')
})
