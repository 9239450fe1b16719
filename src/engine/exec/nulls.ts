import type { NullBitmap, Selection } from './types.js'

/**
 * Turning null bitmaps (1 bit per row) into byte masks (1 byte per row), which
 * is what the kernels' and the predicate compiler's loops read. One null byte
 * covers 8 rows, i.e. two 32-bit words of a byte mask, so the work is done a
 * word at a time through a 256-entry table rather than a bit at a time: that
 * measured about 4x faster than a per-bit loop.
 *
 * The table is written through a byte view and read through a word view of the
 * same buffer, so byte k of a word is row k whatever the platform's byte order.
 */

/** KEEP[2 nb] and KEEP[2 nb + 1]: the two mask words for null byte nb, 0x01 in each byte whose row is not null. */
const KEEP = (() => {
  const bytes = new Uint8Array(256 * 8)
  for (let nb = 0; nb < 256; nb++) for (let k = 0; k < 8; k++) bytes[nb * 8 + k] = ((nb >> k) & 1) ^ 1
  return new Uint32Array(bytes.buffer)
})()

/** Each byte of w becomes 1 if it was non-zero, else 0: the kernels' reading of a selection byte. */
function ones(w: number): number {
  let n = (w | (w >>> 4)) & 0x0f0f0f0f
  n = (n | (n >>> 2)) & 0x03030303
  return (n | (n >>> 1)) & 0x01010101
}

/**
 * mask[j] = 1 when row start + j is selected (selection byte non-zero, or no
 * selection) and not null, else 0. `start` is a multiple of 8; `mask` starts at
 * byte offset 0 of its buffer and has room for end - start rows rounded up to 8.
 */
export function buildMask(
  mask: Uint8Array,
  sel: Selection | null,
  nulls: NullBitmap,
  start: number,
  end: number,
): void {
  const groups = (end - start) >> 3
  const m32 = new Uint32Array(mask.buffer, mask.byteOffset, groups * 2)
  const b0 = start >> 3
  if (sel === null) {
    for (let g = 0; g < groups; g++) {
      const nb = nulls[b0 + g] << 1
      m32[2 * g] = KEEP[nb]
      m32[2 * g + 1] = KEEP[nb + 1]
    }
  } else if ((sel.byteOffset + start) % 4 === 0) {
    const s32 = new Uint32Array(sel.buffer, sel.byteOffset + start, groups * 2)
    for (let g = 0; g < groups; g++) {
      const nb = nulls[b0 + g] << 1
      m32[2 * g] = ones(s32[2 * g]) & KEEP[nb]
      m32[2 * g + 1] = ones(s32[2 * g + 1]) & KEEP[nb + 1]
    }
  } else {
    bytewise(mask, sel, nulls, start, start, start + groups * 8)
  }
  bytewise(mask, sel, nulls, start, start + groups * 8, end)
}

/** The same, a row at a time: for a selection view that is not word-aligned, and for the last < 8 rows. */
function bytewise(
  mask: Uint8Array,
  sel: Selection | null,
  nulls: NullBitmap,
  base: number,
  from: number,
  to: number,
): void {
  for (let i = from; i < to; i++) {
    const kept = ((nulls[i >> 3] >> (i & 7)) & 1) ^ 1
    mask[i - base] = sel === null ? kept : kept & ((sel[i] + 255) >> 8)
  }
}

/** Sets mask[i] = 0 for every null row i < rows. */
export function clearNulls(mask: Uint8Array, nulls: NullBitmap, rows: number): void {
  const bytes = Math.ceil(rows / 8)
  for (let b = 0; b < bytes; b++) {
    const nb = nulls[b]
    if (nb !== 0) {
      const base = b << 3
      for (let k = 0; k < 8 && base + k < rows; k++) if ((nb >> k) & 1) mask[base + k] = 0
    }
  }
}

/** Sets mask[i] = 1 for every null row i < rows (mask starts zeroed). */
export function markNulls(mask: Uint8Array, nulls: NullBitmap, rows: number): void {
  const bytes = Math.ceil(rows / 8)
  for (let b = 0; b < bytes; b++) {
    const nb = nulls[b]
    if (nb !== 0) {
      const base = b << 3
      for (let k = 0; k < 8 && base + k < rows; k++) mask[base + k] = (nb >> k) & 1
    }
  }
}
