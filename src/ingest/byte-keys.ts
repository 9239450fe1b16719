import { randomBytes } from 'node:crypto'

/**
 * A set of byte strings, each numbered in order of first appearance: the
 * codes of a column's keys (declared categories, or ids and undeclared
 * categories as they come), found from a field's bytes without making a
 * string of them. Open addressing over FNV-1a hashes; the keys' bytes sit
 * end to end in one growing buffer, so a million ids cost two typed arrays
 * and their bytes rather than a million strings and map entries.
 */
export class ByteKeys {
  /** Slot -> code + 1 (0: empty). */
  private table = new Int32Array(1024)
  private hashes = new Int32Array(256)
  /** Code -> offset of its bytes in `arena`; code + 1 -> where they end. */
  private offsets = new Int32Array(257)
  private arena = Buffer.allocUnsafe(4096)
  /** The hash's starting value, random per set: keys chosen to collide in one upload's table do not in another's. */
  private readonly seed = randomBytes(4).readInt32LE(0)
  size = 0

  /** The code of the key `buf[s, e)`, or -1. */
  get(buf: Uint8Array, s: number, e: number): number {
    const h = hashOf(this.seed, buf, s, e)
    const mask = this.table.length - 1
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const slot = this.table[i]!
      if (slot === 0) return -1
      const code = slot - 1
      if (this.hashes[code] === h && this.equals(code, buf, s, e)) return code
    }
  }

  /** Adds the key `buf[s, e)`, which is not in the set yet; returns its code. */
  add(buf: Uint8Array, s: number, e: number): number {
    const code = this.size
    if ((code + 1) * 2 > this.table.length) this.rehash(this.table.length * 2)
    if (code + 1 >= this.hashes.length) this.growCodes()
    const n = e - s
    let at = this.offsets[code]!
    if (at + n > this.arena.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.arena.length * 2, at + n))
      this.arena.copy(bigger, 0, 0, at)
      this.arena = bigger
    }
    for (let p = s; p < e; p++) this.arena[at++] = buf[p]!
    this.offsets[code + 1] = at
    const h = hashOf(this.seed, buf, s, e)
    this.hashes[code] = h
    this.place(h, code)
    this.size = code + 1
    return code
  }

  /** The bytes of every key, in code order: `arena[offsets[c], offsets[c + 1])`. */
  bytes(): { arena: Buffer; offsets: Int32Array } {
    return { arena: this.arena, offsets: this.offsets }
  }

  private equals(code: number, buf: Uint8Array, s: number, e: number): boolean {
    const a = this.offsets[code]!
    if (this.offsets[code + 1]! - a !== e - s) return false
    const arena = this.arena
    for (let i = 0; i < e - s; i++) if (arena[a + i] !== buf[s + i]) return false
    return true
  }

  private place(h: number, code: number): void {
    const mask = this.table.length - 1
    let i = h & mask
    while (this.table[i] !== 0) i = (i + 1) & mask
    this.table[i] = code + 1
  }

  private rehash(size: number): void {
    this.table = new Int32Array(size)
    for (let c = 0; c < this.size; c++) this.place(this.hashes[c]!, c)
  }

  private growCodes(): void {
    const hashes = new Int32Array(this.hashes.length * 2)
    hashes.set(this.hashes)
    this.hashes = hashes
    const offsets = new Int32Array(hashes.length + 1)
    offsets.set(this.offsets)
    this.offsets = offsets
  }
}

/** FNV-1a, 32 bits, from a seed. */
function hashOf(seed: number, buf: Uint8Array, s: number, e: number): number {
  let h = seed ^ 0x811c9dc5
  for (let p = s; p < e; p++) h = Math.imul(h ^ buf[p]!, 0x01000193)
  return h
}
