import t from 'tap'
import { Lexer, positionAt, type Token } from '../../../src/engine/query/lexer.js'
import { QUERY_LIMITS } from '../../../src/engine/query/index.js'
import { at, refuses } from './fixture.js'

function tokens(text: string): Token[] {
  const lx = new Lexer(text)
  const out: Token[] = []
  for (;;) {
    const tok = lx.next()
    out.push(tok)
    if (tok.kind === 'eof') return out
  }
}

const kv = (text: string) => tokens(text).map((tok) => [tok.kind, tok.value])

t.test('words fold to lower case; quoted names keep case and unescape ""', async (t) => {
  t.same(kv('SeLeCt "Mixed Case" "a""b" _x1'), [
    ['word', 'select'],
    ['quoted', 'Mixed Case'],
    ['quoted', 'a"b'],
    ['word', '_x1'],
    ['eof', ''],
  ])
})

t.test("strings unescape '' and keep any Unicode, newlines included", async (t) => {
  t.same(kv(`'滨城区' 'it''s' '' 'a\nb' '😀'`), [
    ['string', '滨城区'],
    ['string', "it's"],
    ['string', ''],
    ['string', 'a\nb'],
    ['string', '😀'],
    ['eof', ''],
  ])
})

t.test('numbers: integers, decimals, leading dot, exponents', async (t) => {
  const nums = tokens('42 3.5 .5 7. 1e6 2.5E-3 1e+2').filter((x) => x.kind === 'number')
  t.same(
    nums.map((x) => x.number),
    [42, 3.5, 0.5, 7, 1e6, 0.0025, 100],
  )
  t.same(
    nums.map((x) => x.text),
    ['42', '3.5', '.5', '7.', '1e6', '2.5E-3', '1e+2'],
  )
})

t.test('symbols, longest first', async (t) => {
  t.same(
    tokens('<> <= >= != == || :: ( ) , ; * . = < > + - / %')
      .filter((x) => x.kind === 'symbol')
      .map((x) => x.value),
    ['<>', '<=', '>=', '!=', '==', '||', '::', '(', ')', ',', ';', '*', '.', '=', '<', '>', '+', '-', '/', '%'],
  )
  t.same(kv('a<=1'), [
    ['word', 'a'],
    ['symbol', '<='],
    ['number', '1'],
    ['eof', ''],
  ])
})

t.test('comments and all Unicode white space (the ideographic space too) separate tokens', async (t) => {
  t.same(kv('SELECT -- a comment\n/* block\ncomment */ x\u3000y\u00a0z'), [
    ['word', 'select'],
    ['word', 'x'],
    ['word', 'y'],
    ['word', 'z'],
    ['eof', ''],
  ])
  t.same(
    kv('a--b'),
    [
      ['word', 'a'],
      ['eof', ''],
    ],
    'a line comment runs to the end of the line',
  )
})

t.test('positions: 0-based code point offset, 1-based line and column, any line ending', async (t) => {
  const pos = (text: string) => tokens(text).map((x) => [x.value, x.pos.offset, x.pos.line, x.pos.column])
  t.same(pos('a\n  b\r\nc\rd'), [
    ['a', 0, 1, 1],
    ['b', 4, 2, 3],
    ['c', 7, 3, 1],
    ['d', 9, 4, 1],
    ['', 10, 4, 2],
  ])
  // Code points, not UTF-16 units: the emoji counts once.
  t.same(pos("'滨😀' x"), [
    ['滨😀', 0, 1, 1],
    ['x', 5, 1, 6],
    ['', 6, 1, 7],
  ])
  t.same(pos('/* one\ntwo */ x'), [
    ['x', 14, 2, 8],
    ['', 15, 2, 9],
  ])
})

t.test('positionAt agrees with the lexer', async (t) => {
  const text = "a\r\n 'é😀'\n\rb x"
  for (const tok of tokens(text)) t.same(positionAt(text, tok.pos.offset), tok.pos, `token ${tok.value}`)
})

t.test('unterminated strings, names and comments point at where they start', async (t) => {
  refuses(t, () => tokens("x = 'abc"), 'VEILBOX_ERR_QUERY_UNTERMINATED', at("x = 'abc", "'"))
  refuses(
    t,
    () => tokens("x = 'it''s"),
    'VEILBOX_ERR_QUERY_UNTERMINATED',
    at("x = 'it''s", "'"),
    "'' inside does not close",
  )
  refuses(t, () => tokens('x = "abc'), 'VEILBOX_ERR_QUERY_UNTERMINATED', at('x = "abc', '"'))
  refuses(t, () => tokens('x /* never closed'), 'VEILBOX_ERR_QUERY_UNTERMINATED', at('x /* never closed', '/*'))
  const e = refuses(t, () => tokens("a\n  '滨城区"), 'VEILBOX_ERR_QUERY_UNTERMINATED', {
    offset: 4,
    line: 2,
    column: 3,
  })
  t.match(e.detail, /never closed/)
})

