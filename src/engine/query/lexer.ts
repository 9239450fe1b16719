import type { TextPos } from './ast.js'
import { queryError, tooLarge } from './query-error.js'
import { QUERY_LIMITS } from './limits.js'

/**
 * Tokens of the SQL subset. The lexer is pulled by the parser one token at a
 * time, so the first problem in reading order is the one reported, whether it
 * is a stray character or a grammar error.
 *
 * Positions count code points, not UTF-16 units, so a column number means the
 * same thing to a client in any language (滨 is one column, and so is an emoji).
 */

export type TokenKind = 'word' | 'quoted' | 'string' | 'number' | 'symbol' | 'eof'

export interface Token {
  readonly kind: TokenKind
  /**
   * word: folded to lower case; quoted: the name with "" unescaped; string:
   * the content with '' unescaped; number: the digits as written; symbol: the
   * symbol; eof: ''.
   */
  readonly value: string
  /** The source text as written, for messages. */
  readonly text: string
  /** number tokens only. */
  readonly number?: number
  readonly pos: TextPos
}

const SYMBOLS = [
  '<>',
  '<=',
  '>=',
  '!=',
  '==',
  '||',
  '::',
  '(',
  ')',
  ',',
  ';',
  '*',
  '.',
  '=',
  '<',
  '>',
  '+',
  '-',
  '/',
  '%',
] as const

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9'
const isWordStart = (c: string | undefined): boolean =>
  c !== undefined && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_')
const isWordPart = (c: string | undefined): boolean => isWordStart(c) || isDigit(c)
const WHITESPACE = /^\s$/u
const LETTER = /^\p{L}$/u

export class Lexer {
  private readonly chars: readonly string[]
  private i = 0
  private line = 1
  private column = 1
  private readonly ahead: Token[] = []

  constructor(text: string) {
    // Each code point takes at most two UTF-16 units: a longer string is over the limit for sure.
    if (text.length > 2 * QUERY_LIMITS.maxTextLength)
      throw tooLarge('maxTextLength', positionAt(text, QUERY_LIMITS.maxTextLength))
    this.chars = Array.from(text)
    if (this.chars.length > QUERY_LIMITS.maxTextLength)
      throw tooLarge('maxTextLength', positionAt(text, QUERY_LIMITS.maxTextLength))
  }

  /** The token k places ahead, without consuming it. */
  peek(k = 0): Token {
    while (this.ahead.length <= k) this.ahead.push(this.scan())
    return this.ahead[k]!
  }

  next(): Token {
    const t = this.peek()
    this.ahead.shift()
    return t
  }

  private here(): TextPos {
    return Object.freeze({ offset: this.i, line: this.line, column: this.column })
  }

  private advance(): string {
    const c = this.chars[this.i]!
    this.i++
    // \r\n is one line break: the \r only moves the column, the \n starts the line.
    if (c === '\n' || (c === '\r' && this.chars[this.i] !== '\n')) {
      this.line++
      this.column = 1
    } else {
      this.column++
    }
    return c
  }

  private slice(start: number): string {
    return this.chars.slice(start, this.i).join('')
  }

  private scan(): Token {
    this.skipSpaceAndComments()
    const pos = this.here()
    const c = this.chars[this.i]
    if (c === undefined) return { kind: 'eof', value: '', text: '', pos }
    if (isWordStart(c)) return this.word(pos)
    if (isDigit(c) || (c === '.' && isDigit(this.chars[this.i + 1]))) return this.numberToken(pos)
    if (c === "'") return this.quotedToken(pos, "'", 'string')
    if (c === '"') return this.quotedToken(pos, '"', 'quoted')
    for (const s of SYMBOLS) {
      if (this.matches(s)) {
        for (let k = 0; k < s.length; k++) this.advance()
        return { kind: 'symbol', value: s, text: s, pos }
      }
    }
    throw queryError('VEILBOX_ERR_QUERY_BAD_CHARACTER', badCharacterDetail(c), pos, { character: c })
  }

  private matches(s: string): boolean {
    for (let k = 0; k < s.length; k++) if (this.chars[this.i + k] !== s[k]) return false
    return true
  }

  private skipSpaceAndComments(): void {
    for (;;) {
      const c = this.chars[this.i]
      if (c === undefined) return
      if (WHITESPACE.test(c)) {
        this.advance()
      } else if (c === '-' && this.chars[this.i + 1] === '-') {
        while (this.i < this.chars.length && this.chars[this.i] !== '\n' && this.chars[this.i] !== '\r') this.advance()
      } else if (c === '/' && this.chars[this.i + 1] === '*') {
        const start = this.here()
        this.advance()
        this.advance()
        while (!(this.chars[this.i] === '*' && this.chars[this.i + 1] === '/')) {
          if (this.i >= this.chars.length) {
            throw queryError(
              'VEILBOX_ERR_QUERY_UNTERMINATED',
              'the comment that starts here is never closed; end it with */',
              start,
            )
          }
          this.advance()
        }
        this.advance()
        this.advance()
      } else {
        return
      }
    }
  }

