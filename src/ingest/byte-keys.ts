import { randomBytes } from 'node:crypto'

/**
 * A set of byte strings, each numbered in order of first appearance: the
 * codes of a column's keys (declared categories, or ids and undeclared
 * categories as they come), found from a field's bytes without making a
 * string of them. Open addressing over seeded FNV-1a hashes, a slot
 * holding only a code (4 bytes: a million ids' table stays within 8 MB,
 * where a miss costs least); the keys' hashes and bytes are kept in code
 * order, the bytes end to end in one growing buffer. A million ids cost a
 * few typed arrays and their bytes, not a million strings and map entries.
 *
 * `find` then `add`: a miss leaves its slot and hash for the add that follows.
 *
 * The table doubles without stopping the thread: a new table takes the
 * adds, and the old one's codes move over a few per call (MOVES_PER_CALL),
 * while `find` looks in the new table, then in the old. Rehashing a million
 * keys in one go held the event loop for 50-100 ms.
 */
/** Codes moved from the old table per find: a doubling at n codes has moved them all after n / MOVES_PER_CALL finds. */
const MOVES_PER_CALL = 4

export class ByteKeys {
  /** Slot -> code + 1 (0: empty). */
  private table = new Int32Array(1024)
  /** The table before the last doubling, while codes below `moving` still have to move out of it. */
  private old: Int32Array | null = null
  /** Codes [moved, moving) are still only in `old`. */
  private moved = 0
  private moving = 0
  /** Code -> the key's hash. */
  private hashes = new Int32Array(256)
  /** Code -> offset of its bytes in `arena`; code + 1 -> where they end. */
  private offsets = new Int32Array(257)
  /** Code -> 1 when the key's bytes, quoted, are its JSON string (no quote, backslash or control byte). */
  private plain = new Uint8Array(256)
  private arena = Buffer.allocUnsafe(4096)
  /** The hash's starting value, random per set: keys chosen to collide in one upload's table do not in another's. */
  private readonly seed = randomBytes(4).readInt32LE(0)
  private missHash = 0
  private missSlot = -1
  size = 0

  /** The code of the key `buf[s, e)`, or -1. */
  find(buf: Uint8Array, s: number, e: number): number {
    let h = this.seed ^ 0x811c9dc5
    for (let p = s; p < e; p++) h = Math.imul(h ^ buf[p]!, 0x01000193)
    if (this.old !== null) this.move()
    const table = this.table
    const mask = table.length - 1
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const code = table[i]! - 1
      if (code < 0) {
        this.missHash = h
        this.missSlot = i
        break
      }
      if (this.hashes[code] === h && this.equals(code, buf, s, e)) return code
    }
    const old = this.old
    if (old === null) return -1
    const oldMask = old.length - 1
    for (let i = h & oldMask; ; i = (i + 1) & oldMask) {
      const code = old[i]! - 1
      if (code < 0) return -1
      if (this.hashes[code] === h && this.equals(code, buf, s, e)) return code
    }
  }

  /** Adds the key `buf[s, e)` just missed by `find`; returns its code. */
  add(buf: Uint8Array, s: number, e: number): number {
    const code = this.size
    if (code + 1 >= this.plain.length) this.growCodes()
    const n = e - s
    let at = this.offsets[code]!
    if (at + n > this.arena.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.arena.length * 2, at + n))
      this.arena.copy(bigger, 0, 0, at)
      this.arena = bigger
    }
    let plain = 1
    for (let p = s; p < e; p++) {
      const b = buf[p]!
      if (b < 0x20 || b === 0x22 || b === 0x5c) plain = 0
      this.arena[at++] = b
    }
    this.offsets[code + 1] = at
    this.plain[code] = plain
    this.hashes[code] = this.missHash
    this.table[this.missSlot] = code + 1
    this.size = code + 1
    this.missSlot = -1
    // At most half full: probes stay short. The last doubling has finished moving by now (MOVES_PER_CALL).
    if (this.size * 2 > this.table.length) {
      while (this.old !== null) this.move()
      this.old = this.table
      this.table = new Int32Array(this.table.length * 2)
      this.moved = 0
      // Codes from here on are added to the new table.
      this.moving = this.size
    }
    return code
  }

  /** The code of the key, added when new. */
  code(buf: Uint8Array, s: number, e: number): number {
    const code = this.find(buf, s, e)
    return code >= 0 ? code : this.add(buf, s, e)
  }

  /** Whether the key's bytes, quoted, are its JSON string. */
  isPlain(code: number): boolean {
    return this.plain[code] === 1
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

  /** Moves a few codes from the old table to the new one; drops the old table once all have moved. */
  private move(): void {
    const table = this.table
    const mask = table.length - 1
    const end = Math.min(this.moving, this.moved + MOVES_PER_CALL)
    for (let code = this.moved; code < end; code++) {
      let i = this.hashes[code]! & mask
      while (table[i] !== 0) i = (i + 1) & mask
      table[i] = code + 1
    }
    this.moved = end
    if (end === this.moving) this.old = null
  }

  private growCodes(): void {
    const hashes = new Int32Array(this.hashes.length * 2)
    hashes.set(this.hashes)
    this.hashes = hashes
    const plain = new Uint8Array(this.plain.length * 2)
    plain.set(this.plain)
    this.plain = plain
    const offsets = new Int32Array(plain.length + 1)
    offsets.set(this.offsets)
    this.offsets = offsets
  }
}