t.test('characters outside the language are refused with a hint', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['a @ b', '@', /parameter or variable/],
    ['a = ?', '?', /parameter/],
    ['a = $1', '$', /parameter/],
    ['a = :x', ':', /parameter/],
    ['`district`', '`', /double quotes/],
    ['[district]', '[', /double quotes/],
    ['a，b', '，', /full-width.*","/],
    ['COUNT（*）', '（', /full-width.*"\("/],
    ['a、b', '、', /ideographic comma/],
    ['x = ‘a’', '‘', /straight single quotes/],
    ['x = 滨城区', '滨', /single quotes/],
    ['a # b', '#', /not part of the query language/],
    ['a & b', '&', /not part of the query language/],
    ['a ! b', '!', /not part of the query language/],
  ]
  for (const [text, ch, hint] of cases) {
    const e = refuses(t, () => tokens(text), 'VEILBOX_ERR_QUERY_BAD_CHARACTER', at(text, ch), text)
    t.match(e.detail, hint, `${text}: hint`)
    t.equal(e.extra.character, ch)
  }
})

t.test('malformed and unrepresentable numbers', async (t) => {
  for (const [text, needle] of [
    ['x = 1e', '1e'],
    ['x = 12abc', '12abc'],
    ['x = 1.2.3', '1.2.3'],
    ['x = 0x1F', '0x1F'],
    ['x = 1e+', '1e+'],
  ] as const) {
    const e = refuses(t, () => tokens(text), 'VEILBOX_ERR_QUERY_BAD_LITERAL', at(text, needle), text)
    t.match(e.detail, new RegExp(`${needle.replace(/[.+]/g, '\\$&')} is not a number`))
  }
  refuses(
    t,
    () => tokens('x = 9007199254740993'),
    'VEILBOX_ERR_QUERY_BAD_LITERAL',
    at('x = 9007199254740993', '9'),
    'beyond 2^53',
  )
  t.equal(tokens('x = 9007199254740991')[2]!.number, Number.MAX_SAFE_INTEGER, '2^53 - 1 is fine')
  refuses(t, () => tokens('x = 1e400'), 'VEILBOX_ERR_QUERY_BAD_LITERAL', at('x = 1e400', '1e400'), 'infinite')
})

t.test('names: empty quoted names and names over the length limit', async (t) => {
  refuses(t, () => tokens('x = ""'), 'VEILBOX_ERR_QUERY_SYNTAX', at('x = ""', '"'))
  const long = 'a'.repeat(QUERY_LIMITS.maxIdentifierLength + 1)
  const e = refuses(t, () => tokens(`x ${long}`), 'VEILBOX_ERR_QUERY_TOO_LARGE', { offset: 2, line: 1, column: 3 })
  t.same(e.extra.limit, 'maxIdentifierLength')
  t.same(e.extra.max, QUERY_LIMITS.maxIdentifierLength)
  refuses(t, () => tokens(`"${'名'.repeat(QUERY_LIMITS.maxIdentifierLength + 1)}"`), 'VEILBOX_ERR_QUERY_TOO_LARGE', {
    offset: 0,
    line: 1,
    column: 1,
  })
  t.equal(tokens('a'.repeat(QUERY_LIMITS.maxIdentifierLength))[0]!.kind, 'word', 'exactly at the limit is fine')
})

t.test('text over the length limit is refused before lexing, at the first character past it', async (t) => {
  const max = QUERY_LIMITS.maxTextLength
  for (const text of ['x'.repeat(max + 1), '😀'.repeat(max + 1), 'y'.repeat(3 * max)]) {
    const e = refuses(t, () => new Lexer(text), 'VEILBOX_ERR_QUERY_TOO_LARGE', {
      offset: max,
      line: 1,
      column: max + 1,
    })
    t.equal(e.extra.limit, 'maxTextLength')
  }
  t.doesNotThrow(() => new Lexer('😀'.repeat(max)), 'exactly at the limit, in code points')
  const lines = `${'\n'.repeat(max)}x`
  refuses(t, () => new Lexer(lines), 'VEILBOX_ERR_QUERY_TOO_LARGE', { offset: max, line: max + 1, column: 1 })
})