  private word(pos: TextPos): Token {
    const start = this.i
    while (isWordPart(this.chars[this.i])) this.advance()
    const text = this.slice(start)
    if (this.i - start > QUERY_LIMITS.maxIdentifierLength) throw tooLarge('maxIdentifierLength', pos)
    return { kind: 'word', value: text.toLowerCase(), text, pos }
  }

  private numberToken(pos: TextPos): Token {
    const start = this.i
    while (isDigit(this.chars[this.i])) this.advance()
    let integral = true
    if (this.chars[this.i] === '.') {
      integral = false
      this.advance()
      while (isDigit(this.chars[this.i])) this.advance()
    }
    const e = this.chars[this.i]
    if (e === 'e' || e === 'E') {
      integral = false
      this.advance()
      const sign = this.chars[this.i]
      if (sign === '+' || sign === '-') this.advance()
      if (!isDigit(this.chars[this.i])) throw this.malformedNumber(start, pos)
      while (isDigit(this.chars[this.i])) this.advance()
    }
    if (isWordPart(this.chars[this.i]) || this.chars[this.i] === '.') throw this.malformedNumber(start, pos)
    const text = this.slice(start)
    const n = Number(text)
    if (!Number.isFinite(n)) {
      throw queryError(
        'VEILBOX_ERR_QUERY_BAD_LITERAL',
        `the number ${text} is too large to represent; use a finite number`,
        pos,
      )
    }
    if (integral && !Number.isSafeInteger(n)) {
      throw queryError(
        'VEILBOX_ERR_QUERY_BAD_LITERAL',
        `the integer ${text} is beyond 2^53 - 1 and would silently change value; use a smaller number`,
        pos,
      )
    }
    return { kind: 'number', value: text, text, number: n, pos }
  }

  private malformedNumber(start: number, pos: TextPos): never {
    while (isWordPart(this.chars[this.i]) || this.chars[this.i] === '.') this.advance()
    const text = this.slice(start)
    throw queryError(
      'VEILBOX_ERR_QUERY_BAD_LITERAL',
      `${text} is not a number: write digits with an optional decimal point and exponent, such as 42, -3.5 or 1e6`,
      pos,
    )
  }

  /** A 'string' or a "quoted name": the quote doubled inside stands for itself. */
  private quotedToken(pos: TextPos, quote: "'" | '"', kind: 'string' | 'quoted'): Token {
    const start = this.i
    this.advance()
    let value = ''
    for (;;) {
      const c = this.chars[this.i]
      if (c === undefined) {
        throw queryError(
          'VEILBOX_ERR_QUERY_UNTERMINATED',
          kind === 'string'
            ? "the string that starts here is never closed; end it with ' (write '' for a quote inside it)"
            : 'the quoted name that starts here is never closed; end it with " (write "" for a quote inside it)',
          pos,
        )
      }
      this.advance()
      if (c === quote) {
        if (this.chars[this.i] !== quote) break
        this.advance()
      }
      value += c
    }
    if (kind === 'quoted') {
      if (value.length === 0) throw queryError('VEILBOX_ERR_QUERY_SYNTAX', 'a quoted name cannot be empty', pos)
      if (Array.from(value).length > QUERY_LIMITS.maxIdentifierLength) throw tooLarge('maxIdentifierLength', pos)
    }
    return { kind, value, text: this.slice(start), pos }
  }
}

function badCharacterDetail(c: string): string {
  const cp = c.codePointAt(0)!
  const shown = `"${c}" (U+${cp.toString(16).toUpperCase().padStart(4, '0')})`
  if (cp >= 0xff01 && cp <= 0xff5e) {
    return `${shown} is a full-width character; use the ASCII "${String.fromCodePoint(cp - 0xfee0)}" instead`
  }
  switch (c) {
    case '\u3001':
      return `${shown} is an ideographic comma; use the ASCII "," instead`
    case '\u3002':
      return `${shown} is an ideographic full stop; end the query with ";" or nothing`
    case '\u2018':
    case '\u2019':
      return `${shown} is a curly quote; write strings in straight single quotes: 'text'`
    case '\u201c':
    case '\u201d':
      return `${shown} is a curly quote; quote names with straight double quotes: "name"`
    case '`':
    case '[':
    case ']':
      return `${shown} is not a quote in this language; quote names with double quotes: "name"`
    case '?':
    case '$':
    case ':':
    case '@':
      return `${shown} would start a parameter or variable, which queries do not take; write the value itself as a literal`
  }
  if (LETTER.test(c)) {
    return `${shown} cannot start an unquoted name; put text values in single quotes ('${c}...') and names in double quotes ("${c}...")`
  }
  return `${shown} is not part of the query language; see docs/query-language.md for what a query may contain`
}

/** The position of code point `offset` of `text` (or of its end), for errors raised before lexing. */
export function positionAt(text: string, offset: number): TextPos {
  let line = 1
  let column = 1
  let i = 0
  let prev = ''
  for (const c of text) {
    if (i === offset) break
    if (c === '\n' || c === '\r') {
      if (!(c === '\n' && prev === '\r')) line++
      column = 1
    } else {
      column++
    }
    prev = c
    i++
  }
  return Object.freeze({ offset: i, line, column })
}
