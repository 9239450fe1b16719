import type { Hash } from 'node:crypto'
import type { ByteKeys } from './byte-keys.js'

/**
 * Byte-level pieces of the CSV fast path (columnar.ts): the fingerprint's
 * canonical rows as bytes, declared categories found by one byte, the
 * boolean spellings, and a coded column's dictionary as JSON from its keys'
 * bytes.
 */

/** Canonical rows (JSON arrays, one per line) into SHA-256 in blocks. */
export class FingerprintBytes {
  readonly buf = Buffer.allocUnsafe(1 << 20)
  len = 0

  constructor(private readonly hash: Hash) {}

  /** Room for `n` more bytes, hashing what is buffered when there is not. */
  room(n: number): boolean {
    if (this.len + n <= this.buf.length) return true
    this.flush()
    return n <= this.buf.length
  }

  byte(b: number): void {
    if (this.len === this.buf.length) this.flush()
    this.buf[this.len++] = b
  }

  copy(src: Uint8Array, start: number, end: number): void {
    const n = end - start
    if (!this.room(n)) {
      this.hash.update(src.subarray(start, end))
      return
    }
    // A loop beats Buffer#copy's call for the few bytes of a field.
    const buf = this.buf
    let at = this.len
    for (let p = start; p < end; p++) buf[at++] = src[p]!
    this.len = at
  }

  /** `"` bytes `"`: a key whose bytes are its JSON string. */
  quoted(src: Uint8Array, start: number, end: number): void {
    if (!this.room(end - start + 2)) {
      this.byte(0x22)
      this.copy(src, start, end)
      this.byte(0x22)
      return
    }
    const buf = this.buf
    let at = this.len
    buf[at++] = 0x22
    for (let p = start; p < end; p++) buf[at++] = src[p]!
    buf[at++] = 0x22
    this.len = at
  }

  text(s: string): void {
    const bytes = Buffer.byteLength(s, 'utf8')
    if (this.room(bytes)) this.len += this.buf.write(s, this.len, 'utf8')
    else this.hash.update(s, 'utf8')
  }

  flush(): void {
    if (this.len > 0) this.hash.update(this.buf.subarray(0, this.len))
    this.len = 0
  }
}

/**
 * Declared categories found by their length and one byte: a position (from
 * the start, or from the end when negative) where every category's pair
 * (byte length, byte) differs, so a field has at most one candidate, which a
 * full comparison confirms. Null when no position tells them apart (then a
 * hash set is used).
 */
export class DeclaredIndex {
  private constructor(
    private readonly pos: number,
    /** (length << 8 | byte) -> code + 1. */
    private readonly table: Int16Array,
    private readonly bytes: readonly Buffer[],
  ) {}

  static of(categories: readonly string[]): DeclaredIndex | null {
    const bytes = categories.map((c) => Buffer.from(c, 'utf8'))
    if (bytes.length === 0 || bytes.length > 32_000 || bytes.some((b) => b.length === 0 || b.length > 63)) return null
    const shortest = Math.min(...bytes.map((b) => b.length))
    const positions = Array.from({ length: shortest }, (_, i) => [-1 - i, i]).flat()
    for (const pos of positions) {
      const table = new Int16Array(64 << 8)
      let unique = true
      bytes.forEach((b, code) => {
        const slot = (b.length << 8) | b[pos < 0 ? b.length + pos : pos]!
        if (table[slot] !== 0) unique = false
        table[slot] = code + 1
      })
      if (unique) return new DeclaredIndex(pos, table, bytes)
    }
    return null
  }

  /** The code of `buf[s, e)`, or -1 when it is none of the categories. */
  find(buf: Uint8Array, s: number, e: number): number {
    const n = e - s
    const at = this.pos < 0 ? e + this.pos : s + this.pos
    if (n > 63 || at < s || at >= e) return -1
    const code = this.table[(n << 8) | buf[at]!]! - 1
    if (code < 0) return -1
    const b = this.bytes[code]!
    if (b.length !== n) return -1
    for (let i = 0; i < n; i++) if (b[i] !== buf[s + i]) return -1
    return code
  }
}

const TRUE_SPELLINGS = ['true', 'TRUE', 'True'].map((t) => Buffer.from(t))
const FALSE_SPELLINGS = ['false', 'FALSE', 'False'].map((t) => Buffer.from(t))

/** 1 for a true spelling, 0 for a false one, -1 for anything else (the checker names it); as rows.ts reads them. */
export function booleanAt(buf: Uint8Array, s: number, e: number): number {
  const n = e - s
  if (n === 1) return buf[s] === 0x31 ? 1 : buf[s] === 0x30 ? 0 : -1
  const words = n === 4 ? TRUE_SPELLINGS : n === 5 ? FALSE_SPELLINGS : null
  if (words === null) return -1
  for (let w = 0; w < words.length; w++) {
    const word = words[w]!
    let same = true
    for (let i = 0; i < n && same; i++) same = buf[s + i] === word[i]
    if (same) return n === 4 ? 1 : 0
  }
  return -1
}

/** Whether the bytes, quoted, are already their JSON string: no quote, backslash or control character. */
export function plainJsonString(buf: Uint8Array, s: number, e: number): boolean {
  for (let p = s; p < e; p++) {
    const b = buf[p]!
    if (b < 0x20 || b === 0x22 || b === 0x5c) return false
  }
  return true
}

/** The keys in code order as a JSON array of strings: what JSON.stringify makes of them, from their bytes. */
export function dictionaryJson(keys: ByteKeys): string {
  return Buffer.concat([...dictionaryParts(keys)]).toString('utf8')
}

/** dictionaryJson's bytes, a part per KEYS_PER_PART keys, so that a caller can take turns between them. */
export function* dictionaryParts(keys: ByteKeys): Generator<Buffer> {
  const { arena, offsets } = keys.bytes()
  const QUOTE = 0x22
  for (let first = 0; first === 0 || first < keys.size; first += KEYS_PER_PART) {
    const last = Math.min(keys.size, first + KEYS_PER_PART)
    // Each key takes its bytes, two quotes and a comma, unless JSON must escape it.
    let out = Buffer.allocUnsafe(offsets[last]! - offsets[first]! + 3 * (last - first) + 2)
    let len = 0
    const room = (n: number) => {
      if (len + n <= out.length) return
      const bigger = Buffer.allocUnsafe(Math.max(out.length * 2, len + n))
      out.copy(bigger, 0, 0, len)
      out = bigger
    }
    if (first === 0) out[len++] = 0x5b
    for (let c = first; c < last; c++) {
      const s = offsets[c]!
      const e = offsets[c + 1]!
      if (keys.isPlain(c)) {
        room(e - s + 3)
        if (c > 0) out[len++] = 0x2c
        out[len++] = QUOTE
        for (let p = s; p < e; p++) out[len++] = arena[p]!
        out[len++] = QUOTE
      } else {
        const json = Buffer.from(JSON.stringify(arena.toString('utf8', s, e)), 'utf8')
        room(json.length + 1)
        if (c > 0) out[len++] = 0x2c
        len += json.copy(out, len)
      }
    }
    if (last === keys.size) {
      room(1)
      out[len++] = 0x5d
    }
    yield out.subarray(0, len)
  }
}

const KEYS_PER_PART = 65_536
